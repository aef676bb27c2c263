"""Depot charging planner: who charges when, at what power.

PURE: no I/O, no clock, no environment, no database. Every input is a parameter (the problem's
``start`` is the clock), every output is a frozen dataclass. The only side effect is CPU time spent
in OR-Tools' min-cost-flow and HiGHS solvers, always bounded by ``time_limit_s``.

The model is a linear programme over the power of each vehicle in each slot of its window (only
slots lying wholly inside ``[arrival, departure)`` get a variable), built from numpy arrays
(``depot.planning.arrays``). Objective, in this order:

1. every priority vehicle that can be made ready is ready, the highest level first (a level is never
   sacrificed for a lower one), then
2. as many vehicles fully ready as possible: ``depot.planning.readiness`` chooses that set first, and
   the LP weighs its shortfall above everything else (``_weights(ready=...)``), then
3. the least energy short for the rest, weighted by priority, then
4. energy cost plus demand charge on the peak, then
5. smooth schedules: a tie-break towards earlier slots, which makes each vehicle's schedule one
   or a few contiguous blocks at full power (few charging-profile periods).

The LP is a transportation problem plus one coupling peak, so it is solved as a min-cost flow
(``depot.planning.flow``: one flow when the site is congested or there is no demand charge, a short
search over the peak otherwise); HiGHS (sparse model, dual simplex) takes what does not fit a
network and small problems whose peak must be searched for. The LP relaxation ignores the 0-or-
[min, max] rule and whole-amp steps; its solution is rounded and repaired (``depot.planning.rounding``).
Small problems are also solved exactly as a MIP within the time limit; the better of the two is
kept. ``check_plan`` (``depot.planning.check``) re-verifies every constraint independently;
``explain_shortfall`` (``depot.planning.explain``) says in words why not everyone can be ready and what
would fix it. The problem and plan types live in ``depot.planning.problem``; all are re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Collection

import numpy as np

from depot.planning.arrays import _arrays, _weights
from depot.planning.baselines import earliest_deadline_first
from depot.planning.check import Violation, ViolationKind, check_plan
from depot.planning.explain import CapacityGap, ShortfallExplanation, VehicleShortfall, explain_shortfall
from depot.planning.lp import MIP_MAX_VARIABLES, _objective, _solve, relaxed_plan
from depot.planning.problem import (
    AC_MIN_AMPS,
    DEFAULT_VOLTS,
    READY_TOLERANCE_KWH,
    SHORTFALL_TOLERANCE_KWH,
    Plan,
    PlanningProblem,
    PlanStatus,
    VehicleNeed,
    VehiclePlan,
    ac_min_kw,
    ac_power_kw,
    energy_need_kwh,
    fully_served,
    is_ready,
    plan_from_power,
)
from depot.planning.readiness import READINESS_SHARE, select_ready
from depot.planning.rounding import _round_and_repair, _round_down, _smooth

__all__ = [
    "AC_MIN_AMPS", "DEFAULT_VOLTS", "MIP_MAX_VARIABLES", "READY_TOLERANCE_KWH", "SHORTFALL_TOLERANCE_KWH",
    "CapacityGap", "Plan", "PlanningProblem", "PlanStatus", "ShortfallExplanation", "VehicleNeed",
    "VehiclePlan", "VehicleShortfall", "Violation", "ViolationKind", "ac_min_kw", "ac_power_kw",
    "check_plan", "energy_need_kwh", "explain_shortfall", "fully_served", "is_ready", "plan",
    "plan_from_power", "relaxed_plan",
]


# --------------------------------------------------------------------------- plan()


def plan(problem: PlanningProblem, *, time_limit_s: float = 10.0, exact: bool | None = None,
         readiness: bool = True, prefer_ready: Collection[str] = ()) -> Plan:
    """Plan every vehicle's power per slot. Always returns a Plan (shortfall is reported, not raised).

    ``readiness``: False plans energy first (cost + shortfall weighted by priority, no readiness
    selection), the objective before readiness came first; benchmarks compare the two.
    ``prefer_ready``: vehicle ids ready in the plan in force; among equally good ready sets the one that
    keeps them is chosen (a re-plan does not swap which of two equal vehicles leaves ready).

    ``exact``: True forces the MIP (semi-continuous whole-amp powers), False never uses it, None
    uses it when the problem is small. The LP (and MIP) share ``time_limit_s``. If the solver finds
    no solution within the limit, an earliest-deadline-first schedule is returned
    (``solver_status="fallback"``, status ``feasible`` or ``partial``).

    The same problem gives the same plan on an idle and on a busy machine: what the solvers do is bounded
    by work limits (node limits, flow and repair counts, sizes), the time limit is a safety net. When it
    fires, the result falls back deterministically (a MIP it stopped is dropped for the rounded LP) and
    ``method`` ends in " (time limit)": only such a plan may depend on machine load.
    """
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    a = _arrays(problem)
    timed_out = False
    if readiness:
        prefer = np.array([v.id in prefer_ready for v in problem.vehicles], bool) if prefer_ready else None
        selection = select_ready(a, t0 + time_limit_s * READINESS_SHARE, prefer=prefer)
        ready, timed_out = selection.ready, selection.timed_out
    else:  # energy first, as before readiness: cost + shortfall weighted by priority (benchmarks compare)
        ready = np.ones(a.n_vehicles, bool)
    w = _weights(a, ready=ready)
    lp = _solve(a, w, deadline - time.perf_counter())
    timed_out |= time.perf_counter() >= deadline - _LIMIT_SLACK_S
    if lp.status == "none":
        fallback = earliest_deadline_first(problem)
        return plan_from_power(problem, fallback.power_matrix(), solve_seconds=time.perf_counter() - t0,
                               method="edf-fallback" + TIME_LIMIT_MARK * timed_out, solver_status="fallback")
    power = _smooth(a, _round_and_repair(a, lp.power, w, ready))
    method, status = "lp+round", lp.status
    use_mip = exact if exact is not None else len(a.veh) <= MIP_MAX_VARIABLES
    if use_mip and len(a.veh):
        remaining = deadline - time.perf_counter()
        mip = _solve(a, w, remaining, integer=True) if remaining > 0.05 else None
        if mip is None or time.perf_counter() >= deadline - _LIMIT_SLACK_S:
            timed_out = True  # the safety net ended it, not the work limit: keep the rounded LP
        elif mip.status != "none":
            mip_power = _smooth(a, _round_down(a, mip.power))  # snap solver noise onto exact levels
            if _objective(a, w, mip_power) <= _objective(a, w, power) + 1e-9:
                power, method, status = mip_power, "mip", mip.status
    return plan_from_power(problem, power, solve_seconds=time.perf_counter() - t0,
                           method=method + TIME_LIMIT_MARK * timed_out, solver_status=status)


TIME_LIMIT_MARK = " (time limit)"
"""The end of ``Plan.method`` when the time limit, not the work limits, ended a step (see ``plan``)."""
_LIMIT_SLACK_S = 0.02
