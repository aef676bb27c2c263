"""Which vehicles the plan makes fully ready: priority levels first, then as many vehicles as possible.

PURE: functions of the planning arrays, no I/O; the caller passes a ``perf_counter`` deadline. The only
side effect is CPU time in OR-Tools (min-cost flow, max flow, HiGHS).

When the site cannot give every vehicle all its energy, the planner first chooses the set R of vehicles
that will leave ready, level by level from the highest priority: at each level the most vehicles that can
be made ready together with the levels above (a level is never sacrificed for a lower one). The plan is
then solved with R's shortfall weighted above everything else, so R is served in full and the rest get
as close as they can (``depot.planning.planner``).

Choosing R is a maximum-coverage problem (NP-hard in general). Two methods:

- **exact** (small problems): a MIP on HiGHS per level, ``max Σ y_v`` with ``energy_v ≥ need_v · y_v``,
  under the site limit and each vehicle's window and power, keeping the *counts* of the levels above (not
  their sets: which of two equal higher-level vehicles is ready can decide how many lower ones fit).
- **flow** (any size): the LP relaxation of that MIP is ``max Σ energy_v / need_v``, a min-cost flow with a
  gain of ``1 / need_v`` per kWh of vehicle v (the levels above carry a gain larger than any other, so they
  stay full). Its optimum is a vertex: nearly every vehicle gets all or nothing. The full ones join R;
  then the partly served ones, and the unserved by need, are tried one by one with a max-flow feasibility
  check (fast: no costs) until the deadline or ``MAX_REPAIR_TRIES``. The LP value bounds what any
  selection could reach; ``Selection.bound`` reports it per level.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from ortools.graph.python import max_flow, min_cost_flow
from ortools.linear_solver.python import model_builder_helper as mbh

from depot.planning.arrays import _Arrays

UNITS_PER_KWH = 1e4
"""Flow units per kWh (tenths of a Wh): capacities are rounded down to them."""
GAIN_UNITS = 1e6
"""Integer gain of one flow unit for a vehicle that needs 1 kWh (a vehicle needing n kWh: GAIN_UNITS / n)."""
MAX_REPAIR_TRIES = 16
"""Most single-vehicle feasibility checks after the LP relaxation, per level."""
READINESS_SHARE = 0.4
"""Share of the planner's time limit the selection may use (the plan itself gets the rest)."""
EXACT_MAX_VEHICLES = 40
EXACT_MAX_VARIABLES = 2000
"""Problems up to these sizes choose R exactly (a MIP per level) while the deadline allows."""
MIP_MAX_NODES = 2000
"""Work limit of each level's MIP (deterministic: the same problem stops at the same node on any machine);
the deadline is only a safety net, and a selection that reached it says so (``Selection.timed_out``)."""


@dataclass(frozen=True)
class Selection:
    ready: np.ndarray          # (V,) bool: the vehicles the plan must make fully ready
    bound: dict[int, float]    # priority level -> most vehicles of that level any plan could make ready
    method: str                # "all" (everyone fits), "exact", "flow"
    seconds: float
    timed_out: bool = False    # the deadline, not the work limits, ended a step: the result may depend on load


