"""PURE: a plan that holds steady. When a re-plan may skip the solve, and when a new plan is not worth
replacing the plan in force.

No I/O, no clock (`now=` is a parameter). The re-planner (depot.control.replan) keeps one `SteadyPlan`:

- `Inputs.of(problem, grid=…)`: what the plan depends on, in the units that matter: the vehicle set; each
  vehicle's window to the slot, power range, priority and need; the site limit and the prices per slot;
  the demand charge; the grid connection as the user set it.
- A *routine* re-plan (the periodic one, a connector's status, a site-limit change the building made) is
  answered by the plan in force, without a solve, while nothing drifted beyond the thresholds since that
  plan was made or last confirmed (`drift`): a need compared with what the plan in force should have
  delivered by now (a vehicle charging as planned never drifts) within max(1 kWh, 5 %, half a slot at
  its power: a meter reading lags), the site limit per slot within max(1 kW, 1 %), prices and the rest
  exactly. Comparing with that anchor, not hashing rounded values, cannot flap at a rounding edge.
- Every other reason (a dispatcher edit, a session starting or ending, a fault, a charger offline or
  back, maintenance, a grid connection the user changed) re-plans and stores the new plan.
- `reachable_needs`: a need no plan can meet exactly (an AC vehicle's last kWh, below one slot at 6 A)
  is rounded up to that slot, so the vehicle is not "1 kWh short" one plan and ready the next.
- Hysteresis (`material`): a routine re-plan whose new plan does not differ materially from the plan in
  force (same vehicles and readiness, shortfall within 1 kWh, the next hour's power within one step,
  the plan in force still within the new site limit, windows and powers, and not dearer by over 1 %)
  keeps the plan in force: its id stays, no profile moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from depot.planning.problem import READY_TOLERANCE_KWH, Plan, PlanningProblem, plan_from_power

NEED_TOLERANCE_KWH = 1.0
NEED_TOLERANCE_SHARE = 0.05
NEED_TOLERANCE_SLOTS = 0.5  # … or this many slots at the vehicle's full power (a reading is minutes old)
AHEAD_SHARE = 0.2  # ahead of the plan (given unused power, a reading that lagged at the last plan) matters less:
# the plan in force then gives it more than it needs, and whoever that leaves short drifts behind and re-plans
LIMIT_STEP_KW = 1.0
LIMIT_STEP_SHARE = 0.01
SHORTFALL_STEP_KWH = 1.0
DC_STEP_KW = 0.1  # the least change of a DC limit a charger is told (profiles carry 0.1 kW)
HOLD_SLOTS = 4  # "the next slots": the hour the chargers' profiles follow first
COST_SHARE = 0.01
MAX_PLAN_AGE = timedelta(hours=6)  # well inside the 24 h horizon and the profiles' 8 h
ROUTINE_REASONS = ("periodic", "site limit changed")
ROUTINE_PREFIXES = ("status ",)


def reachable_needs(problem: PlanningProblem) -> PlanningProblem:
    """An AC vehicle's last kWh: a need above the ready tolerance but below one slot at its least power (6 A:
    1.04 kWh in 15 min on three phases) cannot be met without going over it, so the planner gave it nothing
    and called it short ("will miss by 1 kWh"), and a re-plan in the middle of its last slot stopped it. Such
    a need becomes that one slot's energy: the vehicle charges one more slot, at most 0.54 kWh past it."""
    vehicles, changed = [], False
    for v in problem.vehicles:
        least = v.power_range()[0] * problem.slot_hours
        if v.step_kw and READY_TOLERANCE_KWH < v.energy_kwh < least:
            v, changed = replace(v, energy_kwh=least), True
        vehicles.append(v)
    return replace(problem, vehicles=tuple(vehicles)) if changed else problem


def routine(reason: str) -> bool:
    """A re-plan the inputs decide (the periodic one, a status, a building-driven limit); the debounced
    reasons come joined by ", " and all of them must be routine."""
    parts = [p.strip() for p in reason.split(",") if p.strip()]
    return bool(parts) and all(p in ROUTINE_REASONS or p.startswith(ROUTINE_PREFIXES) for p in parts)


