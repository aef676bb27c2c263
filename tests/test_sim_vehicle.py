"""The simulator's pure core: battery taper, energy = power × time, charging-profile evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from depot.model import CurrentType
from depot.sim.vehicle import (
    Limit,
    Period,
    Profile,
    ProfileError,
    Purpose,
    check_profile,
    composite_schedule,
    draw_kw,
    effective_limit,
    integrate,
    limit_kw,
    next_change,
    parse_profile,
    schedule_offset,
    vehicle_max_kw,
)

T0 = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)


def prof(pid=1, purpose=Purpose.TX_DEFAULT, limits=((0, 16.0),), *, unit="A", stack=0, connector=0, kind="Absolute",
         start=T0, duration=None, tx=None, recurrency=None, phases=None, valid_from=None, valid_to=None):
    return Profile(id=pid, connector_id=connector, stack_level=stack, purpose=purpose, kind=kind, rate_unit=unit,
                   periods=tuple(Period(s, v, phases) for s, v in limits), received_at=T0 - timedelta(hours=1),
                   start_schedule=start, duration=duration, recurrency=recurrency, transaction_id=tx,
                   valid_from=valid_from, valid_to=valid_to)


def ac_limit(profiles, now=T0, **kw):
    kw.setdefault("connector_id", 1)
    return effective_limit(profiles, now=now, phases=3, current_type=CurrentType.AC, **kw)


# ---------------------------------------------------------------- battery


def test_taper_above_80_percent():
    assert vehicle_max_kw(10, 11.0) == 11.0
    assert vehicle_max_kw(80, 11.0) == 11.0
    assert vehicle_max_kw(90, 100.0) == pytest.approx(55.0)
    assert vehicle_max_kw(99.999, 100.0) == pytest.approx(10.0, abs=0.01)
    assert vehicle_max_kw(100, 100.0) == 0.0
    powers = [vehicle_max_kw(s, 50.0) for s in range(80, 101)]
    assert powers == sorted(powers, reverse=True)
    assert draw_kw(50, 22.0, 11.04) == 11.04
    assert draw_kw(95, 22.0, 11.04) == pytest.approx(22.0 * (1 - 0.9 * 0.75))
    assert draw_kw(50, 22.0, None) == 22.0


def test_energy_is_power_times_time():
    step = integrate(20.0, 80.0, 11.0, None, 3600)  # an hour below the taper
    assert step.energy_kwh == pytest.approx(11.0)
    assert step.soc == pytest.approx(20.0 + 11.0 / 80.0 * 100.0)
    capped = integrate(20.0, 80.0, 22.0, 6.9, 1800)
    assert capped.energy_kwh == pytest.approx(3.45)
    nothing = integrate(20.0, 80.0, 22.0, 0.0, 3600)
    assert nothing.energy_kwh == 0.0 and nothing.soc == 20.0


def test_energy_stops_at_a_full_battery_and_the_taper_slows_it():
    step = integrate(50.0, 60.0, 11.0, None, 10 * 3600)
    assert step.soc == pytest.approx(100.0)
    assert step.energy_kwh == pytest.approx(30.0)
    assert step.power_kw == 0.0
    flat = integrate(50.0, 60.0, 11.0, None, 3600)
    tapered = integrate(85.0, 60.0, 11.0, None, 3600)
    assert tapered.energy_kwh < flat.energy_kwh
    assert tapered.energy_kwh == pytest.approx(60.0 * (tapered.soc - 85.0) / 100.0)


# ---------------------------------------------------------------- profile evaluation


def test_amps_per_phase_and_the_6_amp_floor():
    assert ac_limit([prof(limits=((0, 16.0),))]) == Limit(16 * 3 * 230, 3)
    assert ac_limit([prof(limits=((0, 6.0),))]).watts == pytest.approx(4140)
    assert ac_limit([prof(limits=((0, 5.9),))]).watts == 0.0
    # one phase at 10 A is allowed (2.3 kW), though it is below 6 A × 3 phases
    assert ac_limit([prof(limits=((0, 10.0),), phases=1)]) == Limit(2300, 1)
    # watts on AC: 4 kW on three phases is 5.8 A, so nothing
    assert ac_limit([prof(limits=((0, 4000.0),), unit="W")]).watts == 0.0
    # DC has no such floor
    dc = effective_limit([prof(limits=((0, 1000.0),), unit="W")], now=T0, connector_id=1, phases=3,
                         current_type=CurrentType.DC)
    assert dc.watts == 1000.0
    assert ac_limit([]) is None


def test_purposes_tx_replaces_default_and_the_max_caps():
    default0 = prof(1, Purpose.TX_DEFAULT, ((0, 16.0),), connector=0)
    default1 = prof(2, Purpose.TX_DEFAULT, ((0, 20.0),), connector=1)
    tx = prof(3, Purpose.TX, ((0, 32.0),), connector=1, tx="T1")
    cap = prof(4, Purpose.CHARGER_MAX, ((0, 25.0),), connector=0)
    assert ac_limit([default0]).watts == 16 * 690
    assert ac_limit([default0, default1]).watts == 20 * 690  # the connector's default beats connector 0's
    assert ac_limit([default0, default1], connector_id=2).watts == 16 * 690
    assert ac_limit([default0, tx], transaction_id="T1").watts == 32 * 690  # TxProfile replaces the default
    assert ac_limit([default0, tx], transaction_id="T2").watts == 16 * 690  # another transaction's profile
    assert ac_limit([default0, tx]).watts == 16 * 690  # no transaction: the default
    assert ac_limit([default0, tx, cap], transaction_id="T1").watts == 25 * 690  # the max caps
    assert ac_limit([cap]).watts == 25 * 690


def test_stack_levels_and_periods_by_start():
    low = prof(1, limits=((0, 10.0),), stack=0, start=T0 - timedelta(hours=1))
    high = prof(2, limits=((0, 20.0), (3600, 8.0)), stack=3, duration=7200)
    assert ac_limit([low, high]).watts == 20 * 690
    assert ac_limit([low, high], now=T0 + timedelta(seconds=3599)).watts == 20 * 690
    assert ac_limit([low, high], now=T0 + timedelta(seconds=3600)).watts == 8 * 690
    # after its duration the high one gives way to the lower stack level
    assert ac_limit([low, high], now=T0 + timedelta(hours=2)).watts == 10 * 690
    # before its start it does not apply either
    assert ac_limit([low, high], now=T0 - timedelta(minutes=1)).watts == 10 * 690


def test_relative_recurring_and_validity():
    rel = prof(1, Purpose.TX, ((0, 10.0), (1800, 20.0)), connector=1, kind="Relative", start=None, tx="T")
    tx_start = T0 - timedelta(minutes=45)
    assert ac_limit([rel], transaction_id="T", tx_start=tx_start).watts == 20 * 690
    assert ac_limit([rel], transaction_id="T", tx_start=T0).watts == 10 * 690
    daily = prof(2, limits=((0, 8.0), (6 * 3600, 32.0)), kind="Recurring", recurrency="Daily",
                 start=datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    assert ac_limit([daily], now=datetime(2026, 11, 21, 3, 0, tzinfo=UTC)).watts == 8 * 690
    assert ac_limit([daily], now=datetime(2026, 11, 21, 7, 0, tzinfo=UTC)).watts == 32 * 690
    windowed = prof(3, valid_from=T0, valid_to=T0 + timedelta(hours=1))
    assert ac_limit([windowed], now=T0 - timedelta(seconds=1)) is None
    assert ac_limit([windowed], now=T0 + timedelta(minutes=30)).watts == 16 * 690
    assert ac_limit([windowed], now=T0 + timedelta(hours=1)) is None
    assert schedule_offset(rel, T0) is None  # Relative without a transaction: not running


def test_next_change_and_the_composite_schedule():
    high = prof(2, limits=((0, 20.0), (3600, 8.0)), stack=3, duration=7200)
    low = prof(1, limits=((0, 10.0),))
    assert next_change([high, low], now=T0) == T0 + timedelta(seconds=3600)
    assert next_change([high, low], now=T0 + timedelta(seconds=3600)) == T0 + timedelta(seconds=7200)
    assert next_change([low], now=T0) is None
    periods = composite_schedule([high, low], now=T0, duration=3 * 3600, connector_id=1, phases=3,
                                 current_type=CurrentType.AC, charger_kw=22.0, unit="A")
    assert periods == [(0, 20.0), (3600, 8.0), (7200, 10.0)]
    watts = composite_schedule([], now=T0, duration=600, connector_id=1, phases=3, current_type=CurrentType.AC,
                               charger_kw=22.0, unit="W")
    assert watts == [(0, 22000.0)]
    assert limit_kw([prof(limits=((0, 63.0),))], now=T0, connector_id=1, phases=3, current_type=CurrentType.AC,
                    charger_kw=22.0) == 22.0  # the charger's rating caps a generous profile


def test_parse_both_versions_and_check():
    p16 = parse_profile(0, {"chargingProfileId": 4, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
                            "chargingProfileKind": "Absolute",
                            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-11-21T18:00:00Z",
                                                 "duration": 600,
                                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}},
                        received_at=T0)
    assert (p16.id, p16.stack_level, p16.purpose, p16.start_schedule, p16.duration) == (
        4, 1, Purpose.TX_DEFAULT, T0, 600)
    p201 = parse_profile(1, {"id": 5, "stack_level": 0, "charging_profile_purpose": "ChargingStationMaxProfile",
                             "charging_profile_kind": "Relative", "transaction_id": "abc",
                             "charging_schedule": [{"id": 1, "charging_rate_unit": "W",
                                                    "charging_schedule_period": [{"start_period": 0, "limit": 5000.0}]}]},
                         received_at=T0)
    assert (p201.id, p201.purpose, p201.transaction_id, p201.rate_unit) == (5, Purpose.CHARGER_MAX, "abc", "W")
    check_profile(p16, allowed_units=["A"], max_periods=24, max_stack_level=8)
    bad = [
        (p16, ["W"]),
        (prof(limits=((0, 16.67),)), ["A"]),
        (prof(limits=((10, 16.0),)), ["A"]),
        (prof(limits=((0, 16.0), (0, 8.0))), ["A"]),
        (prof(stack=9), ["A"]),
        (prof(limits=tuple((i * 60, 16.0) for i in range(25))), ["A"]),
    ]
    for profile, units in bad:
        with pytest.raises(ProfileError):
            check_profile(profile, allowed_units=units, max_periods=24, max_stack_level=8)
    with pytest.raises(ProfileError):
        parse_profile(0, {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationExternalConstraints",
                          "chargingProfileKind": "Absolute", "chargingSchedule": []}, received_at=T0)
