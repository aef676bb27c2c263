"""Acknowledged means durable (issue 11 §3): a SIGKILL of the central system mid-stream loses nothing it answered.

The central system runs as its own process, as in production (`python -m depot.bench.ocpp _serve DB_URL`:
one CentralSystem and its Store). A real `ocpp` client (1.6 or 2.0.1, with its security-profile-1 password)
boots, starts a transaction and sends meter values one after another as fast as the answers come, counting
every CALLRESULT. After a random number of answers, plus a random part of 1.5 round trips (so that the kill
lands anywhere in the handling of the next message or two), the process gets SIGKILL. A new process on the same
database must hold every acknowledged sample with its value, the transaction still open, and finish the
session with the right energy when the charger reconnects, resends what was not answered and stops (that
process is killed the moment the stop is answered: the stop must be stored by then too).

On a SQLite file and on PostgreSQL (the `databases` marker). `DEPOT_DURABILITY_SEED=N` repeats a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from depot.bench.ocpp_serve import server_port, stop_server
from depot.model import Charger, Vehicle
from depot.store import Store
from tests.ocpp_clients import PASSWORD, T0, Client16, Client201, with_passwords

pytestmark = [pytest.mark.databases, pytest.mark.timeout(180)]

MOST = 300  # meter values sent before the kill at most
RESENT = 5  # meter values after the restart (the first is the one left unanswered, if any)
METER_START = 10_000.0  # Wh
STEP_WH = 25.0
TAG = "TAG-D"
ANSWER_S = 15.0  # a CALLRESULT not come by then (connection still open) fails the test


def energy(i: int) -> float:
    return METER_START + STEP_WH * (i + 1)


def stamp(i: int):
    return T0 + timedelta(seconds=10 * (i + 1))


# ---------------------------------------------------------------- the server process


def launch(db_url: str, log: Path) -> tuple[subprocess.Popen, int]:
    """The central system in its own process (its log to `log`); SIGKILL-able by pid."""
    with log.open("ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "depot.bench.ocpp", "_serve", db_url], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        return proc, server_port(proc, timeout=60)
    except RuntimeError as exc:
        raise AssertionError(f"{exc}; its log:\n{log.read_text(errors='replace')[-3000:]}") from None


def seed(db_url: str, charger_id: str) -> None:
    store = Store(db_url)
    try:
        store.migrate()
        store.add_charger(Charger(charger_id, 22.0))
        store.add_vehicle(Vehicle("V-D", "Van D", 75.0, id_tag=TAG))
        with_passwords(store, charger_id)
    finally:
        store.dispose()


# ---------------------------------------------------------------- the charger


@dataclass
class Link:
    cp: Client16 | Client201
    reader: asyncio.Task  # the client's receive loop: it ends when the connection does


@contextlib.asynccontextmanager
async def link(port: int, charger_id: str, cls):
    protocol = "ocpp2.0.1" if cls is Client201 else "ocpp1.6"
    url = f"ws://{quote(charger_id)}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/ocpp/{quote(charger_id)}"
    async with connect(url, subprotocols=[protocol], open_timeout=15) as ws:
        cp = cls(charger_id, ws)
        reader = asyncio.ensure_future(cp.start())
        try:
            yield Link(cp, reader)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await reader


async def ask(ln: Link, request):
    """The CALLRESULT, or None when the connection closed before it came (a CALLERROR raises)."""
    answer = asyncio.ensure_future(ln.cp.call(request, suppress=False))
    done, _ = await asyncio.wait({answer, ln.reader}, timeout=ANSWER_S, return_when=asyncio.FIRST_COMPLETED)
    if answer in done:  # answered, perhaps at the very moment the connection closed
        if isinstance(answer.exception(), ConnectionClosed):
            return None
        return answer.result()
    answer.cancel()
    with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, ConnectionClosed):
        await answer
    assert ln.reader in done, f"no answer to {type(request).__name__} within {ANSWER_S} s"
    return None


# ---------------------------------------------------------------- what each version sends


@dataclass(frozen=True)
class Version:
    cls: type
    boot: Callable[[], object]
    start: Callable[[], object]
    meter: Callable[[int, int], object]  # the i-th meter value of the session (and our transaction id)
    status: Callable[[], object]  # what a charger reports when it reconnects mid-session
    stop: Callable[[int, int], object]  # the stop after meter value i


def _sample_16(i: int) -> list:
    return [{"timestamp": stamp(i).isoformat(), "sampled_value": [
        {"value": f"{energy(i):.0f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"}]}]


def _sample_201(i: int, context: str = "Sample.Periodic") -> list:
    return [{"timestamp": stamp(i).isoformat(), "sampled_value": [
        {"value": energy(i), "measurand": "Energy.Active.Import.Register", "context": context},
        {"value": 11000, "measurand": "Power.Active.Import", "context": context}]}]


def _event(kind: str, seq: int, at, trigger: str, info: dict, **extra):
    return call201.TransactionEvent(event_type=kind, timestamp=at.isoformat(), trigger_reason=trigger, seq_no=seq,
                                    transaction_info={"transaction_id": "TX-D", **info}, **extra)


V16 = Version(
    Client16,
    boot=lambda: call16.BootNotification(charge_point_vendor="Acme", charge_point_model="W22"),
    start=lambda: call16.StartTransaction(connector_id=1, id_tag=TAG, meter_start=int(METER_START),
                                          timestamp=T0.isoformat()),
    meter=lambda i, tx: call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=_sample_16(i)),
    status=lambda: call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging"),
    stop=lambda i, tx: call16.StopTransaction(meter_stop=int(energy(i)), timestamp=(stamp(i) + timedelta(seconds=5))
                                              .isoformat(), transaction_id=tx, reason="EVDisconnected"),
)
V201 = Version(
    Client201,
    boot=lambda: call201.BootNotification(charging_station={"model": "Terra", "vendor_name": "Acme"},
                                          reason="PowerUp"),
    start=lambda: _event("Started", 0, T0, "Authorized", {"charging_state": "Charging"}, evse={"id": 1, "connector_id": 1},
                         id_token={"id_token": TAG, "type": "ISO14443"},
                         meter_value=[{"timestamp": T0.isoformat(), "sampled_value": [
                             {"value": METER_START, "measurand": "Energy.Active.Import.Register",
                              "context": "Transaction.Begin"}]}]),
    meter=lambda i, _tx: _event("Updated", i + 1, stamp(i), "MeterValuePeriodic", {"charging_state": "Charging"},
                           meter_value=_sample_201(i)),
    status=lambda: call201.StatusNotification(timestamp=T0.isoformat(), connector_status="Occupied", evse_id=1,
                                              connector_id=1),
    stop=lambda i, _tx: _event("Ended", 10_000 + i, stamp(i) + timedelta(seconds=5), "EVCommunicationLost",
                          {"stopped_reason": "EVDisconnected", "charging_state": "Idle"},
                          meter_value=_sample_201(i, "Transaction.End")),
)


# ---------------------------------------------------------------- the scenario


@pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])
def test_every_acknowledged_message_survives_a_sigkill_of_the_central_system(db_url, tmp_path, version):
    seed_value = int(os.environ.get("DEPOT_DURABILITY_SEED") or random.SystemRandom().randrange(1 << 30))
    rng = random.Random(seed_value)
    again = f"(DEPOT_DURABILITY_SEED={seed_value} repeats this run)"
    charger_id = "CP-D"
    seed(db_url, charger_id)
    key = "1.6" if version is V16 else "2.0.1"
    kill_after = rng.randint(1, MOST - 50)  # answers before the kill is armed
    procs: list[subprocess.Popen] = []

    async def until_killed(port: int, proc: subprocess.Popen) -> tuple[int, list[int]]:
        acked: list[int] = []
        async with link(port, charger_id, version.cls) as ln:
            assert (await ask(ln, version.boot())).status == "Accepted"
            started = await ask(ln, version.start())
            assert started is not None
            tx_id = getattr(started, "transaction_id", None)  # 1.6: ours; 2.0.1: the charger's "TX-D"
            loop, took = asyncio.get_running_loop(), []
            for i in range(MOST):
                if len(acked) == kill_after:  # armed: the kill lands anywhere in the next message or two
                    loop.call_later(rng.uniform(0, 1.5 * statistics.median(took)), os.kill, proc.pid, signal.SIGKILL)
                sent = loop.time()
                if await ask(ln, version.meter(i, tx_id)) is None:
                    break
                took.append(loop.time() - sent)
                acked.append(i)
        return kill_after, acked

    async def after_restart(port: int, proc: subprocess.Popen, first: int, tx_id: int) -> int:
        async with link(port, charger_id, version.cls) as ln:
            assert await ask(ln, version.status()) is not None
            for i in range(first, first + RESENT):  # a charger resends what was not answered
                assert await ask(ln, version.meter(i, tx_id)) is not None, f"meter value {i} after the restart {again}"
            assert await ask(ln, version.stop(first + RESENT - 1, tx_id)) is not None
            os.kill(proc.pid, signal.SIGKILL)  # at once: the answered stop must be in the store already
        return first + RESENT - 1

    try:
        proc, port = launch(db_url, tmp_path / "server-1.log")
        procs.append(proc)
        armed, acked = asyncio.run(asyncio.wait_for(until_killed(port, proc), 120))
        assert proc.wait(30) == -signal.SIGKILL, f"the server was to be killed, not to end {again}"
        assert len(acked) >= armed, f"the connection closed before the kill {again}"

        store = Store(db_url)
        try:
            tx = store.active_transaction_on(charger_id, 1)
            assert tx is not None, f"the acknowledged start of the session was lost {again}"
            rows = store.meter_samples(transaction_id=tx.id)
            by_time = {s.at: s.energy_wh for s in rows}
            lost = [i for i in acked if by_time.get(stamp(i)) != energy(i)]
            assert not lost, f"{len(lost)} of {len(acked)} acknowledged meter values lost, first {lost[:5]} {again}"
            extra = sorted(set(by_time) - {stamp(i) for i in acked} - {T0})
            assert extra in ([], [stamp(len(acked))]), f"stored beyond the one message in flight: {extra[:3]} {again}"
            assert tx.started_at == T0 and tx.meter_start_wh == METER_START
            print(f"\n{key} on {store.engine.dialect.name}: {len(acked)} acknowledged before SIGKILL "
                  f"(armed after {armed}), {sum(by_time.get(stamp(i)) == energy(i) for i in acked)} found after it, "
                  f"{len(extra)} unanswered one stored too; seed {seed_value}")

            proc, port = launch(db_url, tmp_path / "server-2.log")
            procs.append(proc)
            last = asyncio.run(asyncio.wait_for(after_restart(port, proc, len(acked), tx.id), 60))
            assert proc.wait(30) == -signal.SIGKILL, again
            done = store.find_transaction(charger_id, transaction_id=tx.id)
            assert not done.active, f"the answered stop was lost {again}"
            assert done.stopped_at == stamp(last) + timedelta(seconds=5), again
            assert done.meter_stop_wh == energy(last), again
            assert done.meter_stop_wh - done.meter_start_wh == STEP_WH * (last + 1), again  # the session's energy
            assert done.stop_reason == "EVDisconnected", again
            assert store.active_transactions() == []
            kept = {s.at: s.energy_wh for s in store.meter_samples(transaction_id=tx.id)}
            assert all(kept.get(stamp(i)) == energy(i) for i in range(last + 1)), again
        finally:
            store.dispose()
    finally:
        for p in procs:
            if p.poll() is None:
                stop_server(p)  # stdin closed: a clean stop (killed if it takes more than 30 s)
