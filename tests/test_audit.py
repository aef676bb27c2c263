"""Plan versus actual (issue 12 §4): a night where every cause of a missed departure happens once, read from a
store the way the running system writes it; and the pure parts (facts, parsers, causes) on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depot.control.audit import audit, departures_of, gather
from depot.errors import ValidationError
from depot.model import MeterSample
from depot.planning import audit_causes
from depot.planning.audit import audit_day, parse_day, to_csv
from depot.planning.audit_facts import (
    Commanded,
    DayFacts,
    SessionFacts,
    commanded_kw,
    fault_spans,
    plan_version,
    profile_steps,
    silences,
)
from depot.planning.departures import Departure, RosterEntry
from tests import audit_scenario as night


@pytest.fixture
def night_store(store):
    night.build(store)
    return store


@pytest.fixture
def result(night_store):
    return audit(night_store, night.DAY, now=night.AUDIT_NOW, heartbeat_s=60)


def test_each_cause_is_found_once_with_its_evidence(result):
    by = {a.vehicle_id: a for a in result.departures}
    assert set(by) == {f"BUS-{i:02d}" for i in range(1, 11)}
    for vid, (code, evidence) in night.CAUSE.items():
        a = by[vid]
        assert a.status == "missed", vid
        assert [(c.code, c.evidence) for c in a.causes] == [(code, evidence)], vid
    assert result.summary() == "10 departures, 1 ready, 8 missed, 1 still to come"


def test_the_ready_one_and_the_numbers(result):
    by = {a.vehicle_id: a for a in result.departures}
    ready = by["BUS-01"]
    assert ready.status == "ready" and ready.causes == ()
    assert ready.needed_kwh == 60.0 and ready.delivered_kwh == pytest.approx(60.0)
    assert ready.planned_first_kwh == pytest.approx(60.0) and ready.first_plan_id == ready.last_plan_id
    assert ready.expected_arrival == night.sat(18) and ready.plugged_in == night.sat(18) and ready.chargers == ("CP-01",)
    need = by["BUS-07"]  # 80 kWh when first planned, 140 since 04:10: the last plan saw the raise
    assert need.needed_kwh == 140.0 and need.delivered_kwh == pytest.approx(80 + 20 * 75 / 60)  # samples at :15
    assert need.planned_first_kwh == pytest.approx(80.0) and need.planned_last_kwh == pytest.approx(80 + 20 * 80 / 60)
    assert need.first_plan_id != need.last_plan_id
    assert by["BUS-02"].delivered_kwh == pytest.approx(70.0) and by["BUS-02"].plugged_in == night.sun(2)
    later = by["BUS-10"]
    assert later.status == "to come" and later.causes == () and later.first_plan_id is None
    assert [a.vehicle_id for a in result.departures][:2] == ["BUS-06", "BUS-01"]  # in departure order


def test_the_csv_has_a_line_per_departure_with_causes_and_evidence(result):
    lines = to_csv(result).splitlines()
    assert lines[0].startswith("vehicle,departure,source,result,needed_kwh,planned_first_kwh")
    assert len(lines) == 11
    bus04 = next(line for line in lines if line.startswith("BUS-04"))
    assert "missed" in bus04 and "charger faulted" in bus04 and "GroundFailure" in bus04


def test_the_roster_counts_unless_a_one_off_overrides_it(night_store):
    night_store.replace_roster([RosterEntry("BUS-01", 5, datetime.min.time().replace(hour=17),
                                            datetime.min.time().replace(hour=6), energy_kwh=50.0),  # overridden
                                RosterEntry("BUS-10", 5, datetime.min.time().replace(hour=20),
                                            datetime.min.time().replace(hour=1), energy_kwh=30.0)])
    day, earlier = departures_of(night_store, night.DAY)
    rostered = [(d.vehicle_id, d.departure) for d in day if d.roster]
    assert rostered == [("BUS-10", night.sun(1))]  # Saturday evening to Sunday 01:00, 13 h before its one-off
    assert not any(d.roster for d in earlier)


def test_a_day_without_departures_and_a_bad_date(store):
    empty = audit(store, night.DAY, now=night.AUDIT_NOW)
    assert empty.departures == () and empty.summary() == "0 departures, 0 ready, 0 missed"
    with pytest.raises(ValidationError, match="date: '22/11/2026' is not a day"):
        parse_day("22/11/2026")


def test_only_the_chargers_of_misses_are_read(night_store, monkeypatch):
    from depot.control import audit as shell

    asked = []
    original = shell.gather_chargers

    def spy(store, ids, **kw):
        asked.append(set(ids))
        return original(store, ids, **kw)

    monkeypatch.setattr(shell, "gather_chargers", spy)
    shell.audit(night_store, night.DAY, now=night.AUDIT_NOW)
    assert asked == [{f"CP-{i:02d}" for i in range(2, 10)}]  # not the ready one's, nor one still to come
    facts = gather(night_store, night.DAY)
    assert [p.reason for p in facts.plans] == ["departures edited", "departures edited"]


# ---------------------------------------------------------------- the pure parts


T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


def test_profile_steps_in_amps_and_watts_for_both_versions():
    v16 = {"chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-11-22T00:00:00+00:00",
                                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                                                           {"startPeriod": 3600, "limit": 6.0, "numberPhases": 1}]}}
    assert profile_steps(v16, T0) == ((T0, pytest.approx(11.04)), (T0 + timedelta(hours=1), pytest.approx(1.38)))
    v201 = {"chargingSchedule": [{"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                                       "limit": 50000.0}]}]}
    assert profile_steps(v201, T0 + timedelta(minutes=5)) == ((T0 + timedelta(minutes=5), 50.0),)
    cmds = [Commanded(T0, 1, profile_steps(v16, T0)), Commanded(T0 + timedelta(hours=2), 1, ((T0, 3.0),))]
    assert commanded_kw(cmds, T0 - timedelta(seconds=1)) is None
    assert commanded_kw(cmds, T0 + timedelta(minutes=30)) == pytest.approx(11.04)
    assert commanded_kw(cmds, T0 + timedelta(hours=1, minutes=30)) == pytest.approx(1.38)
    assert commanded_kw(cmds, T0 + timedelta(hours=3)) == 3.0  # the newer profile replaces the older


def test_fault_spans_from_either_version_and_an_open_fault_ends_at_until():
    statuses = [(T0, {"connectorId": 1, "status": "Faulted", "errorCode": "OverVoltage", "vendorErrorCode": "E7"}),
                (T0 + timedelta(hours=1), {"connectorId": 1, "status": "Available", "errorCode": "NoError"}),
                (T0 + timedelta(hours=2), {"evseId": 2, "connectorId": 1, "connectorStatus": "Faulted"})]
    spans = fault_spans(statuses, until=T0 + timedelta(hours=5))
    assert [(c, s.start.hour, s.end.hour, s.text) for c, s in spans] == [
        (1, 0, 1, "Faulted (OverVoltage E7)"), (2, 2, 5, "Faulted")]


def test_silences_need_something_heard_and_count_twice_the_heartbeat():
    heard = [T0 - timedelta(minutes=5), T0 + timedelta(minutes=1), T0 + timedelta(minutes=10)]
    spans = silences(heard, start=T0, end=T0 + timedelta(minutes=20), heartbeat_s=120)
    assert [(s.start, s.end) for s in spans] == [(T0, T0 + timedelta(minutes=1)),
                                                  (T0 + timedelta(minutes=1), T0 + timedelta(minutes=10)),
                                                  (T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))]
    assert silences([], start=T0, end=T0 + timedelta(hours=1), heartbeat_s=60) == ()
    assert silences(heard, start=T0, end=T0 + timedelta(minutes=12), heartbeat_s=600) == ()


def test_a_stored_plan_becomes_a_plan_version():
    problem = {"start": T0.isoformat(), "slot_minutes": 15, "slots": 4, "site_limit_kw": [10, 10, 5, 5],
               "vehicles": [{"id": "A", "departure": (T0 + timedelta(hours=1)).isoformat(), "energy_kwh": 4,
                             "max_kw": 11}]}
    plan = {"vehicles": [{"id": "A", "power_kw": [8, 8, 0, 0], "energy_kwh": 4.0}]}
    p = plan_version(3, T0, "periodic", problem, plan)
    assert p.site_limit_kw == (10.0, 10.0, 5.0, 5.0) and p.total_kw == (8.0, 8.0, 0.0, 0.0)
    assert p.vehicles["A"].arrival is None and p.slot(T0 + timedelta(minutes=31)) == 2 and p.slot(T0 - SECOND) is None


SECOND = timedelta(seconds=1)


def test_a_miss_with_nothing_in_the_data_says_so():
    dep = Departure("V", T0 + timedelta(hours=6), energy_kwh=50.0)
    session = SessionFacts(1, "C", 1, T0, T0 + timedelta(hours=6), None, 0.0, 10_000.0,
                           (MeterSample(T0, 0.0, 0.0), MeterSample(T0 + timedelta(hours=6), 10_000.0, 0.0)))
    facts = DayFacts(T0.date(), (dep,), sessions={"V": (session,)})
    (a,) = audit_day(facts, {}, now=T0 + timedelta(hours=7)).departures
    assert a.status == "missed" and a.delivered_kwh == 10.0
    assert [c.code for c in a.causes] == ["not_planned"]
    nothing = DayFacts(T0.date(), (dep,))
    (b,) = audit_day(nothing, {}, now=T0 + timedelta(hours=7)).departures
    assert [(c.code, c.evidence) for c in b.causes] == [("arrived_late", "no charging session before its departure "
                                                                         "at 06:00")]
    assert list(audit_causes.CAUSES)[0] == "impossible" and list(audit_causes.CAUSES)[-1] == "unexplained"


def test_a_target_soc_reached_is_ready():
    dep = Departure("V", T0 + timedelta(hours=6), target_soc=80.0)
    session = SessionFacts(1, "C", 1, T0, None, None, 0.0, None,
                           (MeterSample(T0, 0.0, 0.0, soc=40.0), MeterSample(T0 + timedelta(hours=5), 5_000.0, 0.0, soc=80.0)))
    facts = DayFacts(T0.date(), (dep,), sessions={"V": (session,)})
    (a,) = audit_day(facts, {}, now=T0 + timedelta(hours=7)).departures
    assert a.status == "ready"


# ---------------------------------------------------------------- properties



@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(0, 50), min_size=1, max_size=40), st.lists(st.integers(0, 40 * 15), max_size=6))
def test_energy_in_pieces_adds_up_to_the_whole(powers, cuts):
    """Whatever the samples, the energy of consecutive pieces of a session sums to the session's energy."""
    wh, samples = 0.0, []
    for k, kw in enumerate(powers):
        samples.append(MeterSample(T0 + timedelta(minutes=15 * k), wh, kw * 1000))
        wh += kw * 250
    s = SessionFacts(1, "C", 1, T0, None, None, 0.0, None, tuple(samples))
    end = T0 + timedelta(minutes=15 * len(powers))
    points = [T0, *sorted(T0 + timedelta(minutes=c) for c in cuts), end]
    pieces = sum(s.energy_kwh(a, b) for a, b in zip(points, points[1:], strict=False))
    assert pieces == pytest.approx(s.energy_kwh(T0, end), abs=1e-6)
    assert 0.0 <= s.energy_kwh(T0, end) <= sum(powers) * 0.25 + 1e-6


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 24 * 60), min_size=1, max_size=30), st.integers(30, 900))
def test_every_silence_is_longer_than_twice_the_heartbeat_and_inside_the_window(minutes, heartbeat):
    heard = sorted({T0 + timedelta(minutes=m) for m in minutes})
    start, end = T0 + timedelta(hours=2), T0 + timedelta(hours=20)
    spans = silences(heard, start=start, end=end, heartbeat_s=heartbeat)
    for span in spans:
        assert start <= span.start < span.end <= end
        assert not any(span.start < t < span.end for t in heard)  # nothing was heard inside a silence
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.end <= b.start
