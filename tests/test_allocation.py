"""Limits per connector: plan, fail-safe on stale data, redistribution, the site limit at every instant."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depot.control.allocation import ConnectorState, allocate, fit_increases, quantize, sequence_changes
from depot.model import CurrentType

NOW = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
FRESH = NOW - timedelta(seconds=10)


def ac(cid, planned, measured=None, at=FRESH, limit=None, priority=1, max_kw=22.0):
    return ConnectorState(cid, 1, CurrentType.AC, 3, max_kw, planned, measured, at, priority, None, limit)


def dc(cid, planned, measured=None, at=FRESH, limit=None, priority=1, max_kw=150.0, departure=None):
    return ConnectorState(cid, 1, CurrentType.DC, 3, max_kw, planned, measured, at, priority, departure, limit)


def by_id(allocs):
    return {a.charger_id: a for a in allocs}


def test_plan_is_followed_in_whole_amps():
    a = by_id(allocate([ac("A", 11.0, 11.0, limit=11.0), dc("D", 100.0, 100.0, limit=100.0)], 500, now=NOW))
    assert a["A"].limit_a == 15.0 and a["A"].limit_kw == pytest.approx(10.35)  # 11 kW = 15.9 A → 15 A
    assert a["D"].limit_kw == 100.0 and a["D"].limit_a is None


def test_stale_data_keeps_only_the_floor():
    a = by_id(allocate([ac("A", 22.0, 22.0, at=NOW - timedelta(minutes=5)), dc("D", 100.0, None, at=None)],
                       500, now=NOW))
    assert a["A"].limit_a == 6.0 and "stale" in a["A"].reason
    assert a["D"].limit_kw == 0.0


def test_a_new_session_without_readings_follows_the_plan():
    """No reading yet is not silence: the session started just now (its start is passed as measured_at)."""
    (a,) = allocate([dc("NEW", 100.0, measured=None, at=FRESH)], 500, now=NOW)
    assert a.limit_kw == 100.0


def test_readings_older_than_the_limit_do_not_take_power_back():
    """A vehicle held at 20 kW drew 20 kW; its limit was raised to 100 kW just now: the old 20 kW reading
    must not be read as 'it does not want more'."""
    raised = ConnectorState("D", 1, CurrentType.DC, 3, 150.0, 100.0, 20.0, FRESH, limit_kw=100.0,
                            limit_since=FRESH + timedelta(seconds=1))
    (a,) = allocate([raised], 500, now=NOW)
    assert a.limit_kw == 100.0
    later = ConnectorState("D", 1, CurrentType.DC, 3, 150.0, 100.0, 20.0, FRESH, limit_kw=100.0,
                           limit_since=FRESH - timedelta(seconds=30))
    (b,) = allocate([later], 500, now=NOW)
    assert b.limit_kw == pytest.approx(21.5)  # a reading taken under the 100 kW limit: it really draws 20


def test_unused_power_is_redistributed_within_the_site_limit():
    states = [dc("FULL", 100.0, measured=20.0, limit=100.0), dc("HUNGRY", 50.0, 50.0, limit=50.0, max_kw=150.0)]
    a = by_id(allocate(states, 150.0, now=NOW))
    assert a["FULL"].limit_kw == pytest.approx(21.5)
    assert a["HUNGRY"].limit_kw == pytest.approx(128.5) and "redistributed" in a["HUNGRY"].reason
    assert sum(x.limit_kw for x in a.values()) <= 150.0


def test_site_limit_drop_pauses_lowest_priority_first():
    states = [ac("LOW", 22.0, 22.0, priority=1), ac("HIGH", 22.0, 22.0, priority=3), ac("MID", 22.0, 22.0, priority=2)]
    a = by_id(allocate(states, 30.0, now=NOW))
    assert a["HIGH"].limit_a == 31.0  # 22 kW = 31.9 A, rounded down
    assert a["MID"].limit_a == 11.0 and "reduced" in a["MID"].reason  # 30 − 22 = 8 kW = 11.6 A
    assert a["LOW"].limit_kw == 0.0 and "paused" in a["LOW"].reason
    assert sum(x.limit_kw for x in a.values()) <= 30.0


def test_ac_never_between_zero_and_six_amps():
    s = ac("A", 3.0)
    assert quantize(s, 3.0) == (0.0, 0.0)
    assert quantize(s, 4.2)[1] == 6.0


def test_changes_go_reductions_first():
    commanded = {("A", 1): 20.0, ("B", 1): 5.0}
    target = allocate([dc("A", 5.0, 5.0, limit=20.0), dc("B", 20.0, 5.0, limit=5.0)], 25.0, now=NOW)
    steps = sequence_changes(commanded, target)
    assert [s.kind for s in steps] == ["reduce", "increase"]
    assert [a.charger_id for a in steps[0].changes] == ["A"]


def test_a_session_without_its_profile_gets_one_even_at_an_unchanged_limit():
    target = allocate([dc("A", 20.0, 20.0, limit=20.0)], 100.0, now=NOW)
    assert sequence_changes({("A", 1): 20.0}, target) == []
    (step,) = sequence_changes({("A", 1): 20.0}, target, must_send={("A", 1)})
    assert step.kind == "reduce" and step.changes[0].limit_kw == 20.0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([CurrentType.AC, CurrentType.DC]), st.floats(0, 150), st.floats(0, 150),
                       st.integers(1, 3), st.booleans(), st.booleans()), min_size=1, max_size=12),
    st.floats(0, 600), st.floats(0, 600), st.lists(st.booleans(), min_size=24, max_size=24),
)
def test_commanded_sum_never_exceeds_the_site_limit_at_any_instant(rows, old_limit, new_limit, accepts):
    """Random plans, limits and charger answers: apply the changes in the runtime's order (reductions, wait
    for answers, then the increases that still fit) and check the commanded sum after every single message."""
    states = []
    for i, (kind, planned, measured, prio, stale, _) in enumerate(rows):
        max_kw = 22.0 if kind == CurrentType.AC else 150.0
        states.append(ConnectorState(f"C{i}", 1, kind, 3, max_kw, min(planned, max_kw), measured,
                                     NOW - timedelta(minutes=10) if stale else FRESH, prio))
    before = allocate(states, old_limit, now=NOW)
    commanded = {a.key: a.limit_kw for a in before}
    assert sum(commanded.values()) <= old_limit + 1e-6
    states = [ConnectorState(**{**s.__dict__, "limit_kw": commanded[s.key]}) for s in states]
    target = allocate(states, new_limit, now=NOW)
    bound = max(old_limit, new_limit) if new_limit >= old_limit else old_limit
    answers = iter(accepts * 2)
    steps = sequence_changes(commanded, target)
    for step in steps:
        changes = step.changes
        if step.kind == "increase":
            changes = fit_increases(commanded, changes, states, new_limit)
        for a in changes:
            if next(answers):
                commanded[a.key] = a.limit_kw
            assert sum(commanded.values()) <= bound + 1e-6
    # once the reductions are through, the sum also fits the new limit, unless a charger refused a reduction
    refused = any(commanded[a.key] > a.limit_kw + 1e-6 for s in steps if s.kind == "reduce" for a in s.changes)
    if not refused:
        assert sum(commanded.values()) <= new_limit + 1e-6


def test_future_slots_are_scaled_to_the_limit_in_force():
    from depot.control.decision import slot_scale

    planned = [[10.0, 30.0, 0.0], [10.0, 30.0], None]
    assert slot_scale(planned, 40.0) == [1.0, 40.0 / 60.0, 1.0]
    assert slot_scale(planned, 0.0) == [0.0, 0.0, 1.0]
