"""Booking meter samples: finished sessions and their samples read from the store, costed slot by slot.

The ledger's input. `read_sessions` reads finished sessions (with their charger's and vehicle's power limits)
and their meter samples in two queries, straight into frames; `cost_sessions` runs the pure
`depot.costs.costing` over them and prices each 15-minute slot with `depot.costs.prices`, for the sessions
as charged and as unmanaged charging (full power from plug-in) would have drawn. Also the SQL helpers the
reports share: `epoch` (a datetime column as epoch seconds, in the database) and `frame`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from depot.costs import costing, prices
from depot.costs.tariffs import TariffVersion
from depot.store import ChargerRow, MeterSampleRow, Store, TransactionRow, VehicleRow

# ---------------------------------------------------------------- reading from the store


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


def seconds(values) -> np.ndarray:
    """Epoch seconds as the database computed them, rounded to the millisecond."""
    return np.round(np.asarray(values, dtype=float), 3)  # julianday is exact to the millisecond only


def to_dt(values) -> list[datetime]:
    """Epoch seconds → aware UTC datetimes (to the millisecond)."""
    return list(pd.to_datetime(np.asarray(values, dtype=float), unit="s", utc=True).round("ms").to_pydatetime())


def read_sessions(store: Store, after: datetime | None,
                  tx_id: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        sess[col] = seconds(sess[col])
    samples["t"] = seconds(samples["t"])
    for col in ("meter_start_wh", "meter_stop_wh", "charger_kw", "max_ac_kw", "max_dc_kw"):
        sess[col] = pd.to_numeric(sess[col], errors="coerce")
    for col in ("energy_wh", "power_w"):
        samples[col] = pd.to_numeric(samples[col], errors="coerce")
    return sess, samples


# ---------------------------------------------------------------- costing slot by slot


def _full_power(sess: pd.DataFrame, observed_kw: pd.Series) -> np.ndarray:
    """Unmanaged power: the charger's maximum, capped by the vehicle's (AC or DC), never below what was seen."""
    vehicle = np.where(sess["current_type"].to_numpy() == "DC", sess["max_dc_kw"], sess["max_ac_kw"]).astype(float)
    charger = sess["charger_kw"].to_numpy(dtype=float)
    kw = np.fmin(charger, vehicle)
    seen = observed_kw.reindex(sess["tx"]).fillna(0.0).to_numpy()
    return np.fmax(np.nan_to_num(kw, nan=0.0), seen)


@dataclass(frozen=True)
class Costed:
    slots: pd.DataFrame  # tx, slot, kwh, price, cost, co2_kg, version, month
    uc: pd.DataFrame  # tx, slot, kwh, cost, month, demand_rate
    charging: pd.DataFrame  # index tx: charging_end, charging_s
    rates: pd.DataFrame  # slot → price, carbon, demand_rate, version, month


def cost_sessions(versions: Sequence[TariffVersion], tz: str, sess: pd.DataFrame, samples: pd.DataFrame) -> Costed:
    """The sessions' energy per slot at each slot's price and carbon intensity, their charging time, and the
    same energy as unmanaged charging would have drawn it."""
    iv = costing.intervals(sess, samples)
    slots = costing.split_slots(iv)
    charging = costing.charging_time(iv, sess)
    energy = slots.groupby("tx")["kwh"].sum()
    observed = slots.groupby("tx")["kwh"].max() / costing.SLOT_H
    uc_in = pd.DataFrame({"tx": sess["tx"], "start": sess["start"],
                          "kwh": energy.reindex(sess["tx"]).fillna(0.0).to_numpy(), "kw": _full_power(sess, observed)})
    uc = costing.uncontrolled(uc_in)
    all_slots = np.union1d(slots["slot"].to_numpy(), uc["slot"].to_numpy()).astype(np.int64)
    r = prices.slot_rates(versions, all_slots * costing.SLOT_S)
    rates = pd.DataFrame({"slot": all_slots, "price": r.price, "carbon": r.carbon, "demand_rate": r.demand_rate,
                          "version": r.version, "month": prices.billing_months(all_slots * costing.SLOT_S, tz)})
    slots = slots.merge(rates, on="slot", how="left")
    slots["cost"] = slots["kwh"] * slots["price"]
    slots["co2_kg"] = slots["kwh"] * slots["carbon"] / 1000.0
    uc = uc.merge(rates[["slot", "price", "demand_rate", "month"]], on="slot", how="left")
    uc["cost"] = uc["kwh"] * uc["price"]
    return Costed(slots, uc, charging, rates)
