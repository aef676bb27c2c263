"""PURE: meter samples → energy per session and 15-minute slot; peaks, demand-charge shares, unmanaged charging.

No I/O, no clock: pandas/numpy over frames the shell (`depot.costs.ledger`) reads. Times are float epoch seconds
(UTC); a slot is `floor(t / 900)`, an int. Everything is vectorised: no Python loop over samples or slots.

How a session's energy is spread over slots: its meter register at plug-in (`meter_start_wh`), at every
sample, and at unplug (`meter_stop_wh`) gives intervals; the energy of an interval is split over the slots
it spans in proportion to time (a register reading is what flowed since the last one). A session whose
samples carry no register uses power × time (the earlier sample's power held until the next).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SLOT_S = 900
SLOT_H = SLOT_S / 3600.0
CHARGING_KW = 0.1  # an interval at a lower average power is not charging (idle, balancing, standby)


def intervals(sessions: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Metered intervals of each session: tx, t0, t1, kwh.

    sessions: tx, start, stop (epoch s), meter_start_wh, meter_stop_wh (may be NaN)
    samples:  tx, t (epoch s), energy_wh (register, may be NaN), power_w (may be NaN)
    """
    s = sessions
    first = pd.DataFrame({"tx": s["tx"], "t": s["start"], "energy_wh": s["meter_start_wh"], "power_w": np.nan, "o": 0})
    last = pd.DataFrame({"tx": s["tx"], "t": s["stop"], "energy_wh": s["meter_stop_wh"], "power_w": np.nan, "o": 2})
    mid = samples[["tx", "t", "energy_wh", "power_w"]].assign(o=1)
    bounds = s.set_index("tx")[["start", "stop"]]
    mid = mid[mid["tx"].isin(bounds.index)]
    lo, hi = bounds["start"].reindex(mid["tx"]).to_numpy(), bounds["stop"].reindex(mid["tx"]).to_numpy()
    mid = mid.assign(t=np.clip(mid["t"].to_numpy(dtype=float), lo, hi))
    pts = pd.concat([first, mid, last], ignore_index=True).sort_values(["tx", "t", "o"], kind="mergesort")
    tx = pts["tx"].to_numpy()
    t = pts["t"].to_numpy(dtype=float)
    e = pts["energy_wh"].to_numpy(dtype=float)
    p = pts["power_w"].to_numpy(dtype=float)
    same = np.r_[False, tx[1:] == tx[:-1]]
    # the register, carried forward within a session
    e_ff = pd.Series(e).groupby(tx).ffill().to_numpy()
    # a session meters by register when its samples carry one (or, without samples, by plug-in and unplug
    # readings); a charger that sends power only gets power × time (its unplug reading merely repeats the start)
    o = pts["o"].to_numpy()
    by_tx = pd.DataFrame({"reg": (o == 1) & ~np.isnan(e), "sample": o == 1, "stop": (o == 2) & ~np.isnan(e)}).groupby(tx)
    flags = by_tx.transform("any")
    with_register = flags["reg"] | (~flags["sample"] & flags["stop"])
    prev_e = np.r_[np.nan, e_ff[:-1]]
    prev_t = np.r_[np.nan, t[:-1]]
    prev_p = np.r_[np.nan, p[:-1]]
    held = np.where(np.isnan(prev_p), p, prev_p)
    by_register = np.where(np.isnan(e_ff) | np.isnan(prev_e), 0.0, e_ff - prev_e)
    by_power = np.nan_to_num(held) * (t - prev_t) / 3600.0
    wh = np.where(with_register.to_numpy(), by_register, by_power)
    keep = same
    out = pd.DataFrame({"tx": tx[keep], "t0": prev_t[keep], "t1": t[keep],
                        "kwh": np.clip(wh[keep], 0.0, None) / 1000.0})
    return out[out["kwh"] > 0].reset_index(drop=True)


def split_slots(iv: pd.DataFrame) -> pd.DataFrame:
    """Spread each interval's kWh over the 15-minute slots it spans: tx, slot, kwh (one row per tx and slot)."""
    t0, t1 = iv["t0"].to_numpy(dtype=float), iv["t1"].to_numpy(dtype=float)
    s0 = np.floor(t0 / SLOT_S).astype(np.int64)
    s1 = np.maximum(np.ceil(t1 / SLOT_S).astype(np.int64) - 1, s0)
    s0 = np.where(t1 <= t0, np.maximum(np.ceil(t1 / SLOT_S).astype(np.int64) - 1, 0), s0)  # an instant: the slot it ends
    s1 = np.where(t1 <= t0, s0, s1)
    return _spread(iv["tx"].to_numpy(), t0, t1, s0, s1, iv["kwh"].to_numpy(dtype=float))


