"""A charger's health for the maintenance page, read from the raw OCPP event log and the charger row.

Uptime over 7 and 30 days: the share of the time the charger was online (heard from within twice its
heartbeat) and not reporting a fault (`depot.people.alert_rules.uptime`, pure), counted from its first message.
Fault counts by code and the last errors: 1.6 StatusNotification errorCode / vendorErrorCode, 2.0.1 Faulted
plus the NotifyEvent Problem techCode. Firmware, its update status and the last boot come from the charger
row; profile obedience from the enforcement engine (`profile_obedience_health`, the hook).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from depot.errors import NotFound
from depot.people.alert_rules import uptime
from depot.store import ChargerRow, EventRow, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChargerHealth:
    charger_id: str
    protocol: str | None
    vendor: str | None
    model: str | None
    firmware: str | None
    firmware_status: str | None
    diagnostics_status: str | None
    last_boot: datetime | None
    last_seen: datetime | None
    uptime_7d: float | None
    uptime_30d: float | None
    faults_by_code: dict[str, int]
    last_errors: tuple[tuple[datetime, str], ...]
    obedience: Any


def _status_fault(payload: dict) -> tuple[int | None, str | None, bool]:
    """(connector, error code, faulted) of a StatusNotification payload of either version."""
    status = payload.get("status") or payload.get("connectorStatus")
    conn = payload.get("connectorId") if "status" in payload else payload.get("evseId")
    code = payload.get("errorCode")
    if code == "NoError":
        code = None
    if payload.get("vendorErrorCode"):
        code = f"{code or 'Faulted'} ({payload['vendorErrorCode']})"
    return conn, code, status == "Faulted" or code is not None


def charger_health(store: Store, charger_id: str, now: datetime, *, heartbeat_s: int) -> ChargerHealth:
    with store.session() as s:
        ch = s.get(ChargerRow, charger_id)
        if ch is None:
            raise NotFound("charger", charger_id)
        info = (ch.protocol, ch.vendor, ch.model, ch.firmware, ch.firmware_status, ch.diagnostics_status,
                ch.last_boot, ch.last_seen, ch.heartbeat_interval)
        since = now - timedelta(days=30)
        frames = list(s.scalars(select(EventRow.at).where(EventRow.charger_id == charger_id, EventRow.direction == "in",
                                                          EventRow.at >= since - timedelta(hours=1))))
        first = s.scalar(select(EventRow.at).where(EventRow.charger_id == charger_id, EventRow.direction == "in")
                         .order_by(EventRow.id).limit(1))
        status_rows = list(s.execute(select(EventRow.at, EventRow.action, EventRow.payload).where(
            EventRow.charger_id == charger_id, EventRow.direction == "in", EventRow.kind == "call",
            EventRow.action.in_(("StatusNotification", "NotifyEvent")), EventRow.at >= since).order_by(EventRow.id)))
    faults: list[tuple[datetime, datetime]] = []
    open_since: dict[Any, datetime] = {}
    codes: Counter = Counter()
    errors: list[tuple[datetime, str]] = []
    for at, action, raw in status_rows:
        try:
            payload = json.loads(raw)
        except ValueError:
            continue
        if action == "NotifyEvent":
            for ev in payload.get("eventData") or ():
                if (ev.get("variable") or {}).get("name") == "Problem" and str(ev.get("actualValue")).lower() == "true":
                    codes[ev.get("techCode") or "Problem"] += 1
                    errors.append((at, f"{ev.get('techCode') or 'Problem'}: {ev.get('techInfo') or ''}".strip(": ")))
            continue
        conn, code, faulted = _status_fault(payload)
        if faulted:
            if conn not in open_since:
                open_since[conn] = at
                if code is not None or "status" in payload:  # 2.0.1 codes come with NotifyEvent
                    codes[code or "Faulted"] += 1
                    errors.append((at, f"connector {conn}: {code or 'Faulted'}"))
        elif conn in open_since:
            faults.append((open_since.pop(conn), at))
    faults += [(t, now) for t in open_since.values()]
    hb = info[8] or heartbeat_s
    start_all = first or now
    up7 = uptime(frames, faults, max(now - timedelta(days=7), start_all), now, heartbeat_s=hb)
    up30 = uptime(frames, faults, max(since, start_all), now, heartbeat_s=hb)
    return ChargerHealth(charger_id, *info[:8], up7, up30, dict(codes.most_common()),
                         tuple(sorted(errors, reverse=True)[:10]), profile_obedience_health(store, charger_id, now))


def profile_obedience_health(store: Store, charger_id: str, now: datetime) -> Any:
    """HOOK for the enforcement engine: does this charger obey its charging profiles?

    Reads `depot.control.enforcement.obedience_health(store, charger_id, *, now)` when the engine offers it (a short
    text, or a dict of label → value), else the engine's health table (`depot.store.enforcement.health`:
    ok / rejecting / overdrawing / offline since when, and why). None when neither exists."""
    try:
        from depot.control import enforcement
        from depot.store import enforcement as enforcement_store
    except ImportError:
        return None
    try:
        fn = getattr(enforcement, "obedience_health", None)
        if fn is not None:
            return fn(store, charger_id, now=now)
        h = enforcement_store.health(store).get(charger_id)
        if h is None:
            return "no profile sent yet"
        return {"state": h.state, "since": f"{h.since:%d %b %H:%M} UTC", "detail": h.detail or ""}
    except Exception as exc:  # noqa: BLE001 - another module's report must not break this page
        log.exception("profile obedience health of %s failed", charger_id)
        return f"not available ({type(exc).__name__})"
