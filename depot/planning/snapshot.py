"""PURE: from what the depot knows now to a planning problem, and from a plan to a readiness forecast.

No I/O and no clock: the shell (`depot.control.replan`) gathers a `DepotSnapshot` from the store and passes `now`.
Who is planned:
- every vehicle plugged in now (an active session on an online, working connector), with the departure the
  dispatcher entered for it, or the site's default departure (`Site.default_departure`) when none was
  entered (flagged);
- every vehicle the dispatcher expects to arrive (a departure with a later arrival) that is not plugged in yet,
  so that early vehicles do not take the night from late ones.
Who is not: a vehicle (or an unknown id tag) plugged in with no departure known and no site default
departure. Nobody knows when it must leave, so it is not parked in cheap hours: it charges now, on the
headroom the planned vehicles leave (the enforcer's allocation, depot.control.allocation rule 5).
No grid connection limit set (`Site.grid_set`) is no cap: the problem's site limit is then everything the
chargers and vehicles could draw at once, never zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from depot.model import Charger, ChargerView, ConnectorStatus, CurrentType, Site, Transaction, Vehicle
from depot.planning.departures import DEFAULT_ARRIVAL_SOC, Departure
from depot.planning.planner import Plan, PlanningProblem, VehicleNeed, ac_min_kw
from depot.planning.validate import Repair, repair_snapshot

SLOT_MINUTES = 15
SLOTS = 96
DEFAULT_DEPARTURE = time(6, 0)  # UTC: the departure suggested for a new row (the site's default is a setting)
DEFAULT_TARGET_SOC = 100.0
UNKNOWN_VEHICLE_KWH = 60.0  # the need assumed for a session whose id tag names no vehicle
AT_RISK_SLACK = timedelta(minutes=45)  # ready, but with less spare charging time than this: at risk

# Until tariffs are configured (issue: energy cost reports) the planner uses this time-of-use profile:
# night 22:00–06:00 cheap, evening peak 16:00–21:00 dear, the rest in between. UTC hours → price per kWh.
DEFAULT_TOU = ((0, 6, 0.12), (6, 16, 0.22), (16, 21, 0.34), (21, 22, 0.22), (22, 24, 0.12))

WORKING = {ConnectorStatus.CHARGING, ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE,
           ConnectorStatus.PREPARING, ConnectorStatus.FINISHING}


@dataclass(frozen=True)
class LiveSession:
    """A session now: its charger, the vehicle (if the id tag names one) and its live values."""

    transaction: Transaction
    charger: Charger
    status: ConnectorStatus
    online: bool
    soc: float | None = None
    session_kwh: float = 0.0


@dataclass(frozen=True)
class DepotSnapshot:
    site: Site
    chargers: tuple[ChargerView, ...]
    sessions: tuple[LiveSession, ...]
    vehicles: Mapping[str, Vehicle]
    departures: tuple[Departure, ...]  # the coming shift (roster + one-offs), see depot.planning.departures
    building_kw: tuple[float, ...] | None = None  # forecast per slot, when known
    prices: tuple[float, ...] | None = None
    demand_charge_per_kw: float | None = None  # the tariff's, applied to the plan's peak


@dataclass(frozen=True)
class PlannedVehicle:
    """Why a vehicle is in the problem, for the forecast and the dispatcher."""

    key: str  # the planner's vehicle id (vehicle id, or "charger/connector" for an unknown vehicle)
    vehicle_id: str | None
    charger_id: str | None
    plugged_in: bool
    battery_kwh: float | None
    soc_now: float | None
    departure: datetime
    need_kwh: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Readiness:
    key: str
    vehicle_id: str | None
    charger_id: str | None
    departure: datetime
    need_kwh: float
    planned_kwh: float
    shortfall_kwh: float
    soc_at_departure: float | None
    badge: str  # "ready", "at risk", "will miss"
    text: str
    notes: tuple[str, ...] = field(default=())


def default_prices(start: datetime, slots: int = SLOTS, slot_minutes: int = SLOT_MINUTES) -> tuple[float, ...]:
    out = []
    for k in range(slots):
        t = start + timedelta(minutes=slot_minutes * k)
        hour = t.astimezone(UTC).hour
        out.append(next(p for lo, hi, p in DEFAULT_TOU if lo <= hour < hi))
    return tuple(out)


def slot_start(now: datetime, slot_minutes: int = SLOT_MINUTES) -> datetime:
    """The beginning of the slot `now` lies in (plans are aligned to slot boundaries)."""
    now = now.astimezone(UTC)
    minutes = (now.hour * 60 + now.minute) // slot_minutes * slot_minutes
    return now.replace(hour=minutes // 60, minute=minutes % 60, second=0, microsecond=0)


def default_departure(now: datetime, at: time = DEFAULT_DEPARTURE) -> datetime:
    """The next `at` (UTC) more than an hour from now."""
    d = datetime.combine(now.astimezone(UTC).date(), at, tzinfo=UTC)
    return d if d > now + timedelta(hours=1) else d + timedelta(days=1)


def build_problem(snap: DepotSnapshot, *, now: datetime, slots: int = SLOTS, slot_minutes: int = SLOT_MINUTES,
                  demand_charge_per_kw: float | None = None,
                  on_repair: Callable[[tuple[Repair, ...]], None] | None = None,
                  ) -> tuple[PlanningProblem, list[PlannedVehicle]]:
    """The planning problem of a depot snapshot, and who is in it. The snapshot is repaired first, here and only
    here, so inconsistent input never reaches the planner (validate.py); `on_repair` is told what was repaired."""
    snap, repairs = repair_snapshot(snap, slots=slots)
    if on_repair is not None:
        on_repair(repairs)
    start = slot_start(now, slot_minutes)
    horizon_end = start + timedelta(minutes=slot_minutes * slots)
    by_vehicle: dict[str, Departure] = {}
    for d in sorted(snap.departures, key=lambda d: d.departure):
        by_vehicle.setdefault(d.vehicle_id, d)
    needs: list[VehicleNeed] = []
    planned: list[PlannedVehicle] = []
    here: set[str] = set()
    _plan_plugged_in(snap, by_vehicle, now, start, horizon_end, needs, planned, here)
    _plan_expected(snap, by_vehicle, now, start, horizon_end, needs, planned, here)
    limit = site_limits(snap.site, snap.building_kw, slots, uncapped_kw=_uncapped_kw(snap, needs))
    prices = snap.prices if snap.prices is not None and len(snap.prices) == slots else default_prices(
        start, slots, slot_minutes)
    problem = PlanningProblem(start=start, vehicles=tuple(needs), site_limit_kw=limit, price_per_kwh=prices,
                              slot_minutes=slot_minutes, slots=slots, demand_charge_per_kw=demand_charge_per_kw)
    return problem, planned


def _plan_plugged_in(snap: DepotSnapshot, by_vehicle: Mapping[str, Departure], now: datetime, start: datetime,
                     horizon_end: datetime, needs: list[VehicleNeed], planned: list[PlannedVehicle],
                     here: set[str]) -> None:
    """Every vehicle plugged in now, into ``needs`` and ``planned``; the known ones (even if they leave before
    ``start``) into ``here``."""
    for s in snap.sessions:
        if not s.online or s.status not in WORKING:
            continue
        tx, ch = s.transaction, s.charger
        vehicle = snap.vehicles.get(tx.vehicle_id) if tx.vehicle_id else None
        notes: list[str] = []
        dep = by_vehicle.get(vehicle.id) if vehicle else None
        if dep is None and snap.site.default_departure is None:
            continue  # no departure known: it charges now on the headroom, not in the plan's cheap hours
        departure = dep.departure if dep else default_departure(now, snap.site.default_departure)
        if dep is None:
            notes.append(f"no departure entered: assumed {departure:%H:%M} UTC (the site's default departure)"
                         + (f", charging to {DEFAULT_TARGET_SOC:g} %" if vehicle is not None else ""))
        if vehicle is not None:
            here.add(vehicle.id)
            key = vehicle.id
            need = _session_need(s, vehicle, dep, notes)
            vmax = vehicle.max_dc_kw if ch.current_type == CurrentType.DC else vehicle.max_ac_kw
        else:
            key = f"{ch.id}/{tx.connector_id}"
            need = max(0.0, UNKNOWN_VEHICLE_KWH - s.session_kwh)
            vmax = ch.max_kw
            notes.append(f"id tag {tx.id_tag or '(none)'} names no vehicle: planned for {UNKNOWN_VEHICLE_KWH:g} kWh")
        departure = min(departure, horizon_end)
        if departure <= start:
            continue
        needs.append(_need(key, ch, min(ch.max_kw, vmax), need, departure, None,
                           dep.priority if dep else 1))
        planned.append(PlannedVehicle(key, vehicle.id if vehicle else None, ch.id, True,
                                      vehicle.battery_kwh if vehicle else None, s.soc, departure, need, tuple(notes)))


def _session_need(s: LiveSession, vehicle: Vehicle, dep: Departure | None, notes: list[str]) -> float:
    """kWh a plugged-in vehicle still needs: the energy entered less what the session delivered, or up to the
    target SoC (entered, else the default) from the SoC reported (else assumed, noted in ``notes``)."""
    if dep is not None and dep.energy_kwh is not None:
        return max(0.0, dep.energy_kwh - s.session_kwh)
    target = dep.target_soc if dep is not None and dep.target_soc is not None else DEFAULT_TARGET_SOC
    soc = s.soc if s.soc is not None else (
        dep.arrival_soc if dep is not None and dep.arrival_soc is not None else DEFAULT_ARRIVAL_SOC)
    if s.soc is None:
        notes.append(f"SoC not reported: assumed {soc:g} % on arrival")
        soc += s.session_kwh / vehicle.battery_kwh * 100.0
    return max(0.0, (target - soc) / 100.0 * vehicle.battery_kwh)


def _plan_expected(snap: DepotSnapshot, by_vehicle: Mapping[str, Departure], now: datetime, start: datetime,
                   horizon_end: datetime, needs: list[VehicleNeed], planned: list[PlannedVehicle],
                   here: set[str]) -> None:
    """Every vehicle expected to arrive within the horizon and not ``here`` yet, into ``needs`` and ``planned``,
    on the depot's typical charger."""
    for vehicle_id, dep in by_vehicle.items():
        vehicle = snap.vehicles.get(vehicle_id)
        if vehicle is None or vehicle_id in here or dep.departure <= start:
            continue
        arrival = dep.arrival if dep.arrival is not None and dep.arrival > now else None
        if arrival is None:
            continue  # should be here by now but is not plugged in: nothing to plan (the forecast says so)
        if arrival >= horizon_end:
            continue
        ch = _typical_charger(snap.chargers)
        if ch is None:
            continue
        vmax = vehicle.max_dc_kw if ch.current_type == CurrentType.DC else vehicle.max_ac_kw
        need = dep.energy_needed(vehicle.battery_kwh, None)
        departure = min(dep.departure, horizon_end)
        needs.append(_need(vehicle_id, ch, min(ch.max_kw, vmax), need, departure, arrival, dep.priority))
        planned.append(PlannedVehicle(vehicle_id, vehicle_id, None, False, vehicle.battery_kwh,
                                      dep.arrival_soc if dep.arrival_soc is not None else None, departure, need,
                                      (f"expected at {arrival:%H:%M} UTC on a {ch.current_type} charger",)))


