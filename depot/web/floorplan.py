"""The floor plan, PURE: charger views -> lanes of bays, legend counts, header figures, and the live values
the browser paints on each refresh. Tiles (one bay's words, the filter) are in `depot/web/floorplan_tiles.py`,
bay names in `depot/web/floorplan_bays.py`, the words and formatting in `depot/web/floorplan_text.py`, the
detail panel's rows in `depot/web/floorplan_detail.py`.

No Dash, no database, no clock: `now` is a parameter and every function returns frozen values.
`layouts/_floor.py` turns these into components; the tests check them without a browser.

A lane keeps its shape: the numbers its bays skip are drawn as empty bays (when there are few).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from depot.model import ChargerView, ConnectorStatus, SiteSummary
from depot.web.floorplan_bays import UNPLACED, bay_name, lane_key, lane_title, natural_key, parse_bay
from depot.web.floorplan_text import STATUS_HELP, fmt_kw, fmt_time, status_label, status_slug
from depot.web.floorplan_tiles import Tile, make_tile, matches

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


# ---------------------------------------------------------------- lanes


@dataclass(frozen=True)
class EmptyBay:
    """A numbered bay without a charger, drawn so the lane keeps its shape."""

    lane: str
    position: int
    name: str


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
