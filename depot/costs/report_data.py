"""Reading the ledger for a report: the date range, the groupings, and the SQL that sums the ledger.

`parse_range` turns local dates into the [start, end) range; `load(store, start, end)` reads what every report
of that range starts from once (a few SQL queries, no loop over samples) as `LedgerData`; `grouped` sums the
range's sessions per vehicle, route, cost centre …; `session_rows` reads the sessions behind one table row.
The figures made from these live in `depot.costs.reports`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from depot.costs import tariff_store
from depot.costs.metering import epoch, frame
from depot.errors import ValidationError
from depot.store import ChargerRow, ConnectorRow, Store
from depot.store.tables_costs import BillingPeriodRow, LedgerSlotRow, SessionCostRow, VehicleGroupRow

GROUPINGS = {"vehicle": "Vehicle", "route": "Route", "cost-centre": "Cost centre", "department": "Department",
             "billing-group": "Billing group", "charger": "Charger", "site": "Site", "day": "Day", "week": "Week",
             "month": "Month"}
TIME_GROUPINGS = ("day", "week", "month")
NONE_LABEL = {"vehicle": "(unknown vehicle)", "route": "(no route)", "cost-centre": "(no cost centre)",
              "department": "(no department)", "billing-group": "(no billing group)"}

SUMS = ("energy_kwh", "energy_cost", "demand_cost", "peak_kw", "co2_kg", "plugged_minutes", "idle_minutes",
        "uc_energy_cost", "uc_demand_cost", "billed_total")


@dataclass(frozen=True)
class LedgerData:
    """What every report of a date range [start, end) starts from, read once: the ledger summed per local day,
    the depot's 15-minute slots, the billing periods, the connectors."""

    start: datetime
    end: datetime
    tz: str
    currency: str
    site_name: str
    days: pd.DataFrame  # local_day, sessions + SUMS of the sessions plugged in that day
    slots: pd.DataFrame  # at (local), kw, energy_kwh, energy_cost, uc_kw
    periods: pd.DataFrame  # month, peak_kw, demand_charge, uc_peak_kw, uc_demand_charge, fixed_fee
    connectors: dict[str, int]  # connectors per charger (site meters excluded)

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def total_connectors(self) -> int:
        return max(1, sum(self.connectors.values()))


def parse_range(date_from: str | date, date_to: str | date, tz: str) -> tuple[datetime, datetime]:
    """Local dates, both inclusive → [start, end) as aware UTC datetimes."""
    try:
        d0 = date_from if isinstance(date_from, date) else date.fromisoformat(str(date_from).strip()[:10])
    except ValueError:
        raise ValidationError("--from", f"{date_from!r} is not a date (YYYY-MM-DD)") from None
    try:
        d1 = date_to if isinstance(date_to, date) else date.fromisoformat(str(date_to).strip()[:10])
    except ValueError:
        raise ValidationError("--to", f"{date_to!r} is not a date (YYYY-MM-DD)") from None
    if d1 < d0:
        raise ValidationError("--to", f"{d1} is before --from {d0}")
    zone = ZoneInfo(tz)
    return (datetime.combine(d0, time(), zone).astimezone(UTC),
            datetime.combine(d1 + timedelta(days=1), time(), zone).astimezone(UTC))


# ---------------------------------------------------------------- reading (SQL does the summing)


def _frame(conn, query) -> pd.DataFrame:
    out = frame(conn, query)
    for k in ("sessions", *SUMS):
        if k in out:
            out[k] = pd.to_numeric(out[k]).fillna(0.0)
    return out


def _sums():
    S = SessionCostRow
    return [func.count().label("sessions"), *[func.coalesce(func.sum(getattr(S, c)), 0.0).label(c) for c in SUMS]]


def _in_range(start: datetime, end: datetime):
    S = SessionCostRow
    return (S.started_at >= start, S.started_at < end)


