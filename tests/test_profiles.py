from datetime import UTC, datetime, timedelta

from depot.control.profiles import (
    Period,
    Target,
    fit_periods,
    periods_from_plan,
    same_schedule,
    station_max_profile,
    tx_default_profile,
    tx_profile,
)
from depot.model import CurrentType, Protocol

NOW = datetime(2026, 11, 20, 22, 7, 30, tzinfo=UTC)
START = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)


def test_ac_16_profile_in_amps_with_one_decimal_and_our_transaction_id():
    t = Target(Protocol.OCPP16, CurrentType.AC, 3, "Current", 24)
    p = tx_profile(t, 1, 42, [Period(0, 11.5), Period(900, 0.0)], now=NOW)
    assert p["transactionId"] == 42 and p["chargingProfilePurpose"] == "TxProfile"
    sched = p["chargingSchedule"]
    assert sched["chargingRateUnit"] == "A" and sched["startSchedule"] == "2026-11-20T22:07:30+00:00"
    assert sched["chargingSchedulePeriod"][0] == {"startPeriod": 0, "limit": 16.6, "numberPhases": 3}  # 16.67 ↓


def test_dc_201_profile_in_watts_with_the_chargers_string_id_and_a_list_of_schedules():
    t = Target(Protocol.OCPP201, CurrentType.DC, 3, "W")
    p = tx_profile(t, 2, "tx-abc", [Period(0, 123.45)], now=NOW)
    assert p["transactionId"] == "tx-abc" and isinstance(p["chargingSchedule"], list)
    assert p["chargingSchedule"][0]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 123450.0}]
    assert p["id"] == tx_profile(t, 2, "tx-other", [Period(0, 1.0)], now=NOW)["id"]  # stable: overwritten


def test_unit_follows_what_the_charger_allows():
    assert Target(Protocol.OCPP16, CurrentType.AC, 3, "Power").unit == "W"
    assert Target(Protocol.OCPP16, CurrentType.AC, 3, None).unit == "A"
    assert Target(Protocol.OCPP201, CurrentType.DC, 3, "A,W").unit == "W"


def test_periods_from_plan_start_now_and_merge_equal_slots():
    power = [10.0, 10.0, 22.0, 22.0, 0.0] + [0.0] * 91
    periods = periods_from_plan(power, plan_start=START, slot_minutes=15, now=NOW, first_kw=8.0)
    assert periods == [Period(0, 8.0), Period(450, 10.0), Period(1350, 22.0), Period(3150, 0.0)]


def test_fit_periods_never_allows_more_than_planned():
    periods = [Period(i * 900, float(v)) for i, v in enumerate([5, 20, 6, 21, 7, 22, 8, 23, 0])]
    fitted = fit_periods(periods, 4)
    assert len(fitted) <= 4
    for p in periods:  # at every original period start, the fitted limit is ≤ the planned one
        applies = [f for f in fitted if f.start_s <= p.start_s][-1]
        assert applies.limit_kw <= p.limit_kw + 1e-9


def test_default_and_station_max_profiles():
    t16 = Target(Protocol.OCPP16, CurrentType.AC, 3)
    d = tx_default_profile(t16, 7.0, now=NOW)
    assert d["chargingProfilePurpose"] == "TxDefaultProfile" and d["chargingProfileKind"] == "Recurring"
    assert d["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 10.1
    m = station_max_profile(Target(Protocol.OCPP201, CurrentType.DC, 3), 50.0, now=NOW)
    assert m["chargingProfilePurpose"] == "ChargingStationMaxProfile"


def test_nothing_resent_when_nothing_changed():
    t = Target(Protocol.OCPP16, CurrentType.DC, 3, "W")
    first = tx_profile(t, 1, 1, [Period(0, 50.0), Period(1800, 20.0)], now=NOW)
    later = NOW + timedelta(minutes=10)
    same = tx_profile(t, 1, 1, [Period(0, 50.0), Period(1200, 20.0)], now=later)
    changed = tx_profile(t, 1, 1, [Period(0, 40.0), Period(1200, 20.0)], now=later)
    assert same_schedule(first, same, old_sent_at=NOW, now=later)
    assert not same_schedule(first, changed, old_sent_at=NOW, now=later)
    assert not same_schedule(None, same, old_sent_at=None, now=later)
