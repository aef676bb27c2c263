"""Energy cost reports from the ledger: a date range grouped by vehicle, route, cost centre, department, billing
group, charger, site, day, week or month; KPIs, chart data and the drill-down to sessions.

`depot.costs.report_data.load(store, start, end)` reads the ledger once; everything here is pure pandas over
that `LedgerData`: `summarise(data, rows, by)`, `kpis(data)`, `timeseries`, `heatmap`, `sessions_behind`.
`build_report` does both for the page and the CLI; `depot.costs.report_export` writes the CSV and XLSX,
`depot.costs.report_pdf` draws the PDF.

Accounting conventions (also printed under every table):
- A session belongs to the period, vehicle, charger … of its plug-in (its start, local time of the tariff).
- Cost = energy cost (slot by slot at each slot's price) + its share of the demand charge; fixed fees are a
  site cost, shown apart and prorated by day over the range.
- Peak kW: for day, week, month and site rows the depot's highest 15-minute average charging power in the
  period; for vehicles, chargers, routes … their power in the billing peak (what they put into the peak that
  the demand charge is billed on; the highest month when the range spans several).
- Utilisation: plugged-in hours ÷ connector hours available (the charger's connectors for a charger row, the
  depot's for every other row; a period row uses the period's hours).
- Savings: what the same sessions would have cost charging at full power from plug-in (unmanaged), energy
  and demand charge, minus what they cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from depot.costs import ledger
from depot.costs.report_data import (
    GROUPINGS,
    NONE_LABEL,
    SUMS,
    TIME_GROUPINGS,
    LedgerData,
    grouped,
    load,
    session_rows,
)
from depot.errors import ValidationError
from depot.store import Store

# (key, header, decimals); "{cur}" is replaced by the currency
COLUMNS = (
    ("sessions", "Sessions", 0),
    ("energy_kwh", "Energy (kWh)", 1),
    ("energy_cost", "Energy cost ({cur})", 2),
    ("demand_cost", "Demand charge ({cur})", 2),
    ("cost", "Cost ({cur})", 2),
    ("avg_price", "Avg price ({cur}/kWh)", 4),
    ("avg_duration_h", "Avg duration (h)", 2),
    ("utilisation_pct", "Utilisation (%)", 1),
    ("peak_kw", "Peak (kW)", 1),
    ("idle_h", "Idle (h)", 1),
    ("co2_kg", "CO₂ (kg)", 1),
    ("uc_cost", "Unmanaged cost ({cur})", 2),
    ("savings_energy", "Energy savings ({cur})", 2),
    ("savings_demand", "Demand savings ({cur})", 2),
    ("savings", "Savings ({cur})", 2),
    ("billed", "Billed ({cur})", 2),
)
SESSION_COLUMNS = (
    ("transaction_id", "Session", 0), ("vehicle_id", "Vehicle", None), ("charger_id", "Charger", None),
    ("started", "Plugged in", None), ("stopped", "Unplugged", None), ("energy_kwh", "Energy (kWh)", 2),
    ("energy_cost", "Energy cost ({cur})", 2), ("demand_cost", "Demand charge ({cur})", 2),
    ("cost", "Cost ({cur})", 2), ("avg_price", "Avg price ({cur}/kWh)", 4), ("plugged_h", "Plugged in (h)", 2),
    ("idle_minutes", "Idle (min)", 0), ("peak_kw", "kW in peak", 1), ("co2_kg", "CO₂ (kg)", 2),
    ("uc_cost", "Unmanaged cost ({cur})", 2), ("savings", "Savings ({cur})", 2),
    ("billing_group", "Billing group", None), ("billed_total", "Billed ({cur})", 2),
)

NOTES = (
    "A session counts in the period, vehicle and charger of its plug-in. Cost = energy cost (each 15-minute slot "
    "at its price) + share of the demand charge.",
    "Peak (kW): for periods and the site, the highest 15-minute average charging power; for vehicles, chargers "
    "and groups, their power in the billing peak.",
    "Savings: the same sessions charged at full power from plug-in (unmanaged), energy and demand charge, minus "
    "the actual cost.",
)


@dataclass(frozen=True)
class Report:
    data: LedgerData
    by: str
    table: pd.DataFrame  # one row per group: "group" + COLUMNS keys
    totals: dict  # the Total row's COLUMNS and the KPIs (see kpis)

    @property
    def title(self) -> str:
        return f"Energy cost by {GROUPINGS[self.by].lower()}, {period_label(self.data)}"


# ---------------------------------------------------------------- pure aggregation


def period_key(days: pd.Series, by: str) -> pd.Series:
    """Local days (YYYY-MM-DD) → their day, ISO week (2026-W47) or month (2026-11)."""
    if by == "day":
        return days.astype(str)
    if by == "month":
        return days.astype(str).str[:7]
    d = pd.to_datetime(days.astype(str), format="%Y-%m-%d")
    iso = d.dt.isocalendar()
    return iso["year"].astype(str) + "-W" + iso["week"].astype(int).map("{:02d}".format)


def _period_bounds(key: str, by: str, data: LedgerData) -> tuple[pd.Timestamp, pd.Timestamp]:
    zone = ZoneInfo(data.tz)
    if by == "day":
        lo = pd.Timestamp(key, tz=zone)
        hi = lo + pd.DateOffset(days=1)
    elif by == "week":
        year, week = key.split("-W")
        lo = pd.Timestamp(date.fromisocalendar(int(year), int(week), 1), tz=zone)
        hi = lo + pd.DateOffset(weeks=1)
    else:
        lo = pd.Timestamp(key + "-01", tz=zone)
        hi = lo + pd.DateOffset(months=1)
    return max(lo, pd.Timestamp(data.start).tz_convert(zone)), min(hi, pd.Timestamp(data.end).tz_convert(zone))


def summarise(data: LedgerData, rows: pd.DataFrame, by: str) -> pd.DataFrame:
    """One row per group with every COLUMNS figure from `grouped` rows: entity groups sorted by cost, periods
    in time order."""
    if rows.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c, _, _ in COLUMNS})
        return empty.assign(group=pd.Series(dtype=str))[["group", *[c for c, _, _ in COLUMNS]]]
    if by in TIME_GROUPINGS:
        keys = period_key(rows["key"], by)
    elif by == "site":
        keys = pd.Series(data.site_name, index=rows.index)
    else:
        keys = rows["key"].where(rows["key"].notna(), NONE_LABEL.get(by, "(none)")).astype(str)
    r = rows.assign(group=keys.to_numpy())
    t = r.groupby("group", sort=False)[["sessions", *SUMS]].sum()
    t = _derived(t)
    if by in TIME_GROUPINGS:
        bounds = {k: _period_bounds(k, by, data) for k in t.index}
        hours = pd.Series({k: max((hi - lo).total_seconds() / 3600.0, 0.25) for k, (lo, hi) in bounds.items()})
        t["utilisation_pct"] = 100.0 * t["plugged_minutes"] / 60.0 / (data.total_connectors * hours)
        t["peak_kw"] = [_peak_between(data.slots, *bounds[k]) for k in t.index]
        t = t.sort_index()
    else:
        if by == "charger":
            cap = pd.Series({k: data.connectors.get(k, 1) for k in t.index}, dtype=float)
        else:
            cap = pd.Series(float(data.total_connectors), index=t.index)
        t["utilisation_pct"] = 100.0 * t["plugged_minutes"] / 60.0 / (cap * max(data.hours, 0.25))
        if by == "site":
            t["peak_kw"] = float(data.slots["kw"].max()) if len(data.slots) else 0.0
        else:
            in_peak = r[r["peak_month"].notna() & (r["peak_kw"] > 0)].groupby(["group", "peak_month"])["peak_kw"].sum()
            t["peak_kw"] = in_peak.groupby(level=0).max().reindex(t.index).fillna(0.0)
        t = t.sort_values(["cost", "energy_kwh"], ascending=False, kind="mergesort")
    t = t.reset_index()
    return t[["group", *[c for c, _, _ in COLUMNS]]]


def _derived(t: pd.DataFrame) -> pd.DataFrame:
    """From sums and counts: cost, average price and duration, idle hours, unmanaged cost and savings."""
    t = t.copy()
    t["sessions"] = t["sessions"].astype(int)
    t["cost"] = t["energy_cost"] + t["demand_cost"]
    kwh = t["energy_kwh"]
    t["avg_price"] = np.where(kwh > 0, t["cost"] / kwh.where(kwh > 0, 1.0), 0.0)
    t["avg_duration_h"] = np.where(t["sessions"] > 0, t["plugged_minutes"] / 60.0 / t["sessions"].clip(lower=1), 0.0)
    t["idle_h"] = t["idle_minutes"] / 60.0
    t["uc_cost"] = t["uc_energy_cost"] + t["uc_demand_cost"]
    t["savings_energy"] = t["uc_energy_cost"] - t["energy_cost"]
    t["savings_demand"] = t["uc_demand_cost"] - t["demand_cost"]
    t["savings"] = t["uc_cost"] - t["cost"]
    t["billed"] = t["billed_total"]
    return t


def _peak_between(slots: pd.DataFrame, lo, hi) -> float:
    sel = slots["kw"][(slots["at"] >= lo) & (slots["at"] < hi)]
    return float(sel.max()) if len(sel) else 0.0


def kpis(data: LedgerData) -> dict:
    """The range's headline numbers: the Total row's figures plus fixed fees, the peak and when, CO₂ per kWh,
    the unmanaged peak."""
    sums = data.days[["sessions", *SUMS]].sum() if len(data.days) else pd.Series(0.0, index=["sessions", *SUMS])
    t = _derived(sums.to_frame().T).iloc[0]
    out = {c: float(t[c]) for c, _, _ in COLUMNS if c in t}
    out["sessions"] = int(t["sessions"])
    out["utilisation_pct"] = 100.0 * float(sums["plugged_minutes"]) / 60.0 / (data.total_connectors * max(data.hours, 0.25))
    has_slots = len(data.slots) > 0
    out["peak_kw"] = float(data.slots["kw"].max()) if has_slots else 0.0
    out["peak_at"] = data.slots["at"].iloc[int(data.slots["kw"].to_numpy().argmax())] if has_slots else None
    out["uc_peak_kw"] = float(data.slots["uc_kw"].max()) if has_slots else 0.0
    out["fixed_fees"] = fixed_fees(data)
    out["total_cost"] = out["cost"] + out["fixed_fees"]
    out["co2_g_per_kwh"] = 1000.0 * out["co2_kg"] / out["energy_kwh"] if out["energy_kwh"] > 0 else 0.0
    out["savings_pct"] = 100.0 * out["savings"] / out["uc_cost"] if out["uc_cost"] > 0 else 0.0
    return out


def fixed_fees(data: LedgerData) -> float:
    """Each month's fixed fee, prorated by the part of the month the range covers."""
    total = 0.0
    zone = ZoneInfo(data.tz)
    lo, hi = data.start.astimezone(zone), data.end.astimezone(zone)
    for month, fee in zip(data.periods.get("month", []), data.periods.get("fixed_fee", []), strict=True):
        m0 = datetime.fromisoformat(month + "-01").replace(tzinfo=zone)
        m1 = (m0.replace(day=28) + timedelta(days=4)).replace(day=1)
        overlap = (min(hi, m1) - max(lo, m0)).total_seconds()
        if overlap > 0:
            total += float(fee) * overlap / (m1 - m0).total_seconds()
    return total


