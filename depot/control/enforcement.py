"""Smart-charging enforcement, the loop's shell: the plan and live readings become OCPP charging profiles.

A pass is gather (store) → decide (pure: depot.control.decision with sitelimit, allocation, profiles) →
apply (depot.control.sending: SetChargingProfile):
- a tick every `tick_seconds` and an immediate run on every event that matters (session start/stop, status,
  fault, a new plan, a site-limit change: depot.control.site_source polls the building);
- reductions first; increases only after the reductions were answered, and cut to what still fits, so the
  sum of commanded limits never exceeds the site limit, not even between two messages;
- after a charger boots or connects: its fail-safe defaults (depot.control.sending), retried and alerted
  when they do not go in (depot.control.failsafe);
- verification: a charger that rejects a profile, or draws above its limit beyond a tolerance for longer
  than a grace time, is flagged and planned without being trusted (depot.control.trust);
- every profile sent and its answer is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from depot.control.allocation import fit_increases, sequence_changes
from depot.control.decision import (
    Decision,
    Key,
    PlanTable,
    Session,
    connector_rows,
    decide,
    reserved_kw,
)
from depot.control.failsafe import FailSafe
from depot.control.profile_hold import limits_since, steady_decision
from depot.control.sending import ProfileSender
from depot.control.site_source import SiteSource
from depot.control.sitelimit import SiteLimit, limit_moved
from depot.control.trust import Trust
from depot.planning.snapshot import WORKING

if TYPE_CHECKING:  # pragma: no cover
    from depot.runtime import Runtime

log = logging.getLogger(__name__)

ENFORCE_EVENTS = {"tx_started", "tx_stopped", "fault", "disconnected", "offline"}
ENFORCE_STATUSES = {"Charging", "SuspendedEV", "SuspendedEVSE", "Faulted", "Available", "Finishing"}
LIMIT_CHANGE_KW = 1.0  # a site-limit change of at least this triggers an immediate run


@dataclass
class PassResult:
    """What one enforcement pass did (tests and the benchmark read it)."""

    at: datetime
    reason: str
    site_limit_kw: float
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    commanded_kw: float = 0.0
    steps: list[str] = field(default_factory=list)

    def count(self, answer: bool | None) -> None:
        """One TxProfile sent: True accepted, False rejected, None failed."""
        self.sent += 1
        if answer is True:
            self.accepted += 1
        elif answer is False:
            self.rejected += 1
        else:
            self.failed += 1


class Enforcer:
    """The enforcement service on the runtime's loop: wiring, the site poll and the passes."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.store = runtime.store
        self.settings = runtime.settings
        self.clock = runtime.clock
        self.site = SiteSource(self.store, self.settings)
        self.trust = Trust(runtime)
        self.sender = ProfileSender(runtime, self.trust, self.site)
        self.failsafe = FailSafe(self.sender)
        self.limit: SiteLimit | None = None
        self.last_pass: PassResult | None = None
        self.passes = 0
        self._lock = asyncio.Lock()
        self._pending: set[str] = set()
        self._task: asyncio.Task | None = None
        self.history: deque[PassResult] = deque(maxlen=50)
        self._plan_cache: tuple[int, PlanTable] | None = None  # the active plan, parsed once per version
        self.held: set[Key] = set()  # connectors whose accepted TxProfile stays this pass (profile_hold)
        self._seen: dict[Key, float] = {}  # … the limit each one was in force at on the last pass
        self._since: dict[Key, datetime] = {}  # … and since when it has allowed that much
        self.closed = False

    @property
    def commanded(self) -> dict[Key, float]:
        """Limits the chargers accepted, kW."""
        return self.sender.commanded

    @property
    def defaults(self) -> dict[str, float]:
        """TxDefaultProfile limit accepted per charger."""
        return self.sender.defaults

    # ------------------------------------------------------------ wiring (on the loop thread)

    def install(self) -> None:
        rt = self.runtime
        rt.add_listener(self.on_event)
        rt.scheduler.add_job(self.tick, "interval", seconds=self.settings.tick_seconds, id="enforce",
                             max_instances=1, coalesce=True, kwargs={"reason": "tick"})
        rt.scheduler.add_job(self.poll_site, "interval", seconds=self.settings.site_poll_seconds, id="site_poll",
                             max_instances=1, coalesce=True)

    def on_event(self, event: Any) -> None:
        kind = getattr(event, "kind", "")
        detail = getattr(event, "detail", None) or {}
        if self.closed:
            return
        if kind in ("boot", "connected"):
            self.failsafe.request(event.charger_id, force=kind == "boot")  # retried and alerted (failsafe.py)
        if kind == "plan" or kind in ENFORCE_EVENTS or (kind == "status" and detail.get("status") in ENFORCE_STATUSES):
            self.request(f"{kind} {getattr(event, 'charger_id', '')}".strip())

    def request(self, reason: str) -> None:
        """Run a pass soon; requests arriving during a pass become one more pass."""
        if self.closed:
            return
        self._pending.add(reason)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def close(self) -> None:
        """Stop taking work and wait out a pass under way (at shutdown)."""
        self.closed = True
        await self.failsafe.close()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _drain(self) -> None:
        while self._pending:
            reasons, self._pending = self._pending, set()
            try:
                await self.tick(reason=", ".join(sorted(reasons)))
            except Exception:  # noqa: BLE001 - the outermost frame of a job: log with context, keep going
                log.exception("enforcement pass failed (%s)", reasons)

    # ------------------------------------------------------------ the site limit

    def current_limit(self, now: datetime) -> SiteLimit:
        """The site limit in force from the newest stored building reading."""
        return self.site.current_limit(now)

    async def poll_site(self) -> None:
        """Read the building (per the configured source), store it, and enforce at once when the limit moved."""
        now = self.clock()
        reading = await self.site.read(now)
        if reading is None:
            limit = self.current_limit(now)
        else:
            limit = self.site.record(reading, charging_kw=self.site.charging_kw(), now=now)
        previous = self.limit
        self.limit = limit
        if previous is None or limit_moved(previous, limit, by_kw=LIMIT_CHANGE_KW):
            self.request("site limit changed")  # now, with the plan in force, capped by the new limit …
            if previous is not None:
                self.runtime.request_replan("site limit changed")  # … then with a plan made for it

    # ------------------------------------------------------------ one pass: gather → decide → apply

    async def tick(self, reason: str = "tick") -> PassResult:
        async with self._lock:
            return await self._pass(reason)

    async def _pass(self, reason: str) -> PassResult:
        now = self.clock()
        limit = self.current_limit(now)
        if self.limit is not None and self.limit.unset != limit.unset:  # set (or unset): seen before the poll
            self.runtime.request_replan("site limit changed")
        self.limit = limit
        sessions = self._gather(now)
        decision = self._decide(sessions, limit, now)
        result = PassResult(now, reason, limit.limit_kw)
        await self._apply(decision, result, now)
        await self._refresh_schedules(decision, result, now)
        self._record(result, decision)
        return result

    def sessions(self, now: datetime) -> list[Session]:
        """The running sessions of online chargers, with their newest readings."""
        views, _ = self.store.floor_snapshot(now, default_heartbeat=self.settings.heartbeat_interval)
        txs = {t.id: t for t in self.store.active_transactions()}
        readings = self.store.live_readings()
        out = []
        for v in views:
            if not v.online or v.charger.site_meter:
                continue
            for c in v.connectors:
                tx = txs.get(c.transaction_id) if c.transaction_id is not None else None
                if tx is None or c.status not in WORKING:
                    continue  # no session, or the connector says it has none (an orphan of a reboot)
                power_w, at = readings.get(tx.id, (None, None))
                out.append(Session((v.charger.id, c.connector_id), v.charger, tx.id, tx.charger_tx_id,
                                   tx.vehicle_id or f"{v.charger.id}/{c.connector_id}", c.status,
                                   None if power_w is None else power_w / 1000.0, at or tx.started_at))
        return out

    def _gather(self, now: datetime) -> list[Session]:
        """The running sessions; the ones that ended are forgotten; the chargers' health is read once."""
        sessions = self.sessions(now)
        for key in self.sender.forget_ended({s.key for s in sessions}):
            self.trust.forget(key)
        # an accepted schedule moves on by itself; since when it allows that much (depot.control.profile_hold)
        self._seen, self._since = limits_since(self.sender.sent, self._seen, self._since, now)
        self.sender.commanded.update(self._seen)
        self.trust.reload()
        return sessions

    def _decide(self, sessions: list[Session], limit: SiteLimit, now: datetime) -> Decision:
        table = self._plan_table()
        untrusted = self.trust.untrusted(sessions)
        budget = max(0.0, limit.limit_kw - reserved_kw(sessions, untrusted, self.sender.commanded))
        since = {k: (p, self._since.get(k, t)) for k, (p, t) in self.sender.sent.items()}
        every, rows = connector_rows(sessions, table, commanded=self.sender.commanded,
                                     defaults=self.sender.defaults, sent=since, now=now)
        self.trust.verify(every, self.sender.commanded, now)  # untrusted chargers too: they may recover
        decision = decide(every, rows, untrusted, budget, table=table, share_kw=self.sender.site_share_kw(now),
                          now=now, stale_after=timedelta(seconds=self.settings.stale_after_s))
        # what the chargers already hold (to within a step) is not sent again (depot.control.profile_hold)
        decision, self.held = steady_decision(decision, self.sender.sent, self.sender.commanded,
                                              lambda e, a: self.sender.payload(e, a, now), now=now,
                                              hours=self.settings.profile_hours)
        return decision

    async def _apply(self, decision: Decision, result: PassResult, now: datetime) -> None:
        """Reductions first, then the increases that still fit after the reductions were answered."""
        states = decision.states
        # what each connector is limited to right now, as far as we know: our accepted limit, else its default
        in_force = {st.key: st.limit_kw if st.limit_kw is not None else st.max_kw for st in states}
        no_profile = {st.key for st in states if st.key not in self.sender.sent}  # every session gets its TxProfile
        for step in sequence_changes(in_force, decision.target, must_send=no_profile):
            changes = list(step.changes)
            if step.kind == "increase":
                changes = fit_increases(in_force, changes, states, decision.budget_kw)
            result.steps.append(f"{step.kind} {len(changes)}")
            answers = await self.sender.apply_all([(decision.entries[a.key], a) for a in changes], now)
            for a, ok in zip(changes, answers, strict=True):
                result.count(ok)
                if ok is True:
                    in_force[a.key] = a.limit_kw

    async def _refresh_schedules(self, decision: Decision, result: PassResult, now: datetime) -> None:
        """Limits unchanged but the plan's later periods moved (a new plan): refresh those schedules."""
        commanded = self.sender.commanded
        refresh = [a for a in decision.target if a.key in commanded and abs(commanded[a.key] - a.limit_kw) < 0.05
                   and a.key not in self.held]
        stale = [a for a in refresh if not self.sender.schedule_current(decision.entries[a.key], a, now)]
        if stale:
            result.steps.append(f"refresh {len(stale)}")
            await self.sender.apply_all([(decision.entries[a.key], a) for a in stale], now)

    def _record(self, result: PassResult, decision: Decision) -> None:
        result.commanded_kw = sum(self.sender.commanded.get(st.key, 0.0) for st in decision.states)
        self.last_pass = result
        self.history.append(result)
        self.passes += 1
        if result.sent:
            log.info("enforcement (%s): limit %.0f kW, %s, %d accepted, %d rejected, %d failed", result.reason,
                     result.site_limit_kw, ", ".join(result.steps), result.accepted, result.rejected, result.failed)

    def _plan_table(self) -> PlanTable | None:
        """The active plan, parsed only when a new one became active (passes run on every status event)."""
        plan_id = self.store.active_plan_id()
        if plan_id is None:
            return None
        if self._plan_cache is None or self._plan_cache[0] != plan_id:
            record = self.store.active_plan()
            if record is None:
                return None
            self._plan_cache = (record.id, PlanTable.parse(record.problem, record.plan))
        return self._plan_cache[1]
