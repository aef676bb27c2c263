"""Control benchmark: `python -m depot.bench control --chargers 200 [--trials 5]`.

How fast a site-limit change reaches every charger. The product runs as in production: the runtime (OCPP
central system, scheduler, planner, enforcer) in this process on a temporary SQLite file; N simulated
chargers (real OCPP 1.6/2.0.1 clients, all with a vehicle plugged in) in a separate process on loopback.
Each trial changes the grid connection in the database, as `depot site set` does; the enforcer's site poll
notices it and sends new charging profiles, reductions first. Printed per trial: limit before → after,
profiles sent and accepted, time to notice (the poll), time to apply (from the pass's start until every
charger answered), the total, and the commanded sum afterwards. Target: total ≤ 2 s for 200 chargers.
Every simulated charger connects from 127.0.0.1, so the server's per-address handshake limit is set for that
one-address fleet (`LOOPBACK_FLEET`, the `handshake_*` settings an operator sets for chargers behind a NAT);
the product has no loopback exemption. The set-up (a boot storm: a password check per charger) may take
longer with more chargers: its bounds grow with N.

Then a steady phase (`--steady` s, 0 to skip; depot.bench.steady): nothing that matters changes, the
building reading wiggles by 0.1 kW, the enforcement ticks every `--steady-tick` s and the periodic re-plan
runs every `--replan-every` s; printed: plans per hour and TxProfiles per charger per hour. `--demo` measures
the 20-charger demo instead (as `python app.py` runs it, on its 60× clock).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

TARGET_S = 2.0
# every simulated charger connects from 127.0.0.1, one address with a whole depot behind it (as behind a NAT):
# the per-address handshake limit (depot.ocpp.security) is sized for that fleet, as an operator would size it
LOOPBACK_FLEET = {"handshake_burst": 10_000, "handshake_refill_s": 0.01}


def _simulate(url: str, n: int, ready, stop, plugged, passwords: dict[str, str]) -> None:
    """The simulated depot's process: connect every charger, plug a vehicle into each, run until told."""
    from depot.clock import utc_now
    from depot.sim.demo import demo_depot
    from depot.sim.simulator import SimulatedDepot

    async def run() -> None:
        chargers, vehicles = demo_depot(n)
        sim = SimulatedDepot(url, chargers, vehicles, clock=utc_now, fault_rate=0.0, auto_schedule=False,
                             meter_interval=30, min_meter_gap=10.0, passwords=passwords)
        await sim.start()
        while sum(c.connected for c in sim.chargers) < n:
            await asyncio.sleep(0.2)
        by_id = {c.id: c for c in sim.chargers}
        for v in vehicles[:n]:
            charger = by_id.get(v.charger_id) if v.charger_id else None
            charger = charger if charger is not None and charger.free_connector() else next(
                (c for c in sim.chargers if c.free_connector()), None)
            if charger is not None:
                charger.plug_in(v, 20.0)
                plugged.value += 1
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        await sim.stop()

    asyncio.run(run())


def _wait(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"benchmark: {what} did not happen within {timeout:.0f} s")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m depot.bench control", description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=None, help="default 200 (--demo: 20)")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--poll", type=float, default=0.25, help="site poll interval, s (default 0.25)")
    parser.add_argument("--steady", type=float, default=None,
                        help="steady phase after the trials, s (default 60, 0: none; --demo: measured, default 240)")
    parser.add_argument("--steady-tick", type=float, default=15.0, help="enforcement tick in the steady phase, s")
    parser.add_argument("--replan-every", type=float, default=5.0, help="periodic re-plan in the steady phase, s")
    parser.add_argument("--demo", action="store_true", help="measure the demo depot (60× clock) instead")
    parser.add_argument("--warmup", type=float, default=60.0, help="--demo: warm-up before measuring, s")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="--demo: simulated fault rate")
    return parser


def _demo(args: argparse.Namespace) -> int:
    from depot.bench.steady import print_steady, run_demo

    n = args.chargers or 20
    result = run_demo(n, warmup=args.warmup, seconds=args.steady or 240.0, fault_rate=args.fault_rate, speed=60.0)
    print_steady(result, label=f"steady demo, {n} chargers", speed=60.0)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.demo:
        return _demo(args)
    args.chargers = 200 if args.chargers is None else args.chargers
    args.steady = 60.0 if args.steady is None else args.steady
    from depot.bench.steady import WigglingMeter, measure, print_steady, tune_jobs
    from depot.store import Store

    steady = None
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'control.sqlite3'}"
        store = Store(url)
        store.migrate()
        passwords = _seed(store, args.chargers)
        meter = WigglingMeter()  # the building: 0 kW during the trials, 0 / 0.1 kW in the steady phase
        runtime = _start_runtime(url, store, args.poll, meter.url)
        ctx = mp.get_context("spawn")
        ready, stop, plugged = ctx.Event(), ctx.Event(), ctx.Value("i", 0)
        proc = ctx.Process(target=_simulate, daemon=True,
                           args=(f"ws://127.0.0.1:{runtime.ocpp_port}", args.chargers, ready, stop, plugged,
                                 passwords))
        t_setup = time.perf_counter()
        proc.start()
        enforcer = runtime.enforcer
        # a boot storm of n chargers (a password check each, their boots, first profiles) is not what this
        # measures: its bounds grow with n (180 s up to 400 chargers, ~0.45 s a charger beyond)
        storm = max(1.0, 0.45 * args.chargers / 180)
        try:
            _wait(ready.is_set, 180 * storm, "all chargers connected with a vehicle")
            sessions = plugged.value
            _wait(lambda: len(store.active_transactions()) >= sessions, 120 * storm, "every session started")
            _wait(lambda: len(enforcer.commanded) >= sessions, 180 * storm, "a profile on every session")
            _wait(lambda: _quiet(enforcer), 60 * storm, "the enforcer settling")
            print(f"set-up: {args.chargers} chargers connected, {sessions} charging under profiles in "
                  f"{time.perf_counter() - t_setup:.1f} s; grid {store.get_site().grid_kw:g} kW")
            rows = _trials(store, enforcer, args.trials, patience=storm)
            if args.steady > 0:
                meter.wiggle = True
                tune_jobs(runtime, tick_s=args.steady_tick, replan_s=args.replan_every)
                steady = measure(store, runtime, args.steady, args.chargers)
        finally:
            stop.set()
            proc.join(30)
            runtime.stop()
            store.dispose()
            meter.close()

    status = _print_results(rows, args.chargers)
    if steady is not None:
        print_steady(steady, label=f"\nsteady phase, {args.chargers} chargers (tick {args.steady_tick:g} s, "
                                   f"re-plan every {args.replan_every:g} s, building ±{0.1:g} kW)")
    return status


