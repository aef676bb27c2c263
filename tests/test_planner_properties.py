"""Property tests: on random small depots every plan passes the independent checker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from depot.planning.baselines import earliest_deadline_first, least_laxity_first
from depot.planning.planner import (
    PlanningProblem,
    VehicleNeed,
    ac_min_kw,
    check_plan,
    is_ready,
    plan,
    relaxed_plan,
)

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SLOTS = 24


@st.composite
def vehicles(draw, i: int) -> VehicleNeed:
    first = draw(st.integers(-2, SLOTS - 2))
    length = draw(st.integers(1, SLOTS))
    ac = draw(st.booleans())
    phases = draw(st.sampled_from([1, 3])) if ac else None
    max_kw = draw(st.sampled_from([3.7, 7.4, 11.04, 22.08])) if ac else draw(st.floats(5.0, 150.0))
    minute = draw(st.sampled_from([0, 5, 15]))
    return VehicleNeed(
        id=f"V{i}",
        arrival=T0 + timedelta(minutes=15 * first + minute),
        departure=T0 + timedelta(minutes=15 * (first + length) + minute),
        energy_kwh=draw(st.floats(0.0, 60.0)),
        max_kw=max_kw,
        min_kw=ac_min_kw(phases) if ac else draw(st.sampled_from([0.0, 2.0])),
        priority=draw(st.integers(1, 3)),
        phases=phases,
    )


@st.composite
def problems(draw) -> PlanningProblem:
    n = draw(st.integers(0, 7))
    vs = tuple(draw(vehicles(i)) for i in range(n))
    limit = draw(st.one_of(st.floats(0.0, 120.0),
                           st.lists(st.floats(0.0, 120.0), min_size=SLOTS, max_size=SLOTS).map(tuple)))
    price = draw(st.lists(st.sampled_from([0.1, 0.2, 0.35]), min_size=SLOTS, max_size=SLOTS).map(tuple))
    demand = draw(st.sampled_from([None, 0.0, 0.5]))
    return PlanningProblem(T0, vs, limit, price, 15.0, SLOTS, demand)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.sampled_from([None, False]))
def test_every_plan_passes_the_checker(problem, exact):
    result = plan(problem, time_limit_s=5.0, exact=exact)
    assert check_plan(problem, result) == []
    bound = relaxed_plan(problem)
    assert result.energy_kwh <= bound.energy_kwh + 1e-6
    for need, v in zip(problem.vehicles, result.vehicles, strict=True):
        assert v.energy_kwh <= need.energy_kwh + 1e-6
        assert v.ready == is_ready(v.shortfall_kwh)


@settings(max_examples=25, deadline=None)
@given(problems())
def test_heuristics_pass_the_checker(problem):
    for heuristic in (earliest_deadline_first, least_laxity_first):
        assert check_plan(problem, heuristic(problem)) == []


@settings(max_examples=25, deadline=None)
@given(problems())
def test_top_priority_never_worse_than_alone_on_site(problem):
    """Vehicles of the highest priority get at least what they would get if they were the only ones
    (up to whole-amp and minimum-power crumbs, a loose bound): lower priorities never take their capacity."""
    if not problem.vehicles:
        return
    top = max(v.priority for v in problem.vehicles)
    alone = PlanningProblem(problem.start, tuple(v for v in problem.vehicles if v.priority == top),
                            problem.site_limit_kw, problem.price_per_kwh, problem.slot_minutes, problem.slots,
                            problem.demand_charge_per_kw)
    together = {v.id: v.energy_kwh for v in plan(problem, exact=False).vehicles}
    solo = sum(v.energy_kwh for v in relaxed_plan(alone).vehicles)
    crumbs = sum((max(v.step_kw or 0.0, v.power_range()[0])) * problem.slot_hours * problem.slots
                 for v in alone.vehicles)
    # the flow solver rounds capacities down to 0.01 Wh per arc: allow 1 Wh of such dust over a whole plan
    assert sum(together[v.id] for v in alone.vehicles) >= solo - crumbs - 1e-3