class _Graph:
    """The transportation network (source → vehicle → slot → sink) in integer units."""

    def __init__(self, a: _Arrays) -> None:
        nv, nk, n = a.n_vehicles, a.n_slots, len(a.veh)
        self.a, self.nv, self.nk, self.n = a, nv, nk, n
        self.need = np.floor(a.need * UNITS_PER_KWH + 1e-6).astype(np.int64)
        xcap = np.floor(a.hi[a.veh] * a.dt * UNITS_PER_KWH + 1e-6).astype(np.int64)
        limcap = np.floor(np.maximum(a.limit, 0.0) * a.dt * UNITS_PER_KWH + 1e-6).astype(np.int64)
        self.sink = nv + nk + 1
        self.tails = np.concatenate([np.zeros(nv, np.int64), 1 + a.veh, 1 + nv + np.arange(nk)])
        self.heads = np.concatenate([1 + np.arange(nv), 1 + nv + a.slot, np.full(nk, self.sink)])
        self.caps = np.concatenate([self.need, xcap, limcap])
        self._mf: max_flow.SimpleMaxFlow | None = None
        reach = np.zeros(nv, np.int64)
        np.add.at(reach, a.veh, xcap)
        self.reachable = reach >= self.need  # can be ready alone, on an empty site

    def feasible(self, members: np.ndarray) -> bool:
        """Can every vehicle in ``members`` get all its energy at once?"""
        if self._mf is None:
            self._mf = max_flow.SimpleMaxFlow()
            self._mf.add_arcs_with_capacity(self.tails, self.heads, self.caps)
        target = np.where(members, self.need, 0)
        self._mf.set_arcs_capacity(np.arange(self.nv), target)
        if self._mf.solve(0, self.sink) != self._mf.OPTIMAL:
            return False
        return int(self._mf.optimal_flow()) >= int(target.sum())

    def relaxation(self, must: np.ndarray, candidates: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray | None:
        """The LP relaxation: energy units per vehicle maximising Σ energy/need over ``candidates`` while
        every ``must`` vehicle is full (it carries a gain above any candidate's). None on failure."""
        need_kwh = np.maximum(self.a.need, 1e-9)
        gain = np.where(candidates, np.round(GAIN_UNITS / need_kwh), 0).astype(np.int64)
        if keep is not None:  # one unit more for the vehicles ready in the plan in force: it only breaks ties
            gain += (candidates & keep).astype(np.int64)
        top = int(gain.max(initial=0)) * 2 + 1
        gain = np.where(must, top, gain)
        cap = np.where(must | candidates, self.need, 0)
        total = int(cap.sum())
        mcf = min_cost_flow.SimpleMinCostFlow()
        costs = np.concatenate([-gain, np.zeros(self.n + self.nk, np.int64), [0]])
        tails = np.concatenate([self.tails, [0]])
        heads = np.concatenate([self.heads, [self.sink]])
        caps = np.concatenate([cap, self.caps[self.nv:], [total]])
        mcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
        supplies = np.zeros(self.sink + 1, np.int64)
        supplies[0], supplies[self.sink] = total, -total
        mcf.set_nodes_supplies(np.arange(self.sink + 1), supplies)
        if mcf.solve() != mcf.OPTIMAL:
            return None
        return mcf.flows(np.arange(self.nv))


def select_ready(a: _Arrays, deadline: float, *, exact: bool | None = None,
                 prefer: np.ndarray | None = None) -> Selection:
    """The vehicles to make ready (see the module docstring). ``exact``: True forces the MIP, False the flow
    method, None chooses by size. Vehicles needing no energy are always in the set. ``prefer`` (V,): among
    selections of equal counts, the one keeping most of these (the vehicles ready in the plan in force), so
    a re-plan does not swap which of two equal vehicles leaves ready."""
    t0 = time.perf_counter()
    keep = np.zeros(a.n_vehicles, bool) if prefer is None else np.asarray(prefer, bool)
    g = _Graph(a)
    trivial = a.need <= 1e-9
    if g.feasible(np.ones(a.n_vehicles, bool)):
        levels = {int(p): float((a.priority == p).sum()) for p in np.unique(a.priority)}
        return Selection(np.ones(a.n_vehicles, bool), levels, "all", time.perf_counter() - t0)
    small = a.n_vehicles <= EXACT_MAX_VEHICLES and len(a.veh) <= EXACT_MAX_VARIABLES
    levels = sorted(np.unique(a.priority).tolist(), reverse=True)
    if exact if exact is not None else small:
        found = _exact_select(a, g.reachable & ~trivial, levels, deadline, keep)
        if found is not None:
            ready, counts = found
            bound = {lv: counts[lv] + float(((a.priority == lv) & trivial).sum()) for lv in levels}
            return Selection(ready | trivial, bound, "exact", time.perf_counter() - t0,
                             time.perf_counter() >= deadline)
    ready, bound = trivial.copy(), {}
    for level in levels:
        candidates = (a.priority == level) & ~ready & g.reachable
        chosen, level_bound = _flow_level(g, ready, candidates, deadline, keep)
        ready |= chosen
        bound[int(level)] = level_bound + float(((a.priority == level) & trivial).sum())
    return Selection(ready, bound, "flow", time.perf_counter() - t0, time.perf_counter() >= deadline)


def _exact_select(a: _Arrays, eligible: np.ndarray, levels: list[int], deadline: float,
                  keep: np.ndarray) -> tuple[np.ndarray, dict[int, float]] | None:
    """Lexicographically most vehicles ready, level by level: each level's MIP decides over every vehicle of
    that level and above, keeping the counts (not the sets) of the levels above, so the choice among equal
    higher-level sets is left free for the levels below. None when a solve hits the deadline."""
    counts: dict[int, float] = {}
    chosen = np.zeros(a.n_vehicles, bool)
    for level in levels:
        found = _exact_level(a, eligible & (a.priority >= level), counts, level, deadline, keep)
        if found is None:
            return None
        chosen = found
        counts[level] = float((found & (a.priority == level)).sum())
    return chosen, counts


def _flow_level(g: _Graph, must: np.ndarray, candidates: np.ndarray, deadline: float,
                keep: np.ndarray) -> tuple[np.ndarray, float]:
    """One level by the LP relaxation, rounded down, then repaired vehicle by vehicle."""
    a = g.a
    chosen = np.zeros(a.n_vehicles, bool)
    if not candidates.any():
        return chosen, 0.0
    flows = g.relaxation(must, candidates, keep)
    if flows is None:
        return chosen, float(candidates.sum())
    need = np.maximum(g.need, 1)
    share = np.where(candidates, flows / need, 0.0)
    bound = float(share.sum())
    chosen = candidates & (flows >= g.need)  # full in the relaxation: the flow itself proves them feasible
    # the partly served first (most served first), then the unserved by least need
    partial = np.flatnonzero(candidates & ~chosen & (flows > 0))
    partial = partial[np.lexsort((-share[partial], ~keep[partial]))]  # the preferred first, each group as before
    unserved = np.flatnonzero(candidates & ~chosen & (flows <= 0))
    unserved = unserved[np.lexsort((a.need[unserved], ~keep[unserved]))]
    tries = 0
    for v in np.concatenate([partial, unserved]).tolist():
        if tries >= MAX_REPAIR_TRIES or time.perf_counter() >= deadline or chosen.sum() >= math.floor(bound + 1e-6):
            break
        tries += 1
        trial = must | chosen
        trial[v] = True
        if g.feasible(trial):
            chosen[v] = True
    return chosen, bound


# long: one sparse MIP built from arrays (columns, rows, bounds) reads best as one block
def _exact_level(a: _Arrays, candidates: np.ndarray, counts: dict[int, float], level: int,
                 deadline: float, keep: np.ndarray | None = None) -> np.ndarray | None:
    """The most ``level`` vehicles ready while each level above keeps ``counts[level]`` ready (any of its
    vehicles), over ``candidates`` (continuous power: the selection ignores the 0-or-[min, max] rule, which
    the plan's rounding then respects). The chosen vehicles of every level >= ``level``; None on a limit."""
    n, nv, nk = len(a.veh), a.n_vehicles, a.n_slots
    cand = np.flatnonzero(candidates)
    if cand.size == 0:
        return np.zeros(nv, bool)
    ny, above = cand.size, sorted(counts)
    # columns: x (n, kW), y (ny, binary); rows: energy upper (nv), ready (ny), counts (per level above), site
    lb = np.zeros(n + ny)
    ub = np.concatenate([a.hi[a.veh], np.ones(ny)])
    obj = np.concatenate([np.zeros(n), -(a.priority[cand] == level).astype(float)])  # the solver minimises
    if keep is not None:  # the preferred ones, worth less than one vehicle all together: they only break ties
        obj[n:] -= keep[cand] / (ny + 1.0)
    r_ready, r_count = nv, nv + ny
    r_site = r_count + len(above)
    ymap = np.full(nv, -1)
    ymap[cand] = np.arange(ny)
    has_y = ymap[a.veh] >= 0
    rows = [a.veh, r_ready + ymap[a.veh[has_y]], r_ready + np.arange(ny), r_site + a.slot]
    cols = [np.arange(n), np.flatnonzero(has_y), n + np.arange(ny), np.arange(n)]
    vals = [np.full(n, a.dt), np.full(int(has_y.sum()), a.dt), -a.need[cand], np.ones(n)]
    for j, lv in enumerate(above):
        members = np.flatnonzero(a.priority[cand] == lv)
        rows.append(np.full(members.size, r_count + j))
        cols.append(n + members)
        vals.append(np.ones(members.size))
    row_lb = np.concatenate([np.full(nv, -np.inf), np.zeros(ny), [counts[lv] - 1e-6 for lv in above],
                             np.full(nk, -np.inf)])
    row_ub = np.concatenate([a.need, np.full(ny, np.inf), np.full(len(above), np.inf), np.maximum(a.limit, 0.0)])
    matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(r_site + nk, n + ny))
    model = mbh.ModelBuilderHelper()
    model.fill_model_from_sparse_data(lb, ub, obj, row_lb, row_ub, matrix)
    for j in range(n, n + ny):
        model.set_var_integrality(j, True)
    solver = mbh.ModelSolverHelper("highs")
    solver.set_solver_specific_parameters(f"output_flag=false,mip_max_nodes={MIP_MAX_NODES}")
    solver.set_time_limit_in_seconds(max(deadline - time.perf_counter(), 0.01))
    solver.solve(model)
    if solver.status() != mbh.SolveStatus.OPTIMAL or not solver.has_solution():
        return None  # the work limit (or the deadline): the flow method decides
    y = np.asarray(solver.variable_values())[n:] > 0.5
    chosen = np.zeros(nv, bool)
    chosen[cand[y]] = True
    return chosen
