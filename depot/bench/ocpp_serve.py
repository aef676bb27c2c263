"""The OCPP load benchmark's server side: the central system's own process, its store, its CPU time.

`serve` is what runs in that process (`python -m depot.bench.ocpp _serve DB_URL`); the rest is how the
benchmark (`depot.bench.ocpp`) seeds the temporary store, starts and stops the process, reads its CPU time
and counts the rows it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
# every simulated charger connects from HOST: the per-address handshake limit is sized for that fleet
LOOPBACK_FLEET = {"handshake_burst": 10_000, "handshake_refill_s": 0.01}


def serve(db_url: str) -> int:
    """Run a CentralSystem on HOST and a free port until stdin closes or SIGTERM; print `PORT <n>` once up."""
    from depot.ocpp.server import CentralSystem
    from depot.settings import Settings
    from depot.store import Store

    async def run() -> None:
        store = Store(db_url)
        # no backlog limit: tests/test_durability.py replays fixed timestamps (tests/ocpp_clients.T0)
        settings = Settings(database_url=db_url, ocpp_host=HOST, ocpp_port=0, simulator=False, max_backlog_s=0.0,
                            **LOOPBACK_FLEET)
        cs = CentralSystem(store, settings)
        await cs.start()
        print(f"PORT {cs.port}", flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        stdin_closed = loop.run_in_executor(None, sys.stdin.read)
        stdin_closed.add_done_callback(lambda _f: done.set())
        await done.wait()
        await cs.stop()
        store.dispose()

    asyncio.run(run())
    return 0


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def seed_db(db_url: str, ids: list[tuple[str, str]]) -> None:
    from depot.bench.ocpp_load import BENCH_PASSWORD
    from depot.clock import utc_now
    from depot.model import Charger, CurrentType, Protocol
    from depot.store import Store

    store = Store(db_url)
    store.migrate()
    for cid, proto in ids:
        store.add_charger(Charger(id=cid, max_kw=22.0, current_type=CurrentType.AC, phases=3, protocol=Protocol(proto)))
    store.set_charger_passwords({cid: BENCH_PASSWORD for cid, _ in ids}, now=utc_now())  # profile 1, as in a depot
    store.dispose()


def launch_server(db_url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "depot.bench.ocpp", "_serve", db_url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def server_port(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    end = time.time() + timeout
    line = ""
    while time.time() < end:
        line = proc.stdout.readline()
        if line.startswith("PORT "):
            return int(line.split()[1])
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"the central system did not start (last output {line!r})")


def start_server(db_url: str, timeout: float = 60.0) -> tuple[subprocess.Popen, int]:
    proc = launch_server(db_url)
    return proc, server_port(proc, timeout)


def stop_server(proc: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        proc.stdin.close()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def count_rows(db_url: str) -> dict[str, int]:
    from depot.store import Store

    store = Store(db_url)
    try:
        return {t: store.count(t) for t in ("chargers", "meter_samples", "events", "transactions", "connectors")}
    finally:
        store.dispose()
