"""Steady-state part of the control benchmark: how often the product re-plans and re-sends profiles when
nothing that matters changes.

Two measurements, both printed by `python -m depot.bench control`:

- the steady phase after the site-limit trials (any `--chargers`): the enforcement tick at the product's
  default, the periodic re-plan at the demo's pace (every 5 s real, as 300 clock-s at 60×), meter values
  from the simulated chargers, and a building meter (an HTTP source served here) whose reading wiggles by
  0.1 kW on every poll. Counted: plans stored, SetChargingProfile sent per charger per hour;
- `--demo`: the 20-charger demo as `python app.py` runs it (simulated depot in-process, 60× clock, demo
  building, roster and tariff; faults off unless `--fault-rate`), measured after a warm-up. Counted per
  real hour and per demo hour, plus readiness flips (a vehicle ready in one plan, not in the next).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WIGGLE_KW = 0.1


class WigglingMeter:
    """A building meter on loopback (`site_limit_source` = its URL): 0 kW, or 0 / 0.1 kW on alternate reads."""

    def __init__(self) -> None:
        self.wiggle = False
        self.reads = 0
        meter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                meter.reads += 1
                kw = WIGGLE_KW * (meter.reads % 2) if meter.wiggle else 0.0
                body = json.dumps({"building_kw": kw, "pv_kw": 0.0}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="wiggling-meter", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/building"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class Counts:
    """Rows the store holds: plans, and SetChargingProfile per purpose."""

    plans: int
    last_plan_id: int | None
    profiles: dict[str, int]

    @property
    def tx_profiles(self) -> int:
        return self.profiles.get("TxProfile", 0)


def counts(store) -> Counts:
    from sqlalchemy import func, select

    from depot.store import enforcement as es

    with store.session() as s:
        by_purpose = dict(s.execute(select(es.CommandRow.purpose, func.count()).group_by(es.CommandRow.purpose)).all())
    return Counts(store.count("plans"), store.active_plan_id(), by_purpose)


@dataclass(frozen=True)
class Steady:
    """What one steady phase measured."""

    seconds: float
    chargers: int
    plans: int
    profiles: int
    flips: int
    skipped: int | None  # re-plans answered without a solve or without a new plan (None: not counted)

    def per_hour(self, n: float) -> float:
        return n * 3600.0 / self.seconds

    def profiles_per_charger_hour(self) -> float:
        return self.per_hour(self.profiles) / max(1, self.chargers)


def measure(store, runtime, seconds: float, chargers: int) -> Steady:
    """Count plans and TxProfiles stored during `seconds` of real time."""
    before = counts(store)
    skipped0 = _skipped(runtime)
    t0 = time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - t0
    after = counts(store)
    skipped1 = _skipped(runtime)
    flips = readiness_flips(store, before.last_plan_id)
    skipped = None if skipped0 is None or skipped1 is None else skipped1 - skipped0
    return Steady(elapsed, chargers, after.plans - before.plans, after.tx_profiles - before.tx_profiles, flips,
                  skipped)


def _skipped(runtime) -> int | None:
    stats = getattr(getattr(runtime, "replanner", None), "steady", None)
    return None if stats is None else stats.skipped + stats.kept


def readiness_flips(store, after_plan_id: int | None) -> int:
    """How often a vehicle's readiness changed from one stored plan to the next, from `after_plan_id` on."""
    records = sorted(store.plan_history(limit=100_000), key=lambda r: r.id)
    flips, previous = 0, None
    for r in records:
        if after_plan_id is not None and r.id < after_plan_id:
            continue
        ready = {v["id"]: v["ready"] for v in r.plan.get("vehicles", [])}
        if previous is not None:
            flips += sum(1 for k, v in ready.items() if k in previous and previous[k] != v)
        previous = ready
    return flips


def tune_jobs(runtime, *, tick_s: float, replan_s: float) -> None:
    """The enforcement tick and the periodic re-plan at these intervals (real seconds), from now on."""

    async def reschedule() -> None:
        runtime.scheduler.reschedule_job("enforce", trigger="interval", seconds=tick_s)
        runtime.scheduler.reschedule_job("replan", trigger="interval", seconds=replan_s)

    runtime.run(reschedule())


def print_steady(s: Steady, *, label: str, speed: float = 1.0) -> None:
    skipped = "" if s.skipped is None else f", {s.skipped} re-plans answered by the plan in force"
    print(f"{label}: {s.seconds:.0f} s, {s.plans} plans ({s.per_hour(s.plans):.0f}/h real"
          + (f", {s.per_hour(s.plans) / speed:.1f}/h demo" if speed != 1.0 else "")
          + f"), {s.profiles} TxProfiles = {s.profiles_per_charger_hour():.1f} per charger per hour real"
          + (f" ({s.profiles_per_charger_hour() / speed:.2f} per demo hour)" if speed != 1.0 else "")
          + f", readiness flips {s.flips}{skipped}")


# --------------------------------------------------------------------------- the demo, as app.py runs it


def run_demo(chargers: int, *, warmup: float, seconds: float, fault_rate: float, speed: float) -> Steady:
    """The demo depot in this process on a temporary SQLite file, measured for `seconds` after `warmup`."""
    import tempfile
    from pathlib import Path

    from depot.clock import DemoClock
    from depot.runtime import Runtime
    from depot.settings import Settings
    from depot.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.sqlite3'}"
        settings = Settings(database_url=url, ocpp_port=0, port=0, simulator=True, chargers=chargers,
                            sim_speed=speed, sim_fault_rate=fault_rate).for_demo(10)
        store = Store(url)
        store.migrate()
        # 20:00 UTC on the demo clock: every vehicle has arrived, the night's charging lies ahead
        start = datetime.now(UTC).replace(hour=20, minute=0, second=0, microsecond=0)
        runtime = Runtime(settings, store, clock=DemoClock(start, speed))
        runtime.start()
        try:
            deadline = time.monotonic() + 120
            while len(store.active_transactions()) < int(0.8 * chargers) and time.monotonic() < deadline:
                time.sleep(0.5)
            print(f"demo: {chargers} chargers, {len(store.active_transactions())} sessions at "
                  f"{runtime.clock():%H:%M} demo time; warm-up {warmup:.0f} s, then {seconds:.0f} s measured "
                  f"({seconds * speed / 3600:.1f} demo hours), fault rate {fault_rate:g}")
            time.sleep(warmup)
            result = measure(store, runtime, seconds, chargers)
            print(f"demo clock at the end {runtime.clock():%H:%M} (departures from 05:00)")
            return result
        finally:
            runtime.stop()
            store.dispose()
