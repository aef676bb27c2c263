"""The OCPP central system: a ws listener (and a wss one with a certificate), 1.6J and 2.0.1 on each, one call path.

Everything here runs on the runtime's asyncio loop (the `ocpp` package is not thread safe); other threads
hand coroutines to the runtime. A charger connects to `ws://host:port/<anything>/<charge point id>` (security
profiles 0, 1) or `wss://host:tls-port/…/<id>` (2, 3; with a server certificate) offering `ocpp2.0.1` and/or
`ocpp1.6` (we prefer 2.0.1). `depot.ocpp.security` checks its credentials before any OCPP frame: bad, missing
or an unknown id (unless commissioning mode) get HTTP 401, no id 404, an id OCPP does not allow (over 64
characters, or outside a-z A-Z 0-9 * - _ = : + | @ .) 400, neither subprotocol 400 (websockets); in
commissioning mode too many pending unknown ids get 503 (`depot.ocpp.admission`).
An authenticated connection replaces an open one of the same charger. Each connection gets a version-specific ChargePoint
(`depot.ocpp.v16.ChargePoint16` / `depot.ocpp.v201.ChargePoint201`) that persists every message before it answers.

Bounds (settings; `depot.ocpp.limits`): a websocket message over `ocpp_max_frame_bytes` (256 KiB) makes
websockets close the connection with 1009 (message too big) without reading it, as RFC 6455 lets it; JSON
nested over 64 deep and an integer outside 32 bits get their CALLERROR, CALLs beyond `ocpp_rate_per_s`
wait their turn (`depot.ocpp.base`), and a connection that says nothing (a commissioning one: no
BootNotification) within `boot_deadline_s` is closed with 1008. The requests by name (`reset`, `remote_start`, …) are
the `depot.ocpp.requests.Requests` mixin.

Every request to a charger goes through `CentralSystem.call`: it awaits `ChargePoint.call(suppress=False)`,
whose own `response_timeout` (settings.response_timeout) bounds the wait. It is never wrapped in a shorter
timeout: a late reply would then be taken as the answer to the next call. Failures become `depot.errors`:
`ChargerOffline` (no connection, or it closed while we waited), `CallFailed` (CALLERROR, invalid answer or
no answer in time), `ValidationError` (our request breaks the schema: not sent), `ProfileRejected`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from ocpp.messages import Call, validate_payload
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from depot.clock import Clock, utc_now
from depot.errors import CallFailed, ChargerError, ChargerOffline, ValidationError
from depot.model import Capabilities, EventRecord, Protocol
from depot.ocpp import v16 as ocpp16
from depot.ocpp import v201 as ocpp201
from depot.ocpp.admission import Commissioning, watch_deadline
from depot.ocpp.base import LOGGER, ChargerEvent, DepotChargePoint
from depot.ocpp.limits import valid_charger_id
from depot.ocpp.requests import Requests
from depot.ocpp.security import LoginGuard, RedactAuthorization, server_tls_context
from depot.settings import Settings
from depot.store import Store

__all__ = ["CentralSystem", "ChargerEvent", "SUBPROTOCOLS", "charger_id_from_path"]

SUBPROTOCOLS = [Protocol.OCPP201.value, Protocol.OCPP16.value]  # the server's order decides: 2.0.1 first
JOURNAL_EVERY_S = 0.2  # raw messages and last-seen times are written at most this late …
JOURNAL_MAX = 500  # … or as soon as this many are waiting
FOLLOWUPS_AT_ONCE = 16  # capability reads after boots in flight at once
_CHARGE_POINTS: dict[Protocol, type[DepotChargePoint]] = {
    Protocol.OCPP16: ocpp16.ChargePoint16, Protocol.OCPP201: ocpp201.ChargePoint201}


def charger_id_from_path(path: str) -> str:
    """The charge point id: the last non-empty segment of the URL path, percent-decoded ("" if none)."""
    segments = [s for s in urlsplit(path).path.split("/") if s]
    return unquote(segments[-1]) if segments else ""


def _remote(ws: ServerConnection) -> str:
    return str((ws.remote_address or ("?",))[0])


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _plain_result(result: Any) -> Any:
    """The package hands 1.6 GetCompositeSchedule answers back with Decimal limits: make them floats."""
    if not dataclasses.is_dataclass(result):
        return result
    return dataclasses.replace(result, **{f.name: _plain(getattr(result, f.name)) for f in dataclasses.fields(result)})


class CentralSystem(Requests):
    def __init__(self, store: Store, settings: Settings, *, clock: Clock = utc_now,
                 on_event: Callable[[ChargerEvent], None] | None = None):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.on_event = on_event
        self._server: Server | None = None
        self._tls_server: Server | None = None
        self.guard = LoginGuard(store, settings, clock)
        self.commissioning = Commissioning(settings, self.guard)
        self.guard.gate = self.commissioning.gate
        self._chargers: dict[str, DepotChargePoint] = {}
        self._tasks: set[asyncio.Task] = set()
        self._events: list[EventRecord] = []
        self._seen: dict[str, datetime] = {}
        self._journal_task: asyncio.Task | None = None
        self._followups = asyncio.Semaphore(FOLLOWUPS_AT_ONCE)
        self._remote_start_ids = itertools.count(int(clock().timestamp()) % 1_000_000_000)

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the central system is already started")
        ws_log = logging.getLogger("depot.ocpp.websocket")
        if not any(isinstance(f, RedactAuthorization) for f in ws_log.filters):
            ws_log.addFilter(RedactAuthorization())
        tls, s = None, self.settings
        if s.ocpp_tls_cert:
            tls = server_tls_context(s.ocpp_tls_cert, s.ocpp_tls_key, s.ocpp_client_ca)  # fails before listening
        common = {"subprotocols": SUBPROTOCOLS, "process_request": self._check_handshake, "logger": ws_log,
                  "max_size": s.ocpp_max_frame_bytes}  # a bigger message: websockets closes with 1009
        self._server = await serve(self._serve_connection, s.ocpp_host, s.ocpp_port, **common)
        if tls is not None:
            self._tls_server = await serve(self._serve_connection, s.ocpp_host, s.ocpp_tls_port, ssl=tls, **common)
        self._journal_task = asyncio.ensure_future(self._journal_writer())
        LOGGER.info("OCPP central system listening on %s:%s", s.ocpp_host, self.port)
        if self._tls_server is not None:
            LOGGER.info("OCPP central system listening on %s:%s (wss%s)", s.ocpp_host, self.tls_port,
                        ", client certificates" if s.ocpp_client_ca else "")

    async def stop(self) -> None:
        """Close every charger connection (1001 going away), then the server, then our follow-up tasks."""
        if self._server is None:
            return
        servers = [x for x in (self._server, self._tls_server) if x is not None]
        self._server = self._tls_server = None
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._journal_task is not None:
            self._journal_task.cancel()
            await asyncio.gather(self._journal_task, return_exceptions=True)
            self._journal_task = None
        self.flush_journal()

    # ------------------------------------------------------------ the raw message journal

    def journal(self, record: EventRecord, *, seen: bool) -> None:
        """Queue a raw message for the event log (and, for a message from the charger, its last-seen time)."""
        self._events.append(record)
        if seen:
            self._seen[record.charger_id] = record.at
        if len(self._events) >= JOURNAL_MAX:
            self.flush_journal()

    def flush_journal(self) -> None:
        """Write what the journal holds, in one transaction, and the admitted handshakes' security events."""
        self.guard.write_admitted()
        events, seen = self._events, self._seen
        if not events and not seen:
            return
        self._events, self._seen = [], {}
        try:
            self.store.write_journal(events, seen)
        except Exception:  # noqa: BLE001 - the log must not take the server down; say what was lost
            LOGGER.exception("could not write %d raw messages to the event log", len(events))

    async def _journal_writer(self) -> None:
        while True:
            await asyncio.sleep(JOURNAL_EVERY_S)
            self.flush_journal()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the central system is not started")
        return self._server.sockets[0].getsockname()[1]

    @property
    def tls_port(self) -> int:
        if self._tls_server is None:
            raise RuntimeError("the wss listener is not started (no --ocpp-tls-cert)")
        return self._tls_server.sockets[0].getsockname()[1]

    def connected(self) -> dict[str, Protocol]:
        """Charger ids with an open websocket, and the protocol each speaks."""
        return {cid: cp.protocol for cid, cp in self._chargers.items()}

    # ------------------------------------------------------------ connections

    async def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        charger_id = charger_id_from_path(request.path)
        if not charger_id:
            return connection.respond(HTTPStatus.NOT_FOUND, "No charge point id in the URL path.\n")
        if not valid_charger_id(charger_id):  # before any store access (the column holds 64 characters)
            LOGGER.warning("refused a charge point id that OCPP does not allow from %s: %.80r", _remote(connection),
                           charger_id)
            return connection.respond(HTTPStatus.BAD_REQUEST, "Not a valid charge point id.\n")
        return await self.guard.admit(connection, request, charger_id)

    async def _serve_connection(self, ws: ServerConnection) -> None:
        charger_id = charger_id_from_path(ws.request.path)
        protocol = Protocol(ws.subprotocol)
        if self.store.get_charger(charger_id) is None and not self.settings.accept_unknown_chargers:
            await ws.close(1008, "unknown charge point")  # removed since the handshake
            return
        cp = _CHARGE_POINTS[protocol](charger_id, ws, self)
        cp.must_boot = self.commissioning.serving(ws, cp)  # an unknown id: a charger row only at its boot
        if not cp.must_boot:
            self.promote(cp)
        self.spawn(watch_deadline(cp, ws, self.settings), f"boot deadline of {charger_id}")
        try:
            await cp.start()
        except ConnectionClosed:
            pass
        except Exception:
            LOGGER.exception("charger %s: connection ended by an error", charger_id)
        finally:
            cp.closed.set()
            self.commissioning.done(cp)
            if self._chargers.get(charger_id) is cp:
                del self._chargers[charger_id]
                self.emit(ChargerEvent(charger_id, "disconnected", self.clock(),
                                       detail={"code": ws.close_code, "reason": ws.close_reason}))

    def promote(self, cp: DepotChargePoint) -> None:
        """`cp` is the charger's connection from now on: at connect, or for a commissioning connection when it
        sends BootNotification (before its handler runs). A newer connection replaces an open one."""
        charger_id, ws, now = cp.id, cp._connection, self.clock()  # type: ignore[attr-defined]
        self.commissioning.done(cp)
        previous = self._chargers.get(charger_id)
        if previous is cp:
            return
        self._chargers[charger_id] = cp
        if previous is not None:  # an authenticated reconnect while the old socket still looked open: it wins
            LOGGER.warning("charger %s connected again: closing its previous connection", charger_id)
            self.guard.replaced(charger_id, _remote(previous._connection), _remote(ws))
            self.spawn(previous._connection.close(1000, "replaced by a new connection"), f"close old {charger_id}")
        if cp.must_boot:
            LOGGER.warning("commissioning: charge point %r (%s) booted", charger_id, cp.protocol.value)
        self.store.touch(charger_id, now)
        self.emit(ChargerEvent(charger_id, "connected", now, detail={"protocol": cp.protocol.value}))

    # ------------------------------------------------------------ the hub the charge points use

    def emit(self, event: ChargerEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:
            LOGGER.exception("on_event failed for %r", event)

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOGGER.error("%s failed", task.get_name(), exc_info=task.exception())

    def after_boot(self, charger_id: str) -> None:
        self.spawn(self._read_capabilities_in_turn(charger_id), f"capabilities of {charger_id}")

    async def _read_capabilities_in_turn(self, charger_id: str) -> None:
        """After a depot-wide boot (a power cut) hundreds of chargers boot at once: read their capabilities
        a few at a time, so the follow-up calls do not crowd out their live traffic."""
        async with self._followups:
            await self.read_capabilities(charger_id)

    async def read_capabilities(self, charger_id: str) -> Capabilities | None:
        """Ask the charger for its smart-charging limits and store them; None (logged) if it does not answer."""
        api = self._requests(charger_id)
        try:
            result = await self.call(charger_id, api.capabilities_request())
        except ChargerError as exc:
            LOGGER.warning("charger %s: smart-charging capabilities not read: %s", charger_id, exc)
            return None
        caps = api.parse_capabilities(result)
        self.store.set_capabilities(charger_id, caps)
        LOGGER.info("charger %s: capabilities %s", charger_id, caps)
        return caps

    # ------------------------------------------------------------ the one outbound call path

    async def call(self, charger_id: str, request) -> Any:
        """Send one request (an `ocpp.v16.call` / `ocpp.v201.call` dataclass) and return the charger's
        `call_result` dataclass (nested values are plain dicts, lists, str and numbers; snake_case keys)."""
        cp = self._chargers.get(charger_id)
        if cp is None:
            raise ChargerOffline(charger_id)
        action = type(request).__name__
        await self._check_request(cp, request)
        sent = asyncio.ensure_future(cp.call(request, suppress=False))
        closed = asyncio.ensure_future(cp.closed.wait())
        try:
            done, _ = await asyncio.wait({sent, closed}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # we were cancelled: so is the request
            sent.cancel()
            raise
        finally:
            closed.cancel()
        if sent not in done:  # the connection closed under us: this ChargePoint is over, no answer will come
            sent.cancel()
            raise ChargerOffline(charger_id)
        try:
            return _plain_result(sent.result())
        except OCPPError as exc:  # a CALLERROR, or an answer that breaks the schema
            raise CallFailed(charger_id, action, f"{exc.code}: {exc.description}") from exc
        except UnknownCallErrorCodeError as exc:
            raise CallFailed(charger_id, action, str(exc)) from exc
        except TimeoutError as exc:
            raise CallFailed(charger_id, action, f"no answer within {self.settings.response_timeout:g} s") from exc
        except ConnectionClosed as exc:
            raise ChargerOffline(charger_id) from exc

    @staticmethod
    async def _check_request(cp: DepotChargePoint, request) -> None:
        """Validate our request before it leaves, so that a schema error is ours, not the charger's."""
        action = type(request).__name__
        payload = remove_nones(snake_to_camel_case(serialize_as_dict(request)))
        try:
            await validate_payload(Call("-", action, payload), cp._ocpp_version)
        except OCPPError as exc:
            raise ValidationError(f"{action} request", str(exc.details.get("cause") or exc.description)) from exc
