"""The energy cost ledger: each finished session's cost slot by slot, the depot's slots, the billing months.

Tables (sharing `depot.store.Base`; migration 0004):

- `session_costs`: the ledger, one row per finished session: energy and its cost summed slot by slot
  (15 min) at the price of each slot, the share of the month's demand charge, CO₂, idle time, what the
  session is billed, and what unmanaged charging (full power from plug-in) would have cost.
- `ledger_slots`: the depot's charging energy, cost and power per 15-minute slot (peaks, heat maps).
- `billing_periods`: per local calendar month the peak, its demand charge, the unmanaged peak, fixed fees.

`update(store, now=)` brings the ledger up to date with sessions that finished since (call it from a
periodic job; reports call it too). `recompute(store, since=, now=)` redoes whole billing months from
`since` on: saving or deleting a tariff version (`save_tariff`, `delete_tariff`) does it from the version's
start; saving billing groups or vehicles' groups re-bills every session (`rebill`). A session whose slots
reach back before `since` keeps its earlier months' demand share from the stored `billing_periods`.
Reads and computations run outside the write transaction; each write is one short transaction. The inputs:
`depot.costs.metering` (sessions and samples, costed per slot), `depot.costs.tariff_store` (the tariff admin).
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import (
    bindparam,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy import update as sql_update

from depot.costs import billing, costing, prices, tariff_store
from depot.costs.billing import BillingRate
from depot.costs.metering import cost_sessions, epoch, read_sessions, seconds, to_dt
from depot.costs.tariff_store import VehicleGroups, list_rates, list_tariffs, site_timezone, vehicle_groups
from depot.costs.tariffs import TariffVersion
from depot.errors import NotFound
from depot.store import Store, TransactionRow
from depot.store.tables_costs import (
    BillingPeriodRow,
    LedgerSlotRow,
    SessionCostRow,
    VehicleGroupRow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerUpdate:
    sessions: int
    months: tuple[str, ...]
    seconds: float

    def __str__(self) -> str:
        span = f"{self.months[0]}…{self.months[-1]}" if len(self.months) > 1 else "".join(self.months) or "-"
        return f"{self.sessions} sessions costed ({span}) in {self.seconds:.1f} s"


NOTHING = LedgerUpdate(0, (), 0.0)


# ---------------------------------------------------------------- what changes the ledger


def save_tariff(store: Store, version: TariffVersion, *, now: datetime) -> tuple[TariffVersion, LedgerUpdate]:
    """Validate against the other versions, insert (id None) or replace, then recompute the ledger from the
    earlier of the old and new start."""
    saved, since = tariff_store.write_tariff(store, version, now=now)
    return saved, recompute(store, since=since, now=now)


def delete_tariff(store: Store, version_id: int, *, now: datetime) -> LedgerUpdate:
    return recompute(store, since=tariff_store.drop_tariff(store, version_id), now=now)


def save_rates(store: Store, rates: Sequence[BillingRate], *, now: datetime) -> list[BillingRate]:
    """Replace every billing group (validated as a whole) and re-bill the ledger."""
    tariff_store.write_rates(store, rates)
    rebill(store)
    return list_rates(store)


def save_vehicle_groups(store: Store, rows: Sequence[VehicleGroups]) -> list[VehicleGroups]:
    """Set these vehicles' groups (others keep theirs) and re-bill the ledger."""
    tariff_store.write_vehicle_groups(store, rows)
    rebill(store)
    return vehicle_groups(store)


