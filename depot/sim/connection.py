"""A simulated charger's link to the central system: the websocket (connect, reconnect with backoff), the
BootNotification, and the outbox that sends one CALL at a time.

`ChargerConnection` is mixed into `depot.sim.charger.SimulatedCharger`. One sender task per charger sends the
outbox in order, one CALL at a time. Transaction messages (Start/Stop/TransactionEvent, Authorize) stay in the
outbox while the server is away and go out after the next BootNotification (a timed-out one is tried
TX_ATTEMPTS times); status, heartbeat and meter messages are dropped then (status is re-sent on boot).

Security profile 1, as a real charger: with a `password` (set by `SimulatedDepot`), every handshake carries
HTTP Basic credentials (user = the charger id); a refusal (HTTP 401) is logged once and retried with backoff.
A new password from the central system (`take_password`: 1.6 `ChangeConfiguration AuthorizationKey`, 2.0.1
`SetVariables SecurityCtrlr.BasicAuthPassword`) is used from the next connection on, as a real charger does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import string
from collections import deque
from collections.abc import Callable

from ocpp.exceptions import OCPPError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.headers import build_authorization_basic

from depot.clock import real_seconds
from depot.sim.state import Outgoing

log = logging.getLogger("depot.sim.simulator")  # the name the simulator has always logged under
_ocpp_log = logging.getLogger("depot.sim.simulator.ocpp")
_ocpp_log.setLevel(logging.WARNING)  # the ocpp package logs every frame at INFO


class _NoAuthorization(logging.Filter):
    """websockets logs every handshake header at DEBUG: never the Authorization one (the password)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 2 and str(record.args[0]).lower() == "authorization":
            record.args = (record.args[0], "[redacted]")
        return True


_ws_log = logging.getLogger("depot.sim.simulator.websocket")
_ws_log.setLevel(logging.WARNING)  # handshakes and frames are DEBUG detail
_ws_log.addFilter(_NoAuthorization())

TX_ATTEMPTS = 3  # TransactionMessageAttempts
_HEX = frozenset(string.hexdigits)
_PASSWORD_STRING = frozenset(string.ascii_letters + string.digits + "*-_=:+|@.")  # 2.0.1 passwordString