def load(store: Store, start: datetime, end: datetime) -> LedgerData:
    versions = tariff_store.list_tariffs(store)
    tz = tariff_store.site_timezone(versions)
    currency = versions[-1].currency if versions else "EUR"
    S, L, B = SessionCostRow, LedgerSlotRow, BillingPeriodRow
    zone = ZoneInfo(tz)
    months = (start.astimezone(zone).strftime("%Y-%m"), (end - timedelta(microseconds=1)).astimezone(zone).strftime("%Y-%m"))
    with store.session() as s:
        conn = s.connection()
        days = _frame(conn, select(S.local_day, *_sums()).where(*_in_range(start, end)).group_by(S.local_day)
                      .order_by(S.local_day))
        slots = _frame(conn, select(epoch(store, L.at).label("t"), L.energy_kwh, L.energy_cost, L.uc_energy_kwh)
                       .where(L.at >= start, L.at < end))
        periods = _frame(conn, select(B.month, B.peak_kw, B.demand_charge, B.uc_peak_kw, B.uc_demand_charge,
                                      B.fixed_fee).where(B.month >= months[0], B.month <= months[1]).order_by(B.month))
        counts = dict(conn.execute(select(ConnectorRow.charger_id, func.count()).where(ConnectorRow.connector_id > 0)
                                   .group_by(ConnectorRow.charger_id)).all())
        chargers = list(s.scalars(select(ChargerRow.id).where(ChargerRow.site_meter.is_(False))))
        site = store.get_site()
    t = np.round(pd.to_numeric(slots.pop("t")).to_numpy(dtype=float), 3) if len(slots) else np.array([], dtype=float)
    slots["at"] = pd.to_datetime(t, unit="s", utc=True).tz_convert(tz)
    slots["kw"] = pd.to_numeric(slots["energy_kwh"]) / 0.25
    slots["uc_kw"] = pd.to_numeric(slots["uc_energy_kwh"]) / 0.25
    connectors = {c: max(1, int(counts.get(c, 1))) for c in chargers}
    return LedgerData(start, end, tz, currency, site.name, days, slots, periods, connectors)


def _entity_key(by: str):
    S, G = SessionCostRow, VehicleGroupRow
    return {"vehicle": S.vehicle_id, "charger": S.charger_id, "billing-group": S.billing_group, "route": G.route,
            "cost-centre": G.cost_centre, "department": G.department}[by]


def grouped(store: Store, data: LedgerData, by: str) -> pd.DataFrame:
    """The range's sessions summed per group: for vehicles, chargers, routes … one row per group and billing
    month of the peak they charged in (`peak_month`); for periods and the site, the per-day sums."""
    if by not in GROUPINGS:
        raise ValidationError("by", f"{by!r} is not one of {', '.join(GROUPINGS)}")
    if by in TIME_GROUPINGS or by == "site":
        return data.days.rename(columns={"local_day": "key"})
    S, G = SessionCostRow, VehicleGroupRow
    key = _entity_key(by)
    q = (select(key.label("key"), S.peak_month, *_sums()).outerjoin(G, G.vehicle_id == S.vehicle_id)
         .where(*_in_range(data.start, data.end)).group_by(key, S.peak_month))
    with store.session() as s:
        return _frame(s.connection(), q)


def session_rows(store: Store, data: LedgerData, by: str, key: str | None) -> pd.DataFrame:
    """The ledger rows of the sessions a table row adds up (all of the range for the Total, key None), newest
    first: plug-in (`start`) and unplug (`stop`) as local times, the SUMS columns as they are stored."""
    S, G = SessionCostRow, VehicleGroupRow
    q = (select(S.transaction_id, S.vehicle_id, S.charger_id, epoch(store, S.started_at).label("start"),
                epoch(store, S.stopped_at).label("stop"), S.local_day, S.billing_group,
                *[getattr(S, c) for c in SUMS])
         .outerjoin(G, G.vehicle_id == S.vehicle_id).where(*_in_range(data.start, data.end)))
    if key is not None and key != "Total" and by != "site":
        if by == "day":
            q = q.where(S.local_day == key)
        elif by == "month":
            q = q.where(S.local_day.like(f"{key}-%"))
        elif by == "week":
            year, week = key.split("-W")
            monday = date.fromisocalendar(int(year), int(week), 1)
            q = q.where(S.local_day >= monday.isoformat(), S.local_day <= (monday + timedelta(days=6)).isoformat())
        else:
            col = _entity_key(by)
            q = q.where(col.is_(None) if key == NONE_LABEL.get(by) else col == key)
    with store.session() as s:
        f = _frame(s.connection(), q.order_by(S.started_at.desc()))
    if f.empty:
        return f
    for col in ("start", "stop"):
        f[col] = pd.to_datetime(np.round(pd.to_numeric(f[col]).to_numpy(dtype=float), 3), unit="s",
                                utc=True).tz_convert(data.tz)
    return f