def rebill(store: Store) -> int:
    """Recompute what every ledger session is billed from its vehicle's current billing group."""
    rates = list_rates(store)
    with store.session() as s:
        rows = s.execute(select(SessionCostRow.transaction_id, SessionCostRow.energy_kwh,
                                SessionCostRow.plugged_minutes, SessionCostRow.idle_minutes,
                                VehicleGroupRow.billing_group)
                         .outerjoin(VehicleGroupRow, VehicleGroupRow.vehicle_id == SessionCostRow.vehicle_id)).all()
    if not rows:
        return 0
    df = pd.DataFrame(rows, columns=["tid", "energy_kwh", "plugged_minutes", "idle_minutes", "billing_group"])
    df = pd.concat([df, billing.billed_frame(rates, df)], axis=1)
    c = SessionCostRow.__table__.c
    stmt = (sql_update(SessionCostRow.__table__).where(c.transaction_id == bindparam("tid"))
            .values(billing_group=bindparam("bg"), billed_session_fee=bindparam("fee"),
                    billed_energy=bindparam("en"), billed_time=bindparam("ti"), billed_idle=bindparam("idl"),
                    billed_total=bindparam("tot")))
    params = [{"tid": int(r.tid), "bg": r.billing_group if isinstance(r.billing_group, str) else None,
               "fee": r.billed_session_fee, "en": r.billed_energy, "ti": r.billed_time, "idl": r.billed_idle,
               "tot": r.billed_total} for r in df.itertuples(index=False)]
    with store.session() as s:
        s.connection().execute(stmt, params)
    return len(params)


# ---------------------------------------------------------------- (re)computing the ledger


