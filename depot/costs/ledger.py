"""The energy cost ledger: tariffs, billing groups and each session's cost, kept in the store.

Shell around the pure `depot.costs.tariffs` (prices, rates, validation) and `depot.costs.costing` (samples → slot energy,
peaks, demand shares). Tables (sharing `depot.store.Base`; migration 0004):

- `tariff_versions`: supplier tariff versions; each applies from `valid_from` until the next one.
- `billing_groups`: internal / driver billing rates by group; `vehicle_groups`: a vehicle's cost centre,
  route, department and billing group (reports group by these).
- `session_costs`: the ledger, one row per finished session: energy and its cost summed slot by slot
  (15 min) at the price of each slot, the share of the month's demand charge, CO₂, idle time, what the
  session is billed, and what unmanaged charging (full power from plug-in) would have cost.
- `ledger_slots`: the depot's charging energy, cost and power per 15-minute slot (peaks, heat maps).
- `billing_periods`: per local calendar month the peak, its demand charge, the unmanaged peak, fixed fees.

`update(store, now=)` brings the ledger up to date with sessions that finished since (call it from a
periodic job; reports call it too). `recompute(store, since=, now=)` redoes whole billing months from
`since` on: saving or deleting a tariff version does it from the version's start. A session whose slots
reach back before `since` keeps its earlier months' demand share from the stored `billing_periods`.
Reads and computations run outside the write transaction; each write is one short transaction.
"""

from __future__ import annotations

import json
import logging
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
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