def build_report(store: Store, start: datetime, end: datetime, by: str, *, now: datetime | None = None,
                 data: LedgerData | None = None) -> Report:
    """Bring the ledger up to date (when `now` is given), read the range and group it."""
    if by not in GROUPINGS:
        raise ValidationError("by", f"{by!r} is not one of {', '.join(GROUPINGS)}")
    if now is not None:
        ledger.update(store, now=now)
    data = data or load(store, start, end)
    table = summarise(data, grouped(store, data, by), by)
    return Report(data, by, table, {"group": "Total", **kpis(data)})


def timeseries(data: LedgerData, freq: str | None = None) -> pd.DataFrame:
    """Energy and cost per day (week or month for longer ranges), every period present, zeros included."""
    freq = freq or ("day" if data.hours <= 62 * 24 else "week" if data.hours <= 190 * 24 else "month")
    zone = ZoneInfo(data.tz)
    days = pd.date_range(data.start.astimezone(zone).date(), (data.end - timedelta(microseconds=1)).astimezone(zone).date(),
                         freq="D")
    idx = list(dict.fromkeys(period_key(pd.Series(days.strftime("%Y-%m-%d")), freq)))
    cols = ["energy_kwh", "energy_cost", "demand_cost", "cost", "uc_cost", "savings", "savings_energy"]
    if data.days.empty:
        out = pd.DataFrame(0.0, index=idx, columns=cols)
    else:
        t = _derived(data.days.assign(period=period_key(data.days["local_day"], freq).to_numpy())
                     .groupby("period")[["sessions", *SUMS]].sum())
        out = t[cols].reindex(idx).fillna(0.0)
    out.index.name = freq
    return out.reset_index()


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def heatmap(data: LedgerData) -> pd.DataFrame:
    """Average charging power (kW) by local weekday (rows Mon…Sun) and hour (columns 0…23) over the range."""
    zone = ZoneInfo(data.tz)
    hours = pd.date_range(data.start.astimezone(zone), data.end.astimezone(zone), freq="h", inclusive="left")
    count = pd.crosstab(hours.day_of_week, hours.hour).reindex(index=range(7), columns=range(24), fill_value=0)
    if data.slots.empty:
        kwh = pd.DataFrame(0.0, index=range(7), columns=range(24))
    else:
        at = data.slots["at"]
        kwh = (data.slots.assign(wd=at.dt.day_of_week, hr=at.dt.hour)
               .pivot_table(index="wd", columns="hr", values="energy_kwh", aggfunc="sum")
               .reindex(index=range(7), columns=range(24)).fillna(0.0))
    avg = kwh / count.where(count > 0, np.nan)
    avg.index = list(WEEKDAYS)
    return avg.fillna(0.0)


