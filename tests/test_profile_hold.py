"""Profiles sent only when they change by a controllable step (issue 12 §3), the pure parts: what an accepted
schedule limits to now, which accepted profiles stay, and that holding one never lets the limits the chargers
obey add up to more than the budget at any instant ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from depot.control.allocation import Allocation, ConnectorState
from depot.control.profile_hold import (
    STEP_A,
    STEP_W,
    Schedule,
    hold,
    in_force_kw,
    limits_since,
    risen_at,
    same_within_step,
    steady_targets,
    step_of,
)
from depot.control.profiles import Period, Target, tx_profile
from depot.model import CurrentType, Protocol

NOW = datetime(2026, 11, 20, 22, 7, 30, tzinfo=UTC)
AC = Target(Protocol.OCPP16, CurrentType.AC, 3, "Current", 24)
DC = Target(Protocol.OCPP201, CurrentType.DC, 3, "W")


def profile(target: Target, periods, *, now=NOW, tx=7) -> Schedule:
    return Schedule.of(tx_profile(target, 1, tx, [Period(s, kw) for s, kw in periods], now=now))


def test_an_accepted_schedule_moves_on_by_itself():
    p = tx_profile(AC, 1, 7, [Period(0, 0.0), Period(450, 11.04)], now=NOW)  # 0 A now, 16 A from 22:15
    assert in_force_kw(p, NOW) == 0.0
    assert abs(in_force_kw(p, NOW + timedelta(minutes=8)) - 11.04) < 1e-9


def test_a_slot_boundary_or_a_sub_step_wiggle_is_no_change_a_step_is():
    old = profile(DC, [(0, 50.0), (450, 20.0), (1350, 0.0)])
    later = NOW + timedelta(minutes=10)  # past 22:15: the charger is at 20 kW by itself
    until = NOW + timedelta(hours=8)
    same = profile(DC, [(0, 20.0), (750, 0.0)], now=later)
    wiggle = profile(DC, [(0, 20.0), (750, 0.0), (1650, 0.0)], now=later)
    wiggle = Schedule(wiggle.start, ((wiggle.points[0][0], 20_050.0),) + wiggle.points[1:], "W", 3, "7")
    step = profile(DC, [(0, 20.1), (750, 0.0)], now=later)
    moved = profile(DC, [(0, 20.0), (1650, 0.0)], now=later)  # charging 15 min longer
    other_tx = profile(DC, [(0, 20.0), (750, 0.0)], now=later, tx=8)
    assert same_within_step(old, same, now=later, until=until, step=STEP_W)
    assert same_within_step(old, wiggle, now=later, until=until, step=STEP_W)  # 50 W: less than a step
    assert not same_within_step(old, step, now=later, until=until, step=STEP_W)  # 100 W: one step
    assert not same_within_step(old, moved, now=later, until=until, step=STEP_W)
    assert not same_within_step(old, other_tx, now=later, until=until, step=STEP_W)
    a_old, a_new = profile(AC, [(0, 10.35), (450, 6.9)]), profile(AC, [(0, 10.35), (450, 7.2)])  # 15 A, 10 → 10.4 A
    assert same_within_step(a_old, a_new, now=NOW, until=until, step=STEP_A)
    assert step_of("A", 3, ac=True) == 1.0 and step_of("W", 3, ac=False) == 100.0 and step_of("W", 3, ac=True) == 690.0


def test_a_profile_past_half_its_horizon_is_renewed():
    old = profile(DC, [(0, 20.0)])
    new = profile(DC, [(0, 20.0)], now=NOW + timedelta(hours=4, minutes=1))
    k = ("CP", 1)
    assert hold({k: old}, {k: new}, {k: STEP_W}, budget_kw=100, now=NOW + timedelta(hours=1), hours=8) == {k}
    assert hold({k: old}, {k: new}, {k: STEP_W}, budget_kw=100, now=NOW + timedelta(hours=4, minutes=1),
                hours=8) == set()


def test_holding_never_breaks_the_budget():
    """Two chargers each move by less than a step: held together, the old ones would exceed the budget in the
    first period, so the one above its new schedule is sent after all."""
    a, b = ("A", 1), ("B", 1)
    old = {a: profile(DC, [(0, 50.0), (900, 49.95)]), b: profile(DC, [(0, 49.95), (900, 49.9)])}
    new = {a: profile(DC, [(0, 49.95)]), b: profile(DC, [(0, 49.95)])}
    assert hold(old, new, {a: STEP_W, b: STEP_W}, budget_kw=99.9, now=NOW, hours=8) == {b}
    assert hold(old, new, {a: STEP_W, b: STEP_W}, budget_kw=100.0, now=NOW, hours=8) == {a, b}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.lists(st.floats(0, 50), min_size=1, max_size=4),
                          st.lists(st.floats(-0.09, 0.09), min_size=4, max_size=4)), min_size=1, max_size=6),
       st.floats(0.0, 1.0))
def test_what_is_held_and_what_is_sent_fit_the_budget_at_every_instant(chargers, room):
    old, new = {}, {}
    for i, (levels, wiggle) in enumerate(chargers):
        periods = [(900 * j, kw) for j, kw in enumerate(levels)]
        new[(f"C{i}", 1)] = profile(DC, periods)
        old[(f"C{i}", 1)] = profile(DC, [(s, max(0.0, kw + wiggle[j])) for j, (s, kw) in enumerate(periods)])
    times = sorted({t for s in new.values() for t, _ in s.points})
    peak = max(sum(s.kw_at(t) for s in new.values()) for t in times)
    budget = peak + room * 0.2  # the new profiles fit; the old ones may not
    held = hold(old, new, dict.fromkeys(new, STEP_W), budget_kw=budget, now=NOW, hours=8)
    for t in times:
        obeyed = sum(old[k].kw_at(t) if k in held else s.kw_at(t) for k, s in new.items())
        assert obeyed <= budget + 1e-6


def state(key, *, limit, measured, max_kw=50.0, since_s=-60, read_s=-10, ac=False):
    return ConnectorState(key, 1, CurrentType.AC if ac else CurrentType.DC, 3, max_kw, limit, measured,
                          NOW + timedelta(seconds=read_s), 1, None, limit, NOW + timedelta(seconds=since_s))


def test_a_limit_that_follows_a_reading_stays_while_the_reading_wiggles():
    tapering = state("T", limit=41.5, measured=40.0)  # drew 40.0, was given 41.5; now reads 39.8 …
    a = Allocation("T", 1, 41.3, None, "draws 39.8 kW: unused power given to others")
    full = state("F", limit=11.0, measured=3.0)  # draws far below its limit: raising it is pointless
    b = Allocation("F", 1, 30.0, None, "plan")
    out = steady_targets([tapering, full], [a, b], budget_kw=100.0)
    assert [o.limit_kw for o in out] == [41.5, 11.0]
    assert steady_targets([tapering, full], [a, b], budget_kw=41.3 + 11.0)[0].limit_kw == 41.3  # must fit
    big = Allocation("T", 1, 39.0, None, "draws 37.5 kW: unused power given to others")
    assert steady_targets([tapering], [big], budget_kw=100.0)[0].limit_kw == 39.0  # a real chunk goes back
    drawing = state("D", limit=11.0, measured=10.8)  # at its limit: the plan's raise goes out
    assert steady_targets([drawing], [Allocation("D", 1, 30.0, None, "plan")], budget_kw=100)[0].limit_kw == 30.0
    older = state("S", limit=11.0, measured=0.0, read_s=-120, since_s=-60)  # read under a lower limit: no proof
    assert steady_targets([older], [Allocation("S", 1, 30.0, None, "plan")], budget_kw=100)[0].limit_kw == 30.0
    cut = Allocation("S", 1, 4.0, None, "draws 2.5 kW: unused power given to others")  # older: no keeping higher
    assert steady_targets([older], [cut], budget_kw=100)[0].limit_kw == 4.0


def test_since_moves_on_when_a_limit_rises_and_stays_when_it_falls():
    k = ("CP", 1)
    first = tx_profile(DC, 1, 7, [Period(0, 0.0), Period(450, 50.0)], now=NOW)  # 0 now, 50 kW from 22:15
    seen, since = limits_since({k: (first, NOW)}, {}, {}, NOW)
    assert seen == {k: 0.0} and since == {k: NOW}
    at = NOW + timedelta(minutes=10)  # past 22:15: it rose by itself
    seen, since = limits_since({k: (first, NOW)}, seen, since, at)
    assert seen == {k: 50.0} and since == {k: NOW + timedelta(seconds=450)}
    cut = tx_profile(DC, 1, 7, [Period(0, 31.5)], now=at)  # cut to what it draws: older readings still count
    seen, since = limits_since({k: (cut, at)}, seen, since, at + timedelta(seconds=20))
    assert seen == {k: 31.5} and since == {k: NOW + timedelta(seconds=450)}


def test_a_schedule_that_rose_at_a_slot_boundary_is_in_force_since_then():
    p = tx_profile(DC, 1, 7, [Period(0, 0.0), Period(450, 50.0), Period(1350, 40.0)], now=NOW)  # 0, 22:15 50 kW
    assert risen_at(p, NOW, NOW + timedelta(minutes=5)) == NOW
    assert risen_at(p, NOW, NOW + timedelta(minutes=10)) == NOW + timedelta(seconds=450)
    assert risen_at(p, NOW, NOW + timedelta(minutes=30)) == NOW + timedelta(seconds=450)  # 50 then 40: at least 40
