"""Depot charging planner: who charges when, at what power.

PURE: no I/O, no clock, no environment, no database. Every input is a parameter (the problem's
``start`` is the clock), every output is a frozen dataclass. The only side effect is CPU time spent
in the OR-Tools HiGHS solver, always bounded by ``time_limit_s``.

The model is a linear programme over the power of each vehicle in each slot of its window (only
slots lying wholly inside ``[arrival, departure)`` get a variable), built from numpy arrays into a
sparse matrix. Objective, weighted so the order holds (see ``_weights``):

1. shortfall of higher-priority vehicles, then
2. total shortfall (vehicles ready), then
3. energy cost plus demand charge on the peak, then
4. smooth schedules: a tie-break towards earlier slots, which makes each vehicle's schedule one
   or a few contiguous blocks at full power (few charging-profile periods).

The LP relaxation ignores the 0-or-[min, max] rule and whole-amp steps. Its vertex solution is
rounded down to whole amps (0 below the minimum) and repaired greedily: energy lost to rounding is
put back into the cheapest slots that still have site headroom, priority vehicles first. Small
problems are also solved exactly as a MIP within the time limit; the better of the two is kept.
``check_plan`` re-verifies every constraint independently; ``explain_shortfall`` says in words why
not everyone can be ready and what would fix it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

import numpy as np
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder_helper as mbh

READY_TOLERANCE_KWH = 0.5
"""A vehicle is ready when its shortfall is at most this (planning-format.md)."""

SHORTFALL_TOLERANCE_KWH = 0.01
"""Shortfall above this (or above one whole-amp step for one slot, see ``fully_served``) makes a plan
``partial``; below it is numerical noise."""

MIP_MAX_VARIABLES = 1200
"""Problems with at most this many window variables are also solved exactly as a MIP."""

DEFAULT_VOLTS = 230.0
AC_MIN_AMPS = 6.0
_EPS = 1e-6


# --------------------------------------------------------------------------- small pure helpers


def is_ready(shortfall_kwh: float) -> bool:
    """Ready means short by at most READY_TOLERANCE_KWH (with a hair of float slack)."""
    return shortfall_kwh <= READY_TOLERANCE_KWH + 1e-6


def fully_served(vehicle: VehicleNeed, shortfall_kwh: float, slot_hours: float) -> bool:
    """True when the shortfall is noise or smaller than one whole-amp step for one slot: an AC
    vehicle's energy moves in steps of phases × volts × slot, so its need can rarely be hit exactly
    (a 3-phase vehicle on 15-minute slots: 0.17 kWh). Such a plan is not ``partial``."""
    step = vehicle.step_kw or 0.0
    return shortfall_kwh <= max(SHORTFALL_TOLERANCE_KWH, step * slot_hours + 1e-9)


def ac_power_kw(amps: float, phases: int, volts: float = DEFAULT_VOLTS) -> float:
    """Power in kW of an AC charge at ``amps`` per phase."""
    return amps * phases * volts / 1000.0


def ac_min_kw(phases: int, volts: float = DEFAULT_VOLTS, min_amps: float = AC_MIN_AMPS) -> float:
    """Least non-zero AC power (IEC 61851: 6 A per phase), e.g. 4.14 kW for 3 phases at 230 V."""
    return ac_power_kw(min_amps, phases, volts)


def energy_need_kwh(
    battery_kwh: float, soc_pct: float, target_soc_pct: float, *, efficiency: float = 1.0
) -> float:
    """Energy to draw to bring a battery from ``soc_pct`` to ``target_soc_pct`` (never negative).

    ``efficiency`` (0 < e ≤ 1) converts energy stored into energy drawn from the charger.
    """
    if battery_kwh < 0 or not 0 < efficiency <= 1:
        raise ValueError("battery_kwh must be >= 0 and efficiency in (0, 1]")
    return max(0.0, (target_soc_pct - soc_pct) / 100.0 * battery_kwh) / efficiency


# --------------------------------------------------------------------------- problem


@dataclass(frozen=True)
class VehicleNeed:
    """One vehicle to charge.

    ``arrival`` None (or before the problem's start) means plugged in now. ``max_kw`` is the least of
    charger and vehicle. ``phases``/``volts`` mark an AC vehicle whose power moves in whole amps
    (steps of phases × volts W) and never below 6 A; None means DC, continuous kW.
    """

    id: str
    departure: datetime
    energy_kwh: float
    max_kw: float
    min_kw: float = 0.0
    priority: int = 1
    arrival: datetime | None = None
    phases: int | None = None
    volts: float | None = None

    def __post_init__(self) -> None:
        if self.departure.tzinfo is None or (self.arrival is not None and self.arrival.tzinfo is None):
            raise ValueError(f"vehicle {self.id}: times must be timezone-aware")
        if self.arrival is not None and self.departure <= self.arrival:
            raise ValueError(f"vehicle {self.id}: departure must be after arrival")
        if not (self.energy_kwh >= 0 and self.max_kw > 0 and self.min_kw >= 0):
            raise ValueError(f"vehicle {self.id}: energy_kwh >= 0, max_kw > 0, min_kw >= 0 required")
        if self.priority < 1:
            raise ValueError(f"vehicle {self.id}: priority must be >= 1")
        if self.phases is not None and self.phases not in (1, 2, 3):
            raise ValueError(f"vehicle {self.id}: phases must be 1, 2 or 3")

    @property
    def step_kw(self) -> float | None:
        """Power step of one amp on all phases (AC), None for continuous (DC)."""
        if self.phases is None:
            return None
        return ac_power_kw(1.0, self.phases, self.volts or DEFAULT_VOLTS)

    def power_range(self) -> tuple[float, float]:
        """Usable (min, max) non-zero power after whole-amp rounding and the 6 A rule."""
        step = self.step_kw
        if step is None:
            return self.min_kw, self.max_kw
        lo_amps = max(AC_MIN_AMPS, math.ceil(self.min_kw / step - 1e-9))
        hi_amps = math.floor(self.max_kw / step + 1e-9)
        return lo_amps * step, hi_amps * step


@dataclass(frozen=True)
class PlanningProblem:
    """Vehicles, slots, site limit and prices. ``site_limit_kw``/``price_per_kwh``: one number or
    one per slot. ``demand_charge_per_kw`` None means no demand charge given."""

    start: datetime
    vehicles: tuple[VehicleNeed, ...]
    site_limit_kw: float | tuple[float, ...]
    price_per_kwh: float | tuple[float, ...] = 0.0
    slot_minutes: float = 15.0
    slots: int = 96
    demand_charge_per_kw: float | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.slots < 1 or self.slot_minutes <= 0:
            raise ValueError("slots must be >= 1 and slot_minutes > 0")
        for name in ("site_limit_kw", "price_per_kwh"):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != self.slots:
                raise ValueError(f"{name}: expected {self.slots} values, got {len(value)}")
        if len({v.id for v in self.vehicles}) != len(self.vehicles):
            raise ValueError("vehicle ids must be unique")

    @property
    def slot_hours(self) -> float:
        return self.slot_minutes / 60.0

    def slot_start(self, k: int) -> datetime:
        return self.start + timedelta(minutes=self.slot_minutes * k)

    def site_limits(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.site_limit_kw, dtype=float), (self.slots,)).copy()

    def prices(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.price_per_kwh, dtype=float), (self.slots,)).copy()

    def window(self, vehicle: VehicleNeed) -> tuple[int, int]:
        """Slots ``first .. end-1`` lying wholly inside the vehicle's ``[arrival, departure)``."""
        slot_s = self.slot_minutes * 60.0
        first = 0
        if vehicle.arrival is not None:
            first = max(0, math.ceil((vehicle.arrival - self.start).total_seconds() / slot_s - 1e-9))
        end = min(self.slots, math.floor((vehicle.departure - self.start).total_seconds() / slot_s + 1e-9))
        return first, max(first, end)


# --------------------------------------------------------------------------- plan


class PlanStatus(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    PARTIAL = "partial"


@dataclass(frozen=True)
class VehiclePlan:
    id: str
    power_kw: tuple[float, ...]
    energy_kwh: float
    shortfall_kwh: float
    ready: bool


@dataclass(frozen=True)
class Plan:
    """A schedule and its figures. ``status`` follows planning-format.md; ``solver_status`` is what
    the solver itself reached (``optimal``, ``feasible`` when a limit stopped it, ``fallback`` when a
    heuristic replaced it); ``method`` names what produced the powers."""

    status: PlanStatus
    solve_seconds: float
    energy_kwh: float
    shortfall_kwh: float
    energy_cost: float
    peak_kw: float
    demand_cost: float | None
    vehicles: tuple[VehiclePlan, ...]
    method: str = "lp+round"
    solver_status: str = "optimal"

    def power_matrix(self) -> np.ndarray:
        """Vehicles × slots power in kW."""
        if not self.vehicles:
            return np.zeros((0, 0))
        return np.array([v.power_kw for v in self.vehicles], dtype=float)


def plan_from_power(
    problem: PlanningProblem,
    power: np.ndarray,
    *,
    solve_seconds: float = 0.0,
    method: str = "given",
    solver_status: str = "optimal",
) -> Plan:
    """Build a Plan (figures, readiness, status) from a vehicles × slots power matrix."""
    power = np.asarray(power, dtype=float).reshape(len(problem.vehicles), problem.slots)
    dt = problem.slot_hours
    need = np.array([v.energy_kwh for v in problem.vehicles], dtype=float)
    energy = power.sum(axis=1) * dt
    shortfall = np.maximum(need - energy, 0.0)
    total = power.sum(axis=0)
    peak = float(total.max()) if total.size else 0.0
    rows = power.tolist()
    vehicles = tuple(
        VehiclePlan(v.id, tuple(rows[i]), float(energy[i]), float(shortfall[i]),
                    is_ready(float(shortfall[i])))
        for i, v in enumerate(problem.vehicles)
    )
    if not all(fully_served(v, float(s), dt) for v, s in zip(problem.vehicles, shortfall, strict=True)):
        status = PlanStatus.PARTIAL
    else:
        status = PlanStatus.OPTIMAL if solver_status == "optimal" else PlanStatus.FEASIBLE
    demand = problem.demand_charge_per_kw
    return Plan(
        status=status,
        solve_seconds=solve_seconds,
        energy_kwh=float(energy.sum()),
        shortfall_kwh=float(shortfall.sum()),
        energy_cost=float((total * problem.prices()).sum() * dt),
        peak_kw=peak,
        demand_cost=None if demand is None else demand * peak,
        vehicles=vehicles,
        method=method,
        solver_status=solver_status,
    )


# --------------------------------------------------------------------------- model arrays


@dataclass(frozen=True)
class _Arrays:
    """The problem as numpy arrays (V vehicles, K slots, N window variables)."""

    need: np.ndarray       # (V,)
    lo: np.ndarray         # (V,) least non-zero power
    hi: np.ndarray         # (V,) most power (whole amps)
    step: np.ndarray       # (V,) amp step in kW, 0 = continuous
    priority: np.ndarray   # (V,)
    first: np.ndarray      # (V,) first window slot
    end: np.ndarray        # (V,) one past last window slot
    limit: np.ndarray      # (K,)
    price: np.ndarray      # (K,)
    veh: np.ndarray        # (N,) vehicle of each variable
    slot: np.ndarray       # (N,) slot of each variable
    dt: float
    demand: float

    @property
    def n_vehicles(self) -> int:
        return len(self.need)

    @property
    def n_slots(self) -> int:
        return len(self.limit)

    def window_mask(self) -> np.ndarray:
        k = np.arange(self.n_slots)
        return (k >= self.first[:, None]) & (k < self.end[:, None])


def _arrays(problem: PlanningProblem) -> _Arrays:
    vs = problem.vehicles
    windows = np.array([problem.window(v) for v in vs], dtype=np.int64).reshape(-1, 2)
    ranges = np.array([v.power_range() for v in vs], dtype=float).reshape(-1, 2)
    lo, hi = ranges[:, 0], ranges[:, 1]
    first, end = windows[:, 0], windows[:, 1]
    end = np.where(hi > 0, end, first)            # a vehicle that cannot draw gets no variables
    end = np.where(lo <= hi + 1e-9, end, first)
    lengths = end - first
    veh = np.repeat(np.arange(len(vs)), lengths)
    offsets = np.cumsum(lengths) - lengths
    slot = first[veh] + (np.arange(lengths.sum()) - offsets[veh])
    return _Arrays(
        need=np.array([v.energy_kwh for v in vs], dtype=float),
        lo=lo, hi=hi,
        step=np.array([v.step_kw or 0.0 for v in vs], dtype=float),
        priority=np.array([v.priority for v in vs], dtype=np.int64),
        first=first, end=end,
        limit=problem.site_limits(), price=problem.prices(),
        veh=veh, slot=slot, dt=problem.slot_hours,
        demand=problem.demand_charge_per_kw or 0.0,
    )


@dataclass(frozen=True)
class _Weights:
    shortfall: np.ndarray  # (V,) cost per kWh short
    price: np.ndarray      # (K,) price per kWh
    demand: float          # cost per kW of peak
    span: float            # range of the tie-break, below any price difference
    urgency: np.ndarray    # (V,) tie-break strength: earlier departure, stronger pull to early slots

    def energy_cost(self, veh: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """Cost per kWh of vehicle ``veh`` charging in ``slot`` (broadcasting): price + tie-break."""
        return self.price[slot] + self.span * self.urgency[veh] * slot / max(len(self.price), 1)

    def cost_rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), K) cost per kWh for those vehicles in every slot."""
        return self.energy_cost(np.asarray(rows)[:, None], np.arange(len(self.price))[None, :])


def _weights(a: _Arrays, *, priorities: bool = True, tie_break: bool = True) -> _Weights:
    """Weights making the objective lexicographic.

    Moving one kWh between vehicles frees at most one kWh elsewhere (the constraints are a
    transportation network), so a shortfall weight W above the dearest kWh (price + tie-break + the
    peak rise it can cause) makes delivering always win, and W more per priority rank makes a
    higher-priority kWh always win. The tie-break (below the smallest price difference) prefers
    earlier slots. It is the same for every vehicle: a per-vehicle (Monge) tie-break would make the
    schedules contiguous by itself but made HiGHS 5-10x slower (measured); ``_smooth`` re-lays
    the equal-price runs afterwards instead.
    """
    price = a.price
    diffs = np.diff(np.unique(price))
    span = 0.01 * float(diffs.min()) if diffs.size else 1e-4 * max(float(price.max(initial=0.0)), 1.0)
    dearest = float(price.max(initial=0.0)) + span + a.demand / a.dt
    w = 2.0 * dearest + 1.0
    if priorities and a.n_vehicles:
        rank = np.searchsorted(np.unique(a.priority), a.priority)
    else:
        rank = np.zeros(a.n_vehicles, dtype=np.int64)
    urgency = np.full(a.n_vehicles, 1.0 if tie_break else 0.0)
    return _Weights(shortfall=w * (1.0 + rank), price=price, demand=a.demand, span=span, urgency=urgency)


# --------------------------------------------------------------------------- LP / MIP


@dataclass(frozen=True)
class _Solution:
    power: np.ndarray      # (V, K)
    status: str            # "optimal" | "feasible" | "none"
    seconds: float


def _solve(a: _Arrays, w: _Weights, time_limit_s: float, *, integer: bool = False) -> _Solution:
    """Build the model from arrays and solve it with HiGHS (LP, or exact MIP when ``integer``)."""
    t0 = time.perf_counter()
    n, nv, nk = len(a.veh), a.n_vehicles, a.n_slots
    if n == 0:  # nobody can charge in any slot: nothing to solve
        return _Solution(np.zeros((nv, nk)), "optimal", time.perf_counter() - t0)
    has_peak = a.demand > 0
    stepped = a.step[a.veh] > 0
    # Columns: x (power, or amps for stepped vehicles in the MIP), s (shortfall), peak, y (on/off).
    scale = np.where(integer & stepped, a.step[a.veh], 1.0)
    onoff = np.flatnonzero(a.lo[a.veh] > 0) if integer else np.array([], dtype=np.int64)
    ny, npk = len(onoff), int(has_peak)
    c_s, c_p, c_y = n, n + nv, n + nv + npk
    ncol = c_y + ny
    lb = np.zeros(ncol)
    ub = np.concatenate([a.hi[a.veh] / scale, a.need, np.full(npk, np.inf), np.ones(ny)])
    if integer:
        ub[:n] = np.where(stepped, np.floor(ub[:n] + 1e-9), ub[:n])
    obj = np.concatenate([w.energy_cost(a.veh, a.slot) * a.dt * scale, w.shortfall, np.full(npk, w.demand), np.zeros(ny)])
    # Rows: energy (V, equality), site (K), peak (K), on/off upper and lower (2 per y).
    r_site, r_peak = nv, nv + nk
    r_on = r_peak + nk * npk
    rows = [a.veh, np.arange(nv), r_site + a.slot]
    cols = [np.arange(n), c_s + np.arange(nv), np.arange(n)]
    vals = [a.dt * scale, np.ones(nv), scale]
    if has_peak:
        rows += [r_peak + a.slot, r_peak + np.arange(nk)]
        cols += [np.arange(n), np.full(nk, c_p)]
        vals += [scale, -np.ones(nk)]
    if ny:
        hi_units = a.hi[a.veh[onoff]] / scale[onoff]
        lo_units = a.lo[a.veh[onoff]] / scale[onoff]
        hi_units = np.where(stepped[onoff], np.floor(hi_units + 1e-9), hi_units)
        lo_units = np.where(stepped[onoff], np.ceil(lo_units - 1e-9), lo_units)
        up, down = r_on + np.arange(ny), r_on + ny + np.arange(ny)
        rows += [up, up, down, down]
        cols += [onoff, c_y + np.arange(ny), onoff, c_y + np.arange(ny)]
        vals += [np.ones(ny), -hi_units, np.ones(ny), -lo_units]
    nrow = r_on + 2 * ny
    row_lb = np.concatenate([a.need, np.full(nk, -np.inf), np.full(nk * npk, -np.inf),
                             np.full(ny, -np.inf), np.zeros(ny)])
    row_ub = np.concatenate([a.need, a.limit, np.zeros(nk * npk), np.zeros(ny), np.full(ny, np.inf)])
    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nrow, ncol)
    )
    model = mbh.ModelBuilderHelper()
    model.fill_model_from_sparse_data(lb, ub, obj, row_lb, row_ub, matrix)
    if integer:
        for j in np.concatenate([np.flatnonzero(stepped), c_y + np.arange(ny)]).tolist():
            model.set_var_integrality(j, True)
    solver = mbh.ModelSolverHelper("highs" if integer else "highs_lp")
    solver.set_solver_specific_parameters("output_flag=false,presolve=off")
    solver.set_time_limit_in_seconds(max(time_limit_s - (time.perf_counter() - t0), 0.01))
    solver.solve(model)
    names = {mbh.SolveStatus.OPTIMAL: "optimal", mbh.SolveStatus.FEASIBLE: "feasible"}
    status = names.get(solver.status(), "none")
    if status == "none" or not solver.has_solution():
        return _Solution(np.zeros((nv, nk)), "none", time.perf_counter() - t0)
    x = np.asarray(solver.variable_values())[:n] * scale
    power = np.zeros((nv, nk))
    power[a.veh, a.slot] = np.clip(x, 0.0, a.hi[a.veh])
    return _Solution(power, status, time.perf_counter() - t0)


# --------------------------------------------------------------------------- rounding and repair


def _round_down(a: _Arrays, power: np.ndarray) -> np.ndarray:
    """Whole amps, rounded down; 0 below the vehicle's minimum; never above its need."""
    step = a.step[:, None]
    p = np.where(step > 0, np.floor(power / np.where(step > 0, step, 1.0) + 1e-7) * step, power)
    p = np.where(p < a.lo[:, None] - 1e-9, 0.0, p)
    p = np.where(p < 1e-7, 0.0, p)
    over = p.sum(axis=1) * a.dt - a.need
    for v in np.flatnonzero(over > 1e-9):  # rare (solver tolerance): trim the last charging slot
        p[v] = _trim_to_need(a, v, p[v])
    return p


def _trim_to_need(a: _Arrays, v: int, row: np.ndarray) -> np.ndarray:
    row = row.copy()
    for k in np.flatnonzero(row)[::-1]:
        excess = row.sum() * a.dt - a.need[v]
        if excess <= 1e-9:
            break
        row[k] = _level_at_most(a, v, row[k] - excess / a.dt)
    return row


def _level_at_most(a: _Arrays, v: int, kw: float) -> float:
    """Largest allowed power level of vehicle v not above ``kw`` (0 when below the minimum)."""
    kw = min(kw, a.hi[v])
    if a.step[v] > 0:
        kw = math.floor(kw / a.step[v] + 1e-7) * a.step[v]
    return kw if kw >= a.lo[v] - 1e-9 and kw > 1e-7 else 0.0


def _levels_floor(a: _Arrays, rows: np.ndarray, kw: np.ndarray) -> np.ndarray:
    """Largest allowed power levels not above ``kw`` for vehicles ``rows`` (vectorised)."""
    step, lo = a.step[rows][:, None], a.lo[rows][:, None]
    kw = np.minimum(kw, a.hi[rows][:, None])
    kw = np.where(step > 0, np.floor(kw / np.where(step > 0, step, 1.0) + 1e-7) * step, kw)
    return np.where((kw < lo - 1e-9) | (kw <= 1e-7), 0.0, kw)


def _repair(
    a: _Arrays, p: np.ndarray, cap: np.ndarray, w: _Weights, *, min_short_kwh: float = 0.0, max_rounds: int = 500
) -> np.ndarray:
    """Give back energy lost to rounding, in the cheapest slots with headroom, priority first.

    Vectorised over vehicles: each round every vehicle still short proposes its best slot (cheapest,
    then one where it already charges, so periods stay few) with the largest allowed increase;
    proposals for the same slot are accepted in priority order while the slot's headroom under
    ``cap`` lasts. Stops when no vehicle can add a whole level anywhere. Only vehicles short by
    more than ``min_short_kwh`` take part.
    """
    p = p.copy()
    mask = a.window_mask()
    eligible = (a.need - p.sum(axis=1) * a.dt) > min_short_kwh
    extend = 2.0 * w.span  # beats the tie-break, never a real price difference
    for _ in range(max_rounds):
        headroom = np.maximum(cap - p.sum(axis=0), 0.0)
        want_kw = (a.need - p.sum(axis=1) * a.dt) / a.dt
        rows = np.flatnonzero((want_kw > 1e-6) & eligible)
        if not rows.size:
            break
        cur = p[rows]
        room = np.minimum(headroom[None, :], want_kw[rows][:, None] + 1e-9)
        inc = _levels_floor(a, rows, cur + room) - cur
        inc = np.where(mask[rows] & (inc > 1e-7), inc, 0.0)
        score = np.where(inc > 0, w.cost_rows(rows) + extend * (cur <= 0), np.inf)
        best = np.argmin(score, axis=1)
        ok = np.isfinite(score[np.arange(len(rows)), best])
        if not ok.any():
            break
        v, k = rows[ok], best[ok]
        add = inc[np.flatnonzero(ok), k]
        order = np.lexsort((-add, -a.priority[v], k))
        v, k, add = v[order], k[order], add[order]
        starts = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
        group_start = np.repeat(starts, np.diff(np.r_[starts, len(k)]))
        cum = np.cumsum(add)
        within = cum - (cum[group_start] - add[group_start])
        accept = within <= headroom[k] + 1e-9
        p[v[accept], k[accept]] += add[accept]
    return p


def _reshape(a: _Arrays, p: np.ndarray, cap: np.ndarray, w: _Weights) -> np.ndarray:
    """Deliver leftovers smaller than the minimum power: open one slot at the minimum and take the
    excess back from the dearest slot already charging (a vehicle 0.5 kWh short whose minimum is
    4.14 kW cannot otherwise get it without exceeding its need)."""
    p = p.copy()
    headroom = cap - p.sum(axis=0)
    short_kw = (a.need - p.sum(axis=1) * a.dt) / a.dt
    grain = np.maximum(a.step, 1e-6)
    candidates = np.flatnonzero((short_kw >= grain - 1e-9) & (short_kw < a.lo))
    for v in candidates[np.argsort(-a.priority[candidates], kind="stable")]:
        ks = np.arange(a.first[v], a.end[v])
        opens = ks[(p[v, ks] <= 0) & (headroom[ks] >= a.lo[v] - 1e-9)]
        if not opens.size:
            continue
        cut = a.lo[v] - short_kw[v]
        if a.step[v] > 0:
            cut = math.ceil(cut / a.step[v] - 1e-7) * a.step[v]
        rest = p[v, ks] - cut
        donors = ks[(p[v, ks] > 0) & ((rest >= a.lo[v] - 1e-9) | (np.abs(rest) <= 1e-9))]
        if not donors.size:
            continue
        k0 = opens[np.argmin(w.energy_cost(v, opens))]
        k1 = donors[np.argmax(w.energy_cost(v, donors))]
        p[v, k0], p[v, k1] = a.lo[v], max(p[v, k1] - cut, 0.0)
        headroom[k0] -= a.lo[v]
        headroom[k1] += cut
    return p


def _round_and_repair(a: _Arrays, lp_power: np.ndarray, w: _Weights) -> np.ndarray:
    p = _round_down(a, lp_power)
    if a.demand <= 0:
        return _reshape(a, _repair(a, p, a.limit, w), a.limit, w)
    # Within the LP's peak first, so rounding does not raise the demand charge; above it only to make
    # a vehicle ready (crumbs are not worth a higher demand charge), raising the cap gradually.
    peak = float(lp_power.sum(axis=0).max(initial=0.0))
    cap = np.minimum(a.limit, peak + 1e-9)
    p = _reshape(a, _repair(a, p, cap, w), cap, w)
    raise_kw = max(float(a.lo.max(initial=0.0)), 1.0)
    while (a.need - p.sum(axis=1) * a.dt > READY_TOLERANCE_KWH).any() and (cap < a.limit).any():
        cap = np.minimum(a.limit, cap + raise_kw)
        p = _reshape(a, _repair(a, p, cap, w, min_short_kwh=READY_TOLERANCE_KWH), cap, w)
        raise_kw *= 2.0
    return p


def _relay(
    bits: np.ndarray, blocked: np.ndarray, before: np.ndarray, after: np.ndarray, continuity: float = 2.0
) -> np.ndarray | None:
    """Re-lay interchangeable on/off slots: same slots per vehicle (row sums) and vehicles per slot
    (column sums) as ``bits``, never in a ``blocked`` slot. Slot by slot it chooses first the
    vehicles that must charge in every slot they have left, then those already charging (so runs
    continue; weight ``continuity``), then those with the least slack; vehicles that charge right
    after the run start as late as they can. None if it gets stuck."""
    m, width = bits.shape
    need = bits.sum(axis=1).astype(np.int64)
    counts = bits.sum(axis=0)
    free = ~blocked
    free_left = np.cumsum(free[:, ::-1], axis=1)[:, ::-1]  # free slots from j to the end
    out = np.zeros_like(bits)
    prev = before.copy()
    for j in range(width):
        c = int(counts[j])
        live = (need > 0) & free[:, j]
        forced = live & (need >= free_left[:, j])
        if c > live.sum() or forced.sum() > c:
            return None
        slack = free_left[:, j] - need
        score = np.where(live, 8.0 * forced + continuity * (prev & live) + 1.0 * ~after - slack / (width + 1.0),
                         -1.0)
        if c:
            pick = np.argpartition(-score, c - 1)[:c]
            out[pick, j] = True
            need[pick] -= 1
        prev = out[:, j]
    return None if need.any() else out


def _smooth(a: _Arrays, p: np.ndarray) -> np.ndarray:
    """Fewer charging-profile periods at exactly the same cost, load and energies.

    Inside each run of equal prices, the slots in which vehicles charge at one power level L are
    interchangeable between them slot by slot (within their windows, around their other levels);
    the LP's vertex leaves them in an arbitrary checkerboard. Re-lay them per level (``_relay``:
    how many charge at L in each slot and how many slots each gets stay the same) and keep the
    result only where it has fewer power changes.
    """
    p = p.copy()
    edges = np.flatnonzero(np.diff(a.price) != 0) + 1
    bounds = np.r_[0, edges, a.n_slots]
    mask = a.window_mask()
    for k0, k1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if k1 - k0 < 3:
            continue
        for level in np.unique(np.round(p[:, k0:k1][p[:, k0:k1] > 1e-9], 6)):
            sub = p[:, k0:k1]
            on, eq = sub > 1e-9, np.abs(sub - level) < 1e-6
            rows = np.flatnonzero(eq.any(axis=1))
            bits = eq[rows]
            runs = (bits[:, 1:] & ~bits[:, :-1]).sum(axis=1) + bits[:, 0]
            if len(rows) < 2 or not (runs > 1).any():  # nobody at this level has more than one run
                continue
            before = p[rows, k0 - 1] if k0 > 0 else np.zeros(len(rows))
            after = p[rows, k1] if k1 < a.n_slots else np.zeros(len(rows))
            blocked = ~mask[rows, k0:k1] | (on[rows] & ~eq[rows])
            for continuity in (2.0, 0.5):  # the second, slack-first, gets stuck less often
                new_bits = _relay(bits, blocked, before > 0, after > 0, continuity)
                if new_bits is not None:
                    break
            else:
                continue
            old = sub[rows]
            new = np.where(new_bits, level, np.where(blocked, old, 0.0))
            if _changes(new, before, after) < _changes(old, before, after):
                p[rows, k0:k1] = new
    return p


def _changes(block: np.ndarray, before: np.ndarray, after: np.ndarray) -> int:
    """Power changes along each row, counting the neighbouring slots outside the block."""
    full = np.concatenate([before[:, None], block, after[:, None]], axis=1)
    return int((np.abs(np.diff(full, axis=1)) > 1e-6).sum())


def _objective(a: _Arrays, w: _Weights, power: np.ndarray) -> float:
    short = np.maximum(a.need - power.sum(axis=1) * a.dt, 0.0)
    total = power.sum(axis=0)
    energy = (power * w.cost_rows(np.arange(a.n_vehicles))).sum() * a.dt
    return float(short @ w.shortfall + energy + w.demand * total.max(initial=0.0))


# --------------------------------------------------------------------------- plan()


def plan(problem: PlanningProblem, *, time_limit_s: float = 10.0, exact: bool | None = None) -> Plan:
    """Plan every vehicle's power per slot. Always returns a Plan (shortfall is reported, not raised).

    ``exact``: True forces the MIP (semi-continuous whole-amp powers), False never uses it, None
    uses it when the problem is small. The LP (and MIP) share ``time_limit_s``. If the solver finds
    no solution within the limit, an earliest-deadline-first schedule is returned
    (``solver_status="fallback"``, status ``feasible`` or ``partial``).
    """
    t0 = time.perf_counter()
    a = _arrays(problem)
    w = _weights(a)
    lp = _solve(a, w, time_limit_s)
    if lp.status == "none":
        from depot.baselines import earliest_deadline_first  # lazy: baselines builds on this module

        fallback = earliest_deadline_first(problem)
        return plan_from_power(problem, fallback.power_matrix(), solve_seconds=time.perf_counter() - t0,
                               method="edf-fallback", solver_status="fallback")
    power = _smooth(a, _round_and_repair(a, lp.power, w))
    method, status = "lp+round", lp.status
    use_mip = exact if exact is not None else len(a.veh) <= MIP_MAX_VARIABLES
    remaining = time_limit_s - (time.perf_counter() - t0)
    if use_mip and remaining > 0.05 and len(a.veh):
        mip = _solve(a, w, remaining, integer=True)
        if mip.status != "none":
            mip_power = _smooth(a, _round_down(a, mip.power))  # snap solver noise onto exact levels
            if _objective(a, w, mip_power) <= _objective(a, w, power) + 1e-9:
                power, method, status = mip_power, "mip", mip.status
    return plan_from_power(problem, power, solve_seconds=time.perf_counter() - t0,
                           method=method, solver_status=status)


def relaxed_plan(problem: PlanningProblem, *, time_limit_s: float = 30.0, tie_break: bool = False) -> Plan:
    """The LP relaxation itself: continuous power, no minimum power, no whole amps, no rounding.

    Its energy is the most any schedule can deliver and, given that, its cost the least any can
    pay: the bound every controller is measured against. May break the 0-or-[min, max] rule.
    """
    t0 = time.perf_counter()
    a = _arrays(problem)
    sol = _solve(a, _weights(a, tie_break=tie_break), time_limit_s)
    status = {"none": "fallback"}.get(sol.status, sol.status)
    return plan_from_power(problem, sol.power, solve_seconds=time.perf_counter() - t0, method="lp-relaxation",
                           solver_status=status)


# --------------------------------------------------------------------------- check_plan()


class ViolationKind(StrEnum):
    SHAPE = "shape"
    NEGATIVE = "negative"
    WINDOW = "window"
    MAX_POWER = "max_power"
    MIN_POWER = "min_power"
    WHOLE_AMPS = "whole_amps"
    SITE_LIMIT = "site_limit"
    ENERGY_OVER_NEED = "energy_over_need"
    ENERGY_MISMATCH = "energy_mismatch"
    SHORTFALL_MISMATCH = "shortfall_mismatch"
    READY_MISMATCH = "ready_mismatch"
    TOTALS_MISMATCH = "totals_mismatch"
    COST_MISMATCH = "cost_mismatch"
    STATUS_MISMATCH = "status_mismatch"


@dataclass(frozen=True)
class Violation:
    kind: ViolationKind
    message: str
    vehicle_id: str | None = None
    slot: int | None = None


def check_plan(problem: PlanningProblem, plan: Plan, *, tol: float = 1e-6) -> list[Violation]:
    """Independently re-verify a plan against its problem; an empty list means it is valid.

    Written without the planner's arrays: windows from the datetimes, levels from the vehicle, every
    figure recomputed from the powers. Checks the window, min/max power with the 0-or-[min, max]
    rule, whole amps for AC vehicles, the site limit in every slot, energy ≤ need, and that the
    reported energy, shortfall, readiness, totals, costs and status agree with the powers.
    """
    out: list[Violation] = []
    ids = [v.id for v in plan.vehicles]
    if ids != [v.id for v in problem.vehicles]:
        return [Violation(ViolationKind.SHAPE, "plan vehicles differ from the problem's (ids or order)")]
    bad_len = [vp.id for vp in plan.vehicles if len(vp.power_kw) != problem.slots]
    if bad_len:
        return [Violation(ViolationKind.SHAPE, f"power_kw must have {problem.slots} values", i) for i in bad_len]
    for need, vp in zip(problem.vehicles, plan.vehicles, strict=True):
        out += _check_vehicle(problem, need, vp, tol)
    total = [sum(vp.power_kw[k] for vp in plan.vehicles) for k in range(problem.slots)]
    for k, (load, limit) in enumerate(zip(total, problem.site_limits().tolist(), strict=True)):
        if load > limit + tol * max(1.0, limit):
            out.append(Violation(ViolationKind.SITE_LIMIT,
                                 f"slot {k}: {load:.3f} kW exceeds the site limit {limit:.3f} kW", slot=k))
    out += _check_figures(problem, plan, total, tol)
    return out


def _check_vehicle(problem: PlanningProblem, need: VehicleNeed, vp: VehiclePlan, tol: float) -> list[Violation]:
    out: list[Violation] = []
    slot = timedelta(minutes=problem.slot_minutes)
    step = need.step_kw
    for k, p in enumerate(vp.power_kw):
        def bad(kind: ViolationKind, what: str, k: int = k) -> None:
            out.append(Violation(kind, f"{need.id} slot {k}: {what}", need.id, k))

        if p < -tol:
            bad(ViolationKind.NEGATIVE, f"negative power {p:.3f} kW")
        if abs(p) <= tol:
            continue
        s0 = problem.start + k * slot
        if s0 < (need.arrival or s0) or s0 + slot > need.departure:
            bad(ViolationKind.WINDOW, f"{p:.3f} kW outside the window")
        if p > need.max_kw + tol:
            bad(ViolationKind.MAX_POWER, f"{p:.3f} kW above max {need.max_kw} kW")
        least = max(need.min_kw, ac_min_kw(need.phases, need.volts or DEFAULT_VOLTS) if step else 0.0)
        if p < least - tol:
            bad(ViolationKind.MIN_POWER, f"{p:.3f} kW is between 0 and the minimum {least:.3f} kW")
        if step and abs(p / step - round(p / step)) > 1e-4:
            bad(ViolationKind.WHOLE_AMPS, f"{p:.4f} kW is not a whole number of amps")
    energy = sum(vp.power_kw) * problem.slot_hours
    ftol = max(1e-4, tol * max(1.0, need.energy_kwh))
    if energy > need.energy_kwh + ftol:
        out.append(Violation(ViolationKind.ENERGY_OVER_NEED,
                             f"{need.id}: {energy:.3f} kWh planned, need is {need.energy_kwh:.3f}", need.id))
    if abs(vp.energy_kwh - energy) > ftol:
        out.append(Violation(ViolationKind.ENERGY_MISMATCH,
                             f"{need.id}: reports {vp.energy_kwh:.3f} kWh, powers give {energy:.3f}", need.id))
    shortfall = max(need.energy_kwh - energy, 0.0)
    if abs(vp.shortfall_kwh - shortfall) > ftol:
        out.append(Violation(ViolationKind.SHORTFALL_MISMATCH,
                             f"{need.id}: reports {vp.shortfall_kwh:.3f} kWh short, is {shortfall:.3f}", need.id))
    if vp.ready != is_ready(shortfall):
        out.append(Violation(ViolationKind.READY_MISMATCH, f"{need.id}: ready={vp.ready} is wrong", need.id))
    return out


def _check_figures(problem: PlanningProblem, plan: Plan, total: list[float], tol: float) -> list[Violation]:
    out: list[Violation] = []
    dt = problem.slot_hours
    shortfalls = [max(n.energy_kwh - sum(vp.power_kw) * dt, 0.0)
                  for n, vp in zip(problem.vehicles, plan.vehicles, strict=True)]
    peak = max(total, default=0.0)
    figures = {
        "energy_kwh": (plan.energy_kwh, sum(total) * dt),
        "shortfall_kwh": (plan.shortfall_kwh, sum(shortfalls)),
        "peak_kw": (plan.peak_kw, peak),
    }
    for name, (reported, actual) in figures.items():
        if abs(reported - actual) > max(1e-4, tol * max(1.0, abs(actual))):
            out.append(Violation(ViolationKind.TOTALS_MISMATCH, f"{name}: reports {reported:.4f}, is {actual:.4f}"))
    cost = sum(p * t for p, t in zip(problem.prices().tolist(), total, strict=True)) * dt
    costs = {"energy_cost": (plan.energy_cost, cost)}
    if problem.demand_charge_per_kw is not None:
        costs["demand_cost"] = (plan.demand_cost, problem.demand_charge_per_kw * peak)
    elif plan.demand_cost is not None:
        out.append(Violation(ViolationKind.COST_MISMATCH, "demand_cost reported but no demand charge given"))
    for name, (reported, actual) in costs.items():
        if reported is None or abs(reported - actual) > max(1e-4, tol * max(1.0, abs(actual))):
            out.append(Violation(ViolationKind.COST_MISMATCH, f"{name}: reports {reported}, is {actual:.4f}"))
    partial = not all(fully_served(n, s, dt) for n, s in zip(problem.vehicles, shortfalls, strict=True))
    if partial != (plan.status == PlanStatus.PARTIAL):
        out.append(Violation(ViolationKind.STATUS_MISMATCH,
                             f"status {plan.status!s} but shortfall is {sum(shortfalls):.3f} kWh"))
    return out


# --------------------------------------------------------------------------- explain_shortfall()


@dataclass(frozen=True)
class VehicleShortfall:
    """Why one vehicle is short. ``cause``: ``no_window`` (no whole slot plugged in),
    ``vehicle_limit`` (its own power × stay is too small), ``site_limit`` (the site is full while
    it could charge), or ``rounding`` (whole-amp steps cannot hit the need exactly)."""

    vehicle_id: str
    priority: int
    need_kwh: float
    planned_kwh: float
    shortfall_kwh: float
    cause: str
    text: str


@dataclass(frozen=True)
class CapacityGap:
    """The site would need ``extra_kw`` more between ``start`` and ``end``."""

    start: datetime
    end: datetime
    extra_kw: float


@dataclass(frozen=True)
class ShortfallExplanation:
    """Dispatcher-facing explanation; ``lines`` are ready to print, most important first."""

    all_ready: bool
    lines: tuple[str, ...]
    vehicles: tuple[VehicleShortfall, ...] = ()
    capacity_gaps: tuple[CapacityGap, ...] = ()
    protected: tuple[str, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def explain_shortfall(
    problem: PlanningProblem, plan: Plan, *, tz: tzinfo = UTC, max_vehicles: int = 10, time_limit_s: float = 5.0
) -> ShortfallExplanation:
    """Say why vehicles are short and what would fix it, in a dispatcher's words.

    Per vehicle: percentage of need met and the cause. For the site: the extra kW needed in the
    saturated periods (verified by re-solving the relaxation with the raised limit). Also which
    higher-priority vehicles the priorities protected. Times are shown in ``tz``.
    """
    a = _arrays(problem)
    power = plan.power_matrix()
    short = [s for s in (_vehicle_reason(problem, a, power, i) for i in range(a.n_vehicles)) if s]
    if not short:
        return ShortfallExplanation(True, ("Every vehicle gets its full energy.",))
    short.sort(key=lambda s: (-s.priority, -s.shortfall_kwh))
    not_ready = [s for s in short if s.shortfall_kwh > READY_TOLERANCE_KWH]
    lines = [f"{len(not_ready)} of {a.n_vehicles} vehicles will not be ready; "
             f"{sum(s.shortfall_kwh for s in short):.1f} kWh short in total."]
    gaps = _capacity_gaps(problem, a, power, short, time_limit_s)
    for gap in gaps:
        lines.append(f"The site needs {gap.extra_kw:.0f} kW more between {_hhmm(gap.start, tz)} "
                     f"and {_hhmm(gap.end, tz)} to get every vehicle ready.")
    protected = _protected(problem, power, short)
    if protected:
        lines.append(protected[1])
    lines += [s.text for s in short[:max_vehicles]]
    if len(short) > max_vehicles:
        rest = short[max_vehicles:]
        lines.append(f"… and {len(rest)} more vehicles, {sum(s.shortfall_kwh for s in rest):.1f} kWh short together.")
    return ShortfallExplanation(False, tuple(lines), tuple(short), gaps, protected[0] if protected else ())


def _hhmm(t: datetime, tz: tzinfo) -> str:
    return t.astimezone(tz).strftime("%H:%M")


def _vehicle_reason(problem: PlanningProblem, a: _Arrays, power: np.ndarray, i: int) -> VehicleShortfall | None:
    v = problem.vehicles[i]
    planned = float(power[i].sum() * a.dt)
    short = v.energy_kwh - planned
    if fully_served(v, short, a.dt):
        return None
    pct = 100.0 * planned / v.energy_kwh if v.energy_kwh else 100.0
    head = f"{v.id} gets {pct:.0f} % of its need ({planned:.1f} of {v.energy_kwh:.1f} kWh)"
    first, end = problem.window(v)
    reachable = a.hi[i] * (a.end[i] - a.first[i]) * a.dt
    if end <= first:
        cause = "no_window"
        text = (f"{head}: it is plugged in for no whole {problem.slot_minutes:g}-minute slot of the plan; "
                f"check its arrival and departure.")
    elif reachable < v.energy_kwh - READY_TOLERANCE_KWH:
        cause = "vehicle_limit"
        hours = (a.end[i] - a.first[i]) * a.dt
        text = (f"{head}: at {a.hi[i]:.1f} kW for {hours:g} h it can take at most {reachable:.1f} kWh "
                f"even with the site to itself; a later departure or a faster charger would fix it.")
    elif short <= READY_TOLERANCE_KWH:
        cause = "rounding"
        text = f"{head}: {short:.2f} kWh left over by whole-amp steps and the minimum power (counts as ready)."
    else:
        cause = "site_limit"
        text = f"{head}: the site is at its limit while it could charge; {short:.1f} kWh short."
    return VehicleShortfall(v.id, v.priority, v.energy_kwh, planned, short, cause, text)


def _protected(problem: PlanningProblem, power: np.ndarray, short: list[VehicleShortfall]) -> tuple[tuple[str, ...], str] | None:
    """Higher-priority vehicles made ready while lower-priority ones are short on site capacity."""
    site_short = [s for s in short if s.cause == "site_limit"]
    if not site_short:
        return None
    lowest = min(s.priority for s in site_short)
    short_ids = {s.vehicle_id for s in short}
    ids = tuple(v.id for v in problem.vehicles
                if v.priority > lowest and v.id not in short_ids and v.energy_kwh > 0)
    if not ids:
        return None
    shown = ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
    return ids, (f"Priorities protected {shown}: fully charged, while priority-{lowest} vehicles "
                 f"take the shortfall.")


def _capacity_gaps(
    problem: PlanningProblem, a: _Arrays, power: np.ndarray, short: list[VehicleShortfall], time_limit_s: float
) -> tuple[CapacityGap, ...]:
    """Saturated periods in the short vehicles' windows and the extra kW that would fix them."""
    idx = {v.id: i for i, v in enumerate(problem.vehicles)}
    site_short = [idx[s.vehicle_id] for s in short if s.cause == "site_limit"]
    if not site_short:
        return ()
    load = power.sum(axis=0)
    full = load >= a.limit - np.maximum(a.lo.min(initial=0.0), 0.5)
    in_window = a.window_mask()[site_short].any(axis=0)
    busy = full & in_window
    if not busy.any():
        busy = in_window
    missing = sum(problem.vehicles[i].energy_kwh - power[i].sum() * a.dt for i in site_short)
    extra = _verified_extra_kw(a, busy, missing / (busy.sum() * a.dt), time_limit_s)
    gaps = []
    for k0, k1 in _runs(busy):
        gaps.append(CapacityGap(problem.slot_start(k0), problem.slot_start(k1), extra))
    return tuple(gaps)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _verified_extra_kw(a: _Arrays, busy: np.ndarray, guess: float, time_limit_s: float) -> float:
    """Smallest extra kW (on ``busy`` slots, relaxation) that removes the site-caused shortfall."""
    reachable = np.minimum(a.need, a.hi * (a.end - a.first) * a.dt)
    floor_short = float((a.need - reachable).sum())
    deadline = time.perf_counter() + time_limit_s
    w = _weights(a, tie_break=False)

    def enough(extra: float) -> bool | None:
        left = deadline - time.perf_counter()
        if left <= 0.05:
            return None
        raised = replace(a, limit=a.limit + extra * busy)
        sol = _solve(raised, w, left)
        if sol.status == "none":
            return None
        return float((a.need - sol.power.sum(axis=1) * a.dt).sum()) <= floor_short + 0.5

    low, high = 0.0, max(guess, 1.0)
    for _ in range(8):  # grow until enough (or give up and report the estimate)
        ok = enough(high)
        if ok is None:
            return math.ceil(high)
        if ok:
            break
        low, high = high, high * 2.0
    for _ in range(6):  # tighten to about 5 %
        if high - low <= max(1.0, 0.05 * high):
            break
        mid = (low + high) / 2.0
        ok = enough(mid)
        if ok is None:
            break
        low, high = (low, mid) if ok else (mid, high)
    return float(math.ceil(high))
