"""From a depot snapshot to a planning problem, and from a plan to the dispatcher's readiness badges."""

from datetime import UTC, datetime, time, timedelta

import pytest

from depot.model import (
    Charger,
    ChargerView,
    ConnectorStatus,
    ConnectorView,
    CurrentType,
    Site,
    Transaction,
    Vehicle,
)
from depot.planning.departures import Departure
from depot.planning.planner import check_plan, plan
from depot.planning.snapshot import (
    DepotSnapshot,
    LiveSession,
    build_problem,
    default_departure,
    default_prices,
    readiness,
    slot_start,
)

NOW = datetime(2026, 11, 20, 18, 7, tzinfo=UTC)
AC = Charger("AC-1", 22.0, CurrentType.AC, 3)
DC = Charger("DC-1", 150.0, CurrentType.DC)
BUS = Vehicle("BUS-1", "Bus 1", 300.0, max_ac_kw=22.0, max_dc_kw=120.0)
VAN = Vehicle("VAN-1", "Van 1", 80.0, max_ac_kw=11.0)
LATE = Vehicle("BUS-2", "Bus 2", 300.0, max_dc_kw=150.0)


def view(ch, status=ConnectorStatus.CHARGING, tx_id=None, online=True):
    return ChargerView(ch, online, (ConnectorView(1, status, transaction_id=tx_id),))


def session(ch, tx_id, vehicle_id, soc=None, kwh=0.0, status=ConnectorStatus.CHARGING, online=True):
    tx = Transaction(tx_id, ch.id, 1, "TAG", NOW - timedelta(hours=1), 0.0, vehicle_id=vehicle_id)
    return LiveSession(tx, ch, status, online, soc, kwh)


def snap(sessions, departures, chargers=None, grid=200.0, default_departure=None):
    chargers = chargers or (view(AC, tx_id=1), view(DC, tx_id=2))
    return DepotSnapshot(Site("Depot", grid, 10.0, default_departure), tuple(chargers), tuple(sessions),
                         {v.id: v for v in (BUS, VAN, LATE)}, tuple(departures))


def test_plugged_in_and_expected_vehicles_are_planned_jointly():
    deps = [Departure("BUS-1", NOW + timedelta(hours=10), target_soc=90.0),
            Departure("BUS-2", NOW + timedelta(hours=11), NOW + timedelta(hours=3), energy_kwh=200.0, priority=2)]
    problem, planned = build_problem(snap([session(DC, 2, "BUS-1", soc=40.0)], deps,
                                          chargers=(view(AC, ConnectorStatus.AVAILABLE), view(DC, tx_id=2))), now=NOW)
    assert problem.start == datetime(2026, 11, 20, 18, 0, tzinfo=UTC) == slot_start(NOW)
    assert problem.site_limit_kw == tuple([190.0] * 96)  # grid − safety margin
    bus, late = problem.vehicles
    assert (bus.id, bus.energy_kwh, bus.max_kw, bus.arrival) == ("BUS-1", pytest.approx(150.0), 120.0, None)
    assert (late.id, late.energy_kwh, late.arrival, late.priority) == ("BUS-2", 200.0, NOW + timedelta(hours=3), 2)
    assert late.phases == 3 and late.min_kw == pytest.approx(4.14)  # the free charger is AC: whole amps, 6 A floor
    assert [p.plugged_in for p in planned] == [True, False]


def test_energy_given_counts_what_the_session_delivered_already():
    deps = [Departure("VAN-1", NOW + timedelta(hours=8), energy_kwh=50.0)]
    problem, _ = build_problem(snap([session(AC, 1, "VAN-1", kwh=20.0)], deps), now=NOW)
    (van,) = problem.vehicles
    assert van.energy_kwh == pytest.approx(30.0) and van.max_kw == 11.0 and van.min_kw == pytest.approx(4.14)


def test_defaults_are_flagged_and_offline_or_faulted_sessions_are_not_planned():
    sessions = [session(AC, 1, None), session(DC, 2, "BUS-1", status=ConnectorStatus.FAULTED)]
    # the site's default departure (issue 12 §2; without it such a session is not planned: tests/test_safe_defaults.py)
    problem, planned = build_problem(snap(sessions, [], default_departure=time(6, 0)), now=NOW)
    (unknown,) = planned
    assert unknown.key == "AC-1/1"
    assert sorted(n.split(":")[0] for n in unknown.notes) == ["id tag TAG names no vehicle", "no departure entered"]
    assert problem.vehicles[0].departure == default_departure(NOW) == datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    offline = [session(DC, 2, "BUS-1", online=False)]
    assert build_problem(snap(offline, []), now=NOW)[0].vehicles == ()


def test_time_of_use_prices_have_a_dear_evening_and_cheap_night():
    prices = default_prices(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    assert len(prices) == 96 and prices[0] == 0.22 and prices[4 * 5] == 0.34 and prices[4 * 12] == 0.12


def test_readiness_badges_from_a_real_plan():
    deps = [Departure("BUS-1", NOW + timedelta(hours=10), energy_kwh=150.0),
            Departure("VAN-1", NOW + timedelta(hours=1), energy_kwh=40.0)]  # 11 kW for ~1 h: cannot make it
    problem, planned = build_problem(snap([session(DC, 2, "BUS-1", soc=50.0), session(AC, 1, "VAN-1", soc=10.0)],
                                          deps), now=NOW)
    result = plan(problem, time_limit_s=5)
    assert check_plan(problem, result) == []
    badges = {r.key: r for r in readiness(planned, problem, result)}
    assert badges["BUS-1"].badge == "ready" and badges["BUS-1"].soc_at_departure == pytest.approx(100.0)
    assert badges["VAN-1"].badge == "will miss" and badges["VAN-1"].shortfall_kwh > 25
    assert badges["VAN-1"].text.startswith("will miss by")


def test_tight_window_is_at_risk():
    deps = [Departure("BUS-1", NOW + timedelta(hours=2), energy_kwh=190.0)]  # 120 kW needs 1 h 35 of ~1 h 53
    problem, planned = build_problem(snap([session(DC, 2, "BUS-1", soc=20.0)], deps), now=NOW)
    result = plan(problem, time_limit_s=5)
    (r,) = readiness(planned, problem, result)
    assert r.badge == "at risk" and "to spare" in r.text
