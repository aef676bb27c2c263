"""OCPP load benchmark: `python -m depot.bench ocpp --chargers 500 [--seconds 60] [--interval 10]`.

One real `CentralSystem` runs in its own process, like production (`python -m depot.bench.ocpp _serve`), on
127.0.0.1 and a free port, persisting to a temporary SQLite file seeded with the charger ids. N lightweight
chargers (real OCPP-J clients over websockets, half 1.6 and half 2.0.1, hand-built frames so the clients
cost little CPU) run in `--procs` client processes. Each sends BootNotification, answers the server's
capability request, then every `--interval` s (staggered) a Heartbeat and a MeterValues, one CALL at a time
as a charger does, for `--seconds`. Then it waits up to `--grace` s for answers still due.

Printed: connect time (until every BootNotification was answered), messages sent and answered, messages/s,
round-trip p50/p99/max, lost messages (sent, never answered), errors (CALLERRORs, refused or dropped
connections), the clients' worst event-loop lag (so a slow round trip can be told from a busy client), the
server's CPU time, and the store's rows afterwards: the meter_samples count must equal the MeterValues
answered (each carries one meterValue), which shows that nothing acknowledged was lost.
Exit status 0 when nothing was lost, no error occurred and the counts match.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HOST = "127.0.0.1"
P99_TARGET_MS = 250.0


# ---------------------------------------------------------------- the server process


def serve(db_url: str) -> int:
    """Run a CentralSystem on HOST and a free port until stdin closes or SIGTERM; print `PORT <n>` once up."""
    from depot.ocpp.server import CentralSystem
    from depot.settings import Settings
    from depot.store import Store

    async def run() -> None:
        store = Store(db_url)
        settings = Settings(database_url=db_url, ocpp_host=HOST, ocpp_port=0, simulator=False)
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


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# ---------------------------------------------------------------- the client processes


@dataclass
class ClientStats:
    chargers: int = 0
    connected: int = 0
    connect_s: list[float] = field(default_factory=list)
    sent: int = 0
    answered: int = 0
    lost: int = 0
    errors: int = 0
    meter_answered: int = 0
    rtt_ms: list[float] = field(default_factory=list)  # Heartbeat and MeterValues
    rtt_sent_at: list[float] = field(default_factory=list)  # when each of those was sent (s after the start)
    boot_rtt_ms: list[float] = field(default_factory=list)  # BootNotification, in the connect storm
    max_lag_ms: float = 0.0  # after every charger of this process booted
    max_lag_connect_ms: float = 0.0  # while they connect
    all_booted: bool = False
    cpu_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    first_send: float = math.inf
    last_answer: float = 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_CAPS = {
    "ocpp1.6": lambda ct: {"configurationKey": [
        {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current"},
        {"key": "ChargingScheduleMaxPeriods", "readonly": True, "value": "24"},
        {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "8"}]},
}


def _answer_call(protocol: str, action: str, payload: dict) -> dict | None:
    """What a lightweight charger answers to the server's requests (None: NotImplemented)."""
    if action == "GetConfiguration" and protocol == "ocpp1.6":
        return _CAPS["ocpp1.6"](None)
    if action == "GetVariables" and protocol == "ocpp2.0.1":
        values = {"RateUnit": "A", "PeriodsPerSchedule": "24", "ProfileStackLevel": "8"}
        out = []
        for d in payload.get("getVariableData", []):
            name = d.get("variable", {}).get("name")
            if name in values:
                out.append({"attributeStatus": "Accepted", "attributeValue": values[name],
                            "component": d["component"], "variable": d["variable"]})
            else:
                out.append({"attributeStatus": "UnknownVariable", "component": d["component"],
                            "variable": d["variable"]})
        return {"getVariableResult": out}
    return None


