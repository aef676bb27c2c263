"""The floor plan, PURE: charger views -> lanes of bays, render-ready tiles, legend counts, header figures,
and the live values the browser paints on each refresh. The detail panel's rows are in
`depot/web/floorplan_detail.py`.

No Dash, no database, no clock: `now` is a parameter and every function returns frozen values.
`layouts/_floor.py` turns these into components; the tests check them without a browser.

Bays are named lane + position ("A01", "B12", "P2-07", "Bay 3"); the lane is everything before the
trailing number. Chargers without a bay (new chargers recorded in commissioning mode) go to the
"Unplaced" lane, drawn last. Every time is shown in UTC with its zone.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from depot.model import ChargerView, ConnectorStatus, CurrentType, Protocol, SiteSummary

UNPLACED = "Unplaced"
MAX_GAP_FILL = 8  # a lane shows at most this many empty bays where its positions skip numbers
HIGH_LOAD = 0.9  # site power above this share of the grid limit is flagged

# The order of the legend (the order); Reserved and Unknown appear only when some charger has them.
LEGEND_ORDER = (
    ConnectorStatus.AVAILABLE, ConnectorStatus.PREPARING, ConnectorStatus.CHARGING,
    ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE, ConnectorStatus.FINISHING,
    ConnectorStatus.RESERVED, ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE, ConnectorStatus.OFFLINE,
    ConnectorStatus.UNKNOWN,
)
OPTIONAL_IN_LEGEND = frozenset({ConnectorStatus.RESERVED, ConnectorStatus.UNKNOWN})

STATUS_LABEL = {
    ConnectorStatus.SUSPENDED_EV: "Suspended EV",
    ConnectorStatus.SUSPENDED_EVSE: "Suspended EVSE",
}
STATUS_HELP = {
    ConnectorStatus.AVAILABLE: "free, nothing plugged in",
    ConnectorStatus.PREPARING: "plugged in, not charging yet",
    ConnectorStatus.CHARGING: "delivering energy",
    ConnectorStatus.SUSPENDED_EV: "the vehicle paused (often full)",
    ConnectorStatus.SUSPENDED_EVSE: "held at 0 by the charger or the charging plan",
    ConnectorStatus.FINISHING: "session ended, still plugged in",
    ConnectorStatus.RESERVED: "reserved",
    ConnectorStatus.FAULTED: "error: needs attention",
    ConnectorStatus.UNAVAILABLE: "taken out of service",
    ConnectorStatus.OFFLINE: "not heard from for two heartbeats",
    ConnectorStatus.UNKNOWN: "no status received yet",
}


def status_label(status: ConnectorStatus) -> str:
    return STATUS_LABEL.get(status, status.value)


def status_slug(status: ConnectorStatus) -> str:
    """CSS name of a status: "SuspendedEVSE" -> "suspended-evse" (classes st-…, variables --st-…)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", status.value).lower()


# ---------------------------------------------------------------- formatting


def fmt_kw(kw: float | None) -> str:
    if kw is None:
        return "–"
    return f"{kw:.0f} kW" if abs(kw) >= 100 else f"{kw:.1f} kW"


def fmt_kwh(kwh: float | None, *, compact: bool = False) -> str:
    """"12.4 kWh"; from 100 kWh (from 10 when `compact`, as on a bay) without decimals."""
    if kwh is None:
        return "–"
    return f"{kwh:.0f} kWh" if abs(kwh) >= (10 if compact else 100) else f"{kwh:.1f} kWh"


def fmt_soc(soc: float | None) -> str:
    return "–" if soc is None else f"{soc:.0f} %"


def fmt_max_kw(kw: float) -> str:
    """A charger's rating: 22, 11.04 -> "11", 7.4 -> "7.4"."""
    return f"{kw:.0f}" if kw >= 10 or float(kw).is_integer() else f"{kw:.1f}"


def fmt_time(at: datetime | None, now: datetime) -> str:
    """"18:00:04 UTC" today, "20 Nov 17:59 UTC" on another day, "never" for None."""
    if at is None:
        return "never"
    at = at.astimezone(now.tzinfo) if at.tzinfo else at
    if at.date() == now.date():
        return at.strftime("%H:%M:%S UTC")
    if at.year == now.year:
        return at.strftime("%d %b %H:%M UTC")
    return at.strftime("%Y-%m-%d %H:%M UTC")


def fmt_age(at: datetime | None, now: datetime) -> str:
    """How long ago: "just now", "45 s ago", "3 min ago", "2 h ago", "4 d ago" ("in …" for the future)."""
    if at is None:
        return "never"
    seconds = (now - at).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 2:
        return "just now"
    if seconds < 60:
        text = f"{seconds:.0f} s"
    elif seconds < 3600:
        text = f"{seconds // 60:.0f} min"
    elif seconds < 86400:
        text = f"{seconds // 3600:.0f} h"
    else:
        text = f"{seconds // 86400:.0f} d"
    return f"in {text}" if ahead else f"{text} ago"


def fmt_when(at: datetime | None, now: datetime) -> str:
    """"18:00:04 UTC (3 min ago)"."""
    return "never" if at is None else f"{fmt_time(at, now)} ({fmt_age(at, now)})"


