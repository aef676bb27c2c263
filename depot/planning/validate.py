"""PURE: the planner's input checked and repaired before a problem is built from it, every repair named.

`repair_snapshot(snap, slots=)` returns the snapshot that `depot.planning.snapshot.build_problem` can always turn
into a valid `PlanningProblem`, and the `Repair`s it made, each naming the vehicle or charger and the reason.
The shell (`depot.control.replan`) logs them before it solves; `build_problem` applies the same repairs
quietly, so that no path to the planner fails on them. What is repaired:

- sessions: on a charger the depot does not know or that has no power rating (dropped); two open on one
  connector, or one vehicle on two connectors (the newest session is kept, the others dropped); on an offline
  charger or a connector that reports no vehicle to steer (dropped); a SoC outside 0–100 % (clamped, unknown
  when not a number); a negative session energy (a meter reset: 0);
- vehicles: a battery capacity that is not a positive number (planned as an unknown vehicle), a power limit
  that is not (the charger's rating applies);
- chargers: no positive power rating (left out), an AC phase count other than 1, 2 or 3 (taken as 3);
- departures: not after their arrival (dropped), a negative or missing-number energy (0), SoCs outside
  0–100 % (clamped), a priority below 1 (1), a time without a time zone (taken as UTC);
- forecasts: a building load or price series of the wrong length or with gaps (prices: the default profile
  applies; building load: padded and filled with its highest value, never with less).

Types come from `depot.planning.snapshot` (only for type checking: that module imports this one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from depot.model import Charger, ConnectorStatus, CurrentType
from depot.planning.departures import Departure
from depot.text import count

if TYPE_CHECKING:
    from depot.planning.snapshot import DepotSnapshot, LiveSession

STEERABLE = frozenset({ConnectorStatus.CHARGING, ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE,
                       ConnectorStatus.PREPARING, ConnectorStatus.FINISHING})  # = snapshot.WORKING


@dataclass(frozen=True)
class Repair:
    """One inconsistency in the planner's input and what was done about it."""

    kind: str  # a short name: "duplicate vehicle", "offline charger", "departure before arrival" …
    subject: str  # the vehicle or charger it concerns
    text: str  # one sentence for the log and the page
    routine: bool = False  # an expected state, not an inconsistency (a charger offline): logged, not warned about

    def __str__(self) -> str:
        return self.text


