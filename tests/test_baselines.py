"""Baselines: same Plan type, the site limit respected (except uncontrolled), the LP bound on top."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from depot.bench.synthetic import synthetic_depot
from depot.planning.baselines import earliest_deadline_first, least_laxity_first, lp_bound, uncontrolled
from depot.planning.planner import PlanningProblem, VehicleNeed, ViolationKind, check_plan, plan

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture(scope="module")
def depot() -> PlanningProblem:
    return synthetic_depot(30, site_fraction=0.2, seed=7)


def test_uncontrolled_charges_at_full_power_from_arrival_and_ignores_the_limit(depot):
    result = uncontrolled(depot)
    kinds = {v.kind for v in check_plan(depot, result)}
    assert kinds == {ViolationKind.SITE_LIMIT}
    first, _ = depot.window(depot.vehicles[0])
    assert result.vehicles[0].power_kw[first] == pytest.approx(depot.vehicles[0].power_range()[1])


@pytest.mark.parametrize("heuristic", [earliest_deadline_first, least_laxity_first])
def test_heuristics_respect_every_constraint(depot, heuristic):
    result = heuristic(depot)
    assert check_plan(depot, result) == []
    assert result.method in ("edf", "llf")


def test_lp_bound_is_the_most_energy_and_the_least_cost(depot):
    bound = lp_bound(depot)
    assert bound.method == "lp-relaxation"
    ours = plan(depot)
    for other in (ours, earliest_deadline_first(depot), least_laxity_first(depot)):
        assert other.energy_kwh <= bound.energy_kwh + 1e-6
    assert ours.energy_kwh >= 0.995 * bound.energy_kwh
    ours_cost = ours.energy_cost + (ours.demand_cost or 0)
    assert ours_cost <= 1.01 * (bound.energy_cost + (bound.demand_cost or 0))
    violations = {v.kind for v in check_plan(depot, bound)}
    assert violations <= {ViolationKind.MIN_POWER, ViolationKind.WHOLE_AMPS}  # continuous, no rounding


def test_edf_serves_the_earliest_departure_first_and_priority_before_that():
    vs = (VehicleNeed("LATE", at(6), 20.0, 40.0), VehicleNeed("EARLY", at(2), 20.0, 40.0),
          VehicleNeed("VIP", at(8), 20.0, 40.0, priority=2))
    p = PlanningProblem(T0, vs, 40.0, 0.2, 15.0, 32)
    m = earliest_deadline_first(p).power_matrix()
    assert m[2, :2].sum() == pytest.approx(80.0)  # VIP first: 2 slots at 40 kW
    assert m[1, 2:4].sum() == pytest.approx(80.0)  # then EARLY
    assert m[0, 4:6].sum() == pytest.approx(80.0)


def test_llf_serves_the_least_slack_first():
    # Same departure; B needs more hours at its power, so it has less slack and goes first.
    vs = (VehicleNeed("A", at(4), 10.0, 40.0), VehicleNeed("B", at(4), 30.0, 20.0))
    p = PlanningProblem(T0, vs, 20.0, 0.2, 15.0, 16)
    m = least_laxity_first(p).power_matrix()
    assert m[1, 0] == pytest.approx(20.0) and m[0, 0] == 0.0
    assert check_plan(p, least_laxity_first(p)) == []