def short_payload(payload: str, limit: int = 90) -> str:
    """A logged JSON payload on one line, cut at `limit` characters."""
    try:
        text = json.dumps(json.loads(payload), separators=(", ", ": "), ensure_ascii=False)
    except (ValueError, TypeError):
        text = " ".join(payload.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind_label(current_type: CurrentType, max_kw: float) -> str:
    return f"{current_type.value} {fmt_max_kw(max_kw)}"


def protocol_label(protocol: Protocol | None) -> str:
    return {Protocol.OCPP16: "OCPP 1.6J", Protocol.OCPP201: "OCPP 2.0.1"}.get(protocol, "not booted yet")


# ---------------------------------------------------------------- bays and lanes


@dataclass(frozen=True)
class BayPos:
    lane: str  # "A"; "" for a bare number
    position: int | None  # None for a bay name without a trailing number
    digits: int = field(default=2, compare=False)  # how the number was written ("A01" -> 2)


_BAY = re.compile(r"^(?P<lane>.*?)[\s._/-]*(?P<pos>\d+)$")


def parse_bay(bay: str | None) -> BayPos | None:
    """ "A01" -> (A, 1); "p2-07" -> (P2, 7); "Wash" -> (WASH, None); None or blank -> None (unplaced)."""
    if bay is None:
        return None
    text = bay.strip().upper()
    if not text:
        return None
    m = _BAY.match(text)
    if m is None:
        return BayPos(text, None)
    return BayPos(m["lane"].strip(" ._/-"), int(m["pos"]), len(m["pos"]))


def bay_name(lane: str, position: int, digits: int = 2) -> str:
    return f"{lane}{position:0{digits}d}"


def natural_key(text: str) -> tuple:
    """Sort key: "A2" before "A10", and "Z" before "AA" (a shorter leading word first)."""
    parts = re.split(r"(\d+)", text)
    return (len(parts[0]), tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p))


def lane_key(lane: str) -> tuple:
    return (lane == UNPLACED, natural_key(lane))


# ---------------------------------------------------------------- tiles


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


@dataclass(frozen=True)
class EmptyBay:
    """A numbered bay without a charger, drawn so the lane keeps its shape."""

    lane: str
    position: int
    name: str


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


# ---------------------------------------------------------------- lanes


@dataclass(frozen=True)
class Lane:
    name: str  # "A", or UNPLACED
    title: str  # "Lane A"
    slots: tuple[Tile | EmptyBay, ...]
    chargers: int
    charging: int
    faulted: int
    power_kw: float

    @property
    def unplaced(self) -> bool:
        return self.name == UNPLACED


def lane_title(name: str) -> str:
    if name == UNPLACED:
        return "Unplaced"
    return f"Lane {name}" if name else "Numbered bays"


def _slots(tiles: list[Tile], fill_gaps: bool) -> tuple[Tile | EmptyBay, ...]:
    """Tiles in bay order; the missing numbers of a lane drawn as empty bays when there are few."""
    tiles = sorted(tiles, key=lambda t: (t.position is None, t.position or 0, natural_key(t.charger_id)))
    if not fill_gaps or not tiles or tiles[0].lane == UNPLACED:
        return tuple(tiles)
    numbered = [t.position for t in tiles if t.position is not None]
    if not numbered:
        return tuple(tiles)
    digits = Counter(p.digits for t in tiles if (p := parse_bay(t.bay)) is not None).most_common(1)
    width = digits[0][0] if digits else 2
    missing = sorted(set(range(min(1, min(numbered)), max(numbered) + 1)) - set(numbered))
    if not missing or len(missing) > MAX_GAP_FILL:
        return tuple(tiles)
    lane = tiles[0].lane
    empties = [EmptyBay(lane, p, bay_name(lane, p, width)) for p in missing]
    out: list[Tile | EmptyBay] = sorted(
        [*tiles, *empties],
        key=lambda s: (isinstance(s, Tile) and s.position is None, s.position or 0,
                       natural_key(s.charger_id) if isinstance(s, Tile) else ()))
    return tuple(out)


def build_lanes(tiles: Sequence[Tile], *, fill_gaps: bool = True) -> tuple[Lane, ...]:
    """Group tiles into lanes (natural order, Unplaced last), each in bay order."""
    by_lane: dict[str, list[Tile]] = {}
    for t in tiles:
        by_lane.setdefault(t.lane, []).append(t)
    lanes = []
    for name in sorted(by_lane, key=lane_key):
        group = by_lane[name]
        lanes.append(Lane(
            name=name, title=lane_title(name), slots=_slots(group, fill_gaps), chargers=len(group),
            charging=sum(t.status == ConnectorStatus.CHARGING for t in group),
            faulted=sum(t.status == ConnectorStatus.FAULTED for t in group),
            power_kw=sum(t.power_kw for t in group),
        ))
    return tuple(lanes)


# ---------------------------------------------------------------- header and legend