class BenchCharger:
    """A charger reduced to what the benchmark needs: it sends, waits for each answer, answers the server."""

    def __init__(self, charger_id: str, protocol: str, url: str, stats: ClientStats, *, answer_timeout: float,
                 t_start: float):
        self.id = charger_id
        self.protocol = protocol
        self.url = f"{url}/{charger_id}"
        self.stats = stats
        self.answer_timeout = answer_timeout
        self.ws = None
        self.pending: dict[str, asyncio.Future] = {}
        self.ids = itertools.count(1)
        self.energy_wh = 1_000_000.0
        self.t_start = t_start

    async def call(self, action: str, payload: dict) -> dict | None:
        """Send one CALL, wait for its answer; None (counted as lost or as an error) when there is none."""
        uid = f"{self.id}-{next(self.ids)}"
        fut = asyncio.get_running_loop().create_future()
        self.pending[uid] = fut
        t0 = time.perf_counter()
        sent_at = time.time()
        self.stats.first_send = min(self.stats.first_send, sent_at)
        self.stats.sent += 1
        try:
            await self.ws.send(json.dumps([2, uid, action, payload]))
            kind, body = await asyncio.wait_for(fut, self.answer_timeout)
        except TimeoutError:
            self.stats.lost += 1
            return None
        except Exception as exc:  # the connection went away under the call
            self.stats.lost += 1
            self.stats.error(f"{self.id} {action}: {type(exc).__name__} {exc}")
            return None
        finally:
            self.pending.pop(uid, None)
        self.stats.answered += 1
        self.stats.last_answer = time.time()
        ms = (time.perf_counter() - t0) * 1000.0
        if action == "BootNotification":
            self.stats.boot_rtt_ms.append(ms)
        else:
            self.stats.rtt_ms.append(ms)
            self.stats.rtt_sent_at.append(sent_at - self.t_start)
        if kind == 4:
            self.stats.error(f"{self.id} {action}: CALLERROR {body}")
            return None
        return body

    async def receive(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg[0] in (3, 4):
                fut = self.pending.get(msg[1])
                if fut is not None and not fut.done():
                    fut.set_result((msg[0], msg[2] if msg[0] == 3 else msg[2:]))
            elif msg[0] == 2:
                result = _answer_call(self.protocol, msg[2], msg[3])
                if result is None:
                    reply = [4, msg[1], "NotImplemented", f"{msg[2]} is not simulated", {}]
                else:
                    reply = [3, msg[1], result]
                await self.ws.send(json.dumps(reply))

    def boot_payload(self) -> dict:
        if self.protocol == "ocpp1.6":
            return {"chargePointVendor": "DepotBench", "chargePointModel": "Bench"}
        return {"chargingStation": {"vendorName": "DepotBench", "model": "Bench"}, "reason": "PowerUp"}

    def meter_payload(self) -> dict:
        self.energy_wh += 11_000 / 360  # 11 kW for 10 s
        if self.protocol == "ocpp1.6":
            return {"connectorId": 1, "meterValue": [{"timestamp": _iso_now(), "sampledValue": [
                {"value": str(round(self.energy_wh)), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"}]}]}
        return {"evseId": 1, "meterValue": [{"timestamp": _iso_now(), "sampledValue": [
            {"value": round(self.energy_wh), "measurand": "Energy.Active.Import.Register"},
            {"value": 11000.0, "measurand": "Power.Active.Import"}]}]}

    async def run(self, t_start: float, deadline: float, interval: float, rng: random.Random) -> None:
        from websockets.asyncio.client import connect

        try:
            async with connect(self.url, subprotocols=[self.protocol], open_timeout=60, ping_interval=None,
                               max_queue=None) as ws:
                self.ws = ws
                receiver = asyncio.create_task(self.receive())
                try:
                    boot = await self.call("BootNotification", self.boot_payload())
                    if boot is None or boot.get("status") != "Accepted":
                        self.stats.error(f"{self.id}: boot answered {boot}")
                        return
                    self.stats.connected += 1
                    self.stats.connect_s.append(time.time() - t_start)
                    next_at = time.time() + rng.uniform(0, interval)
                    while True:
                        await asyncio.sleep(max(0.0, next_at - time.time()))
                        if time.time() >= deadline:
                            break
                        await self.call("Heartbeat", {})
                        if await self.call("MeterValues", self.meter_payload()) is not None:
                            self.stats.meter_answered += 1
                        next_at += interval
                finally:
                    receiver.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await receiver
        except Exception as exc:
            self.stats.error(f"{self.id}: connection {type(exc).__name__} {exc}")


async def _lag_monitor(stats: ClientStats) -> None:
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(0.05)
        lag = (loop.time() - t - 0.05) * 1000.0
        if stats.all_booted:
            stats.max_lag_ms = max(stats.max_lag_ms, lag)
        else:
            stats.max_lag_connect_ms = max(stats.max_lag_connect_ms, lag)


async def _client_main(chargers: list[tuple[str, str]], url: str, t_start: float, seconds: float, interval: float,
                       grace: float, seed: int) -> ClientStats:
    stats = ClientStats(chargers=len(chargers))
    rng = random.Random(seed)
    lag = asyncio.create_task(_lag_monitor(stats))
    await asyncio.sleep(max(0.0, t_start - time.time()))
    deadline = t_start + seconds
    clients = [BenchCharger(cid, proto, url, stats, answer_timeout=grace + interval, t_start=t_start) for cid, proto in chargers]
    runs = [asyncio.create_task(c.run(t_start, deadline, interval, rng)) for c in clients]

    async def watch_boots() -> None:
        while stats.connected + stats.errors < len(chargers) and not all(r.done() for r in runs):
            await asyncio.sleep(0.05)
        stats.all_booted = True

    watcher = asyncio.create_task(watch_boots())
    await asyncio.gather(*runs)
    lag.cancel()
    watcher.cancel()
    stats.cpu_s = time.process_time()
    return stats


def client_process(chargers, interval, grace, seed, conn) -> None:
    """A client process: import, say "ready", get (url, start time, seconds), run, send back its ClientStats."""
    try:
        import websockets.asyncio.client  # noqa: F401  (imported before "ready": not inside the measurement)

        conn.send("ready")
        url, t_start, seconds = conn.recv()
        stats = asyncio.run(_client_main(chargers, url, t_start, seconds, interval, grace, seed))
        conn.send(stats)
    except BaseException as exc:  # report, never hang the parent
        conn.send(exc)
    finally:
        conn.close()


# ---------------------------------------------------------------- the benchmark


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def _seed_db(db_url: str, ids: list[tuple[str, str]]) -> None:
    from depot.model import Charger, CurrentType, Protocol
    from depot.store import Store

    store = Store(db_url)
    store.migrate()
    for cid, proto in ids:
        store.add_charger(Charger(id=cid, max_kw=22.0, current_type=CurrentType.AC, phases=3, protocol=Protocol(proto)))
    store.dispose()


def _launch_server(db_url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "depot.bench.ocpp", "_serve", db_url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _server_port(proc: subprocess.Popen, timeout: float = 60.0) -> int:
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


def _start_server(db_url: str, timeout: float = 60.0) -> tuple[subprocess.Popen, int]:
    proc = _launch_server(db_url)
    return proc, _server_port(proc, timeout)


def _stop_server(proc: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        proc.stdin.close()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(n: int, seconds: float, interval: float, procs: int, grace: float, seed: int, out=sys.stdout) -> int:
    ids = [(f"BENCH-{i:04d}", "ocpp1.6" if i % 2 else "ocpp2.0.1") for i in range(1, n + 1)]
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="depot-bench-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        _seed_db(db_url, ids)
        server = _launch_server(db_url)
        stats: list[ClientStats] = []
        server_cpu = None
        workers = []
        try:
            ctx = mp.get_context("spawn")
            for k in range(procs):  # the client processes import while the server starts
                parent, child = ctx.Pipe()
                p = ctx.Process(target=client_process, args=(ids[k::procs], interval, grace, seed + k, child),
                                daemon=True)
                p.start()
                child.close()
                workers.append((p, parent))
            url = f"ws://{HOST}:{_server_port(server)}/ocpp"
            for _, parent in workers:
                if not parent.poll(60) or parent.recv() != "ready":
                    raise RuntimeError("a client process did not start")
            cpu_before = _cpu_seconds(server.pid)  # its start-up (imports, migrations check) is not counted
            t_start = time.time() + 0.2
            for _, parent in workers:
                parent.send((url, t_start, seconds))
            limit = t_start + seconds + grace + interval + 90
            for p, parent in workers:
                if parent.poll(max(0.0, limit - time.time())):
                    result = parent.recv()
                    if isinstance(result, BaseException):
                        raise RuntimeError(f"a client process failed: {result!r}")
                    stats.append(result)
                else:
                    raise RuntimeError("a client process did not finish in time")
                p.join(10)
            cpu_after = _cpu_seconds(server.pid)
            if cpu_before is not None and cpu_after is not None:
                server_cpu = cpu_after - cpu_before
        finally:
            for p, _ in workers:
                if p.is_alive():
                    p.kill()
            _stop_server(server)
        rows = _count_rows(db_url)
    return _report(n, seconds, interval, procs, stats, rows, server_cpu, load, out)


def _count_rows(db_url: str) -> dict[str, int]:
    from depot.store import Store

    store = Store(db_url)
    try:
        return {t: store.count(t) for t in ("chargers", "meter_samples", "events", "transactions", "connectors")}
    finally:
        store.dispose()


def _report(n, seconds, interval, procs, stats: list[ClientStats], rows, server_cpu, load, out) -> int:
    rtt = sorted(x for s in stats for x in s.rtt_ms)
    connect_all = max((x for s in stats for x in s.connect_s), default=math.nan)
    # the steady state: what is sent once every charger booted and went through its first round
    steady = sorted(x for s in stats for x, at in zip(s.rtt_ms, s.rtt_sent_at, strict=True)
                    if at >= connect_all + interval)
    boot_rtt = sorted(x for s in stats for x in s.boot_rtt_ms)
    sent = sum(s.sent for s in stats)
    answered = sum(s.answered for s in stats)
    lost = sum(s.lost for s in stats)
    errors = sum(s.errors for s in stats)
    connected = sum(s.connected for s in stats)
    meter_answered = sum(s.meter_answered for s in stats)
    first = min((s.first_send for s in stats), default=math.nan)
    last = max((s.last_answer for s in stats), default=math.nan)
    elapsed = last - first if last > first else math.nan
    lag = max((s.max_lag_ms for s in stats), default=0.0)
    lag_connect = max((s.max_lag_connect_ms for s in stats), default=0.0)
    p99 = _percentile(rtt, 99)
    samples_ok = rows["meter_samples"] == meter_answered
    table = [
        ("chargers", f"{n} ({(n + 1) // 2} × 1.6, {n // 2} × 2.0.1) in {procs} client process{'es' if procs > 1 else ''}"),
        ("run", f"{seconds:g} s, Heartbeat + MeterValues every {interval:g} s per charger"),
        ("connected", f"{connected}/{n}"),
        ("connect time (all booted)", f"{connect_all:.2f} s"),
        ("messages sent", f"{sent}"),
        ("messages answered", f"{answered}"),
        ("messages/s", f"{answered / elapsed:.1f}" if elapsed == elapsed else "n/a"),
        ("round trip p50", f"{_percentile(rtt, 50):.1f} ms (Heartbeat, MeterValues)"),
        ("round trip p99", f"{p99:.1f} ms (target ≤ {P99_TARGET_MS:g} ms)"),
        ("round trip max", f"{rtt[-1] if rtt else math.nan:.1f} ms"),
        ("steady p50 / p99 / max", f"{_percentile(steady, 50):.1f} / {_percentile(steady, 99):.1f} / "
                                   f"{steady[-1] if steady else math.nan:.1f} ms (sent after boot + one round)"),
        ("BootNotification p50 / max", f"{_percentile(boot_rtt, 50):.1f} / "
                                       f"{boot_rtt[-1] if boot_rtt else math.nan:.1f} ms (all at once)"),
        ("lost (sent, never answered)", f"{lost}"),
        ("errors", f"{errors}"),
        ("client loop lag max", f"{lag:.1f} ms (while connecting {lag_connect:.1f} ms)"),
        ("client CPU", f"{sum(s.cpu_s for s in stats):.1f} s"),
        ("server CPU (during the run)", f"{server_cpu:.1f} s, {1000 * server_cpu / max(1, answered):.1f} ms per message answered"
                       if server_cpu is not None else "n/a"),
        ("MeterValues answered", f"{meter_answered}"),
        ("store: meter_samples", f"{rows['meter_samples']} ({'=' if samples_ok else '≠'} MeterValues answered)"),
        ("store: chargers / connectors", f"{rows['chargers']} / {rows['connectors']}"),
        ("store: events (raw frames)", f"{rows['events']}"),
        ("load average before", " ".join(f"{x:.2f}" for x in load) + f" on {os.cpu_count()} cores"),
    ]
    width = max(len(k) for k, _ in table)
    print("OCPP central system benchmark (server in its own process, loopback)", file=out)
    print(f"| {'metric'.ljust(width)} | value", file=out)
    print(f"|{'-' * (width + 2)}|{'-' * 40}", file=out)
    for k, v in table:
        print(f"| {k.ljust(width)} | {v}", file=out)
    for s in stats:
        for e in s.error_samples:
            print(f"error: {e}", file=out)
    ok = lost == 0 and errors == 0 and samples_ok and connected == n
    verdict = "OK" if ok and p99 <= P99_TARGET_MS else ("OK, but p99 above target" if ok else "FAILED")
    print(f"result: {verdict}", file=out)
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m depot.bench ocpp",
                                description="Load the OCPP central system (its own process) with N chargers over "
                                            "loopback and print round trips, losses and the store's rows.")
    p.add_argument("--chargers", type=int, default=500, help="simulated chargers (default 500)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long the chargers send (default 60)")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between a charger's rounds (default 10)")
    p.add_argument("--procs", type=int, default=0, help="client processes (default: 1 per 500 chargers)")
    p.add_argument("--grace", type=float, default=15.0, help="seconds to wait for answers still due (default 15)")
    p.add_argument("--seed", type=int, default=7)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_serve"]:
        return serve(argv[1])
    args = build_parser().parse_args(argv)
    if args.chargers <= 0 or args.seconds <= 0 or args.interval <= 0:
        print("--chargers, --seconds and --interval must be > 0", file=sys.stderr)
        return 2
    procs = args.procs or max(1, math.ceil(args.chargers / 500))
    return run(args.chargers, args.seconds, args.interval, procs, args.grace, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
