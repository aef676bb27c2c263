"""PURE `depot.ocpp.sanity` (and the reading of non-finite values in `depot.ocpp.values`): which values a
charger sent are possible, without a store, a socket or a clock (`now` is a parameter)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from depot.model import MeterSample
from depot.ocpp.sanity import (
    NOT_FINITE,
    TIME_REPLACED,
    Context,
    Limits,
    Reading,
    Register,
    check_connector,
    check_power,
    check_register,
    check_soc,
    check_time,
    screen_readings,
)
from depot.ocpp.values import parse_meter_values, read_meter_values

NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
LIMITS = Limits()
START = Register(NOW - timedelta(minutes=10), 1000.0)


def ctx(last: Register | None = START, max_kw: float | None = 22.0, **limits) -> Context:
    return Context(NOW, max_kw, last, Limits(**limits))


def test_timestamps_unreadable_far_ahead_or_far_behind_are_replaced_by_the_receive_time():
    for value in ("yesterday", None, 17, "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                  "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",  # the zone moves them out of range
                  (NOW + timedelta(seconds=901)).isoformat(), (NOW - timedelta(days=31)).isoformat()):
        at, bad = check_time(value, NOW, LIMITS)
        assert at == NOW and bad is not None and bad.reason.startswith(TIME_REPLACED), value
    for t in (NOW + timedelta(seconds=899), NOW - timedelta(hours=20), NOW - timedelta(days=29)):
        assert check_time(t.isoformat(), NOW, LIMITS) == (t, None)  # skewed a little, queued offline: kept
    assert check_time("2026-11-21T17:00:00", NOW, LIMITS) == (NOW - timedelta(hours=1), None)  # no zone: UTC
    old = (NOW - timedelta(days=400)).isoformat()
    assert check_time(old, NOW, Limits(max_backlog_s=0))[1] is None  # no backlog limit …
    assert check_time("1999-12-31T23:59:59Z", NOW, Limits(max_backlog_s=0))[1] is not None  # … but a floor


def test_energy_registers_that_cannot_be():
    at = NOW
    for value in (math.nan, math.inf, -math.inf):
        assert check_register(value, at, ctx()).reason == NOT_FINITE
    assert "negative" in check_register(-5000.0, at, ctx(last=None)).reason
    assert "above" in check_register(1e308, at, ctx(last=None)).reason
    assert "backwards" in check_register(998.0, at, ctx()).reason
    assert check_register(999.5, at, ctx()) is None  # rounding between kWh and Wh readings of one register
    # 22 kW for 10 minutes is 3.67 kWh; the bound is (1.5 × 22 + 1) kW = 5.67 kWh, plus 1 kWh for coarse meters
    assert check_register(1000.0 + 6666.0, at, ctx()) is None
    assert "kW can charge" in check_register(1000.0 + 6668.0, at, ctx()).reason
    assert check_register(1e8, at, ctx(max_kw=None)) is None  # no rating (a site meter): no power-based check
    older = NOW - timedelta(minutes=20)  # an older reading arriving late: not above the newer one
    assert check_register(900.0, older, ctx()) is None and check_register(1500.0, older, ctx()) is not None


def test_power_soc_and_connector_ids_that_cannot_be():
    assert check_power(33_000.0, ctx()) is None and check_power(34_001.0, ctx()) is not None
    assert check_power(-500.0, ctx()) is None and check_power(-1500.0, ctx()) is not None
    assert check_power(1e9, ctx(max_kw=None)) is None and check_power(math.nan, ctx(max_kw=None)) is not None
    assert check_soc(0.0) is None and check_soc(100.0) is None
    assert all(check_soc(v) is not None for v in (-0.1, 100.1, math.nan))
    assert check_connector(0, LIMITS) is None and check_connector(32, LIMITS) is None
    assert all(check_connector(v, LIMITS) is not None for v in (33, 99, -7, 2**63, True, "1"))
    assert check_connector(40, Limits(max_connector_id=64)) is None


def test_screening_keeps_the_possible_values_and_names_the_rest():
    t = [(NOW - timedelta(minutes=m)).isoformat() for m in (8, 6, 4, 2)]
    readings = [Reading(t[1], energy_wh=-5000.0), Reading(t[0], energy_wh=1500.0, power_w=11_000.0, soc=40.0),
                Reading(t[2], energy_wh=999_999.0, soc=900.0), Reading(t[3], energy_wh=1400.0),
                Reading("9999-12-31T23:59:59Z", energy_wh=2000.0), Reading(t[3], unreadable=(("energy_wh", "1e309"),))]
    out = screen_readings(readings, ctx())
    assert out.samples == [MeterSample(NOW - timedelta(minutes=8), 1500.0, 11_000.0, None, 40.0),
                           MeterSample(NOW, 2000.0)]  # the year 9999 became the receive time
    assert [(r.field, r.value) for r in out.rejects] == [
        ("timestamp", "9999-12-31T23:59:59Z"), ("energy_wh", "1e309"), ("energy_wh", "-5000"),
        ("energy_wh", "999999"), ("soc", "900"), ("energy_wh", "1400")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3600), st.floats(allow_nan=True, allow_infinity=True, width=64)),
                max_size=12))
def test_kept_registers_never_run_backwards_nor_beyond_the_rating(points):
    readings = [Reading((START.at + timedelta(seconds=s)).isoformat(), energy_wh=e) for s, e in points]
    out = screen_readings(readings, ctx())
    last = START
    for sample in out.samples:
        e = sample.energy_wh
        assert math.isfinite(e) and 0 <= e <= LIMITS.max_register_wh
        if sample.at >= last.at:
            assert e >= last.energy_wh - LIMITS.backwards_tolerance_wh
            hours = (sample.at - last.at).total_seconds() / 3600
            assert e - last.energy_wh <= (1.5 * 22 + 1) * 1000 * hours + LIMITS.jump_slack_wh + 1e-6
            last = Register(sample.at, e)
    assert len(out.samples) + len(out.rejects) >= len(points)


def test_values_that_are_not_finite_are_named_not_dropped_silently():
    v16 = [{"timestamp": NOW.isoformat(), "sampled_value": [
        {"value": "1e309"}, {"value": "nan", "measurand": "Power.Active.Import"}, {"value": "1e308", "unit": "kWh"}]}]
    (r,) = read_meter_values(v16)
    assert (r.energy_wh, r.power_w, r.unreadable) == (None, None, (
        ("energy_wh", "1e309"), ("power_w", "nan"), ("energy_wh", "1e308")))
    v201 = [{"timestamp": NOW.isoformat(), "sampled_value": [
        {"value": 5.0, "unit_of_measure": {"unit": "Wh", "multiplier": 400}}, {"value": 3.0, "measurand": "SoC"}]}]
    (r,) = read_meter_values(v201)
    assert (r.energy_wh, r.soc, r.unreadable) == (None, 3.0, (("energy_wh", "5.0"),))
    assert parse_meter_values(v201, NOW) == [MeterSample(NOW, soc=3.0)]  # the unscreened reading, as before


def test_the_limits_are_settings():
    import pytest

    from depot.errors import ConfigError
    from depot.ocpp.screening import limits
    from depot.settings import Settings

    s = Settings.from_env({"DEPOT_CLOCK_SKEW_S": "60", "DEPOT_MAX_BACKLOG_S": "0", "DEPOT_MAX_CONNECTOR_ID": "4",
                           "DEPOT_DATABASE_URL": "sqlite://"})
    assert limits(s) == Limits(clock_skew_s=60.0, max_backlog_s=0.0, max_connector_id=4)
    assert limits(Settings(database_url="sqlite://")) == Limits()  # the defaults agree
    with pytest.raises(ConfigError):
        Settings(database_url="sqlite://", clock_skew_s=-1)