# ---------------------------------------------------------------- drill-down and labels


def sessions_behind(store: Store, data: LedgerData, by: str, key: str | None) -> pd.DataFrame:
    """The sessions a table row adds up (all of the range for the Total, key None), newest first."""
    f = session_rows(store, data, by, key)
    if f.empty:
        return pd.DataFrame(columns=[c for c, _, _ in SESSION_COLUMNS])
    f = f.assign(sessions=1)
    d = _derived(f)
    d["started"] = f["start"].dt.strftime("%Y-%m-%d %H:%M")
    d["stopped"] = f["stop"].dt.strftime("%Y-%m-%d %H:%M")
    d["plugged_h"] = f["plugged_minutes"] / 60.0
    d["vehicle_id"] = f["vehicle_id"].fillna(NONE_LABEL["vehicle"])
    d["billing_group"] = f["billing_group"].fillna("")
    return d[[c for c, _, _ in SESSION_COLUMNS]].reset_index(drop=True)


def top_vehicles(table_by_vehicle: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    t = table_by_vehicle.astype({"cost": float, "energy_kwh": float})
    return t.nlargest(n, "cost")[["group", "cost", "energy_kwh"]]


def period_label(data: LedgerData) -> str:
    zone = ZoneInfo(data.tz)
    d0 = data.start.astimezone(zone).date()
    d1 = (data.end - timedelta(microseconds=1)).astimezone(zone).date()
    if d0.day == 1 and (d1 + timedelta(days=1)).day == 1 and (d0.year, d0.month) == (d1.year, d1.month):
        return d0.strftime("%B %Y")
    return f"{d0:%d %b %Y} – {d1:%d %b %Y}"
