"""The planner's input is validated and repaired before solving (depot/planning/validate.py): whatever the
store holds after a restart, a problem can be built and solved, and every repair names its vehicle or charger."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from depot.planning.planner import plan
from depot.planning.snapshot import DepotSnapshot, LiveSession, build_problem
from depot.planning.validate import repair_snapshot

NOW = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
MORNING = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
AC = Charger("CP-A", 22.0)
DC = Charger("CP-B", 50.0, CurrentType.DC)
EV1 = Vehicle("EV-1", "Van 1", 75.0)
EV2 = Vehicle("EV-2", "Van 2", 60.0)


def tx(n: int, charger: Charger, vehicle: str | None, *, started: datetime, connector: int = 1) -> Transaction:
    return Transaction(n, charger.id, connector, f"TAG-{vehicle}", started, 0.0, vehicle_id=vehicle)


def session(t: Transaction, charger: Charger, *, status=ConnectorStatus.CHARGING, online=True, soc=40.0,
            kwh=2.0) -> LiveSession:
    return LiveSession(t, charger, status, online, soc, kwh)


def view(charger: Charger, *sessions: LiveSession, online: bool = True) -> ChargerView:
    conns = tuple(ConnectorView(s.transaction.connector_id, s.status, vehicle_id=s.transaction.vehicle_id,
                                transaction_id=s.transaction.id) for s in sessions) or (
        ConnectorView(1, ConnectorStatus.AVAILABLE),)
    return ChargerView(charger, online, conns)


def snap(sessions, chargers=(AC, DC), vehicles=(EV1, EV2), departures=None, **kw) -> DepotSnapshot:
    departures = departures if departures is not None else tuple(Departure(v.id, MORNING, target_soc=90.0)
                                                                 for v in vehicles)
    return DepotSnapshot(Site("Depot", 200.0), tuple(view(c, *[s for s in sessions if s.charger.id == c.id])
                                                      for c in chargers),
                         tuple(sessions), {v.id: v for v in vehicles}, tuple(departures), **kw)


def test_a_vehicle_on_two_connectors_is_planned_once_on_its_newest_session():
    """The restart of issue 12: EV-1's stale session on CP-A and its new one on CP-B reached the problem
    builder as two needs with one id ("vehicle ids must be unique")."""
    stale = session(tx(1, AC, "EV-1", started=NOW - timedelta(hours=9)), AC)
    fresh = session(tx(2, DC, "EV-1", started=NOW - timedelta(minutes=5)), DC)
    s = snap([stale, fresh])
    fixed, repairs = repair_snapshot(s)
    assert [x.transaction.id for x in fixed.sessions] == [2]
    assert [(r.kind, r.subject) for r in repairs] == [("duplicate vehicle", "EV-1")]
    assert repairs[0].text == ("vehicle EV-1 has open sessions on CP-B/1 and CP-A/1: planned on CP-B/1 (the newest), "
                               "session 1 on CP-A/1 dropped")
    problem, planned = build_problem(s, now=NOW)  # the builder repairs on its own too: it no longer raises
    assert [v.id for v in problem.vehicles] == ["EV-1"] and planned[0].charger_id == "CP-B"
    assert plan(problem, time_limit_s=5).vehicles[0].energy_kwh > 0


def test_sessions_that_cannot_be_steered_are_left_out_with_a_reason():
    gone = Charger("CP-GONE", 22.0)
    s = snap([session(tx(1, gone, "EV-1", started=NOW), gone),
              session(tx(2, AC, "EV-2", started=NOW), AC, status=ConnectorStatus.AVAILABLE),
              session(tx(3, DC, None, started=NOW), DC, online=False),
              session(tx(4, AC, None, started=NOW, connector=2), AC),
              session(tx(5, AC, None, started=NOW - timedelta(hours=1), connector=2), AC)])
    fixed, repairs = repair_snapshot(s)
    assert [x.transaction.id for x in fixed.sessions] == [4]
    assert {(r.kind, r.subject) for r in repairs} == {
        ("unknown charger", "CP-GONE"), ("idle connector", "CP-A"), ("offline charger", "CP-B"),
        ("two sessions on a connector", "CP-A")}
    texts = " | ".join(r.text for r in repairs)
    assert "session 2 of EV-2 on CP-A/1 not planned: the connector reports Available" in texts
    assert "session 3 of id tag TAG-None on CP-B/1 not planned: charger CP-B is offline" in texts
    assert "session 5 of id tag TAG-None on CP-A/2 dropped: a newer session is open on that connector" in texts


def test_departures_before_arrival_and_negative_needs_are_repaired():
    deps = (Departure("EV-1", MORNING, arrival=MORNING + timedelta(hours=1), target_soc=90.0),
            Departure("EV-2", MORNING, arrival=NOW + timedelta(hours=1), energy_kwh=-5.0, arrival_soc=140.0,
                      priority=0))
    fixed, repairs = repair_snapshot(snap([], departures=deps))
    assert [(d.vehicle_id, d.energy_kwh, d.arrival_soc, d.priority) for d in fixed.departures] == [
        ("EV-2", 0.0, 100.0, 1)]
    assert [r.kind for r in repairs] == ["departure before arrival", "negative need", "SoC out of range", "priority"]
    assert repairs[0].text == ("vehicle EV-1: departure 2026-11-22 06:00 is not after its arrival 2026-11-22 07:00 "
                               "UTC: this departure is ignored")
    problem, _ = build_problem(snap([], departures=deps), now=NOW)
    assert [(v.id, v.energy_kwh) for v in problem.vehicles] == [("EV-2", 0.0)]


def test_broken_numbers_never_reach_the_planner():
    flat = Vehicle("EV-1", "Flat", 0.0)  # no capacity: 1 / 0 in the SoC arithmetic before
    no_dc = Vehicle("EV-2", "No DC", 60.0, max_dc_kw=0.0)  # max_kw 0: VehicleNeed refused it before
    odd = Charger("CP-A", 22.0, phases=5)
    dead = Charger("CP-Z", 0.0)
    sessions = [session(tx(1, odd, "EV-1", started=NOW), odd, soc=140.0, kwh=-3.0),
                session(tx(2, DC, "EV-2", started=NOW), DC, soc=math.nan),
                session(tx(3, dead, None, started=NOW), dead)]
    s = snap(sessions, chargers=(odd, DC, dead), vehicles=(flat, no_dc), prices=(0.2,) * 3,
             building_kw=(5.0, math.nan) + (3.0,) * 94)
    fixed, repairs = repair_snapshot(s)
    kinds = [r.kind for r in repairs]
    for kind in ("charger without power", "charger phases", "vehicle battery", "vehicle power", "unknown charger",
                 "SoC out of range", "negative need", "price forecast", "building forecast"):
        assert kind in kinds, kind
    assert fixed.prices is None and fixed.building_kw[1] == 5.0 and len(fixed.building_kw) == 96
    problem, planned = build_problem(replace(s, site=Site("Depot", 200.0, default_departure=time(6, 0))), now=NOW)
    assert {v.id for v in problem.vehicles} == {"CP-A/1", "EV-2"}  # EV-1 without capacity: an unknown vehicle
    assert all(v.max_kw > 0 and v.energy_kwh >= 0 for v in problem.vehicles)
    assert plan(problem, time_limit_s=5).status


def test_a_consistent_snapshot_is_left_alone():
    s = snap([session(tx(1, AC, "EV-1", started=NOW), AC), session(tx(2, DC, "EV-2", started=NOW), DC)])
    fixed, repairs = repair_snapshot(s)
    assert fixed is s and repairs == ()


_chargers = st.sampled_from([AC, DC, Charger("CP-C", 11.0, phases=1), Charger("CP-X", 0.0), Charger("CP-Y", 7.0,
                                                                                                   phases=4)])
_numbers = st.one_of(st.floats(-50, 150), st.just(math.nan), st.none())


@st.composite
def messy_snapshots(draw):
    sessions = []
    for n in range(draw(st.integers(0, 6))):
        ch = draw(_chargers)
        started = NOW - timedelta(minutes=draw(st.integers(0, 600)))
        t = tx(n + 1, ch, draw(st.sampled_from(["EV-1", "EV-2", None])), started=started,
               connector=draw(st.integers(1, 2)))
        sessions.append(LiveSession(t, ch, draw(st.sampled_from(list(ConnectorStatus))), draw(st.booleans()),
                                    draw(_numbers), draw(st.floats(-10, 80) | st.just(math.nan))))
    deps = []
    for vid in draw(st.lists(st.sampled_from(["EV-1", "EV-2"]), max_size=3)):
        dep = NOW + timedelta(hours=draw(st.integers(-2, 30)))
        arr = draw(st.none() | st.integers(-3, 30).map(lambda h: NOW + timedelta(hours=h)))
        deps.append(Departure(vid, dep, arrival=arr, energy_kwh=draw(st.none() | st.floats(-20, 100)),
                              target_soc=draw(_numbers), arrival_soc=draw(_numbers), priority=draw(st.integers(-1, 3))))
    vehicles = (Vehicle("EV-1", "a", draw(st.sampled_from([75.0, 0.0, -1.0]))),
                Vehicle("EV-2", "b", 60.0, max_ac_kw=draw(st.sampled_from([11.0, 0.0])),
                        max_dc_kw=draw(st.sampled_from([150.0, 0.0, math.nan]))))
    chargers = {s.charger.id: s.charger for s in sessions} | {AC.id: AC}
    return snap(sessions, chargers=tuple(chargers.values()), vehicles=vehicles, departures=tuple(deps))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_snapshots())
def test_any_snapshot_becomes_a_valid_problem_and_repairing_twice_changes_nothing(s):
    fixed, _ = repair_snapshot(s)
    again, more = repair_snapshot(fixed)
    assert more == () and again is fixed
    problem, _ = build_problem(s, now=NOW)  # the problem's own checks (unique ids, windows, powers) pass
    ids = [v.id for v in problem.vehicles]
    assert len(ids) == len(set(ids))
    vehicle_sessions = [x.transaction.vehicle_id for x in fixed.sessions if x.transaction.vehicle_id]
    assert len(vehicle_sessions) == len(set(vehicle_sessions))
