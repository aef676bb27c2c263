"""The floor plan's tiles, PURE: one charger view -> its bay's words, tooltip and search text; the filter.

No Dash, no database, no clock: `now` is a parameter and every function returns frozen values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from depot.model import ChargerView, ConnectorStatus, CurrentType
from depot.web.floorplan_bays import UNPLACED, parse_bay
from depot.web.floorplan_text import (
    STATUS_HELP,
    fmt_age,
    fmt_kw,
    fmt_kwh,
    fmt_max_kw,
    fmt_soc,
    fmt_when,
    kind_label,
    status_label,
    status_slug,
)


@dataclass(frozen=True)
class Tile:
    """One charger as its bay on the plan: everything already in words."""

    charger_id: str
    bay: str | None
    lane: str
    position: int | None
    status: ConnectorStatus
    slug: str  # CSS name of the status
    label: str  # "Charging", "Faulted", "Offline · 12 min"
    kind: str  # "DC 150"
    vehicle: str  # who is plugged in ("" when nobody; a faulted bay's error code when nobody)
    soc: float | None
    metrics: str  # "42.1 kW · 12.4 kWh" while a session runs, else "Bay A03"
    power_kw: float
    connectors: tuple[tuple[int, str], ...]  # (connector id, slug) when the charger has more than one
    title: str  # the tooltip: the whole story in text
    commissioned: bool
    search: str  # lower-case text the search box matches


def _fault_code(view: ChargerView) -> str | None:
    for c in view.connectors:
        if c.status == ConnectorStatus.FAULTED and c.error_code:
            return c.error_code
    return next((c.error_code for c in view.connectors if c.error_code), None)


def status_text(view: ChargerView, now: datetime) -> str:
    status = view.status
    if status == ConnectorStatus.OFFLINE:
        seen = view.charger.last_seen
        return "Offline · never seen" if seen is None else f"Offline · {fmt_age(seen, now).removesuffix(' ago')}"
    if status == ConnectorStatus.FAULTED:
        code = _fault_code(view)
        return f"Faulted · {code}" if code else "Faulted"
    return status_label(status)


def make_tile(view: ChargerView, now: datetime) -> Tile:
    ch = view.charger
    pos = parse_bay(ch.bay)
    status = view.status
    sessions = [c for c in view.connectors if c.transaction_id is not None]
    vehicles = [c.vehicle_name or c.vehicle_id or "unknown vehicle" for c in sessions]
    if len(vehicles) > 1:
        vehicle = f"{len(vehicles)} vehicles"
    else:
        vehicle = vehicles[0] if vehicles else ""
    soc = sessions[0].soc if len(sessions) == 1 else None
    power = view.power_kw
    if sessions:
        kwh = sum(c.session_kwh or 0.0 for c in sessions)
        metrics = f"{fmt_kw(power)} · {fmt_kwh(kwh, compact=True)}"
    else:
        metrics = f"Bay {ch.bay}" if ch.bay else "no bay yet"
    label = status_text(view, now)
    if status == ConnectorStatus.FAULTED:  # the bay is narrow: the error code goes where a vehicle would be
        code = _fault_code(view)
        label = "Faulted"
        if not vehicle and code:
            vehicle = code
    kind = kind_label(ch.current_type, ch.max_kw)

    lines = [f"{ch.id} · {'bay ' + ch.bay if ch.bay else 'no bay'} · {ch.current_type.value} {fmt_max_kw(ch.max_kw)} kW"
             + (f" · {ch.phases} phases" if ch.current_type == CurrentType.AC else ""),
             status_text(view, now) + (f" · {STATUS_HELP[status]}" if status in STATUS_HELP else "")]
    for c in view.connectors:
        line = f"connector {c.connector_id}: {status_label(c.status)}"
        if c.error_code:
            line += f" ({c.error_code})"
        if c.transaction_id is not None:
            line += (f" · {c.vehicle_name or c.vehicle_id or 'unknown vehicle'} · {fmt_kw(c.power_kw)}"
                     f" · SoC {fmt_soc(c.soc)} · {fmt_kwh(c.session_kwh)}")
        lines.append(line)
    lines.append(f"last seen {fmt_when(ch.last_seen, now)}")
    if not ch.commissioned:
        lines.append("not commissioned: recorded when it first connected")

    words = [ch.id, ch.bay or "", vehicle] + [c.vehicle_id or "" for c in sessions] + [c.vehicle_name or "" for c in sessions]
    return Tile(
        charger_id=ch.id, bay=ch.bay, lane=UNPLACED if pos is None else pos.lane,
        position=None if pos is None else pos.position, status=status, slug=status_slug(status), label=label,
        kind=kind, vehicle=vehicle, soc=soc, metrics=metrics, power_kw=power,
        connectors=tuple((c.connector_id, status_slug(c.status if view.online else ConnectorStatus.OFFLINE))
                         for c in view.connectors) if len(view.connectors) > 1 else (),
        title="\n".join(lines), commissioned=ch.commissioned, search=" ".join(w for w in words if w).lower(),
    )


def matches(tile: Tile, query: str | None, statuses: Iterable[str] | None) -> bool:
    """The filter: every word of `query` in the id, bay or vehicle; the status among `statuses` (empty: any)."""
    wanted = set(statuses or ())
    if wanted and tile.status.value not in wanted:
        return False
    return all(word in tile.search for word in (query or "").lower().split())
