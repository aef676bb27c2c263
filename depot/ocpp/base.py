"""What both OCPP versions share: the charger-facing `ChargePoint` behaviour of the central system.

`DepotChargePoint` is mixed in front of the `ocpp` package's `v16.ChargePoint` / `v201.ChargePoint`
(`depot/ocpp/v16.py`, `depot/ocpp/v201.py`). It replaces the package's receive path where the package is too
lenient or answers wrongly for strict peers:

- a frame that is not JSON or not an OCPP array is answered with a CALLERROR (the package only logs it);
- error codes follow each version's table (1.6 keeps its spelling `FormationViolation` /
  `OccurenceConstraintViolation`, 2.0.1 uses `FormatViolation` / `OccurrenceConstraintViolation` and
  `RpcFrameworkError` for frames whose message id cannot be read);
- an unknown action is `NotImplemented` ("not known by receiver") and a known one that we do not handle is
  `NotSupported` ("recognized but not supported"), as both specifications define them;
- a handler that raises is answered `InternalError` and logged with the charger id; the connection stays up;
- hostile input is bounded before it costs anything (`depot.ocpp.limits`): JSON nested over 64 deep is
  answered without parsing (FormationViolation / FormatViolation with the frame's own message id when its
  start `[2, "id", ` is readable, else ProtocolError / RpcFrameworkError with id "-1"); an integer outside
  32 bits is TypeConstraintViolation, a negative connectorId / evseId (1.6 StartTransaction: below 1)
  PropertyConstraintViolation, both naming the field; CALLs beyond the connection's rate (a token bucket of
  `ocpp_rate_burst`, refilled at `ocpp_rate_per_s`) wait for their turn: the connection is slowed down, never
  refused, and a flood only fills its own socket's buffer. Responses never wait, and one answering no call
  of ours is dropped;
- a commissioning connection (`must_boot`, see `depot.ocpp.admission`) gets SecurityError for every CALL
  before its BootNotification (as 2.0.1 B02/B03 answer a station not yet accepted; 1.6 has the same code);
- every frame in and out goes to the raw event log, and every frame in touches `last_seen`;
- `@after` hooks run as tracked tasks of the central system, never inside the receive loop.

Reading meter values and other OCPP values is pure and lives in `depot.ocpp.values`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
import typing
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jsonschema.exceptions import ValidationError as SchemaValidationError
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator, unpack
from websockets.exceptions import ConnectionClosed

from depot import metrics
from depot.model import EventRecord, Protocol, TagStatus
from depot.ocpp import limits
from depot.ocpp.charger_security import secret_free
from depot.ocpp.limits import CallRate, Prefix
from depot.store import dumps

if TYPE_CHECKING:
    from depot.clock import Clock
    from depot.settings import Settings
    from depot.store import Store

LOGGER = logging.getLogger("depot.ocpp")
FRAMES = logging.getLogger("depot.ocpp.frames")  # the package logs every frame at INFO here
KNOWN_VENDORS = frozenset({"depot"})  # DataTransfer vendorIds we accept (our simulator); others: UnknownVendorId
RATE_LOG_EVERY_S = 10.0
_MUST_BE_POSITIVE = {(Protocol.OCPP16, "StartTransaction"): frozenset({"connectorId"})}


@dataclass(frozen=True)
class ChargerEvent:
    """Something a charger did, told to the runtime (`on_event`) after it was stored.

    kinds: connected, disconnected, boot, status, tx_started, tx_stopped, meter, fault."""

    charger_id: str
    kind: str
    at: datetime
    connector_id: int | None = None
    detail: dict = field(default_factory=dict)


class Hub(typing.Protocol):
    """What a charge point needs from the central system (implemented by `CentralSystem`)."""

    store: Store
    settings: Settings
    clock: Clock

    def emit(self, event: ChargerEvent) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None: ...

    def after_boot(self, charger_id: str) -> None: ...

    def promote(self, cp: DepotChargePoint) -> None: ...

    def connected(self) -> dict[str, Protocol]: ...

    async def trigger_message(self, charger_id: str, what: str, connector_id: int | None = None) -> Any: ...


# ---------------------------------------------------------------- CALLERROR codes per version


class CallRejected(Exception):
    """Raised inside the receive path to answer a CALL with this CALLERROR."""

    def __init__(self, code: str, description: str, details: dict | None = None):
        super().__init__(f"{code}: {description}")
        self.code, self.description, self.details = code, description, details or {}


_V16 = {"format": "FormationViolation", "occurrence": "OccurenceConstraintViolation",
        "frame": "ProtocolError", "not_json": "FormationViolation", "message_type": "ProtocolError"}
_V201 = {"format": "FormatViolation", "occurrence": "OccurrenceConstraintViolation",
         "frame": "RpcFrameworkError", "not_json": "RpcFrameworkError", "message_type": "MessageTypeNotSupported"}
_BY_VALIDATOR = {
    "type": "TypeConstraintViolation", "maxLength": "TypeConstraintViolation", "minLength": "TypeConstraintViolation",
    "required": "occurrence", "minItems": "occurrence", "maxItems": "occurrence",
    "enum": "PropertyConstraintViolation", "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation", "multipleOf": "PropertyConstraintViolation",
    "pattern": "PropertyConstraintViolation",
}


def error_code(kind: str, protocol: Protocol) -> str:
    """The CALLERROR code for `kind` (a key of the tables above or an OCPP code) in this protocol."""
    table = _V16 if protocol is Protocol.OCPP16 else _V201
    code = table.get(kind, kind)
    if protocol is Protocol.OCPP16:  # codes the package raises in their 2.x spelling
        code = {"FormatViolation": "FormationViolation",
                "OccurrenceConstraintViolation": "OccurenceConstraintViolation"}.get(code, code)
    else:
        code = {"FormationViolation": "FormatViolation",
                "OccurenceConstraintViolation": "OccurrenceConstraintViolation"}.get(code, code)
    return code


def schema_rejection(exc: SchemaValidationError, protocol: Protocol) -> CallRejected:
    kind = _BY_VALIDATOR.get(str(exc.validator), "format")
    where = "/".join(str(p) for p in exc.absolute_path) or "payload"
    return CallRejected(error_code(kind, protocol), f"{where}: {exc.message}"[:255], {"validator": exc.validator})


# ---------------------------------------------------------------- the charge point mixin


class DepotChargePoint:
    """Mixed in before the package's version-specific ChargePoint. Subclasses set `protocol` and `actions`
    (the version's Action enum) and declare `@on` handlers that persist through `self.hub.store`."""

    protocol: Protocol
    actions: type
    _ocpp_version: str
    route_map: dict
    _response_queue: asyncio.Queue
    MAX_PENDING = 256

    def __init__(self, charger_id: str, connection, hub: Hub):
        super().__init__(charger_id, connection, response_timeout=hub.settings.response_timeout,  # type: ignore[call-arg]
                         logger=FRAMES)
        self.hub = hub
        self.closed = asyncio.Event()
        self._actions_in: dict[str, str] = {}  # unique id of a CALL we received -> action (to log our answer)
        self._actions_out: dict[str, str] = {}  # unique id of a CALL we sent -> action (to log the answer)
        self._call_t0: dict[tuple[str, str], float] = {}  # (direction, unique id) of a CALL -> when (metrics)
        s, now = hub.settings, asyncio.get_running_loop().time()
        self.rate = CallRate(s.ocpp_rate_per_s, s.ocpp_rate_burst, now)
        self._rate_noted = [-float("inf"), 0]  # last logged, slowed down since
        self.must_boot = False  # a commissioning connection: BootNotification first (set by the server)
        self.booted = asyncio.Event()  # its BootNotification was accepted
        self.spoke = asyncio.Event()  # a well-formed OCPP frame arrived

    # ------------------------------------------------------------ helpers for handlers

    @property
    def store(self) -> Store:
        return self.hub.store

    def now(self) -> datetime:
        return self.hub.clock()

    def emit(self, kind: str, connector_id: int | None = None, **detail) -> None:
        self.hub.emit(ChargerEvent(self.id, kind, self.now(), connector_id, detail))  # type: ignore[attr-defined]

    def tag_status(self, tag: str) -> TagStatus:
        status = self.store.tag_status(tag, self.now())
        if status is TagStatus.INVALID and self.hub.settings.allow_any_tag:
            return TagStatus.ACCEPTED
        return status

    # ------------------------------------------------------------ the receive path

    async def route_message(self, raw_msg) -> None:
        """One frame from the charger. Never raises for bad input: the receive loop must survive it."""
        try:
            await self._route(raw_msg)
        except ConnectionClosed:
            raise
        except Exception:  # the outermost frame of one message: log it with the charger, keep the connection
            LOGGER.exception("charger %s: frame could not be processed: %.200r", self.id, raw_msg)  # type: ignore[attr-defined]

    async def _route(self, raw_msg) -> None:
        text = raw_msg if isinstance(raw_msg, str) else bytes(raw_msg).decode("utf-8", "replace")
        prefix = limits.frame_prefix(text)
        if not limits.is_response(prefix):
            await self._pace()
        if limits.too_deep(text):
            await self._reject_unparsed(text, prefix, "payload nested too deep", {"maxDepth": limits.MAX_DEPTH})
            return
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            await self._reject_frame(raw_msg, exc)
            return
        except ValueError as exc:  # json's own limits, e.g. an integer of more than 4300 digits
            await self._reject_unparsed(text, prefix, "a value json cannot read", {"cause": str(exc)[:200]})
            return
        self.spoke.set()
        if msg.message_type_id != MessageType.Call:
            expected = isinstance(msg.unique_id, str) and msg.unique_id in self._actions_out
            self._log(msg, "in")
            if expected:  # a response to none of our calls would only pile up in the package's queue
                self._response_queue.put_nowait(msg)
            return
        self._log(msg, "in")
        try:
            if not isinstance(msg.unique_id, str) or not isinstance(msg.action, str):
                raise CallRejected(error_code("frame", self.protocol), "message id and action must be strings")
            if self.must_boot and not self.booted.is_set() and msg.action != "BootNotification":
                raise CallRejected("SecurityError", "not accepted yet: send BootNotification first")
            await self._handle_call(msg)
        except CallRejected as exc:
            await self._send(CallError(msg.unique_id, exc.code, exc.description, exc.details).to_json())
        except OCPPError as exc:
            code = error_code(exc.code, self.protocol)
            await self._send(CallError(msg.unique_id, code, exc.description, exc.details).to_json())

    async def _pace(self) -> None:
        """Wait for this CALL's turn when the connection is over its rate (backpressure, see `CallRate`)."""
        loop_now = asyncio.get_running_loop().time()
        wait = self.rate.delay(loop_now)
        if wait <= 0:
            return
        noted = self._rate_noted
        noted[1] += 1
        if loop_now - noted[0] >= RATE_LOG_EVERY_S:
            LOGGER.warning("charger %s: over its message rate: %d CALLs slowed down since the last note", self.id,  # type: ignore[attr-defined]
                           noted[1])
            noted[0], noted[1] = loop_now, 0
        await asyncio.sleep(wait)

    async def _reject_unparsed(self, text: str, prefix: Prefix | None, description: str, details: dict) -> None:
        """A frame too deep (or odd) to parse safely: answered from its prefix, never parsed; never a response."""
        self._record("in", "invalid", None, text[:2000])
        if limits.is_response(prefix):
            LOGGER.warning("charger %s: malformed response frame ignored: %s", self.id, description)  # type: ignore[attr-defined]
            return
        if prefix is None or prefix.unique_id is None:
            unique_id, kind = "-1", "frame"
        else:
            unique_id, kind = prefix.unique_id, "format" if prefix.message_type == MessageType.Call else "message_type"
        LOGGER.warning("charger %s: frame answered %s: %s", self.id, kind, description)  # type: ignore[attr-defined]
        await self._send(CallError(unique_id, error_code(kind, self.protocol), description, details).to_json())

    async def _handle_call(self, msg: Call):
        handlers = self.route_map.get(msg.action)
        if not handlers or "_on_action" not in handlers:
            raise self._no_handler(msg.action)
        if not handlers.get("_skip_schema_validation", False):
            self._validate(msg)
        self._check_ranges(msg)
        if msg.action == "BootNotification" and self.must_boot:
            self.hub.promote(self)  # the connection of this id from now on; its handler records the charger
        kwargs = camel_to_snake_case(msg.payload)
        try:
            response = handlers["_on_action"](**kwargs)
            if inspect.isawaitable(response):
                response = await response
            payload = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
            result = msg.create_call_result(payload)
            if not handlers.get("_skip_schema_validation", False):
                get_validator(MessageType.CallResult, msg.action, self._ocpp_version).validate(result.payload)
        except (CallRejected, OCPPError):
            raise  # a handler's deliberate CALLERROR
        except Exception as exc:
            LOGGER.exception("charger %s: %s %s could not be handled", self.id, msg.action, msg.unique_id)  # type: ignore[attr-defined]
            raise CallRejected("InternalError", f"{msg.action} could not be processed",
                               {"cause": type(exc).__name__}) from exc
        await self._send(result.to_json())
        if msg.action == "BootNotification" and payload.get("status") == "Accepted":
            self.booted.set()
        after = handlers.get("_after_action")
        if after is not None:
            try:
                followup = after(**kwargs)
                if inspect.iscoroutine(followup):
                    self.hub.spawn(followup, f"after {msg.action} of {self.id}")  # type: ignore[attr-defined]
            except Exception:
                LOGGER.exception("charger %s: after-%s hook failed", self.id, msg.action)  # type: ignore[attr-defined]
        return result

    def _no_handler(self, action: str) -> CallRejected:
        if action in {a.value for a in self.actions}:
            return CallRejected("NotSupported", f"{action} is recognized but not supported by this central system")
        return CallRejected("NotImplemented", f"{action!r} is not a known {self.protocol.value} action")

    def _check_ranges(self, msg: Call) -> None:
        """What the schemas leave open: 32-bit integers, ids that cannot be negative."""
        where = limits.int_out_of_range(msg.payload)
        if where is not None:
            raise CallRejected("TypeConstraintViolation", f"{where}: not a 32-bit integer"[:255])
        positive = _MUST_BE_POSITIVE.get((self.protocol, msg.action), frozenset())
        where = limits.negative_id(msg.payload, positive=positive)
        if where is not None:
            least = 1 if where in positive else 0
            raise CallRejected("PropertyConstraintViolation", f"{where}: must be {least} or more"[:255])

    def _validate(self, msg: Call) -> None:
        try:
            validator = get_validator(MessageType.Call, msg.action, self._ocpp_version)
        except (OSError, ValueError) as exc:
            LOGGER.exception("charger %s: no schema for %s", self.id, msg.action)  # type: ignore[attr-defined]
            raise CallRejected("InternalError", f"{msg.action} cannot be validated") from exc
        try:
            validator.validate(msg.payload)
        except SchemaValidationError as exc:
            raise schema_rejection(exc, self.protocol) from exc

    async def _reject_frame(self, raw, exc: OCPPError) -> None:
        """A frame `unpack` refused. Answer it unless it was (meant as) a response: never answer those."""
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")
        self._record("in", "invalid", None, text)
        try:
            frame = json.loads(text)
        except ValueError:
            frame, kind = None, "not_json"
        else:
            kind = "message_type" if isinstance(frame, list) and frame and isinstance(frame[0], int) \
                and frame[0] not in (2, 3, 4) else "frame"
        if isinstance(frame, list) and frame and frame[0] in (MessageType.CallResult, MessageType.CallError):
            LOGGER.warning("charger %s: malformed response frame ignored: %.200s", self.id, text)  # type: ignore[attr-defined]
            return
        unique_id = frame[1] if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str) else "-1"
        LOGGER.warning("charger %s: malformed frame answered %s: %.200s", self.id, kind, text)  # type: ignore[attr-defined]
        description = exc.description if kind != "not_json" else "message is not valid JSON"
        await self._send(CallError(unique_id, error_code(kind, self.protocol), description,
                                   {"cause": str(exc.details.get("cause", ""))[:200]}).to_json())

    async def _send(self, message: str) -> None:
        self._log(unpack(message), "out")
        await super()._send(message)  # type: ignore[misc]

    # ------------------------------------------------------------ the raw event log

    def _log(self, msg: Call | CallResult | CallError, direction: str) -> None:
        mine, theirs = (self._actions_in, self._actions_out) if direction == "in" else \
            (self._actions_out, self._actions_in)
        uid = msg.unique_id if isinstance(msg.unique_id, str) else None  # a charger may send any JSON here
        if isinstance(msg, Call):
            action = msg.action if isinstance(msg.action, str) else None
            if uid is not None and action is not None:
                mine[uid] = action
                self._call_t0[(direction, uid)] = time.perf_counter()
                if len(mine) > self.MAX_PENDING:  # calls never answered: forget the oldest
                    oldest = next(iter(mine))
                    del mine[oldest]
                    self._call_t0.pop((direction, oldest), None)
            self._record(direction, "call", action, dumps(secret_free(action, msg.payload)))  # never a password
            return
        action = theirs.pop(uid, None)
        kind = "result" if isinstance(msg, CallResult) else "error"
        if kind == "result":
            self._record(direction, kind, action, dumps(msg.payload))
        else:
            self._record(direction, kind, action, dumps(
                {"errorCode": msg.error_code, "errorDescription": msg.error_description,
                 "errorDetails": msg.error_details}))
        called = "out" if direction == "in" else "in"  # who sent the CALL this answers
        t0 = self._call_t0.pop((called, uid), None) if uid is not None else None
        if t0 is not None:
            metrics.CALL_SECONDS.labels(metrics.action_label(action), called).observe(time.perf_counter() - t0)

    def _record(self, direction: str, kind: str, action: str | None, payload: str) -> None:
        """Into the hub's journal, written in batches (the frame log is diagnostics; the domain data of a
        message is persisted by its handler before the answer)."""
        now = self.now()
        self.hub.journal(EventRecord(now, self.id, direction, kind, action and action[:64], payload),  # type: ignore[attr-defined]
                         seen=direction == "in")
        metrics.MESSAGES.labels(metrics.action_label(action), direction, kind).inc()
