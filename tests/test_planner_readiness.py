"""Readiness first: priority levels in order, then the most vehicles ready, checked against an exact model.

The exact model is independent of the planner: it enumerates every subset of vehicles of a tiny depot
and decides with its own max flow (Edmonds-Karp, below) whether all of them can get their whole need at
once. The best subset's ready count per priority level (highest first) is what no plan may fall short of.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from depot.planning.arrays import _arrays
from depot.planning.planner import PlanningProblem, VehicleNeed, check_plan, plan
from depot.planning.readiness import select_ready

START = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
SLOTS = 8
SLOT_MINUTES = 60


def _max_flow(cap: dict[tuple[int, int], float], source: int, sink: int) -> float:
    residual: dict[int, dict[int, float]] = {source: {}, sink: {}}
    for (u, v), c in cap.items():
        residual.setdefault(u, {})[v] = residual.get(u, {}).get(v, 0.0) + c
        residual.setdefault(v, {}).setdefault(u, 0.0)
    total = 0.0
    while True:
        parent = {source: source}
        queue = deque([source])
        while queue and sink not in parent:
            u = queue.popleft()
            for v, c in residual[u].items():
                if c > 1e-9 and v not in parent:
                    parent[v] = u
                    queue.append(v)
        if sink not in parent:
            return total
        path, v = [], sink
        while v != source:
            path.append((parent[v], v))
            v = parent[v]
        push = min(residual[u][v] for u, v in path)
        for u, v in path:
            residual[u][v] -= push
            residual[v][u] += push
        total += push


def _all_ready_possible(problem: PlanningProblem, members: tuple[int, ...]) -> bool:
    """Can every vehicle in ``members`` get all its energy (continuous power, site limit per slot)?"""
    h = problem.slot_hours
    source, sink = -1, -2
    cap: dict[tuple[int, int], float] = {}
    for i in members:
        v = problem.vehicles[i]
        first, end = problem.window(v)
        cap[(source, i)] = v.energy_kwh
        for k in range(first, end):
            cap[(i, 1000 + k)] = v.max_kw * h
    for k in range(problem.slots):
        cap[(1000 + k, sink)] = problem.site_limits()[k] * h
    need = sum(problem.vehicles[i].energy_kwh for i in members)
    return _max_flow(cap, source, sink) >= need - 1e-6


def _levels(problem: PlanningProblem) -> list[int]:
    return sorted({v.priority for v in problem.vehicles}, reverse=True)


def _vector(problem: PlanningProblem, ready: set[int]) -> tuple[int, ...]:
    return tuple(sum(1 for i in ready if problem.vehicles[i].priority == p) for p in _levels(problem))


def best_possible(problem: PlanningProblem) -> tuple[int, ...]:
    n = len(problem.vehicles)
    best = tuple(0 for _ in _levels(problem))
    for size in range(n, 0, -1):
        for members in itertools.combinations(range(n), size):
            vec = _vector(problem, set(members))
            if vec > best and _all_ready_possible(problem, members):
                best = vec
    return best


@st.composite
def tiny_depots(draw) -> PlanningProblem:
    n = draw(st.integers(2, 6))
    vehicles = []
    for i in range(n):
        arrive = draw(st.integers(0, SLOTS - 2))
        leave = draw(st.integers(arrive + 1, SLOTS))
        max_kw = float(draw(st.sampled_from([11, 22, 50])))
        stay = leave - arrive
        need = float(draw(st.integers(2, max(2, int(max_kw * stay)))))
        vehicles.append(VehicleNeed(
            id=f"V{i}", arrival=START + timedelta(hours=arrive) if arrive else None,
            departure=START + timedelta(hours=leave), energy_kwh=need, max_kw=max_kw,
            priority=draw(st.integers(1, 3))))
    limit = tuple(float(draw(st.integers(5, 60))) for _ in range(SLOTS))
    prices = tuple(draw(st.sampled_from([0.1, 0.2, 0.3])) for _ in range(SLOTS))
    return PlanningProblem(start=START, vehicles=tuple(vehicles), site_limit_kw=limit, price_per_kwh=prices,
                           slot_minutes=SLOT_MINUTES, slots=SLOTS)


def _ready_set(problem: PlanningProblem, result) -> set[int]:
    return {i for i, v in enumerate(result.vehicles) if v.ready}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_depots())
def test_no_plan_makes_more_vehicles_ready_level_by_level(problem):
    result = plan(problem)
    assert check_plan(problem, result) == []
    assert _vector(problem, _ready_set(problem, result)) >= best_possible(problem)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_depots())
def test_the_flow_selection_is_feasible_and_within_its_bound(problem):
    a = _arrays(problem)
    flow = select_ready(a, time.perf_counter() + 5, exact=False)
    exact = select_ready(a, time.perf_counter() + 5, exact=True)
    chosen = tuple(np.flatnonzero(flow.ready & (a.need > 0)).tolist())
    assert _all_ready_possible(problem, chosen)  # whatever it chose can really be made ready together
    best = best_possible(problem)
    exact_vec = _vector(problem, set(np.flatnonzero(exact.ready).tolist()))
    assert exact_vec == best  # the MIP is exact
    top = _levels(problem)[0]
    assert flow.bound[top] >= best[0] - 1e-6  # the LP relaxation bounds the top level from above


def test_exact_selection_keeps_the_count_of_a_level_not_its_set():
    # Either priority-2 vehicle can be the one ready (one fits); only the long-window one leaves room for
    # the three small priority-1 vehicles before 19:00. Fixing the first-found set gave 1 + 2, not 1 + 3.
    h = lambda x: START + timedelta(hours=x)  # noqa: E731
    vs = (VehicleNeed("V0", departure=h(7), energy_kwh=31.0, max_kw=11.0, priority=2),
          VehicleNeed("V1", departure=h(1), energy_kwh=2.0, max_kw=11.0),
          VehicleNeed("V2", departure=h(7), energy_kwh=35.0, max_kw=22.0, priority=2, arrival=h(5)),
          VehicleNeed("V3", departure=h(1), energy_kwh=2.0, max_kw=11.0),
          VehicleNeed("V4", departure=h(6), energy_kwh=2.0, max_kw=11.0, arrival=h(5)),
          VehicleNeed("V5", departure=h(1), energy_kwh=2.0, max_kw=11.0))
    p = PlanningProblem(start=START, vehicles=vs, site_limit_kw=(5.0, 5.0, 5.0, 5.0, 5.0, 14.0, 22.0, 5.0),
                        price_per_kwh=0.1, slot_minutes=SLOT_MINUTES, slots=SLOTS)
    assert best_possible(p) == (1, 3)
    exact = select_ready(_arrays(p), time.perf_counter() + 5, exact=True)
    assert _vector(p, set(np.flatnonzero(exact.ready).tolist())) == (1, 3)
    assert _vector(p, _ready_set(p, plan(p))) >= (1, 3)


def test_priority_before_count():
    # One priority-2 vehicle needs the whole site; two priority-1 vehicles could both be ready instead.
    leave = START + timedelta(hours=2)
    v = [VehicleNeed("P", departure=leave, energy_kwh=40.0, max_kw=50.0, priority=2),
         VehicleNeed("A", departure=leave, energy_kwh=20.0, max_kw=50.0),
         VehicleNeed("B", departure=leave, energy_kwh=20.0, max_kw=50.0)]
    p = PlanningProblem(start=START, vehicles=tuple(v), site_limit_kw=20.0, price_per_kwh=0.2,
                        slot_minutes=SLOT_MINUTES, slots=SLOTS)
    result = plan(p)
    ready = {x.id for x in result.vehicles if x.ready}
    assert ready == {"P"}


def test_count_before_spreading_the_shortfall():
    # 60 kWh for three vehicles that need 30 each: two ready, one short by all its need, not three short.
    vs = tuple(VehicleNeed(f"V{i}", departure=START + timedelta(hours=3), energy_kwh=30.0, max_kw=22.0)
               for i in range(3))
    p = PlanningProblem(start=START, vehicles=vs, site_limit_kw=20.0, price_per_kwh=0.2,
                        slot_minutes=SLOT_MINUTES, slots=SLOTS)
    result = plan(p)
    assert sum(v.ready for v in result.vehicles) == 2
    assert abs(result.energy_kwh - 60.0) < 1e-6  # and the one left out still gets what remains: none here


def test_the_same_inputs_give_the_same_plan():
    from depot.bench.synthetic import synthetic_depot

    p = synthetic_depot(200, site_fraction=0.1, seed=5)
    first, second = plan(p), plan(p)
    assert np.array_equal(first.power_matrix(), second.power_matrix())
    assert first.status == second.status and first.method == second.method


def test_the_planner_benchmark_compares_readiness_with_energy_first(capsys):
    from depot.bench import planner as bench

    code = bench.main(["--sizes", "40", "--repeats", "1", "--big", "0", "--fractions", "0.3", "--scarce", "0.3"])
    out = capsys.readouterr().out
    assert "site limit 30% of total demand (scarce)" in out and "site limit 30% of chargers" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("planner ", "energy-first"))}
    assert set(rows) == {"planner", "energy-first"}
    assert "PASS  vehicles ready >= energy-first" in out and "FAIL" not in out, out
    assert code == 0