class ChargerConnection:
    """The connection task, the boot conversation and the outbox with its sender."""

    password: str | None = None  # HTTP Basic password for the handshake (None: no credentials are sent)
    _refused_said = False

    def take_password(self, value: str, *, authorization_key: bool) -> str:
        """A new password from the central system, used from the next connection on: "Accepted", or
        "Rejected" when it breaks the rules (1.6 AuthorizationKey: 32 to 40 hexadecimal digits, sent as its
        digits; 2.0.1 BasicAuthPassword: 16 to 40 characters of passwordString). Never logged."""
        if authorization_key:
            ok = set(value) <= _HEX and len(value) % 2 == 0 and 32 <= len(value) <= 40
        else:
            ok = set(value) <= _PASSWORD_STRING and 16 <= len(value) <= 40
        if not ok:
            return "Rejected"
        self.password = value
        log.info("%s: new password accepted; it is used from the next connection", self.id)
        return "Accepted"

    # ------------------------------------------------------------ outbox

    def _enqueue(self, build: Callable[[], object | None], done: Callable[[object | None], None] | None = None, *,
                 persistent: bool = False, kind: str = "", front: bool = False) -> None:
        if not persistent and self._ws is None:
            return  # dropped while offline; the next boot re-sends the state
        item = Outgoing(build, done, persistent, kind)
        if front:
            self._outbox.appendleft(item)
        else:
            self._outbox.append(item)
        self._idle.clear()
        self._wake.set()

    async def drained(self) -> None:
        """Wait until every queued message was sent and answered (or dropped)."""
        while self._outbox:
            self._idle.clear()
            await self._idle.wait()

    async def _sender(self, cp) -> None:
        while True:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # 3.11's wait_for (in cp.call) can swallow a cancel
                raise asyncio.CancelledError
            if not self._outbox:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._outbox[0]
            if item.payload is None:
                item.payload = item.build()
                if item.payload is None:
                    self._outbox.popleft()
                    continue
            item.attempts += 1
            self.sent += 1
            try:
                result = await cp.call(item.payload, suppress=False)
            except OCPPError as exc:
                self.errors += 1
                self.last_error = f"{type(item.payload).__name__}: {exc}"
                log.warning("%s: %s answered with an error: %s", self.id, type(item.payload).__name__, exc)
                result = None
            except TimeoutError:
                self.errors += 1
                self.last_error = f"{type(item.payload).__name__}: no answer"
                if item.persistent and item.attempts < TX_ATTEMPTS:
                    continue
                result = None
            else:
                self.answered += 1
            if self._outbox and self._outbox[0] is item:
                self._outbox.popleft()
            if item.done is not None:
                try:
                    item.done(result)
                except Exception:  # a bug in a continuation must not kill the connection
                    log.exception("%s: handling the answer to %s", self.id, type(item.payload).__name__)

    # ------------------------------------------------------------ connection

    def start(self) -> asyncio.Task:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sim-{self.id}")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._task, *self._resets) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._task = None
        self._resets.clear()

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stopping:
            auth = {"Authorization": build_authorization_basic(self.id, self.password)} if self.password else None
            try:
                async with connect(self.url, subprotocols=[self.protocol.value], open_timeout=10,
                                   close_timeout=2, ping_interval=20, ping_timeout=20, max_queue=64,
                                   additional_headers=auth, logger=_ws_log) as ws:
                    if ws.subprotocol != self.protocol.value:
                        raise InvalidHandshake(f"server chose subprotocol {ws.subprotocol!r}")
                    backoff, self._refused_said = 0.5, False
                    await self._connection(ws)
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                if not self._refused_said:
                    log.warning("%s: the central system refused the connection (HTTP %s)%s", self.id,
                                exc.response.status_code, "" if self.password else ": no password was given")
                    self._refused_said = True
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
                log.debug("%s: connection: %s", self.id, exc)
            except Exception:
                log.exception("%s: connection failed", self.id)
            finally:
                self._ws = self._cp = None
                self.accepted = False
            if self._stopping:
                break
            await asyncio.sleep(backoff * (0.5 + self.rng.random()))
            backoff = min(backoff * 2, 30.0)

    async def _connection(self, ws) -> None:
        cp = self._cp_class(self.id, ws, response_timeout=self.response_timeout, logger=_ocpp_log)
        cp.sim = self
        self._ws, self._cp = ws, cp
        # stale state messages are not worth sending now; transaction messages are
        self._outbox = deque(o for o in self._outbox if o.persistent)
        receiver = asyncio.create_task(cp.start(), name=f"sim-recv-{self.id}")
        session = asyncio.create_task(self._boot_and_send(cp), name=f"sim-send-{self.id}")
        try:
            done, _ = await asyncio.wait({receiver, session}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()
        finally:
            for t in (receiver, session):
                t.cancel()
            await asyncio.gather(receiver, session, return_exceptions=True)

    async def _boot_and_send(self, cp) -> None:
        while True:
            self.sent += 1
            res = await cp.call(self._boot_payload(), suppress=False)
            self.answered += 1
            interval = int(res.interval or 0)
            if res.status == "Accepted":
                break
            await asyncio.sleep(max(1.0, real_seconds(self.clock, interval or 10)))
        self.boots += 1
        self._boot_reason = "PowerUp"
        if interval > 0:
            self.config["HeartbeatInterval"] = str(interval)
        self.accepted = True
        loop_now = asyncio.get_running_loop().time()
        self._next_heartbeat = loop_now + self._heartbeat_gap()
        for c in self.connectors.values():
            c.reported = None
            c.next_meter = loop_now + self.rng.uniform(0.2, 1.0) * self._meter_gap()
        statuses: list[Outgoing] = []
        self._status_sink = statuses
        try:
            self._initial_status()
            for c in self.connectors.values():
                self._sync_status(c)
        finally:
            self._status_sink = None
        self._outbox.extendleft(reversed(statuses))
        for n, vehicle, soc in self._replug:
            if self.connectors[n].session is None:
                self.plug_in(vehicle, soc, n, manual=False)
        self._replug.clear()
        await self._sender(cp)

    _status_sink: list | None = None

    def _enqueue_status(self, build: Callable[[], object], kind: str = "StatusNotification") -> None:
        if self._status_sink is not None:
            self._status_sink.append(Outgoing(build, None, False, kind))
        else:
            self._enqueue(build, kind=kind)