def site_limits(site: Site, building_kw: Sequence[float] | None, slots: int, *,
                uncapped_kw: float = 0.0) -> tuple[float, ...]:
    """Grid connection minus the safety margin and the building's forecast load, never below 0; without a
    grid connection limit set, `uncapped_kw` in every slot (no cap: it never binds)."""
    if not site.grid_set:
        return tuple(uncapped_kw for _ in range(slots))
    base = site.grid_kw - site.safety_margin_kw
    if building_kw is None:
        return tuple(max(0.0, base) for _ in range(slots))
    return tuple(min(base, max(0.0, base - b)) for b in building_kw)  # PV never lifts us above the connection


def _uncapped_kw(snap: DepotSnapshot, needs: Sequence[VehicleNeed]) -> float:
    """No site cap, as a number the planner can use: every charger and every planned vehicle at full power."""
    chargers = sum(v.charger.max_kw for v in snap.chargers if not v.charger.site_meter)
    return round(max(chargers, sum(n.max_kw for n in needs)), 1)


def _need(key: str, ch: Charger, max_kw: float, need: float, departure: datetime, arrival: datetime | None,
          priority: int) -> VehicleNeed:
    if ch.current_type == CurrentType.AC:
        floor = ac_min_kw(ch.phases)
        max_kw = max(max_kw, floor)
        return VehicleNeed(key, departure, need, max_kw, floor, priority, arrival, ch.phases)
    return VehicleNeed(key, departure, need, max_kw, 0.0, priority, arrival)


