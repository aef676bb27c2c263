"""Fuzz benchmark: `python -m depot.bench fuzz [--frames 10000] [--seed 7] [--db URL]`.

A real `CentralSystem` runs in this process on 127.0.0.1 (a temporary SQLite file unless `--db`). Two hostile
chargers, one per protocol (1.6 and 2.0.1, authenticated with security profile 1 like any charger), send the
seeded frames of `depot.bench.fuzz_frames` one at a time, each waiting for its answer; a frame that must
stay unanswered is followed by a Heartbeat probe whose answer must come first. Meanwhile a third, well-behaved
charger sends a Heartbeat every 20 ms.

Printed: frames per category, the answers by code, mismatches against the code the specification prescribes,
crashes (must be 0: a frame left unanswered, an `InternalError`, a connection the server dropped, or an error
or exception the server logged), the bystander's heartbeat round trips p50/p99/max and its failures, the
impossible values that reached the ledger (must be 0) and the values quarantined instead. Exit status 0 when
there is no mismatch, no crash and nothing impossible was stored.

`fuzz(store, settings, n, seed)` is the same run for the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from depot.bench.fuzz_frames import CATEGORIES, RESULT, SILENT, V16, V201, Frame, frames
from depot.model import Charger, CurrentType, Protocol
from depot.ocpp.server import CentralSystem
from depot.settings import Settings
from depot.store import Store

PASSWORD = "fuzz-bench-password-0123"
FUZZERS = {V16: "FUZZ-16", V201: "FUZZ-201"}
BYSTANDER = "CALM-16"
ANSWER_TIMEOUT_S = 10.0
_BOOT = {V16: {"chargePointVendor": "fuzz", "chargePointModel": "fuzz"},
         V201: {"reason": "PowerUp", "chargingStation": {"vendorName": "fuzz", "model": "fuzz"}}}


@dataclass
class FuzzResult:
    sent: Counter = field(default_factory=Counter)  # category -> frames
    answers: Counter = field(default_factory=Counter)  # (category, code) -> count
    mismatches: list[tuple[str, str, str, str]] = field(default_factory=list)  # category, expected, got, frame
    unanswered: int = 0
    internal_errors: int = 0
    dropped: int = 0
    logged_errors: list[str] = field(default_factory=list)
    heartbeat_ms: list[float] = field(default_factory=list)
    heartbeat_failures: int = 0
    stored_impossible: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    seconds: float = 0.0

    @property
    def crashes(self) -> int:
        return self.unanswered + self.internal_errors + self.dropped + len(self.logged_errors)


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()[:200]}")


def seed(store: Store) -> None:
    """The fuzzers and the bystander, with their password (profile 1)."""
    for cid, proto in ((FUZZERS[V16], V16), (FUZZERS[V201], V201), (BYSTANDER, V16)):
        if store.get_charger(cid) is None:
            store.add_charger(Charger(id=cid, max_kw=22.0, current_type=CurrentType.AC, phases=3,
                                      protocol=Protocol(proto)))
    store.set_charger_passwords({cid: PASSWORD for cid in (*FUZZERS.values(), BYSTANDER)},
                                now=datetime.now(UTC))


class _Peer:
    """A raw websocket charger: sends frames, answers the server's own requests, returns the answer to one id."""

    def __init__(self, cs: CentralSystem, charger_id: str, protocol: str):
        self.cs, self.id, self.protocol = cs, charger_id, protocol
        self.ws: ClientConnection | None = None

    async def open(self) -> None:
        url = f"ws://{quote(self.id)}:{quote(PASSWORD)}@127.0.0.1:{self.cs.port}/ocpp/{quote(self.id)}"
        self.ws = await connect(url, subprotocols=[self.protocol], max_size=None, open_timeout=10)
        uid = f"boot-{time.monotonic_ns()}"
        await self.ws.send(json.dumps([2, uid, "BootNotification", _BOOT[self.protocol]]))
        await self.answer(uid)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def answer(self, uid: str) -> list:
        """The next response frame; the server's CALLs meanwhile are answered. Raises on a foreign response."""
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), ANSWER_TIMEOUT_S))
            if frame[0] == 2:
                await self._serve_request(frame)
                continue
            if str(frame[1]) != uid:
                raise AssertionError(f"answer to {frame[1]!r} while waiting for {uid!r}: {frame!r:.200}")
            return frame

    async def _serve_request(self, frame: list) -> None:
        uid, action, payload = frame[1], frame[2], frame[3]
        if action == "GetConfiguration":
            reply = [3, uid, {"configurationKey": [], "unknownKey": payload.get("key") or []}]
        elif action == "GetVariables":
            reply = [3, uid, {"getVariableResult": [
                {"attributeStatus": "UnknownVariable", "component": d["component"], "variable": d["variable"]}
                for d in payload.get("getVariableData", [])]}]
        elif action in ("SetChargingProfile", "ClearChargingProfile"):
            reply = [3, uid, {"status": "Accepted"}]
        else:
            reply = [4, uid, "NotSupported", f"{action} is not supported by the fuzzer", {}]
        await self.ws.send(json.dumps(reply))


