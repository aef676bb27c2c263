"""The floor plan's detail panel, PURE: one charger's `ChargerDetail` -> rows in words (identity,
connectors, running sessions, last errors, last raw messages newest first).

No Dash, no database, no clock: `now` is a parameter. Times are UTC and say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from depot.model import ConnectorStatus, CurrentType, EventRecord
from depot.web.floorplan_text import (
    fmt_kw,
    fmt_kwh,
    fmt_max_kw,
    fmt_soc,
    fmt_time,
    fmt_when,
    protocol_label,
    short_payload,
    status_label,
    status_slug,
)
from depot.web.floorplan_tiles import status_text

if TYPE_CHECKING:  # pragma: no cover
    from depot.store import ChargerDetail


@dataclass(frozen=True)
class MessageRow:
    time: str  # UTC, said once in the section's heading
    arrow: str  # "←" from the charger, "→" to it
    direction: str  # "in" / "out"
    action: str
    kind: str  # "call", "result", "error"
    payload: str  # cut short
    full: str  # the whole payload (tooltip), bounded


@dataclass(frozen=True)
class ConnectorRow:
    connector_id: int
    status: ConnectorStatus
    slug: str
    label: str
    error: str  # "GroundFailure · vendor E42 · info" or ""
    updated: str


@dataclass(frozen=True)
class SessionRow:
    connector_id: int
    vehicle: str
    id_tag: str
    started: str
    energy: str
    power: str
    soc: str
    soc_value: float | None


@dataclass(frozen=True)
class DetailModel:
    charger_id: str
    status: ConnectorStatus
    slug: str
    label: str
    identity: tuple[tuple[str, str], ...]
    connectors: tuple[ConnectorRow, ...]
    sessions: tuple[SessionRow, ...]
    errors: tuple[str, ...]
    messages: tuple[MessageRow, ...]
    commissioned: bool


def message_row(rec: EventRecord, now: datetime) -> MessageRow:
    arrow = "←" if rec.direction == "in" else "→"
    action = rec.action or ""
    if rec.kind != "call":
        action = f"{action} {rec.kind}".strip()
    return MessageRow(fmt_time(rec.at, now).removesuffix(" UTC"), arrow, rec.direction, action or rec.kind, rec.kind,
                      short_payload(rec.payload), short_payload(rec.payload, 2000))


def error_text(rec: EventRecord, now: datetime) -> str:
    """A StatusNotification that carried a fault, in words."""
    try:
        p = json.loads(rec.payload)
    except (ValueError, TypeError):
        p = None
    if not isinstance(p, dict):
        return f"{fmt_time(rec.at, now)} · {short_payload(rec.payload)}"
    parts = [fmt_time(rec.at, now)]
    conn = p.get("connectorId", p.get("evseId"))
    if conn is not None:
        parts.append(f"connector {conn}")
    parts.append(str(p.get("errorCode") or p.get("status") or p.get("connectorStatus") or "Faulted"))
    if p.get("vendorErrorCode"):
        parts.append(f"vendor {p['vendorErrorCode']}")
    if p.get("info"):
        parts.append(str(p["info"]))
    return " · ".join(parts)


def _capabilities(detail: ChargerDetail) -> str:
    caps = detail.view.charger.capabilities
    bits = []
    if caps.rate_unit:
        bits.append(f"limits in {caps.rate_unit}")
    if caps.max_periods:
        bits.append(f"{caps.max_periods} periods")
    if caps.max_stack_level is not None:
        bits.append(f"stack level ≤ {caps.max_stack_level}")
    return ", ".join(bits) if bits else "not reported yet"


def detail_model(detail: ChargerDetail, now: datetime) -> DetailModel:
    view = detail.view
    ch = view.charger
    current = "DC" if ch.current_type == CurrentType.DC else f"AC · {ch.phases} phase{'s' if ch.phases > 1 else ''}"
    identity = (
        ("Vendor", ch.vendor or "–"),
        ("Model", ch.model or "–"),
        ("Serial", ch.serial or "–"),
        ("Firmware", ch.firmware or "–"),
        ("Protocol", protocol_label(ch.protocol)),
        ("Current", current),
        ("Max power", f"{fmt_max_kw(ch.max_kw)} kW"),
        ("Bay", ch.bay or "unplaced"),
        ("Last seen", fmt_when(ch.last_seen, now)),
        ("Last boot", fmt_when(ch.last_boot, now)),
        ("Heartbeat", f"every {ch.heartbeat_interval} s" if ch.heartbeat_interval else "default"),
        ("Smart charging", _capabilities(detail)),
    )
    connectors = []
    for c in detail.connectors:
        status = c.status if view.online else ConnectorStatus.OFFLINE
        err = " · ".join(x for x in (c.error_code, c.vendor_error_code and f"vendor {c.vendor_error_code}", c.info) if x)
        connectors.append(ConnectorRow(c.connector_id, status, status_slug(status), status_label(status), err,
                                       fmt_when(c.updated_at, now)))
    live = {c.transaction_id: c for c in view.connectors if c.transaction_id is not None}
    sessions = []
    for tx in detail.sessions:
        cv = live.get(tx.id)
        sessions.append(SessionRow(
            connector_id=tx.connector_id,
            vehicle=(cv.vehicle_name if cv and cv.vehicle_name else None) or tx.vehicle_id or "unknown vehicle",
            id_tag=tx.id_tag or "–", started=fmt_when(tx.started_at, now),
            energy=fmt_kwh(cv.session_kwh if cv else None), power=fmt_kw(cv.power_kw if cv else None),
            soc=fmt_soc(cv.soc if cv else None), soc_value=cv.soc if cv else None,
        ))
    return DetailModel(
        charger_id=ch.id, status=view.status, slug=status_slug(view.status), label=status_text(view, now),
        identity=identity, connectors=tuple(connectors), sessions=tuple(sessions),
        errors=tuple(error_text(e, now) for e in detail.errors),
        messages=tuple(message_row(m, now) for m in detail.messages), commissioned=ch.commissioned,
    )
