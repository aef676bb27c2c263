"""Who may stay connected: charge point ids at the handshake, commissioning caps, the boot deadline.

- An id longer than 64 characters or with a character outside OCPP's identity set
  (`depot.ocpp.limits.valid_charger_id`) is answered 400 at the handshake, before any store access.
- Commissioning mode (`--accept-unknown-chargers`): at most `max_pending_unknown` commissioning connections
  (an id we do not know, or an uncommissioned charger without a password) wait for their BootNotification at
  once, and at most `unknown_per_minute` new unknown ids are let in per minute (a bucket of that many,
  refilled over the minute). Beyond either, the handshake is answered 503 with Retry-After and recorded as a
  security event ("throttled"; a flood is one event per `NOTE_EVERY_S` with its count). An unknown id becomes
  a charger row only when it sends BootNotification (`Store.record_boot`), never at connect.
- `watch_deadline`: a connection that sends no OCPP frame within `boot_deadline_s` is closed with 1008; a
  commissioning connection must have sent BootNotification by then. An authenticated known charger gets its
  heartbeat interval on top: a 1.6 charger that reconnects after a network glitch does not boot again and
  may stay quiet until its next heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
import math
from http import HTTPStatus
from typing import TYPE_CHECKING

from websockets.protocol import State

from depot.ocpp.limits import TokenBucket

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Response

    from depot.ocpp.base import DepotChargePoint
    from depot.ocpp.security import Handshake, LoginGuard
    from depot.settings import Settings

LOGGER = logging.getLogger("depot.ocpp.admission")
NOTE_EVERY_S = 10.0


class Commissioning:
    """The gate of commissioning handshakes (`LoginGuard.gate`) and the set of connections not booted yet."""

    def __init__(self, settings: Settings, guard: LoginGuard):
        self.settings, self.guard = settings, guard
        self._new_ids: TokenBucket | None = None
        self._admitted: dict[ServerConnection, str] = {}  # handshakes let in, not served yet
        self._pending: dict[DepotChargePoint, float] = {}  # served, not booted: -> when (loop time)
        self._refused = [-math.inf, 0]  # last noted, refused since

    def pending(self) -> int:
        self._admitted = {c: cid for c, cid in self._admitted.items() if c.state is not State.CLOSED}
        return len(self._admitted) + len(self._pending)

    def gate(self, connection: ServerConnection, hs: Handshake, known: bool) -> Response | None:
        """None to let this commissioning handshake in, or the 503 to answer instead."""
        now, s = asyncio.get_running_loop().time(), self.settings
        if self._new_ids is None:
            self._new_ids = TokenBucket(s.unknown_per_minute / 60.0, s.unknown_per_minute, now)
        if self.pending() >= s.max_pending_unknown:
            oldest = min(self._pending.values(), default=now)
            retry = oldest + s.boot_deadline_s - now
            return self._refuse(connection, hs, "too many commissioning connections waiting to boot", retry)
        waiting = set(self._admitted.values()) | {cp.id for cp in self._pending}  # type: ignore[attr-defined]
        if not known and hs.charger_id not in waiting and not self._new_ids.take(now):
            return self._refuse(connection, hs, "too many new unknown charge point ids",
                                self._new_ids.wait_s(now))
        self._admitted[connection] = hs.charger_id
        return None

    def serving(self, connection: ServerConnection, cp: DepotChargePoint) -> bool:
        """True (and `cp` pending until it boots) when this connection came in through the gate."""
        if self._admitted.pop(connection, None) is None:
            return False
        self._pending[cp] = asyncio.get_running_loop().time()
        return True

    def done(self, cp: DepotChargePoint) -> None:
        """Booted or gone."""
        self._pending.pop(cp, None)

    def _refuse(self, connection: ServerConnection, hs: Handshake, reason: str, retry_s: float) -> Response:
        now = asyncio.get_running_loop().time()
        self._refused[1] += 1
        if now - self._refused[0] >= NOTE_EVERY_S:
            LOGGER.warning("commissioning: refused charge point %r from %s: %s (%d since the last note)",
                           hs.charger_id, hs.remote, reason, self._refused[1])
            self.guard.event("throttled", hs, f"commissioning: {reason}", {"handshakes": self._refused[1]})
            self._refused = [now, 0]
        response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Commissioning is busy: retry later.\n")
        response.headers["Retry-After"] = str(max(1, math.ceil(min(retry_s, 3600.0))))
        return response


async def watch_deadline(cp: DepotChargePoint, ws: ServerConnection, settings: Settings) -> None:
    """Close `ws` (1008) unless `cp` speaks OCPP (boots, when it must) within the deadline."""
    must_boot = cp.must_boot
    deadline = settings.boot_deadline_s + (0 if must_boot else settings.heartbeat_interval)
    waits = [asyncio.ensure_future(e.wait()) for e in (cp.booted if must_boot else cp.spoke, cp.closed)]
    try:
        done, _ = await asyncio.wait(waits, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    if not done:
        what = "BootNotification" if must_boot else "OCPP frame"
        LOGGER.warning("charger %s: no %s within %g s: closing the connection", cp.id, what, deadline)  # type: ignore[attr-defined]
        await ws.close(1008, f"no {what} in time")