def _seed(store, n: int) -> dict[str, str]:
    """The demo depot of `n` chargers in the store, the grid at 40 % of their power, every vehicle due out;
    returns the chargers' passwords (security profile 1)."""
    from depot.clock import utc_now
    from depot.planning.departures import Departure
    from depot.sim.demo import demo_depot, seed_store

    chargers, vehicles = demo_depot(n)
    total_kw = sum(c.max_kw for c in chargers)
    passwords = seed_store(store, chargers, vehicles, grid_kw=round(0.4 * total_kw, 1))
    # every vehicle leaves in three hours needing most of its battery: the plan runs the site at its limit,
    # so each change of the limit forces real reductions and increases
    leave = utc_now() + timedelta(hours=3)
    store.replace_departures([Departure(v.id, leave, energy_kwh=round(0.8 * v.battery_kwh, 1)) for v in vehicles],
                             now=utc_now())
    return passwords


def _start_runtime(url: str, store, poll: float, building_url: str = ""):
    """The product's runtime (OCPP server, scheduler, planner, enforcer) on `store`, polling the site every `poll` s
    (the building from `building_url`, when given)."""
    from depot.clock import utc_now
    from depot.runtime import Runtime
    from depot.settings import Settings

    settings = Settings(database_url=url, ocpp_host="127.0.0.1", ocpp_port=0, simulator=False,
                        tick_seconds=3600.0, site_poll_seconds=poll, heartbeat_interval=300,
                        station_max=False, site_limit_source=building_url, **LOOPBACK_FLEET)
    runtime = Runtime(settings, store, clock=utc_now)
    runtime.start()
    return runtime


def _trials(store, enforcer, trials: int, patience: float = 1.0) -> list[tuple]:
    """Change the grid connection `trials` times; per trial the limits, profiles and times measured (each
    waited for at most 30 s × `patience`: the time is the measurement, the bound only stops a hung run)."""
    rows = []
    factors = [0.5, 1.6, 0.6, 1.5, 0.4, 2.0]
    for trial in range(trials):
        site = store.get_site()
        before = enforcer.limit.limit_kw
        new_grid = round(site.grid_kw * factors[trial % len(factors)], 1)
        seen = enforcer.history[-1] if enforcer.history else None  # the history is a bounded deque: by identity
        t0 = time.time()
        store.set_site(site.name, new_grid, site.safety_margin_kw)
        done = _wait(lambda seen=seen, new=new_grid: _applied(enforcer, seen, new), 30 * patience,
                     "the new limit applied")
        t_end = time.time()
        started = done.at.timestamp()
        rows.append((trial + 1, before, done.site_limit_kw, done.sent, done.accepted, started - t0,
                     t_end - started, t_end - t0, done.commanded_kw))
        _wait(lambda: _quiet(enforcer), 60 * patience, "the enforcer settling")
    return rows


def _print_results(rows: list[tuple], n: int) -> int:
    print(f"\nsite-limit change → all new profiles accepted, {n} chargers (target ≤ {TARGET_S:g} s)")
    print(f"{'trial':>5} {'limit kW':>17} {'sent':>5} {'accepted':>8} {'notice ms':>9} {'apply ms':>8} "
          f"{'total ms':>8} {'commanded kW':>12}")
    for t, before, after, sent, acc, notice, apply, total, commanded in rows:
        print(f"{t:>5} {before:>8.0f}→{after:<8.0f} {sent:>5} {acc:>8} {notice * 1000:>9.0f} {apply * 1000:>8.0f} "
              f"{total * 1000:>8.0f} {commanded:>12.0f}")
    totals = [r[7] for r in rows]
    ok = max(totals) <= TARGET_S and all(r[3] == r[4] for r in rows) and all(r[8] <= r[2] + 1e-6 for r in rows)
    print(f"median {statistics.median(totals) * 1000:.0f} ms, max {max(totals) * 1000:.0f} ms, "
          f"every commanded sum within its limit: {all(r[8] <= r[2] + 1e-6 for r in rows)} — {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def _quiet(enforcer) -> bool:
    return not enforcer._pending and (enforcer._task is None or enforcer._task.done()) and not enforcer._lock.locked()


def _applied(enforcer, seen, grid_kw: float):
    """The first pass after `seen` (the last one before the change) that ran under the new limit, once it has
    finished."""
    results = list(enforcer.history)
    start = next((i + 1 for i in range(len(results) - 1, -1, -1) if results[i] is seen), 0)
    for result in results[start:]:
        if abs(result.site_limit_kw - grid_kw) < 0.05:
            return result
    return None


if __name__ == "__main__":
    raise SystemExit(main())
