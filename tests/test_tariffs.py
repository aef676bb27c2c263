"""Tariffs (pure): prices per slot by local time, day type, season, holiday and version; billing rates with
idle fees after a grace period; carbon; validation messages that name the field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from depot.costs.billing import BillingRate, billed, billed_frame
from depot.costs.prices import billing_months, prices_for, slot_rates
from depot.costs.tariff_io import parse_rates, parse_tariff, tariff_from_json, tariff_to_json
from depot.costs.tariffs import (
    DEFAULT_CARBON_G_PER_KWH,
    Season,
    TariffErrors,
    TariffVersion,
    TouPeriod,
    check_tariff,
    validate_tariff,
)
from depot.planning.snapshot import default_prices

BERLIN = ZoneInfo("Europe/Berlin")
H = 60


def simple(valid_from=datetime(2026, 1, 1, tzinfo=BERLIN), **kw) -> TariffVersion:
    """Weekdays: night 0.10 (22–06), day 0.30 (06–22); weekends 0.20 all day; Berlin time."""
    periods = (TouPeriod(22 * H, 6 * H, 0.10, "weekday"), TouPeriod(6 * H, 22 * H, 0.30, "weekday"),
               TouPeriod(0, 24 * H, 0.20, "weekend"))
    return TariffVersion("Simple", valid_from, kw.pop("periods", periods), "Europe/Berlin", **kw)


def price_at(versions, local: datetime) -> float:
    return prices_for(versions, local.astimezone(UTC), 1)[0]


def messages(v: TariffVersion, others=()) -> list[str]:
    return [str(e) for e in validate_tariff(v, others)]


# ---------------------------------------------------------------- prices


def test_without_tariff_the_planner_default_applies():
    start = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert prices_for([], start, 96) == default_prices(start, 96)


def test_time_of_use_by_local_time_and_day_type():
    v = [simple()]
    assert price_at(v, datetime(2026, 11, 20, 5, 45, tzinfo=BERLIN)) == 0.10  # Friday night
    assert price_at(v, datetime(2026, 11, 20, 6, 0, tzinfo=BERLIN)) == 0.30
    assert price_at(v, datetime(2026, 11, 20, 21, 45, tzinfo=BERLIN)) == 0.30
    assert price_at(v, datetime(2026, 11, 20, 22, 0, tzinfo=BERLIN)) == 0.10
    assert price_at(v, datetime(2026, 11, 21, 12, 0, tzinfo=BERLIN)) == 0.20  # Saturday
    # a planner horizon of 15-minute slots from Friday 21:30 Berlin (20:30 UTC): 2 day slots, then night
    prices = prices_for(v, datetime(2026, 11, 20, 20, 30, tzinfo=UTC), 4)
    assert prices == (0.30, 0.30, 0.10, 0.10)


def test_local_time_follows_daylight_saving():
    v = [simple()]
    # 06:00 Berlin is 05:00 UTC in winter and 04:00 UTC in summer
    assert prices_for(v, datetime(2026, 1, 14, 5, 0, tzinfo=UTC), 1) == (0.30,)
    assert prices_for(v, datetime(2026, 7, 15, 4, 0, tzinfo=UTC), 1) == (0.30,)
    assert prices_for(v, datetime(2026, 7, 15, 3, 45, tzinfo=UTC), 1) == (0.10,)


def test_seasons_and_holidays():
    periods = (TouPeriod(0, 24 * H, 0.25, "weekday", "winter"), TouPeriod(0, 24 * H, 0.15, "weekday", "summer"),
               TouPeriod(0, 24 * H, 0.12, "weekend"), TouPeriod(0, 24 * H, 0.05, "holiday"))
    v = [simple(periods=periods, seasons=(Season("winter", (10, 1), (3, 31)), Season("summer", (4, 1), (9, 30))),
                holidays=(date(2026, 12, 25),))]
    assert check_tariff(v[0]) is v[0]
    assert price_at(v, datetime(2026, 12, 23, 12, tzinfo=BERLIN)) == 0.25  # Wednesday in winter
    assert price_at(v, datetime(2026, 6, 17, 12, tzinfo=BERLIN)) == 0.15  # Wednesday in summer
    assert price_at(v, datetime(2026, 3, 31, 23, 45, tzinfo=BERLIN)) == 0.25
    assert price_at(v, datetime(2026, 4, 1, 0, 0, tzinfo=BERLIN)) == 0.15
    assert price_at(v, datetime(2026, 12, 25, 12, tzinfo=BERLIN)) == 0.05  # Friday, but a holiday
    # without holiday prices a holiday is priced like a weekend
    plain = [simple(holidays=(date(2026, 12, 25),))]
    assert price_at(plain, datetime(2026, 12, 25, 12, tzinfo=BERLIN)) == 0.20


def test_a_new_version_applies_from_its_start():
    old = simple(id=1)
    new = simple(valid_from=datetime(2026, 12, 1, tzinfo=BERLIN), id=2,
                 periods=(TouPeriod(0, 24 * H, 0.40, "all"),), demand_charge_per_kw=10.0)
    versions = [new, old]  # any order
    assert price_at(versions, datetime(2026, 11, 30, 23, 45, tzinfo=BERLIN)) == 0.10
    assert price_at(versions, datetime(2026, 12, 1, 0, 0, tzinfo=BERLIN)) == 0.40
    assert price_at(versions, datetime(2025, 6, 2, 12, 0, tzinfo=UTC)) == 0.22  # before the first: DEFAULT_TOU
    r = slot_rates(versions, np.array([int(datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp()),
                                       int(datetime(2026, 12, 2, 12, tzinfo=UTC).timestamp()),
                                       int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())]))
    assert list(r.version) == [0, 1, -1] and list(r.demand_rate) == [0.0, 10.0, 0.0]


def test_carbon_profile_by_local_hour_and_billing_month():
    t = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # 00:30 Berlin on 1 February
    ts = np.array([int(t.timestamp())])
    assert slot_rates([simple()], ts).carbon[0] == DEFAULT_CARBON_G_PER_KWH[0]
    own = simple(carbon_g_per_kwh=tuple(float(h) for h in range(100, 124)))
    assert slot_rates([own], ts).carbon[0] == 100.0
    assert billing_months(ts, "Europe/Berlin")[0] == 202602
    assert billing_months(ts, "UTC")[0] == 202601


# ---------------------------------------------------------------- billing


def test_idle_fee_only_after_the_grace_period():
    rate = BillingRate("Tenant", "tenant", per_kwh=0.40, per_minute=0.01, session_fee=1.0, idle_fee_per_minute=0.10,
                       idle_grace_minutes=30.0)
    # 20 kWh, plugged 4 h, charging done after 3 h: idle 60 min, 30 of them billed
    c = billed(rate, 20.0, 240.0, 60.0)
    assert (c.session_fee, c.energy, c.time, c.idle) == pytest.approx((1.0, 8.0, 2.4, 3.0))
    assert c.total == pytest.approx(14.4)
    assert billed(rate, 20.0, 240.0, 25.0).idle == 0.0  # within the grace period
    assert billed(BillingRate("Staff", "membership", per_kwh=0.4, free=True), 20.0, 240.0, 90.0).total == 0.0
    assert billed(None, 20.0, 240.0, 90.0).total == 0.0


def test_billed_frame_matches_billed():
    rates = [BillingRate("A", per_kwh=0.3, idle_fee_per_minute=0.2, idle_grace_minutes=10),
             BillingRate("B", "tenant", session_fee=2.0, per_minute=0.05), BillingRate("C", free=True, per_kwh=9)]
    df = pd.DataFrame({"billing_group": ["A", "B", "C", None, "A"], "energy_kwh": [10.0, 5.0, 7.0, 3.0, 1.0],
                       "plugged_minutes": [60.0, 120.0, 30.0, 10.0, 15.0], "idle_minutes": [25.0, 50.0, 0.0, 0.0, 5.0]})
    out = billed_frame(rates, df)
    by = {r.group: r for r in rates}
    for i, row in df.iterrows():
        assert out.loc[i, "billed_total"] == pytest.approx(billed(by.get(row.billing_group), row.energy_kwh,
                                                                  row.plugged_minutes, row.idle_minutes).total)
    assert list(out["billed_total"].round(2)) == [6.0, 8.0, 0.0, 0.0, 0.3]


# ---------------------------------------------------------------- validation messages


def test_overlap_gap_and_negative_price_are_named():
    bad = simple(periods=(TouPeriod(0, 7 * H, 0.10, "weekday"), TouPeriod(6 * H, 20 * H, 0.30, "weekday"),
                          TouPeriod(0, 24 * H, 0.20, "weekend")))
    assert messages(bad) == ["periods lines 1 and 2: overlap on weekday 06:00–07:00",
                             "periods: no price for weekday 20:00–24:00 (a gap)"]
    neg = simple(periods=(TouPeriod(0, 24 * H, -0.05, "all"),), demand_charge_per_kw=-1.0)
    assert messages(neg) == ["demand_charge_per_kw: -1 is negative", "periods line 1, price: -0.05 per kWh is negative"]
    with pytest.raises(TariffErrors) as exc:
        check_tariff(neg)
    assert exc.value.field == "demand_charge_per_kw" and len(exc.value.errors) == 2


def test_seasons_must_cover_the_year_once():
    periods = (TouPeriod(0, 24 * H, 0.2, "all"),)
    gap = simple(periods=periods, seasons=(Season("winter", (10, 1), (3, 31)), Season("summer", (4, 2), (9, 30))))
    assert messages(gap) == ["seasons: 04-01…04-01 belongs to no season (a gap)"]
    both = simple(periods=periods, seasons=(Season("winter", (10, 1), (4, 30)), Season("summer", (4, 1), (9, 30))))
    assert messages(both) == ["seasons: winter and summer overlap on 04-01…04-30"]
    unknown = simple(periods=(TouPeriod(0, 24 * H, 0.2, "all", "sumer"),))
    assert messages(unknown) == ["periods line 1, season: unknown season 'sumer' (none defined: use all)"]


def test_versions_zone_and_quarter_hours():
    v = simple()
    assert messages(simple(id=2), [simple(id=1)]) == [
        "valid_from: version 'Simple' already starts at 2026-01-01 00:00 CET; versions apply one after another"]
    odd = TariffVersion("Odd", v.valid_from, (TouPeriod(0, 7 * H + 10, 0.1), TouPeriod(7 * H + 10, 0, 0.2)),
                        timezone="Europe/Berlim", currency="EURO")
    assert messages(odd) == [
        "timezone: unknown time zone 'Europe/Berlim' (e.g. Europe/Berlin)",
        "currency: 'EURO' is not a 3-letter currency code",
        "periods line 1, end: 07:10 is not a quarter hour of the day",
        "periods line 2, start: 07:10 is not a quarter hour of the day"]


def test_parse_tariff_reads_a_form_and_names_every_bad_field():
    form = {"name": "Supplier 2027", "valid_from": "2027-01-01", "timezone": "Europe/Berlin", "currency": "eur",
            "demand_charge_per_kw": "11.5", "fixed_fee_per_month": "49", "holidays": "2027-01-01, 2027-12-25",
            "carbon_g_per_kwh": ""}
    rows = [{"days": "weekday", "start": "22:00", "end": "06:00", "price": "0.12"},
            {"days": "weekday", "start": "06:00", "end": "22:00", "price": 0.31},
            {"days": "weekend", "start": "00:00", "end": "24:00", "price": 0.18}]
    v = parse_tariff(form, rows)
    assert v.valid_from == datetime(2027, 1, 1, tzinfo=BERLIN) and v.currency == "EUR"
    assert v.demand_charge_per_kw == 11.5 and v.holidays == (date(2027, 1, 1), date(2027, 12, 25))
    assert tariff_from_json(tariff_to_json(v), name=v.name, valid_from=v.valid_from, timezone=v.timezone,
                            currency=v.currency, demand_charge_per_kw=11.5, fixed_fee_per_month=49.0) == v

    bad_rows = [{"days": "weekday", "start": "22:00", "end": "06:00", "price": "cheap"},
                {"days": "weekday", "start": "6", "end": "22:00", "price": "-0.3"},
                {"days": "weekend", "start": "00:00", "end": "24:00", "price": ""}]
    with pytest.raises(TariffErrors) as exc:
        parse_tariff({**form, "valid_from": "next year", "holidays": "2027-13-01"}, bad_rows)
    assert [str(e) for e in exc.value.errors] == [
        "valid_from: 'next year' is not a date (YYYY-MM-DD)",
        "holidays: '2027-13-01' is not a date (YYYY-MM-DD)",
        "periods line 1, price: 'cheap' is not a number",
        "periods line 3, price: is required",
        "periods line 2, price: -0.3 per kWh is negative"]


def test_parse_rates_names_lines():
    rows = [{"group": "Tenant A", "kind": "tenant", "per_kwh": "0.39", "idle_fee_per_minute": "0.1",
             "idle_grace_minutes": "60", "free": False},
            {"group": "Tenant A", "kind": "landlord", "per_kwh": "-1"}]
    with pytest.raises(TariffErrors) as exc:
        parse_rates(rows)
    assert [str(e) for e in exc.value.errors] == [
        "line 1, group: 'Tenant A' appears more than once", "line 2, group: 'Tenant A' appears more than once",
        "line 2, kind: 'landlord' is not one of cost centre, department, tenant, membership",
        "line 2, per_kwh: -1 is negative"]
    assert parse_rates(rows[:1])[0] == BillingRate("Tenant A", "tenant", per_kwh=0.39, idle_fee_per_minute=0.1,
                                                   idle_grace_minutes=60.0)


def test_midnight_wrap_and_whole_day_periods_cover_the_day():
    v = simple(periods=(TouPeriod(18 * H, 6 * H, 0.1), TouPeriod(6 * H, 18 * H, 0.3)))
    assert messages(v) == []
    starts = datetime(2026, 3, 2, tzinfo=BERLIN)
    prices = prices_for([v], starts.astimezone(UTC), 96)
    assert prices[:24] == (0.1,) * 24 and prices[24:72] == (0.3,) * 48 and prices[72:] == (0.1,) * 24
