"""Baseline schedules the planner is measured against.

PURE: functions of a PlanningProblem, no I/O, no clock. Each returns the same ``Plan`` type as
``depot.planning.planner.plan`` so ``check_plan`` and the benchmark's metrics apply to all of them.

- ``uncontrolled``: every vehicle at full power from arrival until full; ignores the site limit.
- ``earliest_deadline_first`` / ``least_laxity_first``: slot by slot, vehicles in order of priority
  (higher first), then departure (EDF) or laxity = time left − time still needed at full power
  (LLF), each given as much as the site limit still allows. They respect the site limit, the
  0-or-[min, max] rule and whole amps, and never look at prices.
- ``lp_bound``: the LP relaxation (most energy, then least cost; continuous, no rounding).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from depot.planning.lp import relaxed_plan
from depot.planning.problem import Plan, PlanningProblem, VehicleNeed, plan_from_power


def _level(vehicle: VehicleNeed, kw: float) -> float:
    """Largest allowed power of ``vehicle`` not above ``kw`` (0 below its minimum)."""
    lo, hi = vehicle.power_range()
    kw = min(kw, hi)
    step = vehicle.step_kw
    if step:
        kw = math.floor(kw / step + 1e-7) * step
    return kw if kw >= lo - 1e-9 and kw > 1e-7 else 0.0


def uncontrolled(problem: PlanningProblem) -> Plan:
    """Full power from the first slot of the window until the need is met; no site limit."""
    t0 = time.perf_counter()
    dt = problem.slot_hours
    power = np.zeros((len(problem.vehicles), problem.slots))
    for i, v in enumerate(problem.vehicles):
        left = v.energy_kwh
        first, end = problem.window(v)
        for k in range(first, end):
            p = _level(v, left / dt)
            if p <= 0:
                break
            power[i, k] = p
            left -= p * dt
    return plan_from_power(problem, power, solve_seconds=time.perf_counter() - t0,
                           method="uncontrolled", solver_status="feasible")


def _greedy(problem: PlanningProblem, key: Callable[[int, int, float], float], method: str) -> Plan:
    """Slot by slot: vehicles sorted by (-priority, key(vehicle, slot, energy left)) take what fits."""
    t0 = time.perf_counter()
    dt = problem.slot_hours
    vs = problem.vehicles
    windows = [problem.window(v) for v in vs]
    left = np.array([v.energy_kwh for v in vs], dtype=float)
    power = np.zeros((len(vs), problem.slots))
    limits = problem.site_limits()
    for k in range(problem.slots):
        active = [i for i, (f, e) in enumerate(windows) if f <= k < e and left[i] > 1e-9]
        active.sort(key=lambda i: (-vs[i].priority, key(i, k, left[i])))
        headroom = limits[k]
        for i in active:
            if headroom <= 1e-9:
                break
            p = _level(vs[i], min(left[i] / dt, headroom))
            power[i, k] = p
            left[i] -= p * dt
            headroom -= p
    return plan_from_power(problem, power, solve_seconds=time.perf_counter() - t0,
                           method=method, solver_status="feasible")


def earliest_deadline_first(problem: PlanningProblem) -> Plan:
    """Priority first, then the earliest departure; respects the site limit."""
    ends = [problem.window(v)[1] for v in problem.vehicles]
    return _greedy(problem, lambda i, k, left: ends[i], "edf")


def least_laxity_first(problem: PlanningProblem) -> Plan:
    """Priority first, then the least slack (hours left minus hours still needed at full power)."""
    dt = problem.slot_hours
    ends = [problem.window(v)[1] for v in problem.vehicles]
    highs = [max(v.power_range()[1], 1e-9) for v in problem.vehicles]
    return _greedy(problem, lambda i, k, left: (ends[i] - k) * dt - left / highs[i], "llf")


def lp_bound(problem: PlanningProblem, *, time_limit_s: float = 60.0) -> Plan:
    """The LP relaxation: maximum deliverable energy, then minimum cost; continuous, no rounding."""
    return relaxed_plan(problem, time_limit_s=time_limit_s)
