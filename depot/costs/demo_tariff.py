"""The demo depot's costs: a supplier tariff with a price change, billing groups, and every vehicle's groups.

`seed_demo_tariff(store, now=)` stores them where none exist yet (idempotent); the simulated depot and the
reports benchmark call it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

from depot.costs import ledger, tariff_store
from depot.costs.billing import BillingRate
from depot.costs.tariff_io import tariff_to_json
from depot.costs.tariff_store import VehicleGroups
from depot.costs.tariffs import Season, TariffVersion, TouPeriod
from depot.store import Store
from depot.store.tables_costs import TariffVersionRow


def demo_tariffs(now: datetime) -> list[TariffVersion]:
    """A year-old supplier tariff and this month's price change: winter/summer, weekday/weekend, holidays,
    12 €/kW demand charge, 49 € a month."""
    tz = "Europe/Berlin"
    local = now.astimezone(ZoneInfo(tz))
    this_month = datetime(local.year, local.month, 1, tzinfo=ZoneInfo(tz))
    year_ago = datetime(local.year - 1, local.month, 1, tzinfo=ZoneInfo(tz))
    seasons = (Season("winter", (10, 1), (3, 31)), Season("summer", (4, 1), (9, 30)))
    years = (local.year - 1, local.year, local.year + 1)
    holidays = tuple(date(y, m, d) for y in years for m, d in ((1, 1), (5, 1), (10, 3), (12, 25), (12, 26)))

    def version(name: str, start: datetime, k: float) -> TariffVersion:
        h = 60
        periods = (
            TouPeriod(22 * h, 6 * h, round(0.14 * k, 4), "weekday"),
            TouPeriod(6 * h, 16 * h, round(0.24 * k, 4), "weekday"),
            TouPeriod(16 * h, 20 * h, round(0.36 * k, 4), "weekday", "winter"),
            TouPeriod(16 * h, 20 * h, round(0.31 * k, 4), "weekday", "summer"),
            TouPeriod(20 * h, 22 * h, round(0.24 * k, 4), "weekday"),
            TouPeriod(0, 24 * h, round(0.16 * k, 4), "weekend"),
        )
        return TariffVersion(name, start, periods, tz, "EUR", seasons, holidays, 12.0, 49.0)

    return [version("Stadtwerke Business ToU", year_ago, 1.0),
            version("Stadtwerke Business ToU (price change)", this_month, 1.08)]


DEMO_RATES = (
    BillingRate("Fleet operations", "cost centre", free=True),
    BillingRate("Tenant: Nordbus GmbH", "tenant", per_kwh=0.39, session_fee=1.0, idle_fee_per_minute=0.10,
                idle_grace_minutes=60.0),
    BillingRate("Staff membership", "membership", per_kwh=0.25, idle_fee_per_minute=0.05, idle_grace_minutes=30.0),
)
DEMO_COST_CENTRES = ("CC-4100 Urban", "CC-4200 Regional", "CC-4300 Logistics")


def seed_demo_tariff(store: Store, *, now: datetime) -> None:
    """The demo's tariff versions, billing groups and vehicle groups, where none exist yet (idempotent)."""
    if not tariff_store.list_tariffs(store):
        with store.session() as s:
            for v in demo_tariffs(now):
                s.add(TariffVersionRow(name=v.name, valid_from=v.valid_from, timezone=v.timezone, currency=v.currency,
                                       demand_charge_per_kw=v.demand_charge_per_kw,
                                       fixed_fee_per_month=v.fixed_fee_per_month, updated_at=now,
                                       definition=json.dumps(tariff_to_json(v), separators=(",", ":"))))
    if not tariff_store.list_rates(store):
        ledger.save_rates(store, DEMO_RATES, now=now)
    todo = [g for g in tariff_store.vehicle_groups(store) if g == VehicleGroups(g.vehicle_id)]
    if todo:
        rows = []
        for i, g in enumerate(todo):
            billing = DEMO_RATES[0].group if i % 10 < 8 else DEMO_RATES[1 if i % 10 == 8 else 2].group
            rows.append(VehicleGroups(g.vehicle_id, DEMO_COST_CENTRES[i % 3], f"Route {i % 8 + 1}",
                                      "Logistics" if i % 3 == 2 else "Operations", billing))
        ledger.save_vehicle_groups(store, rows)
