"""The OCPP load benchmark's clients: lightweight strict chargers, run in client processes.

Each client process (`client_process`, spawned by `depot.bench.ocpp`) runs its share of `BenchCharger`s,
real OCPP-J clients over websockets with hand-built frames, and sends its `ClientStats` back to the parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing as mp
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

# ---------------------------------------------------------------- in the client processes


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


BENCH_PASSWORD = "bench-password-0123456789"  # every bench charger's (security profile 1, HTTP Basic)


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
        from websockets.headers import build_authorization_basic

        auth = {"Authorization": build_authorization_basic(self.id, BENCH_PASSWORD)}
        try:
            async with connect(self.url, subprotocols=[self.protocol], open_timeout=60, ping_interval=None,
                               max_queue=None, additional_headers=auth) as ws:
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


# ---------------------------------------------------------------- the parent's side of the client processes


def start_clients(workers: list, ids: list[tuple[str, str]], procs: int, interval: float, grace: float,
                  seed: int) -> None:
    """Spawn `procs` client processes, each with every `procs`-th charger; each (process, pipe) goes into `workers`
    as soon as it runs, so that the caller can kill what started even if a later one fails."""
    ctx = mp.get_context("spawn")
    for k in range(procs):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=client_process, args=(ids[k::procs], interval, grace, seed + k, child),
                        daemon=True)
        p.start()
        child.close()
        workers.append((p, parent))


def wait_ready(workers: list) -> None:
    for _, parent in workers:
        if not parent.poll(60) or parent.recv() != "ready":
            raise RuntimeError("a client process did not start")


def start_run(workers: list, url: str, t_start: float, seconds: float) -> None:
    for _, parent in workers:
        parent.send((url, t_start, seconds))


def collect_stats(workers: list, limit: float) -> list[ClientStats]:
    """Every client process's ClientStats, waiting until `limit` (time.time()) at most."""
    stats: list[ClientStats] = []
    for p, parent in workers:
        if parent.poll(max(0.0, limit - time.time())):
            result = parent.recv()
            if isinstance(result, BaseException):
                raise RuntimeError(f"a client process failed: {result!r}")
            stats.append(result)
        else:
            raise RuntimeError("a client process did not finish in time")
        p.join(10)
    return stats


def kill_clients(workers: list) -> None:
    for p, _ in workers:
        if p.is_alive():
            p.kill()