def _spread(tx, t0, t1, s0, s1, kwh) -> pd.DataFrame:
    n = (s1 - s0 + 1).astype(np.int64)
    rep = np.repeat(np.arange(len(n)), n)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(n) - n, n)
    slot = s0[rep] + offset
    dur = t1[rep] - t0[rep]
    overlap = np.minimum(t1[rep], (slot + 1) * SLOT_S) - np.maximum(t0[rep], slot * SLOT_S)
    frac = np.where(dur > 0, np.clip(overlap, 0.0, None) / np.where(dur > 0, dur, 1.0), 1.0)
    out = pd.DataFrame({"tx": tx[rep], "slot": slot, "kwh": kwh[rep] * frac})
    return out.groupby(["tx", "slot"], as_index=False, sort=True)["kwh"].sum()


def charging_time(iv: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Per session: charging_end (the end of the last interval that charged; the start when none did) and
    charging_s (seconds in charging intervals). Index tx."""
    dt = (iv["t1"] - iv["t0"]).to_numpy(dtype=float)
    kw = np.where(dt > 0, iv["kwh"].to_numpy() / np.where(dt > 0, dt, 1.0) * 3600.0, 0.0)
    charging = (kw >= CHARGING_KW) | ((dt <= 0) & (iv["kwh"].to_numpy() > 0.001))
    c = iv[charging].assign(dt=dt[charging])
    agg = c.groupby("tx").agg(charging_end=("t1", "max"), charging_s=("dt", "sum"))
    base = sessions.set_index("tx")[["start"]]
    out = base.join(agg)
    out["charging_end"] = out["charging_end"].fillna(out["start"])
    out["charging_s"] = out["charging_s"].fillna(0.0)
    return out[["charging_end", "charging_s"]]


def uncontrolled(sessions: pd.DataFrame) -> pd.DataFrame:
    """What unmanaged charging would have drawn: each session's energy at full power from plug-in.

    sessions: tx, start (epoch s), kwh (delivered), kw (full power). Returns tx, slot, kwh."""
    s = sessions[(sessions["kwh"] > 0) & (sessions["kw"] > 0)]
    kw = s["kw"].to_numpy(dtype=float)
    t0 = s["start"].to_numpy(dtype=float)
    t1 = t0 + s["kwh"].to_numpy(dtype=float) / kw * 3600.0
    s0 = np.floor(t0 / SLOT_S).astype(np.int64)
    s1 = np.maximum(np.ceil(t1 / SLOT_S).astype(np.int64) - 1, s0)
    return _spread(s["tx"].to_numpy(), t0, t1, s0, s1, s["kwh"].to_numpy(dtype=float))


def monthly_peaks(site: pd.DataFrame) -> pd.DataFrame:
    """The billing period's peak: per month, the slot with the highest average power (the first of equals).

    site: slot, kwh, month, demand_rate. Returns month, slot, kw, rate, charge."""
    if site.empty:
        return pd.DataFrame({"month": [], "slot": [], "kw": [], "rate": [], "charge": []})
    ordered = site.sort_values(["month", "kwh", "slot"], ascending=[True, False, True], kind="mergesort")
    top = ordered.drop_duplicates("month")
    kw = top["kwh"].to_numpy() / SLOT_H
    return pd.DataFrame({"month": top["month"].to_numpy(), "slot": top["slot"].to_numpy(), "kw": kw,
                         "rate": top["demand_rate"].to_numpy(), "charge": kw * top["demand_rate"].to_numpy()})


def allocate_demand(tx_slots: pd.DataFrame, peaks: pd.DataFrame) -> pd.DataFrame:
    """Each month's demand charge shared by the sessions charging in its peak slot, in proportion to their
    power then. Returns (index tx) demand_cost, peak_kw (the session's power in a peak slot), peak_month."""
    m = tx_slots[["tx", "slot", "kwh"]].merge(peaks[["slot", "month", "kw", "charge"]], on="slot", how="inner")
    m = m[m["kw"] > 0]
    m = m.assign(demand_cost=m["kwh"] / (m["kw"] * SLOT_H) * m["charge"], peak_kw=m["kwh"] / SLOT_H)
    if m.empty:
        return pd.DataFrame({"demand_cost": [], "peak_kw": [], "peak_month": []}, index=pd.Index([], name="tx"))
    cost = m.groupby("tx")["demand_cost"].sum()
    top = m.sort_values("peak_kw", ascending=False, kind="mergesort").drop_duplicates("tx").set_index("tx")
    return pd.DataFrame({"demand_cost": cost, "peak_kw": top["peak_kw"], "peak_month": top["month"]})