async def _one(peer: _Peer, frame: Frame, result: FuzzResult) -> None:
    result.sent[frame.category] += 1
    await peer.ws.send(frame.text)
    if frame.expect == SILENT:
        probe = f"probe-{time.monotonic_ns()}"
        await peer.ws.send(json.dumps([2, probe, "Heartbeat", {}]))
        try:
            reply = await peer.answer(probe)
            got = "silent" if reply[0] == 3 else f"probe got {reply[2]}"
        except AssertionError as exc:  # the stray response was answered
            got = f"answered: {exc}"[:120]
    else:
        reply = await peer.answer(frame.answer_id)
        got = RESULT if reply[0] == 3 else str(reply[2])
    result.answers[(frame.category, got)] += 1
    if got == "InternalError":
        result.internal_errors += 1
    if got != frame.expect:
        text = frame.text if isinstance(frame.text, str) else repr(frame.text)
        result.mismatches.append((frame.category, frame.expect, got, text[:120]))


async def _fuzzer(cs: CentralSystem, protocol: str, todo: list[Frame], result: FuzzResult) -> None:
    peer = _Peer(cs, FUZZERS[protocol], protocol)
    await peer.open()
    try:
        for frame in todo:
            try:
                await _one(peer, frame, result)
            except TimeoutError:
                result.unanswered += 1
                result.mismatches.append((frame.category, frame.expect, "no answer", str(frame.text)[:120]))
            except AssertionError as exc:  # answered with another id
                result.mismatches.append((frame.category, frame.expect, str(exc)[:80], str(frame.text)[:120]))
            except ConnectionClosed as exc:
                result.dropped += 1
                result.mismatches.append((frame.category, frame.expect, f"closed {exc.rcvd}", str(frame.text)[:120]))
                await peer.open()
    finally:
        await peer.close()


async def _bystander(cs: CentralSystem, stop: asyncio.Event, result: FuzzResult, every_s: float) -> None:
    peer = _Peer(cs, BYSTANDER, V16)
    await peer.open()
    n = 0
    try:
        while not stop.is_set():
            n += 1
            uid = f"hb-{n}"
            t0 = time.perf_counter()
            try:
                await peer.ws.send(json.dumps([2, uid, "Heartbeat", {}]))
                reply = await peer.answer(uid)
                if reply[0] != 3:
                    result.heartbeat_failures += 1
                result.heartbeat_ms.append(1000 * (time.perf_counter() - t0))
            except (TimeoutError, ConnectionClosed, AssertionError):
                result.heartbeat_failures += 1
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
    finally:
        await peer.close()


def stored_impossible(store: Store) -> tuple[dict[str, int], int]:
    """Impossible values that reached the ledger (negative or astronomic energy, bad connector ids, far dates),
    and the number of values in the quarantine."""
    from sqlalchemy import func, or_, select

    from depot.store.tables import ConnectorRow, MeterSampleRow, TransactionRow
    from depot.store.tables_quarantine import QuarantineRow
    far = datetime(2100, 1, 1, tzinfo=UTC)
    past = datetime(2000, 1, 1, tzinfo=UTC)
    with store.session() as s:
        count = lambda q: s.scalar(select(func.count()).select_from(q.subquery()))  # noqa: E731
        return {
            "meter samples": count(select(MeterSampleRow.id).where(or_(
                MeterSampleRow.energy_wh < 0, MeterSampleRow.energy_wh > 1e12,
                MeterSampleRow.at > far, MeterSampleRow.at < past))),
            "sessions": count(select(TransactionRow.id).where(or_(
                TransactionRow.meter_start_wh < 0, TransactionRow.meter_start_wh > 1e12,
                TransactionRow.last_energy_wh < 0, TransactionRow.last_energy_wh > 1e12,
                TransactionRow.started_at > far, TransactionRow.started_at < past,
                TransactionRow.stopped_at < TransactionRow.started_at))),
            "connectors": count(select(ConnectorRow.connector_id).where(or_(
                ConnectorRow.connector_id < 0, ConnectorRow.connector_id > 64))),
        }, count(select(QuarantineRow.id))


