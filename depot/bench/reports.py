"""`python -m depot.bench reports`: a year of depot history in a SQLite store, then the time to report on it.

Generates `--chargers` chargers (60 % AC 22 kW, 30 % DC 50 kW, 10 % DC 150 kW), one vehicle each, and one
managed overnight session per vehicle and night for `--days` days (some vehicles stay out at weekends): the
vehicle plugs in in the evening, the charge is shifted into the night, it unplugs in the morning. Meter
samples are clock-aligned every 15 minutes while plugged in (register and power), plus plug-in and unplug.
Rows go in with executemany on one connection (no ORM objects). Then the ledger is computed once, and the
monthly report by vehicle and the yearly report by month are timed (median of `--repeats`; each reads the
ledger and aggregates it in SQL and pandas). Exit status 1 when a report misses the target.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from depot.costs import demo_tariff, ledger, report_data, reports, tariff_store
from depot.model import Charger, CurrentType, Vehicle
from depot.store import Store

TARGET_S = 2.0
START = datetime(2025, 1, 1, tzinfo=UTC)
KINDS = ((0.6, CurrentType.AC, 22.0), (0.3, CurrentType.DC, 50.0), (0.1, CurrentType.DC, 150.0))


def _iso(seconds: np.ndarray) -> list[str]:
    """SQLAlchemy's SQLite DateTime text ("YYYY-MM-DD HH:MM:SS.ffffff", naive UTC), vectorised."""
    us = (np.asarray(seconds, dtype=np.float64) * 1e6).round().astype("datetime64[us]")
    return np.char.replace(np.datetime_as_string(us, unit="us"), "T", " ").tolist()


def fleet(n: int) -> tuple[list[Charger], list[Vehicle]]:
    chargers, vehicles = [], []
    bounds = np.cumsum([share for share, _, _ in KINDS]) * n
    for i in range(n):
        _, ct, kw = KINDS[int(np.searchsorted(bounds, i, side="right"))]
        chargers.append(Charger(f"CP-{i + 1:03d}", kw, ct))
        battery = 90.0 if ct == CurrentType.AC else 300.0
        vehicles.append(Vehicle(f"EV-{i + 1:03d}", "Van" if ct == CurrentType.AC else "Truck", battery,
                                max_ac_kw=22.0, max_dc_kw=150.0, id_tag=f"TAG-{i + 1:03d}"))
    return chargers, vehicles


def sessions(chargers: list[Charger], days: int, seed: int, start: datetime = START) -> dict[str, np.ndarray]:
    """One row per session: charger index, plug-in, unplug, charge start and end (epoch s), kW, Wh at start."""
    rng = np.random.default_rng(seed)
    n = len(chargers)
    ci = np.tile(np.arange(n), days)
    day = np.repeat(np.arange(days), n)
    midnight = start.timestamp() + day * 86400.0
    weekday = (start.weekday() + day) % 7
    here = ~((weekday >= 5) & (rng.random(len(ci)) < 0.4))
    kw_max = np.array([c.max_kw for c in chargers])[ci]
    arrive = midnight + rng.uniform(16 * 3600, 20 * 3600, len(ci))
    leave = midnight + 86400 + rng.uniform(5 * 3600, 7.5 * 3600, len(ci))
    need = np.where(kw_max > 22, rng.uniform(60, 250, len(ci)), rng.uniform(15, 70, len(ci)))
    kw = kw_max * rng.uniform(0.7, 1.0, len(ci))
    hours = np.minimum(need / kw, (leave - arrive) / 3600.0 - 0.25)
    # managed: most charges are spread over the cheap night (from 22:00 until the charge must start to finish
    # before leaving), a few start at once
    night = np.maximum(arrive, midnight + 22 * 3600)
    latest = np.maximum(leave - hours * 3600.0 - 900.0, night)
    start = np.where(rng.random(len(ci)) < 0.15, arrive, night + rng.random(len(ci)) * (latest - night))
    end = start + hours * 3600.0
    keep = here
    out = {"ci": ci[keep], "arrive": arrive[keep], "leave": leave[keep], "start": start[keep], "end": end[keep],
           "kw": kw[keep]}
    energy = out["kw"] * (out["end"] - out["start"]) / 3.6  # Wh
    order = np.lexsort((out["arrive"], out["ci"]))
    out = {k: v[order] for k, v in out.items()}
    energy = energy[order]
    first = np.r_[True, out["ci"][1:] != out["ci"][:-1]]
    cum = np.cumsum(energy)
    base = np.maximum.accumulate(np.where(first, cum - energy, 0.0))  # register at this charger's first session
    out["wh0"] = np.round(cum - energy - base, 1)
    out["wh1"] = np.round(out["wh0"] + energy, 1)
    return out


