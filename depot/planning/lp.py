"""The linear programme behind the planner, solved: min-cost flow where it fits, else HiGHS (LP or MIP).

PURE: no I/O, no clock. Shared by the planner (``depot.planning.planner``), the shortfall explanation
(``depot.planning.explain``) and the LP bound of the baselines (``depot.planning.baselines``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder_helper as mbh

from depot.planning.arrays import _Arrays, _arrays, _Weights, _weights
from depot.planning.flow import solve_flow
from depot.planning.problem import Plan, PlanningProblem, plan_from_power

MIP_MAX_VARIABLES = 1200
"""Problems with at most this many window variables are also solved exactly as a MIP."""
MIP_MAX_NODES = 1000
"""Work limit of the planner's MIP: deterministic, so the same problem gives the same plan on a busy machine
and an idle one; the time limit is only a safety net (a MIP it stopped is not used, see the planner)."""

PEAK_SEARCH_MIN_VARIABLES = 40_000
"""When the demand charge makes the best peak lie below the uncapped flow's, problems with at least
this many window variables search it with min-cost flows (5-7 flows); smaller ones hand the LP to
HiGHS, which is faster there (measured, CPU s, medians under load: 200 vehicles × 96 slots HiGHS
0.038, search 0.047; 1000: 0.38-0.49 against 0.27-0.38; 2000: 1.34 against 0.64)."""


# --------------------------------------------------------------------------- LP / MIP


@dataclass(frozen=True)
class _Solution:
    power: np.ndarray      # (V, K)
    status: str            # "optimal" | "feasible" | "none"
    seconds: float


def _solve(a: _Arrays, w: _Weights, time_limit_s: float, *, integer: bool = False) -> _Solution:
    """The LP as a min-cost flow (``depot.planning.flow``) where it fits, else with HiGHS; the exact MIP
    (``integer``) always with HiGHS."""
    t0 = time.perf_counter()
    n, nv, nk = len(a.veh), a.n_vehicles, a.n_slots
    if n == 0:  # nobody can charge in any slot: nothing to solve
        return _Solution(np.zeros((nv, nk)), "optimal", time.perf_counter() - t0)
    if not integer:
        flow = solve_flow(a, w, t0 + time_limit_s, peak_search=n >= PEAK_SEARCH_MIN_VARIABLES)
        if flow is not None:
            power = np.zeros((nv, nk))
            power[a.veh, a.slot] = np.clip(flow.power, 0.0, a.hi[a.veh])
            return _Solution(power, flow.status, time.perf_counter() - t0)
    return _solve_highs(a, w, time_limit_s - (time.perf_counter() - t0), integer=integer, t0=t0)


def _solve_highs(a: _Arrays, w: _Weights, time_limit_s: float, *, integer: bool = False,
                 t0: float | None = None) -> _Solution:
    """Build the model from arrays and solve it with HiGHS (LP, or exact MIP when ``integer``)."""
    t0 = time.perf_counter() if t0 is None else t0
    t1 = time.perf_counter()
    n, nv, nk = len(a.veh), a.n_vehicles, a.n_slots
    if n == 0:  # nobody can charge in any slot: nothing to solve
        return _Solution(np.zeros((nv, nk)), "optimal", time.perf_counter() - t0)
    model, scale = _highs_model(a, w, integer=integer)
    solver = mbh.ModelSolverHelper("highs" if integer else "highs_lp")
    solver.set_solver_specific_parameters("output_flag=false,presolve=off"
                                          + (f",mip_max_nodes={MIP_MAX_NODES}" if integer else ""))
    solver.set_time_limit_in_seconds(max(time_limit_s - (time.perf_counter() - t1), 0.01))
    solver.solve(model)
    names = {mbh.SolveStatus.OPTIMAL: "optimal", mbh.SolveStatus.FEASIBLE: "feasible"}
    status = names.get(solver.status(), "none")
    if status == "none" or not solver.has_solution():
        return _Solution(np.zeros((nv, nk)), "none", time.perf_counter() - t0)
    x = np.asarray(solver.variable_values())[:n] * scale
    power = np.zeros((nv, nk))
    power[a.veh, a.slot] = np.clip(x, 0.0, a.hi[a.veh])
    return _Solution(power, status, time.perf_counter() - t0)


def _highs_model(a: _Arrays, w: _Weights, *, integer: bool) -> tuple[mbh.ModelBuilderHelper, np.ndarray]:
    """The LP (or MIP) as a HiGHS model, and the units of its power columns (kW per unit: whole amps for
    stepped vehicles in the MIP, else 1)."""
    n, nv, nk = len(a.veh), a.n_vehicles, a.n_slots
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
    return model, scale


def _objective(a: _Arrays, w: _Weights, power: np.ndarray) -> float:
    short = np.maximum(a.need - power.sum(axis=1) * a.dt, 0.0)
    total = power.sum(axis=0)
    energy = (power * w.cost_rows(np.arange(a.n_vehicles))).sum() * a.dt
    return float(short @ w.shortfall + energy + w.demand * total.max(initial=0.0))


def relaxed_plan(problem: PlanningProblem, *, time_limit_s: float = 30.0, tie_break: bool = False) -> Plan:
    """The LP relaxation itself: continuous power, no minimum power, no whole amps, no rounding.

    Its energy is the most any schedule can deliver and, given that, its cost the least any can
    pay: the bound every controller is measured against. May break the 0-or-[min, max] rule.
    """
    t0 = time.perf_counter()
    a = _arrays(problem)
    sol = _solve_highs(a, _weights(a, tie_break=tie_break), time_limit_s)
    status = {"none": "fallback"}.get(sol.status, sol.status)
    return plan_from_power(problem, sol.power, solve_seconds=time.perf_counter() - t0, method="lp-relaxation",
                           solver_status=status)