def _typical_charger(chargers: Sequence[ChargerView]) -> Charger | None:
    """The charger an expected vehicle will most likely get: the kind with the most free connectors."""
    free = [v.charger for v in chargers if v.online and any(c.status == ConnectorStatus.AVAILABLE for c in v.connectors)]
    pool = free or [v.charger for v in chargers if v.online] or [v.charger for v in chargers]
    if not pool:
        return None
    kinds: dict[CurrentType, list[Charger]] = {}
    for c in pool:
        kinds.setdefault(c.current_type, []).append(c)
    _, group = max(kinds.items(), key=lambda kv: len(kv[1]))
    return max(group, key=lambda c: c.max_kw)


def readiness(planned: Sequence[PlannedVehicle], problem: PlanningProblem, result: Plan) -> list[Readiness]:
    """Per vehicle: energy by departure, SoC at departure, and a badge a dispatcher reads at a glance."""
    by_key = {v.id: v for v in result.vehicles}
    needs = {n.id: n for n in problem.vehicles}
    out = []
    for pv in planned:
        vp = by_key.get(pv.key)
        need = needs.get(pv.key)
        if vp is None or need is None:
            continue
        soc = None
        if pv.battery_kwh and pv.soc_now is not None:
            soc = min(100.0, pv.soc_now + vp.energy_kwh / pv.battery_kwh * 100.0)
        # spare time: how much longer the window is than charging at full power needs
        full_power_h = pv.need_kwh / need.max_kw if need.max_kw else 0.0
        start = need.arrival if need.arrival and need.arrival > problem.start else problem.start
        slack = (pv.departure - start) - timedelta(hours=full_power_h)
        if vp.ready:
            badge = "at risk" if slack < AT_RISK_SLACK or not pv.plugged_in and slack < 2 * AT_RISK_SLACK else "ready"
            text = (f"ready by {pv.departure:%H:%M}" if badge == "ready"
                    else f"ready by {pv.departure:%H:%M}, only {max(0, int(slack.total_seconds() // 60))} min to spare")
        else:
            badge = "will miss"
            text = f"will miss by {vp.shortfall_kwh:.0f} kWh"
        out.append(Readiness(pv.key, pv.vehicle_id, pv.charger_id, pv.departure, pv.need_kwh, vp.energy_kwh,
                             vp.shortfall_kwh, soc, badge, text, pv.notes))
    return out