def _finite(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _where(s: LiveSession) -> str:
    return f"{s.charger.id}/{s.transaction.connector_id}"


def _who(s: LiveSession) -> str:
    return s.transaction.vehicle_id or f"id tag {s.transaction.id_tag or '(none)'}"


def _newest_first(sessions: Sequence[LiveSession]) -> list[LiveSession]:
    return sorted(sessions, key=lambda s: (s.transaction.started_at, s.transaction.id), reverse=True)


# ---------------------------------------------------------------- the whole snapshot


def repair_snapshot(snap: DepotSnapshot, *, slots: int = 96) -> tuple[DepotSnapshot, tuple[Repair, ...]]:
    """The snapshot with every inconsistency repaired, and the repairs (none: the snapshot itself). `slots`:
    how many values a per-slot forecast must have (the problem's slots)."""
    out: list[Repair] = []
    views, chargers = _chargers(snap, out)
    vehicles = _vehicles(snap, chargers, out)
    sessions = _sessions(snap.sessions, chargers, out)
    departures = tuple(d for d in (_departure(d, out) for d in snap.departures) if d is not None)
    building, prices = _series(snap, slots, out)
    if not out:
        return snap, ()
    fixed = replace(snap, chargers=views, vehicles=vehicles, sessions=sessions, departures=departures,
                    building_kw=building, prices=prices)
    return fixed, tuple(out)


def _chargers(snap: DepotSnapshot, out: list[Repair]) -> tuple[tuple, dict[str, Charger]]:
    views, known = [], {}
    for v in snap.chargers:
        ch = v.charger
        if not (_finite(ch.max_kw) and ch.max_kw > 0):
            out.append(Repair("charger without power", ch.id, f"charger {ch.id}: its power rating {ch.max_kw!r} kW "
                              "is not a positive number: left out of the plan"))
            continue
        if ch.current_type == CurrentType.AC and ch.phases not in (1, 2, 3):
            out.append(Repair("charger phases", ch.id, f"charger {ch.id}: {ch.phases!r} phases is not 1, 2 or 3: "
                              "planned as 3 phases"))
            ch = replace(ch, phases=3)
            v = replace(v, charger=ch)
        views.append(v)
        known[ch.id] = ch
    return tuple(views), known


def _vehicles(snap: DepotSnapshot, chargers: dict[str, Charger], out: list[Repair]) -> dict:
    top = max((c.max_kw for c in chargers.values()), default=1.0)
    vehicles = {}
    for vid, v in snap.vehicles.items():
        if not (_finite(v.battery_kwh) and v.battery_kwh > 0):
            out.append(Repair("vehicle battery", vid, f"vehicle {vid}: battery capacity {v.battery_kwh!r} kWh is not "
                              "a positive number: planned as an unknown vehicle"))
            continue
        for name in ("max_ac_kw", "max_dc_kw"):
            value = getattr(v, name)
            if not (_finite(value) and value > 0):
                out.append(Repair("vehicle power", vid, f"vehicle {vid}: {name.replace('_', ' ')} {value!r} is not a "
                                  "positive number: the charger's rating applies"))
                v = replace(v, **{name: top})
        vehicles[vid] = v
    return vehicles


def _sessions(sessions: Sequence[LiveSession], chargers: dict[str, Charger],
              out: list[Repair]) -> tuple[LiveSession, ...]:
    kept: list[LiveSession] = []
    for s in sessions:
        if s.charger.id not in chargers:
            out.append(Repair("unknown charger", s.charger.id, f"session {s.transaction.id} of {_who(s)} on "
                              f"{_where(s)} dropped: charger {s.charger.id} is not known or cannot charge"))
            continue
        kept.append(replace(s, charger=chargers[s.charger.id]) if chargers[s.charger.id] != s.charger else s)
    kept = _one_per_connector(kept, out)
    kept = _one_per_vehicle(kept, out)
    final = []
    for s in kept:
        if not s.online:
            out.append(Repair("offline charger", s.charger.id, f"session {s.transaction.id} of {_who(s)} on "
                              f"{_where(s)} not planned: charger {s.charger.id} is offline", routine=True))
            continue
        if s.status not in STEERABLE:
            out.append(Repair("idle connector", s.charger.id, f"session {s.transaction.id} of {_who(s)} on "
                              f"{_where(s)} not planned: the connector reports {s.status.value}"))
            continue
        final.append(_live_values(s, out))
    return tuple(final)


def _one_per_connector(sessions: list[LiveSession], out: list[Repair]) -> list[LiveSession]:
    seen: set[tuple[str, int]] = set()
    kept = []
    for s in _newest_first(sessions):
        where = (s.charger.id, s.transaction.connector_id)
        if where in seen:
            out.append(Repair("two sessions on a connector", s.charger.id, f"session {s.transaction.id} of {_who(s)} "
                              f"on {_where(s)} dropped: a newer session is open on that connector"))
            continue
        seen.add(where)
        kept.append(s)
    return _in_order(kept, sessions)


def _one_per_vehicle(sessions: list[LiveSession], out: list[Repair]) -> list[LiveSession]:
    newest: dict[str, LiveSession] = {}
    kept = []
    for s in _newest_first(sessions):
        vid = s.transaction.vehicle_id
        if vid and vid in newest:
            out.append(Repair("duplicate vehicle", vid, f"vehicle {vid} has open sessions on {_where(newest[vid])} "
                              f"and {_where(s)}: planned on {_where(newest[vid])} (the newest), session "
                              f"{s.transaction.id} on {_where(s)} dropped"))
            continue
        if vid:
            newest[vid] = s
        kept.append(s)
    return _in_order(kept, sessions)


def _in_order(kept: list[LiveSession], original: list[LiveSession]) -> list[LiveSession]:
    ids = {id(s) for s in kept}
    return [s for s in original if id(s) in ids]


def _live_values(s: LiveSession, out: list[Repair]) -> LiveSession:
    soc, kwh = s.soc, s.session_kwh
    if soc is not None and not (_finite(soc) and 0.0 <= soc <= 100.0):
        soc = min(100.0, max(0.0, soc)) if _finite(soc) else None
        out.append(Repair("SoC out of range", _who(s), f"{_who(s)} on {_where(s)}: SoC {s.soc!r} % is not within "
                          f"0–100 %: taken as {'unknown' if soc is None else f'{soc:g} %'}"))
    if not (_finite(kwh) and kwh >= 0.0):
        kwh = 0.0
        out.append(Repair("negative need", _who(s), f"{_who(s)} on {_where(s)}: session energy {s.session_kwh!r} kWh "
                          "is negative or not a number (a meter reset?): taken as 0"))
    return s if (soc, kwh) == (s.soc, s.session_kwh) else replace(s, soc=soc, session_kwh=kwh)


# ---------------------------------------------------------------- departures and forecasts


def _utc(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _departure(d: Departure, out: list[Repair]) -> Departure | None:
    vid = d.vehicle_id
    departure, arrival = _utc(d.departure), _utc(d.arrival)
    if (departure, arrival) != (d.departure, d.arrival):
        out.append(Repair("time without zone", vid, f"vehicle {vid}: a departure time without a time zone: taken as "
                          "UTC"))
    if arrival is not None and departure <= arrival:
        out.append(Repair("departure before arrival", vid, f"vehicle {vid}: departure {departure:%Y-%m-%d %H:%M} is "
                          f"not after its arrival {arrival:%Y-%m-%d %H:%M} UTC: this departure is ignored"))
        return None
    changes: dict = {}
    if d.energy_kwh is not None and not (_finite(d.energy_kwh) and d.energy_kwh >= 0.0):
        changes["energy_kwh"] = 0.0
        out.append(Repair("negative need", vid, f"vehicle {vid}: energy to add {d.energy_kwh!r} kWh is negative or "
                          "not a number: planned as 0 kWh"))
    for name in ("target_soc", "arrival_soc"):
        value = getattr(d, name)
        if value is not None and not (_finite(value) and 0.0 <= value <= 100.0):
            fixed = min(100.0, max(0.0, value)) if _finite(value) else None
            changes[name] = fixed
            out.append(Repair("SoC out of range", vid, f"vehicle {vid}: {name.replace('_', ' ')} {value!r} % is not "
                              f"within 0–100 %: taken as {'not given' if fixed is None else f'{fixed:g} %'}"))
    if not isinstance(d.priority, int) or d.priority < 1:
        changes["priority"] = 1
        out.append(Repair("priority", vid, f"vehicle {vid}: priority {d.priority!r} is below 1: taken as 1"))
    if departure is not d.departure or arrival is not d.arrival:
        changes.update(departure=departure, arrival=arrival)
    return replace(d, **changes) if changes else d


def _series(snap: DepotSnapshot, slots: int,
            out: list[Repair]) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    building, prices = snap.building_kw, snap.prices
    if prices is not None and (len(prices) != slots or not all(_finite(p) for p in prices)):
        out.append(Repair("price forecast", "site", f"the price forecast has {count(len(prices), 'value')} or gaps: the "
                          "default time-of-use prices apply"))
        prices = None
    if building is not None and (len(building) != slots or not all(_finite(b) for b in building)):
        finite = [b for b in building if _finite(b)]
        worst = max(finite) if finite else max(0.0, snap.site.grid_kw)
        fixed = [b if _finite(b) else worst for b in building[:slots]]
        building = tuple(fixed + [worst] * (slots - len(fixed)))
        out.append(Repair("building forecast", "site", f"the building load forecast has {len(snap.building_kw)} "
                          f"values or gaps: filled with its highest value, {worst:g} kW"))
    return building, prices