async def fuzz(store: Store, settings: Settings, n: int, seed_: int, *, heartbeat_every_s: float = 0.02,
               **overrides) -> FuzzResult:
    """Send `n` hostile frames (half per protocol) to a fresh central system on `store`; see the docstring."""
    seed(store)
    result = FuzzResult()
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    # a fuzzer sends one frame after the other as fast as they are answered: no rate limit (its own test exists)
    overrides = {"ocpp_rate_per_s": 1e6, "ocpp_rate_burst": 10**9, **overrides}
    cs = CentralSystem(store, replace(settings, ocpp_port=0, **overrides))
    await cs.start()
    stop = asyncio.Event()
    t0 = time.perf_counter()
    try:
        calm = asyncio.create_task(_bystander(cs, stop, result, heartbeat_every_s))
        await asyncio.gather(*(_fuzzer(cs, p, frames(p, n // 2 + (n % 2 if p == V16 else 0), seed_, datetime.now(UTC)), result)
                               for p in (V16, V201)))
        stop.set()
        await calm
    finally:
        result.seconds = time.perf_counter() - t0
        await cs.stop()
        logging.getLogger().removeHandler(errors)
    result.logged_errors = errors.records
    result.stored_impossible, result.quarantined = stored_impossible(store)
    return result


# ---------------------------------------------------------------- the command


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def report(result: FuzzResult, out=sys.stdout) -> int:
    print("OCPP fuzz benchmark (central system in this process, loopback)", file=out)
    print(f"| {'category':<26} | {'frames':>6} | answers by code", file=out)
    print(f"|{'-' * 28}|{'-' * 8}|{'-' * 50}", file=out)
    for category in (c for c in CATEGORIES if c in result.sent):
        sent = result.sent[category]
        codes = ", ".join(f"{code} {k}" for (cat, code), k in sorted(result.answers.items()) if cat == category)
        print(f"| {category:<26} | {sent:>6} | {codes}", file=out)
    total = sum(result.sent.values())
    hb = result.heartbeat_ms
    rows = [
        ("frames", f"{total} in {result.seconds:.1f} s ({total / max(result.seconds, 1e-9):.0f} frames/s)"),
        ("mismatches", f"{len(result.mismatches)}"),
        ("crashes", f"{result.crashes} (unanswered {result.unanswered}, InternalError {result.internal_errors}, "
                    f"dropped {result.dropped}, logged errors {len(result.logged_errors)})"),
        ("bystander heartbeats", f"{len(hb)} answered, {result.heartbeat_failures} failed"),
        ("heartbeat p50 / p99 / max", f"{_pct(hb, 50):.1f} / {_pct(hb, 99):.1f} / {max(hb, default=math.nan):.1f} ms"),
        ("impossible values stored", ", ".join(f"{k} {v}" for k, v in result.stored_impossible.items())),
        ("quarantined (kept apart)", f"{result.quarantined} values"),
        ("machine", f"{os.cpu_count()} cores, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"),
    ]
    for k, v in rows:
        print(f"| {k:<26} | {v}", file=out)
    for m in result.mismatches[:20]:
        print(f"mismatch: {m[0]}: expected {m[1]}, got {m[2]}: {m[3]}", file=out)
    for e in result.logged_errors[:20]:
        print(f"server error: {e}", file=out)
    ok = not result.mismatches and not result.crashes and not result.heartbeat_failures \
        and not any(result.stored_impossible.values())
    print(f"result: {'OK' if ok else 'FAILED'}", file=out)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m depot.bench fuzz",
                                description="Send seeded hostile OCPP frames (both protocols) to a real central "
                                            "system over loopback and check every answer against the spec.")
    p.add_argument("--frames", type=int, default=10_000, help="hostile frames in all (default 10000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--db", default="", help="database URL (default: a temporary SQLite file)")
    args = p.parse_args(argv)
    if args.frames <= 0:
        print("--frames must be > 0", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(logging.ERROR)  # warnings about each hostile frame are expected; errors are counted
    with tempfile.TemporaryDirectory(prefix="depot-fuzz-") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'fuzz.sqlite3'}"
        store = Store(url)
        store.migrate()
        try:
            result = asyncio.run(fuzz(store, Settings(database_url=url, simulator=False), args.frames, args.seed))
        finally:
            store.dispose()
    return report(result)