def _month_start(at: datetime, tz: str) -> datetime:
    local = at.astimezone(ZoneInfo(tz))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def _month_starts(first: int, last: int, tz: str) -> list[tuple[int, datetime]]:
    """(YYYYMM, local month start) from month `first` to `last` inclusive."""
    out = []
    y, m = divmod(first, 100)
    while y * 100 + m <= last:
        out.append((y * 100 + m, datetime(y, m, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _stored_peaks(store: Store, before: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    B = BillingPeriodRow
    with store.session() as s:
        rows = s.execute(select(B.month, epoch(store, B.peak_at), B.peak_kw, B.demand_charge,
                                epoch(store, B.uc_peak_at), B.uc_peak_kw, B.uc_demand_charge)
                         .where(B.month < before)).all()
    df = pd.DataFrame(rows, columns=["month", "at", "kw", "charge", "uc_at", "uc_kw", "uc_charge"])
    df["month"] = [int(m.replace("-", "")) for m in df["month"]]

    def peaks(at, kw, charge):
        ok = df[at].notna()
        return pd.DataFrame({"month": df["month"][ok], "slot": (seconds(df[at][ok]) // costing.SLOT_S).astype(np.int64),
                             "kw": df[kw][ok].astype(float), "charge": df[charge][ok].astype(float)})

    return peaks("at", "kw", "charge"), peaks("uc_at", "uc_kw", "uc_charge")


def recompute(store: Store, *, now: datetime, since: datetime | None = None) -> LedgerUpdate:
    """Recompute every finished session's cost and the billing months from the month of `since` (the whole
    ledger when None) to the newest data."""
    t0 = _time.perf_counter()
    versions = list_tariffs(store)
    tz = site_timezone(versions)
    start = _month_start(since, tz) if since is not None else None
    sess, samples = read_sessions(store, start)
    if sess.empty:
        _write(store, start, tz, None, now)
        return LedgerUpdate(0, (), _time.perf_counter() - t0)
    if start is None:
        start = _month_start(datetime.fromtimestamp(float(sess["start"].min()), UTC), tz)
    a_slot = int(start.timestamp()) // costing.SLOT_S
    a_month = int(start.astimezone(ZoneInfo(tz)).strftime("%Y%m"))
    c = cost_sessions(versions, tz, sess, samples)

    site = (c.slots[c.slots["slot"] >= a_slot].groupby("slot")
            .agg(kwh=("kwh", "sum"), cost=("cost", "sum"), co2_kg=("co2_kg", "sum"), sessions=("tx", "nunique"))
            .reset_index())
    uc_site = c.uc[c.uc["slot"] >= a_slot].groupby("slot")["kwh"].sum().rename("uc_kwh").reset_index()
    site = site.merge(uc_site, on="slot", how="outer").fillna(0.0)
    site = site.merge(c.rates[["slot", "month", "demand_rate"]], on="slot", how="left")
    site = site[site["month"] >= a_month]
    peaks = costing.monthly_peaks(site[site["kwh"] > 0][["slot", "kwh", "month", "demand_rate"]])
    uc_peaks = costing.monthly_peaks(site[site["uc_kwh"] > 0][["slot", "month", "demand_rate"]]
                                     .assign(kwh=site["uc_kwh"]))
    prior, uc_prior = _stored_peaks(store, prices.month_label(a_month))
    alloc = costing.allocate_demand(c.slots, pd.concat([prior, peaks[prior.columns]], ignore_index=True))
    uc_alloc = costing.allocate_demand(c.uc, pd.concat([uc_prior, uc_peaks[uc_prior.columns]], ignore_index=True))

    per = c.slots.groupby("tx").agg(energy_kwh=("kwh", "sum"), energy_cost=("cost", "sum"), co2_kg=("co2_kg", "sum"))
    ledger = sess.set_index("tx").join(per).join(c.charging).join(alloc)
    ledger = ledger.join(c.uc.groupby("tx")["cost"].sum().rename("uc_energy_cost"))
    ledger = ledger.join(uc_alloc["demand_cost"].rename("uc_demand_cost"))
    for col in ("energy_kwh", "energy_cost", "co2_kg", "demand_cost", "peak_kw", "uc_energy_cost", "uc_demand_cost",
                "charging_s"):
        ledger[col] = ledger[col].fillna(0.0)
    ledger["charging_end"] = ledger["charging_end"].fillna(ledger["start"])
    ledger["plugged_minutes"] = (ledger["stop"] - ledger["start"]).clip(lower=0) / 60.0
    ledger["charging_minutes"] = ledger["charging_s"] / 60.0
    ledger["idle_minutes"] = (ledger["stop"] - ledger["charging_end"]).clip(lower=0) / 60.0
    groups = {g.vehicle_id: g.billing_group for g in vehicle_groups(store)}
    ledger["billing_group"] = [groups.get(v) if isinstance(v, str) else None for v in ledger["vehicle_id"]]
    ledger = ledger.join(billing.billed_frame(list_rates(store), ledger))
    ledger["local_day"] = (pd.to_datetime(ledger["start"].to_numpy(), unit="s", utc=True).tz_convert(tz)
                           .strftime("%Y-%m-%d").to_numpy())
    ids = [v.id for v in prices.sort_versions(versions)]
    plug_in = (ledger["start"].to_numpy() // costing.SLOT_S * costing.SLOT_S).astype(np.int64)
    ledger["tariff_version_id"] = [ids[w] if w >= 0 else None for w in prices.slot_rates(versions, plug_in).version]

    months = _month_starts(a_month, int(max(site["month"].max() if len(site) else a_month, a_month)), tz)
    periods = _periods(versions, months, site, peaks, uc_peaks)
    _write(store, start, tz, (ledger, site, periods), now)
    out = LedgerUpdate(len(ledger), tuple(p["month"] for p in periods), _time.perf_counter() - t0)
    log.info("ledger: %s", out)
    return out


def _periods(versions, months, site: pd.DataFrame, peaks: pd.DataFrame, uc_peaks: pd.DataFrame) -> list[dict]:
    by_month = site.groupby("month").agg(kwh=("kwh", "sum"), cost=("cost", "sum"))
    pk, upk = peaks.set_index("month"), uc_peaks.set_index("month")
    starts = np.array([int(t.timestamp()) for _, t in months], dtype=np.int64)
    which = prices.slot_rates(versions, starts).version if len(starts) else []
    ordered = prices.sort_versions(versions)
    out = []
    for (ym, _), w in zip(months, which, strict=True):
        row = {"month": prices.month_label(ym), "peak_at": None, "peak_kw": 0.0, "demand_rate": 0.0,
               "demand_charge": 0.0, "uc_peak_at": None, "uc_peak_kw": 0.0, "uc_demand_charge": 0.0,
               "fixed_fee": ordered[w].fixed_fee_per_month if w >= 0 else 0.0,
               "energy_kwh": float(by_month["kwh"].get(ym, 0.0)), "energy_cost": float(by_month["cost"].get(ym, 0.0))}
        if ym in pk.index:
            p = pk.loc[ym]
            row.update(peak_at=to_dt([p["slot"] * costing.SLOT_S])[0], peak_kw=float(p["kw"]),
                       demand_rate=float(p["rate"]), demand_charge=float(p["charge"]))
        if ym in upk.index:
            p = upk.loc[ym]
            row.update(uc_peak_at=to_dt([p["slot"] * costing.SLOT_S])[0], uc_peak_kw=float(p["kw"]),
                       uc_demand_charge=float(p["charge"]))
        out.append(row)
    return out


LEDGER_COLUMNS = ("charger_id", "connector_id", "vehicle_id", "local_day", "energy_kwh", "energy_cost", "demand_cost", "peak_kw",
                  "co2_kg", "plugged_minutes", "charging_minutes", "idle_minutes", "uc_energy_cost", "uc_demand_cost",
                  "billing_group", "billed_session_fee", "billed_energy", "billed_time", "billed_idle", "billed_total")


def _write(store: Store, start: datetime | None, tz: str, result, now: datetime) -> None:
    with store.session() as s:
        if start is None:
            for table in (SessionCostRow, LedgerSlotRow, BillingPeriodRow):
                s.execute(delete(table))
        else:
            s.execute(delete(SessionCostRow).where(SessionCostRow.stopped_at > start))
            s.execute(delete(LedgerSlotRow).where(LedgerSlotRow.at >= start))
            s.execute(delete(BillingPeriodRow).where(
                BillingPeriodRow.month >= start.astimezone(ZoneInfo(tz)).strftime("%Y-%m")))
        if result is None:
            return
        ledger, site, periods = result
        conn = s.connection()
        if len(ledger):
            rec = ledger[list(LEDGER_COLUMNS)].astype(object).where(ledger[list(LEDGER_COLUMNS)].notna(), None)
            rec = rec.assign(transaction_id=ledger.index.astype(int), connector_id=ledger["connector_id"].astype(int),
                             started_at=to_dt(ledger["start"]), stopped_at=to_dt(ledger["stop"]),
                             charging_ended_at=to_dt(ledger["charging_end"]), computed_at=now,
                             peak_month=[prices.month_label(int(m)) if m == m and m is not None else None
                                         for m in ledger["peak_month"]],
                             tariff_version_id=[None if v is None or v != v else int(v)
                                                for v in ledger["tariff_version_id"]])
            conn.execute(insert(SessionCostRow.__table__), rec.to_dict("records"))
        if len(site):
            ats = to_dt(site["slot"].to_numpy() * costing.SLOT_S)
            conn.execute(insert(LedgerSlotRow.__table__), [
                {"at": at, "energy_kwh": float(r.kwh), "energy_cost": float(r.cost), "co2_kg": float(r.co2_kg),
                 "uc_energy_kwh": float(r.uc_kwh), "sessions": int(r.sessions)}
                for at, r in zip(ats, site.itertuples(index=False), strict=True)])
        if periods:
            conn.execute(insert(BillingPeriodRow.__table__), [{**p, "computed_at": now} for p in periods])


def update(store: Store, *, now: datetime) -> LedgerUpdate:
    """Cost the sessions that finished since the last computation (a no-op when there are none)."""
    T = TransactionRow
    with store.session() as s:
        first = s.scalar(select(func.min(T.started_at)).outerjoin(SessionCostRow, SessionCostRow.transaction_id == T.id)
                         .where(T.stopped_at.is_not(None), SessionCostRow.transaction_id.is_(None)))
    if first is None:
        return NOTHING
    return recompute(store, since=first, now=now)


def session_slots(store: Store, transaction_id: int) -> pd.DataFrame:
    """One finished session slot by slot (the drill-down's last level): at, kwh, kw, price, cost, co2_kg."""
    sess, samples = read_sessions(store, None, transaction_id)
    if sess.empty:
        raise NotFound("finished session", transaction_id)
    versions = list_tariffs(store)
    c = cost_sessions(versions, site_timezone(versions), sess, samples)
    out = c.slots[["slot", "kwh", "price", "cost", "co2_kg"]].copy()
    out.insert(0, "at", to_dt(out.pop("slot").to_numpy() * costing.SLOT_S))
    out.insert(2, "kw", out["kwh"] / costing.SLOT_H)
    return out.reset_index(drop=True)

