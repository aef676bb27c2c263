"""The ledger against hand-computed sessions: slot-by-slot cost across a price change, the demand charge shared
by the vehicles in the peak, idle fees with grace, a tariff change recomputing the ledger, CO₂, unmanaged
charging, months that a session spans, and the planner's prices from the tariff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from depot.control.replan import snapshot
from depot.costs import demo_tariff, ledger, tariff_store
from depot.costs.billing import BillingRate
from depot.costs.tariffs import TariffVersion, TouPeriod
from depot.model import Charger, CurrentType, MeterSample, Vehicle
from depot.planning.snapshot import default_prices
from tests.conftest import NOW

H = 60
WED = datetime(2026, 11, 18, tzinfo=UTC)  # a Wednesday
CARBON = tuple(300.0 if h < 17 else 500.0 for h in range(24))
# weekdays 0.20 until 17:00, 0.40 until 21:00, then 0.10; weekends 0.15; 10 €/kW demand charge; UTC
TOU = TariffVersion("Test tariff", datetime(2026, 1, 1, tzinfo=UTC),
                    (TouPeriod(0, 17 * H, 0.20, "weekday"), TouPeriod(17 * H, 21 * H, 0.40, "weekday"),
                     TouPeriod(21 * H, 24 * H, 0.10, "weekday"), TouPeriod(0, 24 * H, 0.15, "weekend")),
                    "UTC", demand_charge_per_kw=10.0, fixed_fee_per_month=50.0, carbon_g_per_kwh=CARBON)


def depot(store, n: int = 3, *, tariff: TariffVersion | None = TOU) -> None:
    for i in range(1, n + 1):
        store.add_charger(Charger(f"CP-{i}", 22.0, CurrentType.AC))
        store.add_vehicle(Vehicle(f"V{i}", f"Van {i}", 80.0, max_ac_kw=22.0, id_tag=f"T{i}"))
    if tariff is not None:
        ledger.save_tariff(store, tariff, now=NOW)


def charge(store, i: int, start: datetime, kws: list[float], *, step: int = 15, stop: datetime | None = None) -> int:
    """Vehicle Vi on CP-i: plugged in at `start`, a sample every `step` minutes after drawing kws[k] kW for the
    step, unplugged at `stop` (default: the last sample)."""
    tx = ledger_tx = store.start_transaction(f"CP-{i}", 1, f"T{i}", started_at=start, meter_start_wh=1000.0)
    wh, samples = 1000.0, []
    for k, kw in enumerate(kws):
        wh += kw * step / 60 * 1000
        samples.append(MeterSample(start + timedelta(minutes=step * (k + 1)), energy_wh=wh, power_w=kw * 1000))
    store.add_meter_samples(f"CP-{i}", 1, samples, transaction_id=tx.id)
    store.stop_transaction(f"CP-{i}", stopped_at=stop or samples[-1].at, transaction_id=tx.id, meter_stop_wh=wh)
    return ledger_tx.id


def row(store, tx: int) -> dict:
    with store.session() as s:
        return dict(s.execute(select(ledger.SessionCostRow.__table__)
                              .where(ledger.SessionCostRow.transaction_id == tx)).one()._mapping)


def period(store, month: str) -> dict:
    with store.session() as s:
        return dict(s.get(ledger.BillingPeriodRow, month).__dict__)


def test_a_session_across_a_price_change_is_costed_slot_by_slot(store):
    depot(store)
    tx = charge(store, 1, WED.replace(hour=16, minute=30), [11, 11, 11, 11])  # 16:30–17:30 at 11 kW
    assert ledger.update(store, now=NOW).sessions == 1
    r = row(store, tx)
    # 5.5 kWh before 17:00 at 0.20 and 5.5 kWh after at 0.40 (not 11 kWh × one average price)
    assert r["energy_kwh"] == pytest.approx(11.0)
    assert r["energy_cost"] == pytest.approx(5.5 * 0.20 + 5.5 * 0.40)
    assert r["co2_kg"] == pytest.approx((5.5 * 300 + 5.5 * 500) / 1000)
    slots = ledger.session_slots(store, tx)
    assert list(slots["price"]) == [0.20, 0.20, 0.40, 0.40]
    assert list(slots["kw"]) == pytest.approx([11.0] * 4)
    assert slots["cost"].sum() == pytest.approx(r["energy_cost"])
    assert ledger.update(store, now=NOW).sessions == 0  # nothing new


def test_samples_between_slot_boundaries_are_split_by_time(store):
    depot(store)
    # plugged in 16:40, a sample every 10 minutes at 11 kW until 17:20: 20 minutes before 17:00, 20 after
    tx = charge(store, 1, WED.replace(hour=16, minute=40), [11, 11, 11, 11], step=10)
    ledger.update(store, now=NOW)
    slots = ledger.session_slots(store, tx)
    assert [t.strftime("%H:%M") for t in slots["at"]] == ["16:30", "16:45", "17:00", "17:15"]
    assert list(slots["kwh"]) == pytest.approx([11 / 12, 11 / 4, 11 / 4, 11 / 12])
    assert row(store, tx)["energy_cost"] == pytest.approx(11 / 3 * 0.20 + 11 / 3 * 0.40)


def test_demand_charge_goes_to_the_vehicles_in_the_peak_by_their_power(store):
    depot(store)
    a = charge(store, 1, WED.replace(hour=18), [22, 22, 22, 22])  # 18:00–19:00 at 22 kW
    b = charge(store, 2, WED.replace(hour=18, minute=30), [11] * 6)  # 18:30–20:00 at 11 kW
    c = charge(store, 3, WED.replace(hour=1), [11, 11])  # 01:00–01:30, not in the peak
    ledger.update(store, now=NOW)
    p = period(store, "2026-11")
    # the depot draws 33 kW from 18:30 to 19:00: the month's peak, 330 € at 10 €/kW
    assert p["peak_kw"] == pytest.approx(33.0) and p["peak_at"] == WED.replace(hour=18, minute=30)
    assert p["demand_charge"] == pytest.approx(330.0) and p["fixed_fee"] == 50.0
    assert row(store, a)["demand_cost"] == pytest.approx(220.0) and row(store, a)["peak_kw"] == pytest.approx(22.0)
    assert row(store, b)["demand_cost"] == pytest.approx(110.0) and row(store, b)["peak_kw"] == pytest.approx(11.0)
    assert row(store, c)["demand_cost"] == 0.0 and row(store, c)["peak_kw"] == 0.0
    assert row(store, a)["peak_month"] == "2026-11"


def test_idle_fee_after_charging_completes_with_grace(store):
    depot(store)
    ledger.save_rates(store, [BillingRate("Tenant", "tenant", per_kwh=0.40, session_fee=1.0,
                                          idle_fee_per_minute=0.10, idle_grace_minutes=30.0)], now=NOW)
    ledger.save_vehicle_groups(store, [tariff_store.VehicleGroups("V1", "CC-1", "Route 1", "Ops", "Tenant")])
    # charges 60 minutes, then stays plugged in 75 minutes more (zero-power samples)
    tx = charge(store, 1, WED.replace(hour=10), [11, 11, 11, 11, 0, 0, 0, 0, 0], stop=WED.replace(hour=12, minute=15))
    ledger.update(store, now=NOW)
    r = row(store, tx)
    assert r["charging_ended_at"] == WED.replace(hour=11)
    assert (r["plugged_minutes"], r["charging_minutes"], r["idle_minutes"]) == pytest.approx((135, 60, 75))
    assert r["billing_group"] == "Tenant"
    assert (r["billed_session_fee"], r["billed_energy"], r["billed_idle"]) == pytest.approx((1.0, 4.4, 4.5))
    assert r["billed_total"] == pytest.approx(9.9)
    # the vehicle moves to a free group: the ledger is re-billed
    ledger.save_rates(store, [BillingRate("Tenant", "tenant", per_kwh=0.40), BillingRate("Staff", free=True)], now=NOW)
    ledger.save_vehicle_groups(store, [tariff_store.VehicleGroups("V1", billing_group="Staff")])
    assert row(store, tx)["billed_total"] == 0.0 and row(store, tx)["billing_group"] == "Staff"


def test_a_tariff_version_change_recomputes_the_ledger(store):
    depot(store)
    a = charge(store, 1, WED.replace(hour=18), [22, 22, 22, 22])
    b = charge(store, 2, WED.replace(hour=18, minute=30), [11] * 6)
    ledger.update(store, now=NOW)
    assert row(store, a)["energy_cost"] == pytest.approx(22 * 0.40)
    flat = TariffVersion("New contract", datetime(2026, 11, 1, tzinfo=UTC), (TouPeriod(0, 24 * H, 0.50),), "UTC",
                         demand_charge_per_kw=20.0)
    saved, update = ledger.save_tariff(store, flat, now=NOW)
    assert update.sessions == 2 and update.months == ("2026-11",)
    assert row(store, a)["energy_cost"] == pytest.approx(22 * 0.50)
    assert row(store, a)["demand_cost"] == pytest.approx(440.0) and row(store, b)["demand_cost"] == pytest.approx(220.0)
    assert row(store, a)["tariff_version_id"] == saved.id
    assert period(store, "2026-11")["fixed_fee"] == 0.0
    # moving the new version's start after the sessions restores the old prices
    ledger.save_tariff(store, TariffVersion(**{**flat.__dict__, "valid_from": datetime(2026, 12, 1, tzinfo=UTC),
                                               "id": saved.id}), now=NOW)
    assert row(store, a)["energy_cost"] == pytest.approx(22 * 0.40) and row(store, a)["demand_cost"] == pytest.approx(220)
    ledger.delete_tariff(store, saved.id, now=NOW)
    assert [v.name for v in tariff_store.list_tariffs(store)] == ["Test tariff"]


def test_unmanaged_counterfactual_charges_at_full_power_from_plug_in(store):
    depot(store)
    # plugged in at 17:00, the planner moved the 22 kWh into 21:00–22:00 at 22 kW; unplugged 23:00
    kws = [0.0] * 16 + [22.0] * 4 + [0.0] * 8
    tx = charge(store, 1, WED.replace(hour=17), kws)
    ledger.update(store, now=NOW)
    r = row(store, tx)
    assert r["energy_cost"] == pytest.approx(22 * 0.10)
    assert r["uc_energy_cost"] == pytest.approx(22 * 0.40)  # 17:00–18:00 at 22 kW, the evening price
    assert r["demand_cost"] == pytest.approx(220.0) and r["uc_demand_cost"] == pytest.approx(220.0)
    p = period(store, "2026-11")
    assert p["uc_peak_kw"] == pytest.approx(22.0) and p["uc_peak_at"] == WED.replace(hour=17)


def test_a_session_over_a_month_end_keeps_both_months_demand_share(store):
    depot(store)
    tx = charge(store, 1, datetime(2026, 11, 30, 23, 0, tzinfo=UTC), [11] * 8)  # 23:00–01:00 at 11 kW
    ledger.update(store, now=NOW)
    assert row(store, tx)["demand_cost"] == pytest.approx(110.0 + 110.0)  # November's and December's peak
    assert period(store, "2026-12")["demand_charge"] == pytest.approx(110.0)
    # recomputing December alone keeps November's share (from the stored billing period)
    up = ledger.recompute(store, since=datetime(2026, 12, 1, tzinfo=UTC), now=NOW)
    assert up.months == ("2026-12",)
    assert row(store, tx)["demand_cost"] == pytest.approx(220.0)
    # 23:00–00:00 Monday at 0.10, then Tuesday 00:00–01:00 at 0.20
    assert row(store, tx)["energy_cost"] == pytest.approx(11 * 0.10 + 11 * 0.20)


def test_incremental_update_costs_only_what_is_new(store):
    depot(store)
    first = charge(store, 1, datetime(2026, 10, 14, 18, tzinfo=UTC), [11] * 4)
    ledger.update(store, now=NOW)
    computed = row(store, first)["computed_at"]
    second = charge(store, 2, WED.replace(hour=18), [22] * 4)
    up = ledger.update(store, now=NOW + timedelta(hours=1))
    assert up.sessions == 1 and up.months == ("2026-11",)
    assert row(store, first)["computed_at"] == computed
    assert row(store, second)["demand_cost"] == pytest.approx(220.0)
    assert period(store, "2026-10")["demand_charge"] == pytest.approx(110.0)


def test_without_tariff_the_default_prices_apply_and_the_planner_keeps_its_default(store, settings):
    depot(store, tariff=None)
    tx = charge(store, 1, WED.replace(hour=16), [11] * 4)  # DEFAULT_TOU: 0.34 from 16:00 UTC
    ledger.update(store, now=NOW)
    assert row(store, tx)["energy_cost"] == pytest.approx(11 * 0.34) and row(store, tx)["demand_cost"] == 0.0
    assert row(store, tx)["tariff_version_id"] is None
    assert tariff_store.planner_prices(store, NOW, 96, 15) is None
    assert snapshot(store, settings, NOW).prices is None


def test_the_planner_plans_with_the_configured_tariff(store, settings):
    depot(store)
    prices = snapshot(store, settings, NOW).prices  # Saturday 18:00 UTC: the weekend price
    assert prices is not None and len(prices) == 96 and prices[0] == 0.15
    assert prices != default_prices(NOW)
    assert tariff_store.planner_prices(store, datetime(2026, 11, 18, 16, 45, tzinfo=UTC), 2, 15) == (0.20, 0.40)


def test_demo_seed_is_idempotent(store):
    depot(store, tariff=None)
    demo_tariff.seed_demo_tariff(store, now=NOW)
    demo_tariff.seed_demo_tariff(store, now=NOW)
    versions = tariff_store.list_tariffs(store)
    assert len(versions) == 2 and versions[-1].valid_from <= NOW
    assert {r.group for r in tariff_store.list_rates(store)} == {r.group for r in demo_tariff.DEMO_RATES}
    groups = tariff_store.vehicle_groups(store)
    assert all(g.cost_centre and g.route and g.billing_group for g in groups)
    ledger.save_vehicle_groups(store, [tariff_store.VehicleGroups("V1", "Mine", None, None, None)])
    demo_tariff.seed_demo_tariff(store, now=NOW)
    assert tariff_store.vehicle_groups(store)[0] == tariff_store.VehicleGroups("V1", "Mine")


def test_samples_without_a_register_are_integrated_from_power(store):
    depot(store)
    start = WED.replace(hour=16, minute=30)
    tx = store.start_transaction("CP-1", 1, "T1", started_at=start, meter_start_wh=0.0)
    # power only, every 15 minutes: 10 kW held for 30 minutes, then 20 kW for 30 minutes
    store.add_meter_samples("CP-1", 1, [MeterSample(start + timedelta(minutes=15 * k), power_w=w)
                                        for k, w in enumerate([10_000, 10_000, 20_000, 20_000, 0])],
                            transaction_id=tx.id)
    store.stop_transaction("CP-1", stopped_at=start + timedelta(hours=1), transaction_id=tx.id, meter_stop_wh=None)
    ledger.update(store, now=NOW)
    r = row(store, tx.id)
    assert r["energy_kwh"] == pytest.approx(2.5 + 2.5 + 5 + 5)
    assert r["energy_cost"] == pytest.approx(5 * 0.20 + 10 * 0.40)