@dataclass(frozen=True)
class Header:
    online: int
    total: int
    charging: int
    faulted: int
    power_kw: float
    grid_kw: float
    load: float | None  # site power / grid limit, None without a limit
    level: str  # "ok", "high" (above 90 %), "over" (above 100 %), "none" (no limit set)

    @property
    def power_text(self) -> str:
        if self.grid_kw <= 0:
            return f"{self.power_kw:.0f} kW"
        return f"{self.power_kw:.0f} / {self.grid_kw:.0f} kW"


def make_header(summary: SiteSummary, faulted: int) -> Header:
    load = summary.site_power_kw / summary.grid_kw if summary.grid_kw > 0 else None
    if load is None:
        level = "none"
    elif load > 1.0:
        level = "over"
    elif load > HIGH_LOAD:
        level = "high"
    else:
        level = "ok"
    return Header(summary.chargers_online, summary.chargers_total, summary.charging_now, faulted,
                  summary.site_power_kw, summary.grid_kw, load, level)


@dataclass(frozen=True)
class LegendItem:
    status: ConnectorStatus
    slug: str
    label: str
    count: int
    help: str


def make_legend(tiles: Sequence[Tile]) -> tuple[LegendItem, ...]:
    counts = Counter(t.status for t in tiles)
    return tuple(LegendItem(s, status_slug(s), status_label(s), counts.get(s, 0), STATUS_HELP[s])
                 for s in LEGEND_ORDER if counts.get(s, 0) or s not in OPTIONAL_IN_LEGEND)


# ---------------------------------------------------------------- the whole plan


@dataclass(frozen=True)
class FloorModel:
    header: Header
    legend: tuple[LegendItem, ...]
    lanes: tuple[Lane, ...]  # only what the filter lets through
    total: int
    shown: int
    filtered: bool


def floor_model(views: Sequence[ChargerView], summary: SiteSummary, now: datetime, *,
                query: str | None = None, statuses: Iterable[str] | None = None) -> FloorModel:
    tiles = [make_tile(v, now) for v in views]
    statuses = list(statuses or ())
    filtered = bool(statuses) or bool((query or "").strip())
    shown = [t for t in tiles if matches(t, query, statuses)] if filtered else tiles
    faulted = sum(t.status == ConnectorStatus.FAULTED for t in tiles)
    return FloorModel(make_header(summary, faulted), make_legend(tiles), build_lanes(shown, fill_gaps=not filtered),
                      len(tiles), len(shown), filtered)


# ---------------------------------------------------------------- what the browser gets on each refresh


def structure_key(model: FloorModel) -> str:
    """Changes only when the drawing must change: lanes, bays, chargers shown and their fixed labels.
    Live values (status, power, SoC …) travel in `paint_data` and are painted into the existing bays."""
    shape = [model.filtered, model.total == 0]
    for lane in model.lanes:
        shape.append([lane.name, [[s.charger_id, s.kind, len(s.connectors)] if isinstance(s, Tile) else s.name
                                  for s in lane.slots]])
    return hashlib.sha1(json.dumps(shape).encode()).hexdigest()[:16]


def tile_values(t: Tile) -> list:
    """One bay's live values, in the order assets/floorplan.js reads them."""
    return [t.slug, t.label, t.vehicle, "" if t.soc is None else f"{t.soc:.0f}%", t.metrics,
            0 if t.soc is None else max(0.0, min(100.0, round(t.soc, 1))), t.title,
            [slug for _, slug in t.connectors], t.commissioned]


def lane_stats(lane: Lane) -> tuple[str, str]:
    parts = [f"{lane.chargers} charger{'s' if lane.chargers != 1 else ''}"]
    if lane.charging:
        parts.append(f"{lane.charging} charging")
    if lane.power_kw:
        parts.append(fmt_kw(lane.power_kw))
    return " · ".join(parts), (f"{lane.faulted} faulted" if lane.faulted else "")


def header_values(h: Header) -> dict:
    offline = h.total - h.online
    if h.level == "none":
        load_text = "no grid limit set"
    else:
        load_text = f"{h.load * 100:.0f} % of the grid limit" + (" — above it!" if h.level == "over" else "")
    return {
        "online": f"{h.online} / {h.total}",
        "online_sub": "all online" if offline == 0 else f"{offline} offline",
        "charging": str(h.charging),
        "faulted": str(h.faulted),
        "faulted_sub": "need attention" if h.faulted else "no faults",
        "power": h.power_text,
        "load_pct": 0 if h.load is None else round(min(1.0, h.load) * 100, 1),
        "load_text": load_text,
        "level": h.level,
    }


def paint_data(model: FloorModel, now: datetime) -> dict:
    """Everything that changes between two refreshes, small enough to send every two seconds."""
    legend = {item.status.value: item.count for item in model.legend}
    return {
        "key": structure_key(model),
        "updated": f"updated {fmt_time(now, now)}",
        "header": header_values(model.header),
        "legend": {s.value: legend.get(s.value, 0) for s in LEGEND_ORDER},
        "lanes": {lane.name: lane_stats(lane) for lane in model.lanes},
        "tiles": {s.charger_id: tile_values(s) for lane in model.lanes for s in lane.slots if isinstance(s, Tile)},
    }
