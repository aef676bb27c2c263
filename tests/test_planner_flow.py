"""The LP as a min-cost flow (depot.planning.flow) against HiGHS on the same LP: same optimum, never over a limit."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from depot.bench.synthetic import synthetic_depot
from depot.planning import lp
from depot.planning.arrays import _arrays, _weights
from depot.planning.flow import PEAK_GAP, WH_PER_KWH, solve_flow
from depot.planning.planner import PlanningProblem, VehicleNeed, check_plan, plan, relaxed_plan

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SLOTS = 24


def objective(a, w, x: np.ndarray) -> float:
    power = np.zeros((a.n_vehicles, a.n_slots))
    power[a.veh, a.slot] = x
    return lp._objective(a, w, power)


def assert_same_optimum(problem: PlanningProblem) -> None:
    a = _arrays(problem)
    w = _weights(a)
    if not len(a.veh):
        return
    flow = solve_flow(a, w, time.perf_counter() + 30.0)
    assert flow is not None and flow.status == "optimal"
    power = np.zeros((a.n_vehicles, a.n_slots))
    power[a.veh, a.slot] = flow.power
    # never above a vehicle's power, its need or the site limit
    assert (flow.power <= a.hi[a.veh] + 1e-9).all() and (flow.power >= 0).all()
    assert (power.sum(axis=1) * a.dt <= a.need + 1e-9).all()
    assert (power.sum(axis=0) <= a.limit + 1e-9).all()
    highs = lp._solve_highs(a, w, 30.0)
    assert highs.status == "optimal"
    ours, best = objective(a, w, flow.power), lp._objective(a, w, highs.power)
    # capacities are rounded down to flow units: at most one unit short per slot, at the shortfall weight
    rounding = float(w.shortfall.max()) * a.n_slots * 2.0 / WH_PER_KWH
    # the peak search stops within PEAK_GAP of the optimum
    assert ours == pytest.approx(best, rel=1.5 * PEAK_GAP, abs=1e-4 + rounding)


@st.composite
def vehicles(draw, i: int) -> VehicleNeed:
    first = draw(st.integers(-2, SLOTS - 2))
    length = draw(st.integers(1, SLOTS))
    minute = draw(st.sampled_from([0, 5, 15]))
    return VehicleNeed(
        id=f"V{i}",
        arrival=T0 + timedelta(minutes=15 * first + minute),
        departure=T0 + timedelta(minutes=15 * (first + length) + minute),
        energy_kwh=draw(st.floats(0.0, 60.0)),
        max_kw=draw(st.sampled_from([3.7, 11.04, 22.08, 50.0, 150.0])),
        priority=draw(st.integers(1, 3)),
    )


@st.composite
def problems(draw) -> PlanningProblem:
    n = draw(st.integers(1, 9))
    vs = tuple(draw(vehicles(i)) for i in range(n))
    limit = draw(st.one_of(st.floats(0.0, 120.0),
                           st.lists(st.floats(0.0, 120.0), min_size=SLOTS, max_size=SLOTS).map(tuple)))
    price = draw(st.lists(st.sampled_from([0.1, 0.2, 0.35]), min_size=SLOTS, max_size=SLOTS).map(tuple))
    demand = draw(st.sampled_from([None, 0.0, 0.05, 0.5, 3.0]))
    return PlanningProblem(T0, vs, limit, price, 15.0, SLOTS, demand)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_flow_reaches_the_lp_optimum(problem):
    assert_same_optimum(problem)


@pytest.mark.parametrize("n,fraction,demand", [
    (60, 0.3, 0.2), (60, 0.45, 0.2), (60, 0.45, 2.0), (60, 0.3, 5.0), (60, 0.3, None), (150, 0.2, 0.2),
])
def test_flow_reaches_the_lp_optimum_on_synthetic_depots(n, fraction, demand):
    assert_same_optimum(synthetic_depot(n, site_fraction=fraction, seed=3, demand_charge_per_kw=demand))


@pytest.mark.parametrize("demand", [None, 0.0])
def test_without_a_demand_charge_plans_are_valid_and_reach_the_bound(demand):
    problem = synthetic_depot(300, site_fraction=0.25, seed=5, demand_charge_per_kw=demand)
    result = plan(problem)
    assert check_plan(problem, result) == []
    bound = relaxed_plan(problem)
    assert result.energy_kwh >= 0.995 * bound.energy_kwh
    assert result.energy_cost <= 1.01 * bound.energy_cost * result.energy_kwh / bound.energy_kwh + 1e-6


def test_a_per_vehicle_tie_break_is_left_to_highs():
    a = _arrays(synthetic_depot(20, seed=1))
    w = _weights(a)
    w = type(w)(w.shortfall, w.price, w.demand, w.span, np.linspace(0.5, 1.0, a.n_vehicles))
    assert solve_flow(a, w, time.perf_counter() + 5.0) is None
