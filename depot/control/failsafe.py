"""The fail-safe defaults after a charger boots or connects, in a task per charger that cannot die silently.

`ProfileSender.apply_defaults` (depot.control.sending) sends a charger its TxDefaultProfile and station max
profile, built for the protocol of the connection they go out on. Here that runs in one task per charger:
a request while one runs makes it run once more (a "connected" followed by its BootNotification is two
requests, one after the other, never two sends racing). What does not go in (rejected, failed, an
unexpected error: logged with the charger, its protocol, the attempt and the reason) is tried again after
`retry_delays` (real seconds, growing; a new request cuts the wait short and starts the attempts over);
when the last attempt fails too, a critical `failsafe_failed` alert is raised (depot.people.alerts), and
the next success resolves it. A charger that disconnects meanwhile is left alone: it gets its defaults
when it connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from depot.people import alert_rules as rules
from depot.people import alerts

if TYPE_CHECKING:  # pragma: no cover
    from depot.control.sending import ProfileSender

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (2.0, 5.0, 15.0, 60.0)  # real seconds before each retry of a fail-safe that did not go in


class FailSafe:
    """The fail-safe defaults of every charger: requested on boot / connect, retried, alerted."""

    retry_delays: tuple[float, ...] = RETRY_DELAYS_S

    def __init__(self, sender: ProfileSender):
        self.sender = sender
        self.store = sender.store
        self.clock = sender.clock
        self._tasks: dict[str, asyncio.Task] = {}
        self._again: dict[str, bool] = {}  # charger -> force, for a request that came while its task ran
        self._wake: dict[str, asyncio.Event] = {}
        self._settled: set[str] = set()  # in force once since start, and no attempt has failed since
        self.closed = False

    def request(self, charger_id: str, *, force: bool = False) -> asyncio.Task | None:
        """Send `charger_id` its defaults soon (on the loop thread); `force` resends the TxDefaultProfile even
        when the one in force has the same limit (after a boot: the charger may have lost it)."""
        if self.closed:
            return None
        self._again[charger_id] = self._again.get(charger_id, False) or force
        task = self._tasks.get(charger_id)
        if charger_id in self._wake:
            self._wake[charger_id].set()  # a retry waiting: go now
        if task is None or task.done():
            task = asyncio.ensure_future(self._run(charger_id))
            task.add_done_callback(lambda t, cid=charger_id: _done(cid, t))
            self._tasks[charger_id] = task
        return task

    def busy(self, charger_id: str) -> bool:
        """A send or a retry of this charger's defaults is under way or asked for."""
        task = self._tasks.get(charger_id)
        return charger_id in self._again or (task is not None and not task.done())

    async def close(self) -> None:
        """Stop taking requests and cancel the retries under way (at shutdown)."""
        self.closed = True
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, charger_id: str) -> None:
        while charger_id in self._again and not self.closed:
            await self.ensure(charger_id)

    async def ensure(self, charger_id: str, *, force: bool = False) -> bool:
        """Apply the defaults, retrying with growing delays; True when they are in force, False when the
        charger went away (nothing to alert) or every attempt failed (alerted). A request that comes while
        this waits to retry (the charger booted) is taken on at once, and the attempts start over."""
        attempt, failure = 0, ""
        while True:
            force = self._again.pop(charger_id, False) or force
            attempt += 1
            if self.sender.protocol_of(charger_id) is None:
                if attempt > 1:
                    log.info("charger %s disconnected: its fail-safe waits for the next connection", charger_id)
                return False
            try:
                failed = await self.sender.apply_defaults(charger_id, force=force)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a fail-safe must not die silently: log with context, retry
                log.exception("charger %s (%s): fail-safe defaults raised (attempt %d of %d)", charger_id,
                              _protocol(self.sender, charger_id), attempt, self.attempts)
                failed = [f"{type(exc).__name__}: {exc}"]
            if not failed:
                self._in_force(charger_id, attempt)
                return True
            self._settled.discard(charger_id)
            failure = "; ".join(failed)
            log.warning("charger %s (%s): fail-safe not in force (attempt %d of %d): %s", charger_id,
                        _protocol(self.sender, charger_id), attempt, self.attempts, failure)
            if attempt >= self.attempts:
                self._alert(charger_id, failure, attempt)
                return False
            if await self._pause(charger_id, self.retry_delays[attempt - 1]):
                attempt = 0

    @property
    def attempts(self) -> int:
        return 1 + len(self.retry_delays)

    async def _pause(self, charger_id: str, seconds: float) -> bool:
        """Wait before a retry; True when a new request came meanwhile."""
        wake = self._wake.setdefault(charger_id, asyncio.Event())
        if charger_id not in self._again:
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), seconds)
        return charger_id in self._again

    def _in_force(self, charger_id: str, attempt: int) -> None:
        """Resolve the charger's fail-safe alert, if it may have one: after a failed attempt, or the first time
        in this process (an alert of a previous run); not on every boot of a charger that never failed."""
        if attempt > 1:
            log.info("charger %s: fail-safe in force after %d attempts", charger_id, attempt)
        if charger_id in self._settled:
            return
        try:
            alerts.clear_alert(self.store, rules.FAILSAFE_FAILED, charger_id=charger_id, now=self.clock(),
                               note="fail-safe profiles accepted")
            self._settled.add(charger_id)
        except Exception:  # noqa: BLE001 - an alert failing must not stop enforcement
            log.exception("could not resolve the fail-safe alert of %s", charger_id)

    def _alert(self, charger_id: str, failure: str, attempts: int) -> None:
        c = rules.failsafe_condition(charger_id, failure, attempts)
        log.error("charger %s: %s", charger_id, c.message)
        try:
            alerts.raise_alert(self.store, c.kind, charger_id=charger_id, severity=c.severity, message=c.message,
                               detail=c.detail, now=self.clock())
        except Exception:  # noqa: BLE001 - an alert failing must not stop enforcement
            log.exception("could not raise the fail-safe alert of %s", charger_id)


def _protocol(sender: ProfileSender, charger_id: str) -> str:
    protocol = sender.protocol_of(charger_id)
    return protocol.value if protocol is not None else "not connected"


def _done(charger_id: str, task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("fail-safe task of charger %s failed", charger_id, exc_info=task.exception())