def generate(store: Store, n_chargers: int, days: int, seed: int = 1, *, start: datetime = START) -> tuple[int, int]:
    """Chargers, vehicles, sessions and samples for `days` nights from `start` (midnight UTC); (sessions, samples)."""
    chargers, vehicles = fleet(n_chargers)
    for c in chargers:
        store.add_charger(c)
    for v in vehicles:
        store.add_vehicle(v)
    s = sessions(chargers, days, seed, start)
    m = len(s["ci"])
    tx_ids = np.arange(1, m + 1)
    names = np.array([c.id for c in chargers])
    tx_rows = list(zip(tx_ids.tolist(), names[s["ci"]].tolist(), [1] * m, [f"TAG-{i + 1:03d}" for i in s["ci"]],
                       [f"EV-{i + 1:03d}" for i in s["ci"]], _iso(s["arrive"]), _iso(s["leave"]), s["wh0"].tolist(),
                       s["wh1"].tolist(), strict=True))
    # clock-aligned samples every 15 minutes while plugged in
    k0 = np.ceil(s["arrive"] / 900.0).astype(np.int64)
    k1 = np.floor(s["leave"] / 900.0).astype(np.int64)
    count = np.maximum(k1 - k0 + 1, 0)
    rep = np.repeat(np.arange(m), count)
    t = (np.repeat(k0, count) + np.arange(len(rep)) - np.repeat(np.cumsum(count) - count, count)) * 900.0
    charged = np.clip(t - s["start"][rep], 0.0, s["end"][rep] - s["start"][rep])
    wh = np.round(s["wh0"][rep] + s["kw"][rep] * charged / 3.6, 1)
    w = np.where((t >= s["start"][rep]) & (t < s["end"][rep]), np.round(s["kw"][rep] * 1000.0, 0), 0.0)
    sample_rows = zip(names[s["ci"]][rep].tolist(), [1] * len(rep), tx_ids[rep].tolist(), _iso(t), wh.tolist(),
                      w.tolist(), strict=True)
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.executemany("INSERT INTO transactions (id, charger_id, connector_id, id_tag, vehicle_id, started_at, "
                        "stopped_at, meter_start_wh, meter_stop_wh) VALUES (?,?,?,?,?,?,?,?,?)", tx_rows)
        cur.executemany("INSERT INTO meter_samples (charger_id, connector_id, transaction_id, at, energy_wh, power_w) "
                        "VALUES (?,?,?,?,?,?)", sample_rows)
        raw.commit()
    finally:
        raw.close()
    return m, len(rep)


def _median(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m depot.bench reports", description=__doc__.splitlines()[0])
    ap.add_argument("--chargers", type=int, default=200)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--db", help="keep the generated SQLite file here (default: a temporary directory)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "bench.sqlite3"
        path.unlink(missing_ok=True)
        store = Store(f"sqlite:///{path}")
        store.migrate()
        end = START + timedelta(days=args.days)
        t0 = time.perf_counter()
        n_tx, n_samples = generate(store, args.chargers, args.days)
        gen_s = time.perf_counter() - t0
        demo_tariff.seed_demo_tariff(store, now=end - timedelta(days=45))  # tariffs, groups; also costs the ledger
        t0 = time.perf_counter()
        up = ledger.recompute(store, now=end)
        ledger_s = time.perf_counter() - t0
        month_start = datetime(end.year, end.month, 1, tzinfo=UTC) - timedelta(days=1)
        month_from, month_to = month_start.replace(day=1).date(), month_start.date()
        tz = tariff_store.site_timezone(tariff_store.list_tariffs(store))
        m0, m1 = report_data.parse_range(month_from, month_to, tz)
        y0, y1 = report_data.parse_range(START.date(), (end - timedelta(days=1)).date(), tz)
        monthly_s, monthly = _median(lambda: reports.build_report(store, m0, m1, "vehicle"), args.repeats)
        yearly_s, yearly = _median(lambda: reports.build_report(store, y0, y1, "month"), args.repeats)
        slots = store.count("ledger_slots")
        store.dispose()

    ok = monthly_s <= TARGET_S and yearly_s <= TARGET_S
    rows = [
        ("generate history (executemany)", gen_s, f"{n_tx:,} sessions, {n_samples:,} meter samples", ""),
        ("ledger: cost every session", ledger_s, f"{up.sessions:,} sessions, {slots:,} slots, {len(up.months)} months", ""),
        (f"monthly report by vehicle ({month_from:%b %Y})", monthly_s, f"{len(monthly.table)} rows, "
         f"{monthly.totals['sessions']:,} sessions", "PASS" if monthly_s <= TARGET_S else "FAIL"),
        ("yearly report by month", yearly_s, f"{len(yearly.table)} rows, {yearly.totals['sessions']:,} sessions",
         "PASS" if yearly_s <= TARGET_S else "FAIL"),
    ]
    print(f"reports benchmark: {args.chargers} chargers, {args.days} days, 15-minute samples; "
          f"target ≤ {TARGET_S:g} s per report (median of {args.repeats})")
    w = max(len(r[0]) for r in rows)
    print(f"{'step'.ljust(w)}  {'seconds':>8}  {'':4}  rows")
    for name, secs, what, verdict in rows:
        print(f"{name.ljust(w)}  {secs:8.2f}  {verdict:4}  {what}")
    return 0 if ok else 1