from depot.costs import costing, tariffs
from depot.costs.tariff_io import tariff_from_json, tariff_to_json
from depot.costs.tariffs import BillingRate, Season, TariffVersion, TouPeriod
from depot.errors import NotFound, ValidationError
from depot.store import ChargerRow, MeterSampleRow, Store, TransactionRow, VehicleRow
from depot.store.tables_costs import (
    BillingGroupRow,
    BillingPeriodRow,
    LedgerSlotRow,
    SessionCostRow,
    TariffVersionRow,
    VehicleGroupRow,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- tables


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class VehicleGroups:
    vehicle_id: str
    cost_centre: str | None = None
    route: str | None = None
    department: str | None = None
    billing_group: str | None = None


@dataclass(frozen=True)
class LedgerUpdate:
    sessions: int
    months: tuple[str, ...]
    seconds: float

    def __str__(self) -> str:
        span = f"{self.months[0]}…{self.months[-1]}" if len(self.months) > 1 else "".join(self.months) or "-"
        return f"{self.sessions} sessions costed ({span}) in {self.seconds:.1f} s"


NOTHING = LedgerUpdate(0, (), 0.0)


# ---------------------------------------------------------------- tariff versions


def _version(r: TariffVersionRow) -> TariffVersion:
    return tariff_from_json(json.loads(r.definition), name=r.name, valid_from=r.valid_from, timezone=r.timezone,
                            currency=r.currency, demand_charge_per_kw=r.demand_charge_per_kw,
                            fixed_fee_per_month=r.fixed_fee_per_month, id=r.id)


def list_tariffs(store: Store) -> list[TariffVersion]:
    """Every tariff version, oldest first."""
    with store.session() as s:
        return [_version(r) for r in s.scalars(select(TariffVersionRow).order_by(TariffVersionRow.valid_from))]


def active_tariff(store: Store, at: datetime) -> TariffVersion | None:
    versions = [v for v in list_tariffs(store) if v.valid_from <= at]
    return versions[-1] if versions else None


def site_timezone(versions: Sequence[TariffVersion]) -> str:
    """The billing calendar's time zone: the newest version's (UTC without tariffs)."""
    return tariffs.sort_versions(versions)[-1].timezone if versions else "UTC"


def save_tariff(store: Store, version: TariffVersion, *, now: datetime) -> tuple[TariffVersion, LedgerUpdate]:
    """Validate against the other versions, insert (id None) or replace, then recompute the ledger from the
    earlier of the old and new start."""
    others = list_tariffs(store)
    tariffs.check_tariff(version, others)
    since: datetime | None = version.valid_from
    tz_before = site_timezone(others)
    with store.session() as s:
        row = s.get(TariffVersionRow, version.id) if version.id is not None else None
        if version.id is not None and row is None:
            raise NotFound("tariff version", version.id)
        if row is None:
            row = TariffVersionRow()
            s.add(row)
        else:
            since = min(since, row.valid_from)
        row.name, row.valid_from, row.timezone, row.currency = (version.name, version.valid_from, version.timezone,
                                                                 version.currency)
        row.demand_charge_per_kw, row.fixed_fee_per_month = version.demand_charge_per_kw, version.fixed_fee_per_month
        row.definition = json.dumps(tariff_to_json(version), separators=(",", ":"))
        row.updated_at = now
        s.flush()
        saved = _version(row)
    if site_timezone(list_tariffs(store)) != tz_before:
        since = None  # billing months and days move with the time zone: everything again
    return saved, recompute(store, since=since, now=now)


def delete_tariff(store: Store, version_id: int, *, now: datetime) -> LedgerUpdate:
    with store.session() as s:
        row = s.get(TariffVersionRow, version_id)
        if row is None:
            raise NotFound("tariff version", version_id)
        since: datetime | None = row.valid_from
        tz_before = site_timezone(_all_versions(s))
        s.delete(row)
        s.flush()
        if site_timezone(_all_versions(s)) != tz_before:
            since = None
    return recompute(store, since=since, now=now)


def _all_versions(s) -> list[TariffVersion]:
    return [_version(r) for r in s.scalars(select(TariffVersionRow))]


def planner_prices(store: Store, start: datetime, slots: int, slot_minutes: int) -> tuple[float, ...] | None:
    """The configured tariff's price per slot for the planner; None without tariff (→ the planner's default)."""
    versions = list_tariffs(store)
    return tariffs.prices_for(versions, start, slots, slot_minutes) if versions else None


# ---------------------------------------------------------------- billing groups and vehicle assignment


def list_rates(store: Store) -> list[BillingRate]:
    with store.session() as s:
        return [BillingRate(r.name, r.kind, r.per_kwh, r.per_minute, r.session_fee, r.idle_fee_per_minute,
                            r.idle_grace_minutes, r.free)
                for r in s.scalars(select(BillingGroupRow).order_by(BillingGroupRow.name))]


def save_rates(store: Store, rates: Sequence[BillingRate], *, now: datetime) -> list[BillingRate]:
    """Replace every billing group (validated as a whole) and re-bill the ledger."""
    tariffs.check_rates(rates)
    with store.session() as s:
        s.execute(delete(BillingGroupRow))
        s.add_all([BillingGroupRow(name=r.group, kind=r.kind, per_kwh=r.per_kwh, per_minute=r.per_minute,
                                   session_fee=r.session_fee, idle_fee_per_minute=r.idle_fee_per_minute,
                                   idle_grace_minutes=r.idle_grace_minutes, free=r.free) for r in rates])
        names = {r.group for r in rates}
        for vg in s.scalars(select(VehicleGroupRow).where(VehicleGroupRow.billing_group.is_not(None))):
            if vg.billing_group not in names:
                vg.billing_group = None
    rebill(store)
    return list_rates(store)


def vehicle_groups(store: Store) -> list[VehicleGroups]:
    """Every known vehicle with its groups (empty groups for a vehicle not assigned yet)."""
    with store.session() as s:
        assigned = {r.vehicle_id: r for r in s.scalars(select(VehicleGroupRow))}
        out = []
        for vid in s.scalars(select(VehicleRow.id).order_by(VehicleRow.id)):
            r = assigned.get(vid)
            out.append(VehicleGroups(vid, r.cost_centre, r.route, r.department, r.billing_group) if r
                       else VehicleGroups(vid))
        return out


def save_vehicle_groups(store: Store, rows: Sequence[VehicleGroups]) -> list[VehicleGroups]:
    """Set these vehicles' groups (others keep theirs) and re-bill the ledger."""
    with store.session() as s:
        vehicles = set(s.scalars(select(VehicleRow.id)))
        groups = set(s.scalars(select(BillingGroupRow.name)))
        for i, g in enumerate(rows, start=1):
            if g.vehicle_id not in vehicles:
                raise ValidationError(f"line {i}, vehicle", f"unknown vehicle {g.vehicle_id!r}")
            if g.billing_group and g.billing_group not in groups:
                raise ValidationError(f"line {i}, billing_group", f"unknown billing group {g.billing_group!r}")
        for g in rows:
            row = s.get(VehicleGroupRow, g.vehicle_id) or VehicleGroupRow(vehicle_id=g.vehicle_id)
            row.cost_centre, row.route = _blank(g.cost_centre), _blank(g.route)
            row.department, row.billing_group = _blank(g.department), _blank(g.billing_group)
            s.add(row)
    rebill(store)
    return vehicle_groups(store)


def _blank(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else value


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
    df = pd.concat([df, tariffs.billed_frame(rates, df)], axis=1)
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


# ---------------------------------------------------------------- reading meter data


def epoch(store: Store, column):
    """A UTCDateTime column as float epoch seconds, computed by the database."""
    if store.engine.dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.extract("epoch", column)


def frame(conn, query, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A query's rows as a frame, built column by column (a frame from row objects is ten times slower)."""
    res = conn.execute(query)
    keys = list(columns or res.keys())
    rows = res.all()
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(keys)
    return pd.DataFrame({k: pd.Series(c, dtype=object) for k, c in zip(keys, cols, strict=True)}).infer_objects()


def _numeric(conn, query, columns: Sequence[str]) -> pd.DataFrame:
    """An all-numeric query (millions of meter samples) straight from the DBAPI cursor into one float array."""
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql)
        rows = cur.fetchall()
    finally:
        cur.close()
    arr = np.array(rows, dtype=float).reshape(-1, len(columns))
    out = pd.DataFrame(arr, columns=list(columns))
    out[columns[0]] = out[columns[0]].astype(np.int64)
    return out


def _seconds(values) -> np.ndarray:
    return np.round(np.asarray(values, dtype=float), 3)  # julianday is exact to the millisecond only


def _read(store: Store, after: datetime | None, tx_id: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Finished sessions that stopped after `after` (all when None, or one) and their samples."""
    T, C, V, M = TransactionRow, ChargerRow, VehicleRow, MeterSampleRow
    where = [T.stopped_at.is_not(None)]
    if after is not None:
        where.append(T.stopped_at > after)
    if tx_id is not None:
        where.append(T.id == tx_id)
    sq = (select(T.id, epoch(store, T.started_at), epoch(store, T.stopped_at), T.meter_start_wh, T.meter_stop_wh,
                 T.charger_id, T.connector_id, T.vehicle_id, C.max_kw, C.current_type, V.max_ac_kw, V.max_dc_kw)
          .outerjoin(C, C.id == T.charger_id).outerjoin(V, V.id == T.vehicle_id).where(*where))
    mq = (select(M.transaction_id, epoch(store, M.at), M.energy_wh, M.power_w)
          .join(T, T.id == M.transaction_id).where(*where))
    with store.session() as s:
        conn = s.connection()
        sess = frame(conn, sq, ["tx", "start", "stop", "meter_start_wh", "meter_stop_wh", "charger_id", "connector_id",
                                "vehicle_id", "charger_kw", "current_type", "max_ac_kw", "max_dc_kw"])
        samples = _numeric(conn, mq, ["tx", "t", "energy_wh", "power_w"])
    for col in ("start", "stop"):
        sess[col] = _seconds(sess[col])
    samples["t"] = _seconds(samples["t"])
    for col in ("meter_start_wh", "meter_stop_wh", "charger_kw", "max_ac_kw", "max_dc_kw"):
        sess[col] = pd.to_numeric(sess[col], errors="coerce")
    for col in ("energy_wh", "power_w"):
        samples[col] = pd.to_numeric(samples[col], errors="coerce")
    return sess, samples


def _full_power(sess: pd.DataFrame, observed_kw: pd.Series) -> np.ndarray:
    """Unmanaged power: the charger's maximum, capped by the vehicle's (AC or DC), never below what was seen."""
    vehicle = np.where(sess["current_type"].to_numpy() == "DC", sess["max_dc_kw"], sess["max_ac_kw"]).astype(float)
    charger = sess["charger_kw"].to_numpy(dtype=float)
    kw = np.fmin(charger, vehicle)
    seen = observed_kw.reindex(sess["tx"]).fillna(0.0).to_numpy()
    return np.fmax(np.nan_to_num(kw, nan=0.0), seen)


@dataclass(frozen=True)
class _Costed:
    slots: pd.DataFrame  # tx, slot, kwh, price, cost, co2_kg, version, month
    uc: pd.DataFrame  # tx, slot, kwh, cost, month, demand_rate
    charging: pd.DataFrame  # index tx: charging_end, charging_s
    rates: pd.DataFrame  # slot → price, carbon, demand_rate, version, month


def _cost(versions: Sequence[TariffVersion], tz: str, sess: pd.DataFrame, samples: pd.DataFrame) -> _Costed:
    iv = costing.intervals(sess, samples)
    slots = costing.split_slots(iv)
    charging = costing.charging_time(iv, sess)
    energy = slots.groupby("tx")["kwh"].sum()
    observed = slots.groupby("tx")["kwh"].max() / costing.SLOT_H
    uc_in = pd.DataFrame({"tx": sess["tx"], "start": sess["start"],
                          "kwh": energy.reindex(sess["tx"]).fillna(0.0).to_numpy(), "kw": _full_power(sess, observed)})
    uc = costing.uncontrolled(uc_in)
    all_slots = np.union1d(slots["slot"].to_numpy(), uc["slot"].to_numpy()).astype(np.int64)
    r = tariffs.slot_rates(versions, all_slots * costing.SLOT_S)
    rates = pd.DataFrame({"slot": all_slots, "price": r.price, "carbon": r.carbon, "demand_rate": r.demand_rate,
                          "version": r.version, "month": tariffs.billing_months(all_slots * costing.SLOT_S, tz)})
    slots = slots.merge(rates, on="slot", how="left")
    slots["cost"] = slots["kwh"] * slots["price"]
    slots["co2_kg"] = slots["kwh"] * slots["carbon"] / 1000.0
    uc = uc.merge(rates[["slot", "price", "demand_rate", "month"]], on="slot", how="left")
    uc["cost"] = uc["kwh"] * uc["price"]
    return _Costed(slots, uc, charging, rates)


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


def _to_dt(seconds) -> list[datetime]:
    return list(pd.to_datetime(np.asarray(seconds, dtype=float), unit="s", utc=True).round("ms").to_pydatetime())


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
        return pd.DataFrame({"month": df["month"][ok], "slot": (_seconds(df[at][ok]) // costing.SLOT_S).astype(np.int64),
                             "kw": df[kw][ok].astype(float), "charge": df[charge][ok].astype(float)})

    return peaks("at", "kw", "charge"), peaks("uc_at", "uc_kw", "uc_charge")


def recompute(store: Store, *, now: datetime, since: datetime | None = None) -> LedgerUpdate:
    """Recompute every finished session's cost and the billing months from the month of `since` (the whole
    ledger when None) to the newest data."""
    t0 = _time.perf_counter()
    versions = list_tariffs(store)
    tz = site_timezone(versions)
    start = _month_start(since, tz) if since is not None else None
    sess, samples = _read(store, start)
    if sess.empty:
        _write(store, start, tz, None, now)
        return LedgerUpdate(0, (), _time.perf_counter() - t0)
    if start is None:
        start = _month_start(datetime.fromtimestamp(float(sess["start"].min()), UTC), tz)
    a_slot = int(start.timestamp()) // costing.SLOT_S
    a_month = int(start.astimezone(ZoneInfo(tz)).strftime("%Y%m"))
    c = _cost(versions, tz, sess, samples)

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
    prior, uc_prior = _stored_peaks(store, tariffs.month_label(a_month))
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
    ledger = ledger.join(tariffs.billed_frame(list_rates(store), ledger))
    ledger["local_day"] = (pd.to_datetime(ledger["start"].to_numpy(), unit="s", utc=True).tz_convert(tz)
                           .strftime("%Y-%m-%d").to_numpy())
    ids = [v.id for v in tariffs.sort_versions(versions)]
    plug_in = (ledger["start"].to_numpy() // costing.SLOT_S * costing.SLOT_S).astype(np.int64)
    ledger["tariff_version_id"] = [ids[w] if w >= 0 else None for w in tariffs.slot_rates(versions, plug_in).version]

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
    which = tariffs.slot_rates(versions, starts).version if len(starts) else []
    ordered = tariffs.sort_versions(versions)
    out = []
    for (ym, _), w in zip(months, which, strict=True):
        row = {"month": tariffs.month_label(ym), "peak_at": None, "peak_kw": 0.0, "demand_rate": 0.0,
               "demand_charge": 0.0, "uc_peak_at": None, "uc_peak_kw": 0.0, "uc_demand_charge": 0.0,
               "fixed_fee": ordered[w].fixed_fee_per_month if w >= 0 else 0.0,
               "energy_kwh": float(by_month["kwh"].get(ym, 0.0)), "energy_cost": float(by_month["cost"].get(ym, 0.0))}
        if ym in pk.index:
            p = pk.loc[ym]
            row.update(peak_at=_to_dt([p["slot"] * costing.SLOT_S])[0], peak_kw=float(p["kw"]),
                       demand_rate=float(p["rate"]), demand_charge=float(p["charge"]))
        if ym in upk.index:
            p = upk.loc[ym]
            row.update(uc_peak_at=_to_dt([p["slot"] * costing.SLOT_S])[0], uc_peak_kw=float(p["kw"]),
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
                             started_at=_to_dt(ledger["start"]), stopped_at=_to_dt(ledger["stop"]),
                             charging_ended_at=_to_dt(ledger["charging_end"]), computed_at=now,
                             peak_month=[tariffs.month_label(int(m)) if m == m and m is not None else None
                                         for m in ledger["peak_month"]],
                             tariff_version_id=[None if v is None or v != v else int(v)
                                                for v in ledger["tariff_version_id"]])
            conn.execute(insert(SessionCostRow.__table__), rec.to_dict("records"))
        if len(site):
            ats = _to_dt(site["slot"].to_numpy() * costing.SLOT_S)
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
    sess, samples = _read(store, None, transaction_id)
    if sess.empty:
        raise NotFound("finished session", transaction_id)
    versions = list_tariffs(store)
    c = _cost(versions, site_timezone(versions), sess, samples)
    out = c.slots[["slot", "kwh", "price", "cost", "co2_kg"]].copy()
    out.insert(0, "at", _to_dt(out.pop("slot").to_numpy() * costing.SLOT_S))
    out.insert(2, "kw", out["kwh"] / costing.SLOT_H)
    return out.reset_index(drop=True)


# ---------------------------------------------------------------- demo


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
    if not list_tariffs(store):
        with store.session() as s:
            for v in demo_tariffs(now):
                s.add(TariffVersionRow(name=v.name, valid_from=v.valid_from, timezone=v.timezone, currency=v.currency,
                                       demand_charge_per_kw=v.demand_charge_per_kw,
                                       fixed_fee_per_month=v.fixed_fee_per_month, updated_at=now,
                                       definition=json.dumps(tariff_to_json(v), separators=(",", ":"))))
    if not list_rates(store):
        save_rates(store, DEMO_RATES, now=now)
    todo = [g for g in vehicle_groups(store) if g == VehicleGroups(g.vehicle_id)]
    if todo:
        rows = []
        for i, g in enumerate(todo):
            billing = DEMO_RATES[0].group if i % 10 < 8 else DEMO_RATES[1 if i % 10 == 8 else 2].group
            rows.append(VehicleGroups(g.vehicle_id, DEMO_COST_CENTRES[i % 3], f"Route {i % 8 + 1}",
                                      "Logistics" if i % 3 == 2 else "Operations", billing))
        save_vehicle_groups(store, rows)