@dataclass(frozen=True)
class VehicleInputs:
    first: datetime  # start of its first plannable slot
    end: datetime  # end of its last
    need_kwh: float
    max_kw: float
    min_kw: float
    priority: int
    phases: int | None


@dataclass(frozen=True)
class Inputs:
    """The fingerprint of one planning problem (see the module docstring)."""

    start: datetime
    slot_minutes: float
    vehicles: Mapping[str, VehicleInputs]
    limit_kw: tuple[float, ...]
    price: tuple[float, ...]
    demand: float | None
    grid: tuple[float, float] | None = None  # (grid connection, safety margin) as the user set them

    @classmethod
    def of(cls, problem: PlanningProblem, *, grid: tuple[float, float] | None = None) -> Inputs:
        slot = timedelta(minutes=problem.slot_minutes)
        vehicles = {}
        for v in problem.vehicles:
            first, end = problem.window(v)
            vehicles[v.id] = VehicleInputs(problem.start + first * slot, problem.start + end * slot,
                                           v.energy_kwh, v.max_kw, v.min_kw, v.priority, v.phases)
        return cls(problem.start, problem.slot_minutes, vehicles, tuple(problem.site_limits().tolist()),
                   tuple(problem.prices().tolist()), problem.demand_charge_per_kw, grid)

    @property
    def slot(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    @property
    def end(self) -> datetime:
        return self.start + len(self.limit_kw) * self.slot


@dataclass(frozen=True)
class Anchor:
    """The plan in force and the inputs it was last judged against."""

    plan_id: int
    made_at: datetime
    at: datetime  # when `inputs` were taken
    inputs: Inputs
    start: datetime  # the plan's first slot
    power: Mapping[str, tuple[float, ...]]  # kW per slot from `start`, per vehicle

    def delivered(self, vehicle: str, t0: datetime, t1: datetime) -> float:
        """kWh the plan in force gives `vehicle` between t0 and t1."""
        row = self.power.get(vehicle, ())
        slot_h = self.inputs.slot_minutes / 60.0
        slot = self.inputs.slot
        total = 0.0
        for k, kw in enumerate(row):
            a, b = self.start + k * slot, self.start + (k + 1) * slot
            overlap = (min(b, t1) - max(a, t0)).total_seconds() / 3600.0
            if overlap > 0 and kw:
                total += kw * min(overlap, slot_h)
        return total


def need_tolerance(v: VehicleInputs, slot_minutes: float) -> float:
    """How far a need may lag behind what the plan in force expected before it re-plans."""
    return max(NEED_TOLERANCE_KWH, NEED_TOLERANCE_SHARE * v.need_kwh, NEED_TOLERANCE_SLOTS * v.max_kw * slot_minutes / 60)


def ahead_tolerance(need_kwh: float, tolerance: float) -> float:
    """How far a vehicle may be ahead of the plan (need below what it expected) before it matters."""
    return max(tolerance, AHEAD_SHARE * need_kwh)


def limit_step(kw: float) -> float:
    return max(LIMIT_STEP_KW, LIMIT_STEP_SHARE * abs(kw))


def drift(anchor: Anchor, new: Inputs, *, now: datetime) -> list[str]:
    """Why the inputs moved beyond the thresholds since `anchor` (empty: the plan in force still answers)."""
    old = anchor.inputs
    if now - anchor.made_at >= MAX_PLAN_AGE:
        return [f"the plan in force is {(now - anchor.made_at) / timedelta(hours=1):.1f} h old"]
    out = []
    if new.grid != old.grid:
        out.append("grid connection changed")
    if new.demand != old.demand or new.slot_minutes != old.slot_minutes:
        out.append("tariff changed")
    came, went = sorted(set(new.vehicles) - set(old.vehicles)), sorted(set(old.vehicles) - set(new.vehicles))
    if came or went:
        out.append("vehicles " + " ".join([f"+{v}" for v in came] + [f"-{v}" for v in went]))
    horizon = min(new.end, old.end)
    for vid in sorted(set(new.vehicles) & set(old.vehicles)):
        out += _vehicle_drift(vid, old.vehicles[vid], new.vehicles[vid], anchor, new.start, horizon, now)
    out += _per_slot_drift(old, new)
    return out


def _vehicle_drift(vid: str, o: VehicleInputs, n: VehicleInputs, anchor: Anchor, start: datetime,
                   horizon: datetime, now: datetime) -> list[str]:
    def clip(t: datetime) -> datetime:
        return min(max(t, start), horizon)

    out = []
    if (clip(o.first), clip(o.end)) != (clip(n.first), clip(n.end)):
        out.append(f"{vid}: window")
    if (o.priority, o.phases) != (n.priority, n.phases) or abs(o.max_kw - n.max_kw) > 0.05 \
            or abs(o.min_kw - n.min_kw) > 0.05:
        out.append(f"{vid}: power range or priority")
    expected = max(0.0, o.need_kwh - anchor.delivered(vid, anchor.at, now))
    tol = need_tolerance(o, anchor.inputs.slot_minutes)
    done_early = n.need_kwh <= READY_TOLERANCE_KWH < expected - tol  # its slots can go to others
    if n.need_kwh > expected + tol or expected - n.need_kwh > ahead_tolerance(o.need_kwh, tol) or done_early:
        out.append(f"{vid}: needs {n.need_kwh:.1f} kWh, the plan expected {expected:.1f}")
    return out


def _per_slot_drift(old: Inputs, new: Inputs) -> list[str]:
    """The site limit and prices over the slots both cover."""
    offset = round((new.start - old.start) / old.slot)
    if offset < 0:
        return ["the plan in force starts later than now"]
    n = min(len(old.limit_kw) - offset, len(new.limit_kw))
    if n <= 0:
        return ["the plan in force has run out"]
    o_lim, n_lim = np.asarray(old.limit_kw[offset:offset + n]), np.asarray(new.limit_kw[:n])
    out = []
    moved = np.abs(n_lim - o_lim) >= np.maximum(LIMIT_STEP_KW, LIMIT_STEP_SHARE * np.abs(o_lim))
    if moved.any():
        k = int(np.argmax(moved))
        out.append(f"site limit {o_lim[k]:.1f} → {n_lim[k]:.1f} kW from slot {k}")
    if np.any(np.abs(np.asarray(new.price[:n]) - np.asarray(old.price[offset:offset + n])) > 1e-9):
        out.append("prices changed")
    return out


def aligned(anchor: Anchor, problem: PlanningProblem) -> np.ndarray | None:
    """The plan in force as a power matrix of `problem` (its vehicles and slots); None when a vehicle of
    `problem` is not in it or it starts after `problem`."""
    offset = round((problem.start - anchor.start) / timedelta(minutes=problem.slot_minutes))
    if offset < 0 or any(v.id not in anchor.power for v in problem.vehicles):
        return None
    out = np.zeros((len(problem.vehicles), problem.slots))
    for i, v in enumerate(problem.vehicles):
        row = anchor.power[v.id][offset:offset + problem.slots]
        out[i, :len(row)] = row
    return out


def material(anchor: Anchor, problem: PlanningProblem, new: Plan) -> list[str]:
    """Why `new` (planned for `problem`) matters against the plan in force (empty: keep the plan in force)."""
    old_power = aligned(anchor, problem)
    if old_power is None or set(anchor.power) != {v.id for v in problem.vehicles}:
        return ["the vehicles changed"]
    old = plan_from_power(problem, old_power)  # the plan in force, judged on today's inputs
    out = []
    limits = problem.site_limits()
    over = old_power.sum(axis=0) - limits
    if np.any(over >= np.maximum(LIMIT_STEP_KW, LIMIT_STEP_SHARE * limits)):
        out.append("the plan in force exceeds the site limit")
    new_power = new.power_matrix().reshape(old_power.shape)
    for i, (v, o, n) in enumerate(zip(problem.vehicles, old.vehicles, new.vehicles, strict=True)):
        first, end = problem.window(v)
        outside = np.r_[old_power[i, :first], old_power[i, end:]]
        if np.any(outside > 1e-6) or np.any(old_power[i] > v.max_kw + 0.05):
            out.append(f"{v.id}: the plan in force no longer fits its window or power")
        if o.ready != n.ready:
            out.append(f"{v.id}: {'ready' if n.ready else 'not ready'} now")
        elif abs(o.shortfall_kwh - n.shortfall_kwh) >= SHORTFALL_STEP_KWH:
            out.append(f"{v.id}: short {o.shortfall_kwh:.1f} → {n.shortfall_kwh:.1f} kWh")
        if o.energy_kwh - v.energy_kwh >= ahead_tolerance(v.energy_kwh, SHORTFALL_STEP_KWH):
            out.append(f"{v.id}: the plan in force gives {o.energy_kwh - v.energy_kwh:.1f} kWh more than needed")
        step = v.step_kw or DC_STEP_KW
        if np.any(np.abs(new_power[i, :HOLD_SLOTS] - old_power[i, :HOLD_SLOTS]) >= step - 1e-9):
            out.append(f"{v.id}: power in the next hour changes")
    old_cost = old.energy_cost + (old.demand_cost or 0.0)
    new_cost = new.energy_cost + (new.demand_cost or 0.0)
    if old_cost > new_cost * (1 + COST_SHARE) + 0.01:
        out.append(f"the new plan costs {old_cost - new_cost:.2f} less")
    return out


# --------------------------------------------------------------------------- the re-planner's state


class SteadyPlan:
    """The anchor and the counts: plans stored, re-plans answered without a solve (`skipped`), new plans
    not worth replacing the plan in force (`kept`); `last_drift` says why the last re-plan solved."""

    def __init__(self) -> None:
        self.anchor: Anchor | None = None
        self.stored = 0
        self.skipped = 0
        self.kept = 0
        self.last_drift: list[str] = []
        self.why: list[str] = []  # why the plan in force was made (its drift or its material changes)

    @property
    def solved(self) -> int:
        return self.stored + self.kept

    def _anchored(self, reason: str, active_id: int | None) -> bool:
        return routine(reason) and self.anchor is not None and self.anchor.plan_id == active_id

    def unchanged(self, reason: str, inputs: Inputs, *, active_id: int | None, now: datetime) -> bool:
        """True when the plan in force answers this re-plan without a solve (counted)."""
        self.last_drift = []
        if not self._anchored(reason, active_id):
            return False
        self.last_drift = drift(self.anchor, inputs, now=now)
        if self.last_drift:
            return False
        self.skipped += 1
        return True

    def keeps(self, reason: str, inputs: Inputs, problem: PlanningProblem, new: Plan, *, active_id: int | None,
              now: datetime) -> bool:
        """True when `new` is not worth replacing the plan in force, which stays, confirmed against `inputs`
        (counted). A grid connection the user changed always replaces it."""
        if not self._anchored(reason, active_id) or inputs.grid != self.anchor.inputs.grid:
            return False
        changes = material(self.anchor, problem, new)
        if changes:
            self.last_drift = self.last_drift + changes
            return False
        self.kept += 1
        self.anchor = replace(self.anchor, inputs=inputs, at=now)
        return True

    def adopt(self, plan_id: int, problem: PlanningProblem, plan: Plan, inputs: Inputs, *, now: datetime) -> None:
        """`plan` (stored as `plan_id`) is the plan in force now."""
        self.stored += 1
        self.why = list(self.last_drift)
        self.anchor = Anchor(plan_id, now, now, inputs, problem.start, {v.id: v.power_kw for v in plan.vehicles})

