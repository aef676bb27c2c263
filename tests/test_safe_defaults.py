"""Issue 12 §2, the pure rules: an unset grid connection is no cap (never 0 A), and a session nobody scheduled
charges now on the headroom the planned ones leave, never on their planned power; a site default departure
plans it instead. The live runtime over OCPP: tests/test_safe_defaults_live.py; the pages: test_site_page.py."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depot.control.allocation import ConnectorState, allocate, quantize
from depot.control.decision import PlanTable, Session, connector_rows, decide
from depot.control.sitelimit import (
    UNSET_TEXT,
    Reading,
    SiteLimit,
    check_site,
    describe_site,
    limit_moved,
    parse_default_departure,
    site_limit,
    worst_case_kw,
)
from depot.errors import ValidationError
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
from depot.planning.snapshot import DepotSnapshot, LiveSession, build_problem

NOW = datetime(2026, 11, 20, 18, 7, tzinfo=UTC)
FRESH = NOW - timedelta(seconds=10)
STALE = timedelta(seconds=120)


def ac(cid, planned, *, scheduled=True, measured=None, at=FRESH, limit=None, priority=1, max_kw=22.0):
    return ConnectorState(cid, 1, CurrentType.AC, 3, max_kw, planned, measured, at, priority, None, limit,
                          scheduled=scheduled)


def dc(cid, planned, *, scheduled=True, measured=None, at=FRESH, limit=None, priority=1, max_kw=150.0):
    return ConnectorState(cid, 1, CurrentType.DC, 3, max_kw, planned, measured, at, priority, None, limit,
                          scheduled=scheduled)


def by_id(allocs):
    return {a.charger_id: a for a in allocs}


# ---------------------------------------------------------------- an unset grid connection is no cap


def test_an_unset_grid_connection_is_no_cap_not_zero():
    for reading, source in ((None, False), (Reading(NOW, 80.0, 5.0), True), (None, True)):
        lim = site_limit(0.0, 0.0, reading, now=NOW, stale_after=STALE, building_max_kw=0.0, has_source=source)
        assert lim.unset and math.isinf(lim.limit_kw) and lim.capped_kw is None and not lim.stale
    assert worst_case_kw(0.0, 0.0, 0.0) == math.inf  # the fail-safe TxDefaultProfile: the charger's own maximum
    assert worst_case_kw(100.0, 10.0, 30.0) == 60.0
    measured = site_limit(100.0, 0.0, None, now=NOW, stale_after=STALE, building_max_kw=0.0, has_source=False)
    assert not measured.unset and measured.capped_kw == 100.0
    unset = site_limit(0.0, 0.0, None, now=NOW, stale_after=STALE, building_max_kw=0.0)
    # set or unset is always a change worth a pass and a re-plan at once; unset stays unset is none
    assert limit_moved(unset, measured) and limit_moved(measured, unset) and not limit_moved(unset, unset)
    assert not limit_moved(measured, SiteLimit(100.5, 0.0, 0.0, False, "measured"))


def test_without_a_site_limit_every_connector_gets_its_maximum_never_zero():
    states = [ac("AC", 0.0, measured=None, at=None), dc("DC", 0.0), dc("NEW", 0.0, scheduled=False),
              ac("PLANNED", 11.0, measured=3.0, limit=11.0)]
    a = by_id(allocate(states, math.inf, now=NOW))
    assert a["AC"].limit_a == 31.0 and a["AC"].limit_kw == pytest.approx(21.39)  # 22 kW in whole amps
    assert a["DC"].limit_kw == a["NEW"].limit_kw == 150.0
    assert a["PLANNED"].limit_a == 31.0  # stale, planned low or drawing little: no cap means no cap
    assert all(x.limit_kw > 0 and "no site limit" in x.reason for x in a.values())


def test_the_decide_step_without_a_site_limit_sends_flat_full_power_profiles():
    """A plan that parks a vehicle in cheap hours must not turn into later 0 A periods when nothing caps it."""
    ch = Charger("AC-1", 22.0, CurrentType.AC, 3)
    table = PlanTable(NOW.replace(minute=0), 15.0, {"V1": ([0.0, 0.0, 11.0, 11.0], 1, None)})
    session = Session(("AC-1", 1), ch, 1, None, "V1", ConnectorStatus.SUSPENDED_EVSE, None, FRESH)
    every, rows = connector_rows([session], table, commanded={}, defaults={}, sent={}, now=NOW)
    d = decide(every, rows, set(), math.inf, table=table, share_kw=math.inf, now=NOW, stale_after=STALE)
    (target,) = d.target
    entry = d.entries[("AC-1", 1)]
    assert target.limit_a == 31.0 and entry.planned is None and entry.fallback_kw == pytest.approx(21.39)


# ---------------------------------------------------------------- unscheduled sessions charge on the headroom


def test_an_unscheduled_session_gets_the_headroom_the_planned_ones_leave():
    states = [dc("BUS", 60.0, measured=60.0, limit=60.0), ac("VAN", 22.0, measured=21.0, limit=21.39),
              dc("GUEST", 0.0, scheduled=False)]
    a = by_id(allocate(states, 100.0, now=NOW))
    assert a["BUS"].limit_kw == 60.0 and a["VAN"].limit_a == 31.0  # their planned power is theirs
    assert a["GUEST"].limit_kw == pytest.approx(100.0 - 60.0 - 21.39, abs=0.1) and "headroom" in a["GUEST"].reason
    assert sum(x.limit_kw for x in a.values()) <= 100.0
    # a full site leaves nothing: the scheduled ones keep their plan, the guest waits
    full = by_id(allocate(states, 60.0 + 21.39, now=NOW))
    assert full["BUS"].limit_kw == 60.0 and full["GUEST"].limit_kw == 0.0 and "no headroom" in full["GUEST"].reason


def test_unscheduled_sessions_share_equally_and_an_ac_share_never_falls_below_6_a():
    two = by_id(allocate([dc("A", 0.0, scheduled=False), dc("B", 0.0, scheduled=False)], 50.0, now=NOW))
    assert two["A"].limit_kw == two["B"].limit_kw == 25.0
    # 6 kW of headroom for two AC guests: 3 kW each would be 4 A, which charges nothing; one gets 8 A
    a = by_id(allocate([ac("X", 0.0, scheduled=False), ac("Y", 0.0, scheduled=False)], 6.0, now=NOW))
    assert sorted(x.limit_a for x in a.values()) == [0.0, 8.0]
    # one drawing little (full) under its own limit keeps what it draws plus headroom; the other gets the rest
    under_ours = FRESH - timedelta(seconds=30)
    full = replace(dc("FULL", 0.0, scheduled=False, measured=2.0, limit=25.0), limit_since=under_ours)
    hungry = replace(dc("HUNGRY", 0.0, scheduled=False, measured=25.0, limit=25.0), limit_since=under_ours)
    b = by_id(allocate([full, hungry], 50.0, now=NOW))
    assert b["FULL"].limit_kw == pytest.approx(3.5) and b["HUNGRY"].limit_kw == pytest.approx(46.5)
    # a session just begun reads 0 W under the charger's default: that says nothing, it gets its share
    begun = dc("BEGUN", 0.0, scheduled=False, measured=0.0, limit=50.0)
    assert allocate([begun], 50.0, now=NOW)[0].limit_kw == 50.0
    stale = by_id(allocate([ac("S", 0.0, scheduled=False, at=NOW - timedelta(minutes=10))], 50.0, now=NOW))
    assert stale["S"].limit_a == 6.0 and "stale" in stale["S"].reason


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([CurrentType.AC, CurrentType.DC]), st.floats(0, 150),
                          st.one_of(st.none(), st.floats(0, 150)), st.integers(1, 3), st.booleans(), st.booleans()),
                min_size=1, max_size=10),
       st.floats(0, 500))
def test_unscheduled_sessions_never_take_the_scheduled_ones_planned_power(rows, limit):
    states = []
    for i, (kind, planned, measured, prio, stale, scheduled) in enumerate(rows):
        max_kw = 22.0 if kind == CurrentType.AC else 150.0
        states.append(ConnectorState(f"C{i}", 1, kind, 3, max_kw, min(planned, max_kw) if scheduled else 0.0,
                                     measured, NOW - timedelta(minutes=10) if stale else FRESH, prio,
                                     limit_kw=measured and min(max_kw, measured * 1.5), scheduled=scheduled))
    with_guests = {a.key: a for a in allocate(states, limit, now=NOW)}
    alone = {a.key: a for a in allocate([s for s in states if s.scheduled], limit, now=NOW)}
    assert sum(a.limit_kw for a in with_guests.values()) <= limit + 1e-6
    for s in states:
        got = with_guests[s.key].limit_kw
        assert got <= s.max_kw + 1e-9
        if s.scheduled:  # what it would have had alone, as far as its plan goes (only the extra is shared)
            planned = max(s.planned_kw, s.floor_kw) if s.planned_kw > 0 else 0.0
            assert got >= min(alone[s.key].limit_kw, quantize(s, planned)[0]) - 1e-9


def test_an_unscheduled_profile_steps_down_where_the_plan_steps_up():
    """At the next slot boundary the planned vehicle steps up by itself (its TxProfile says so): the guest's
    profile must already step down there, so the chargers keep the site limit even before the next pass."""
    bus = Charger("DC-1", 150.0, CurrentType.DC)
    guest = Charger("DC-2", 150.0, CurrentType.DC)
    start = NOW.replace(minute=0)
    table = PlanTable(start, 15.0, {"BUS": ([20.0, 90.0, 100.0, 0.0], 1, None)})
    sessions = [Session(("DC-1", 1), bus, 1, None, "BUS", ConnectorStatus.CHARGING, 20.0, FRESH),
                Session(("DC-2", 1), guest, 2, None, "DC-2/1", ConnectorStatus.PREPARING, None, FRESH)]
    every, rows = connector_rows(sessions, table, commanded={}, defaults={}, sent={}, now=NOW)
    d = decide(every, rows, set(), 100.0, table=table, share_kw=50.0, now=NOW, stale_after=STALE)
    limits = {a.charger_id: a.limit_kw for a in d.target}
    assert limits == {"DC-1": 20.0, "DC-2": 80.0}
    ahead = d.entries[("DC-2", 1)].planned
    assert ahead == [80.0, 10.0, 0.0, 80.0]
    bus_ahead = d.entries[("DC-1", 1)].planned
    assert all(b + g <= 100.0 + 1e-9 for b, g in zip(bus_ahead, ahead, strict=True))


# ---------------------------------------------------------------- what the planner is asked


AC = Charger("AC-1", 22.0, CurrentType.AC, 3)
DC = Charger("DC-1", 150.0, CurrentType.DC)
BUS = Vehicle("BUS-1", "Bus 1", 300.0, max_ac_kw=22.0, max_dc_kw=120.0)
VAN = Vehicle("VAN-1", "Van 1", 80.0, max_ac_kw=11.0)


def snap(sessions, departures, *, grid=200.0, default_departure=None):
    views = (ChargerView(AC, True, (ConnectorView(1, ConnectorStatus.CHARGING, transaction_id=1),)),
             ChargerView(DC, True, (ConnectorView(1, ConnectorStatus.CHARGING, transaction_id=2),)))
    return DepotSnapshot(Site("Depot", grid, 10.0 if grid else 0.0, default_departure), views, tuple(sessions),
                         {v.id: v for v in (BUS, VAN)}, tuple(departures))


def live(ch, tx_id, vehicle_id, soc=40.0):
    tx = Transaction(tx_id, ch.id, 1, "TAG", NOW - timedelta(hours=1), 0.0, vehicle_id=vehicle_id)
    return LiveSession(tx, ch, ConnectorStatus.CHARGING, True, soc, 0.0)


def test_vehicles_without_a_departure_are_not_parked_in_cheap_hours():
    sessions = [live(DC, 2, "BUS-1"), live(AC, 1, None)]  # no departure entered, and an unknown id tag
    problem, planned = build_problem(snap(sessions, []), now=NOW)
    assert problem.vehicles == () and planned == []  # the enforcer gives them the headroom now
    deps = [Departure("BUS-1", NOW + timedelta(hours=10), target_soc=90.0)]
    problem, planned = build_problem(snap(sessions, deps), now=NOW)
    assert [v.id for v in problem.vehicles] == ["BUS-1"]  # the scheduled one is planned, the unknown tag is not


def test_a_site_default_departure_plans_them_as_if_they_leave_then():
    sessions = [live(DC, 2, "BUS-1"), live(AC, 1, None)]
    problem, planned = build_problem(snap(sessions, [], default_departure=time(5, 30)), now=NOW)
    leave = datetime(2026, 11, 21, 5, 30, tzinfo=UTC)
    assert [(v.id, v.departure) for v in problem.vehicles] == [("BUS-1", leave), ("AC-1/1", leave)]
    assert all("the site's default departure" in " ".join(p.notes) for p in planned)
    assert problem.vehicles[0].energy_kwh == pytest.approx(180.0)  # 40 % → 100 % of 300 kWh
    result = plan(problem, time_limit_s=5)
    assert check_plan(problem, result) == [] and result.shortfall_kwh == pytest.approx(0.0, abs=0.5)


def test_without_a_grid_connection_the_planner_is_not_capped_at_zero():
    deps = [Departure("BUS-1", NOW + timedelta(hours=10), target_soc=90.0),
            Departure("VAN-1", NOW + timedelta(hours=3), energy_kwh=30.0)]
    problem, _ = build_problem(snap([live(DC, 2, "BUS-1"), live(AC, 1, "VAN-1")], deps, grid=0.0), now=NOW)
    assert set(problem.site_limit_kw) == {172.0}  # every charger at full power: a cap that never binds
    result = plan(problem, time_limit_s=5)
    assert check_plan(problem, result) == [] and result.shortfall_kwh == pytest.approx(0.0, abs=0.5)


# ---------------------------------------------------------------- the settings and their words


def test_site_settings_are_validated_like_the_command():
    check_site(100.0, 5.0)
    for grid, margin, field in ((100.0, 100.0, "margin_kw"), (100.0, -1.0, "margin_kw"), (-5.0, 0.0, "grid_kw"),
                                (0.0, 0.0, "margin_kw"), (math.nan, 0.0, "grid_kw")):
        with pytest.raises(ValidationError) as err:
            check_site(grid, margin)
        assert err.value.field == field
    assert parse_default_departure("06:00") == time(6, 0) and parse_default_departure(" 05:30 ") == time(5, 30)
    assert parse_default_departure("") is None and parse_default_departure("none") is None
    with pytest.raises(ValidationError, match="not a time of day"):
        parse_default_departure("25:00")


def test_the_words_of_an_unset_site():
    assert describe_site(Site("Depot", 0.0)) == ["site Depot: grid 0 kW, margin 0 kW  (not set)", UNSET_TEXT]
    assert describe_site(Site("North", 400.0, 20.0)) == ["site North: grid 400 kW, margin 20 kW"]
    assert describe_site(Site("North", 400.0, 20.0, time(6, 0)))[1].startswith("default departure: 06:00 UTC")
    assert "`depot site set --grid-kw KW`" in UNSET_TEXT and "Power page" in UNSET_TEXT
