"""Smart-charging enforcement: the plan and live measurements become OCPP charging profiles, on the loop.

gather (store) → decide (pure: depot.control.sitelimit, depot.control.allocation, depot.control.profiles) → apply (SetChargingProfile):
- a tick every `tick_seconds` and an immediate run on every event that matters (session start/stop, status,
  fault, a new plan, a site-limit change);
- reductions first; increases only after the reductions were answered, and cut to what still fits, so the
  sum of commanded limits never exceeds the site limit, not even between two messages;
- after a charger boots or connects: a TxDefaultProfile with its safe share of the worst-case site limit
  (so the limit holds if this server stops) and, when enabled, a station max profile at its rated power
  (sent only when it changes: it wears charger flash);
- verification: a charger that rejects a profile, or draws above its limit beyond a tolerance for longer
  than a grace time, is flagged (enforcement health) and planned without being trusted;
- every profile sent and its answer is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from depot.control.allocation import (
    Allocation,
    ConnectorState,
    allocate,
    fit_increases,
    quantize,
    sequence_changes,
)
from depot.control.profiles import (
    STATION_MAX_PROFILE_ID,
    TX_DEFAULT_PROFILE_ID,
    TX_PROFILE_ID_BASE,
    Period,
    Target,
    periods_from_plan,
    same_schedule,
    station_max_profile,
    tx_default_profile,
    tx_profile,
)
from depot.control.sitelimit import (
    Reading,
    SiteLimit,
    demo_building,
    parse_http_reading,
    site_limit,
    worst_building_kw,
)
from depot.errors import ChargerError, ProfileRejected
from depot.model import Charger, ConnectorStatus, Protocol
from depot.planning.snapshot import WORKING
from depot.store import enforcement as es

if TYPE_CHECKING:  # pragma: no cover
    from depot.runtime import Runtime

log = logging.getLogger(__name__)

ENFORCE_EVENTS = {"tx_started", "tx_stopped", "fault", "disconnected", "offline"}
ENFORCE_STATUSES = {"Charging", "SuspendedEV", "SuspendedEVSE", "Faulted", "Available", "Finishing"}
LIMIT_CHANGE_KW = 1.0  # a site-limit change of at least this triggers an immediate run
REJECTS_TO_FLAG = 2  # consecutive rejections before a charger counts as rejecting (one can be a race:
#                      the vehicle left between our snapshot and the charger's answer)


@dataclass
class Session:
    """What the enforcer needs of one running session."""

    key: tuple[str, int]
    charger: Charger
    transaction_id: int
    charger_tx_id: str | None
    plan_key: str
    status: ConnectorStatus
    power_kw: float | None
    sample_at: datetime | None  # the newest reading, or the session's start when none came yet


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


class Enforcer:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.store = runtime.store
        self.settings = runtime.settings
        self.clock = runtime.clock
        self.commanded: dict[tuple[str, int], float] = {}  # limits the chargers accepted, kW
        self.sent: dict[tuple[str, int], tuple[dict, datetime]] = {}  # last accepted TxProfile and when
        self.defaults: dict[str, float] = {}  # TxDefaultProfile limit accepted per charger
        self.overdraw_since: dict[tuple[str, int], datetime] = {}
        self.limit: SiteLimit | None = None
        self.last_pass: PassResult | None = None
        self.passes = 0
        self._lock = asyncio.Lock()
        self._pending: set[str] = set()
        self._task: asyncio.Task | None = None
        self.history: deque[PassResult] = deque(maxlen=50)
        self._share_cache: tuple[tuple[float, int], float] | None = None
        self._plan_cache: tuple[int, _PlanTable] | None = None  # the active plan, parsed once per version
        self._health: dict[str, es.Health] = {}  # read once per pass, kept current by _set_health
        self._rejects: dict[str, int] = {}  # consecutive rejected profiles per charger
        self.closed = False

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
            asyncio.ensure_future(self.apply_defaults(event.charger_id, force=kind == "boot"))
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

    def building_max_kw(self, grid_kw: float) -> float:
        return worst_building_kw(self.settings.building_max_kw, grid_kw)

    def current_limit(self, now: datetime) -> SiteLimit:
        site = self.store.get_site()
        source = self.settings.site_limit_source
        reading = None
        if source:
            latest = es.latest_reading(self.store)
            reading = Reading(latest.at, latest.building_kw, latest.pv_kw) if latest else None
        return site_limit(site.grid_kw, site.safety_margin_kw, reading, now=now,
                          stale_after=timedelta(seconds=self.settings.stale_after_s),
                          building_max_kw=self.building_max_kw(site.grid_kw), has_source=bool(source))

    async def poll_site(self) -> None:
        """Read the building (per the configured source), store it, and enforce at once when the limit moved."""
        now = self.clock()
        reading = await self._read_source(now)
        limit = self.current_limit(now) if reading is None else None
        if reading is not None:
            site = self.store.get_site()
            limit = site_limit(site.grid_kw, site.safety_margin_kw, reading, now=now,
                               stale_after=timedelta(seconds=self.settings.stale_after_s),
                               building_max_kw=self.building_max_kw(site.grid_kw))
            es.add_reading(self.store, es.SiteReading(reading.at, self.settings.site_limit_source or "none",
                                                      reading.building_kw, reading.pv_kw, limit.limit_kw,
                                                      self.charging_kw()))
        previous = self.limit
        self.limit = limit
        if previous is None or abs(previous.limit_kw - limit.limit_kw) >= LIMIT_CHANGE_KW:
            self.request("site limit changed")  # now, with the plan in force, capped by the new limit …
            if previous is not None:
                self.runtime.request_replan("site limit changed")  # … then with a plan made for it

    async def _read_source(self, now: datetime) -> Reading | None:
        source = self.settings.site_limit_source
        if source == "simulator":
            return demo_building(now)
        if source == "meter":
            meters = [c for c in self.store.list_chargers() if c.site_meter]
            samples = [self.store.meter_samples(charger_id=c.id, since=now - timedelta(
                seconds=self.settings.stale_after_s)) for c in meters]
            powers = [s[-1] for s in samples if s and s[-1].power_w is not None]
            if not meters or len(powers) < len(meters):
                return None  # a missing meter is the worst case, not zero
            return Reading(min(p.at for p in powers), sum(p.power_w for p in powers) / 1000.0, None)
        if source.startswith(("http://", "https://")):
            return await asyncio.get_running_loop().run_in_executor(None, self._http_reading, source, now)
        return None

    @staticmethod
    def _http_reading(url: str, now: datetime) -> Reading | None:
        import requests

        try:
            response = requests.get(url, timeout=5)
            response.raise_for_status()
            return parse_http_reading(response.json(), now=now)
        except Exception as exc:  # noqa: BLE001 - any failure of the source means: no fresh reading
            log.warning("building reading from %s failed: %s", url, exc)
            return None

    # ------------------------------------------------------------ defaults after boot

    def default_share_kw(self, charger: Charger, now: datetime) -> float:
        """A charger's safe share of the worst-case site limit, for when we cannot talk to it."""
        return min(charger.max_kw, self.site_share_kw(now))

    def site_share_kw(self, now: datetime) -> float:
        """The worst-case site limit divided over every connector (a TxDefaultProfile limits each connector)."""
        site = self.store.get_site()
        worst = max(0.0, site.grid_kw - site.safety_margin_kw
                    - (self.building_max_kw(site.grid_kw) if self.settings.site_limit_source else 0.0))
        key = (worst, self.store.count("chargers"))
        if self._share_cache is None or self._share_cache[0] != key:
            views, _ = self.store.floor_snapshot(now, default_heartbeat=self.settings.heartbeat_interval)
            connectors = sum(len(v.connectors) or 1 for v in views if not v.charger.site_meter)
            self._share_cache = (key, worst / max(1, connectors))
        return self._share_cache[1]

    async def apply_defaults(self, charger_id: str, *, force: bool = False) -> None:
        charger = self.store.get_charger(charger_id)
        if charger is None or charger.site_meter:
            return
        now = self.clock()
        target = self._target(charger)
        probe = ConnectorState(charger.id, 0, charger.current_type, charger.phases, charger.max_kw, 0.0)
        share, _ = quantize(probe, self.default_share_kw(charger, now))
        if force or self.defaults.get(charger_id) != share:
            ok = await self._send(charger, 0, "TxDefaultProfile", TX_DEFAULT_PROFILE_ID, share,
                                  tx_default_profile(target, share, now=now), now)
            if ok:
                self.defaults[charger_id] = share
        if self.settings.station_max:
            purpose = "ChargePointMaxProfile" if charger.protocol == Protocol.OCPP16 else "ChargingStationMaxProfile"
            last = es.last_accepted(self.store, charger_id, purpose)
            if last is None or abs(last.limit_kw - charger.max_kw) > 0.05:
                await self._send(charger, 0, purpose, STATION_MAX_PROFILE_ID, charger.max_kw,
                                 station_max_profile(target, charger.max_kw, now=now), now)

    # ------------------------------------------------------------ one pass

    def charging_kw(self) -> float:
        """The running sessions' newest readings, summed (one small query: the site poll runs often)."""
        return sum(p for p, _ in self.store.live_readings().values() if p is not None) / 1000.0

    def sessions(self, now: datetime) -> list[Session]:
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

    async def tick(self, reason: str = "tick") -> PassResult:
        async with self._lock:
            return await self._pass(reason)

    async def _pass(self, reason: str) -> PassResult:
        now = self.clock()
        limit = self.current_limit(now)
        self.limit = limit
        sessions = self.sessions(now)
        live = {s.key for s in sessions}
        for key in [k for k in self.commanded if k not in live]:  # the session ended: its TxProfile went with it
            self.commanded.pop(key, None)
            self.sent.pop(key, None)
            self.overdraw_since.pop(key, None)
        table = self._plan_table()
        self._health = es.health(self.store)
        untrusted = {s.key for s in sessions
                     if s.charger.id in self._health and self._health[s.charger.id].state in es.UNTRUSTED}
        # an untrusted charger's draw is a load we cannot steer: it comes off the others' limit
        reserved = sum(max(s.power_kw or 0.0, self.commanded.get(s.key, s.charger.max_kw))
                       for s in sessions if s.key in untrusted)
        budget = max(0.0, limit.limit_kw - reserved)
        every, rows = [], {}
        for s in sessions:
            planned, priority, departure = table.at(s.plan_key, now) if table else (None, 1, None)
            cap = s.charger.max_kw
            sent = self.sent.get(s.key)
            state = ConnectorState(s.charger.id, s.key[1], s.charger.current_type, s.charger.phases, cap, 0.0,
                                   s.power_kw, s.sample_at, priority, departure,
                                   self.commanded.get(s.key, self.defaults.get(s.charger.id)),
                                   sent[1] if sent else None)
            planned_kw = planned[0] if planned else 0.0
            if planned is None and s.status in (ConnectorStatus.CHARGING, ConnectorStatus.SUSPENDED_EV):
                planned_kw = state.floor_kw  # not planned yet (a re-plan is coming): the floor, not the ceiling
            state = replace(state, planned_kw=min(planned_kw, cap))
            every.append(state)
            rows[s.key] = (s, state, planned)
        self._verify(every, now)  # untrusted chargers too: they may recover
        states = [st for st in every if st.key not in untrusted]
        # the plan's later slots, scaled so that all profiles together fit the limit in force now at every
        # future instant too (a plan made for a higher limit must not step up at the next slot boundary)
        scale = _slot_scale([rows[st.key][2] for st in states], budget)
        share = self.site_share_kw(now)
        by_key = {key: _Entry(s, st, _scaled(planned, scale, st.max_kw), table.slot_start(now) if table else now,
                              table.slot_minutes if table else 15.0, quantize(st, min(st.max_kw, share))[0])
                  for key, (s, st, planned) in rows.items()}
        target = allocate(states, budget, now=now, stale_after=timedelta(seconds=self.settings.stale_after_s))
        result = PassResult(now, reason, limit.limit_kw)
        # what each connector is limited to right now, as far as we know: our accepted limit, else its default
        in_force = {st.key: st.limit_kw if st.limit_kw is not None else st.max_kw for st in states}
        no_profile = {st.key for st in states if st.key not in self.sent}  # every session gets its TxProfile
        for step in sequence_changes(in_force, target, must_send=no_profile):
            changes = list(step.changes)
            if step.kind == "increase":
                changes = fit_increases(in_force, changes, states, budget)
            result.steps.append(f"{step.kind} {len(changes)}")
            answers = await self._apply_all([(by_key[a.key], a) for a in changes], now)
            for a, ok in zip(changes, answers, strict=True):
                result.sent += 1
                if ok is True:
                    result.accepted += 1
                    in_force[a.key] = a.limit_kw
                elif ok is False:
                    result.rejected += 1
                else:
                    result.failed += 1
        # limits unchanged but the plan's later periods moved (a new plan): refresh those schedules
        refresh = [a for a in target if a.key in self.commanded and abs(self.commanded[a.key] - a.limit_kw) < 0.05]
        stale_schedules = [a for a in refresh if not self._schedule_current(by_key[a.key], a, now)]
        if stale_schedules:
            result.steps.append(f"refresh {len(stale_schedules)}")
            await self._apply_all([(by_key[a.key], a) for a in stale_schedules], now)
        result.commanded_kw = sum(self.commanded.get(st.key, 0.0) for st in states)
        self.last_pass = result
        self.history.append(result)
        self.passes += 1
        if result.sent:
            log.info("enforcement (%s): limit %.0f kW, %s, %d accepted, %d rejected, %d failed", reason,
                     limit.limit_kw, ", ".join(result.steps), result.accepted, result.rejected, result.failed)
        return result

    def _plan_table(self) -> _PlanTable | None:
        """The active plan, parsed only when a new one became active (passes run on every status event)."""
        plan_id = self.store.active_plan_id()
        if plan_id is None:
            return None
        if self._plan_cache is None or self._plan_cache[0] != plan_id:
            record = self.store.active_plan()
            if record is None:
                return None
            self._plan_cache = (record.id, _PlanTable.parse(record.problem, record.plan))
        return self._plan_cache[1]

    def _periods(self, entry: _Entry, alloc: Allocation, now: datetime) -> list[Period]:
        if not entry.planned:
            return [Period(0, alloc.limit_kw)]
        periods = periods_from_plan(entry.planned, plan_start=entry.slot_start, slot_minutes=entry.slot_minutes,
                                    now=now, first_kw=alloc.limit_kw, hours=self.settings.profile_hours)
        # past its horizon the profile falls back to the safe share: if we are gone by then, the limit holds
        end = int(self.settings.profile_hours * 3600)
        if periods[-1].start_s < end and entry.fallback_kw < periods[-1].limit_kw:
            periods.append(Period(end, entry.fallback_kw))
        return periods

    def _tx_payload(self, entry: _Entry, alloc: Allocation, now: datetime) -> dict:
        session = entry.session
        tx_id = session.transaction_id if session.charger.protocol == Protocol.OCPP16 else session.charger_tx_id
        return tx_profile(self._target(session.charger), session.key[1], tx_id, self._periods(entry, alloc, now),
                          now=now)

    def _schedule_current(self, entry, alloc: Allocation, now: datetime) -> bool:
        old = self.sent.get(entry.session.key)
        return old is not None and same_schedule(old[0], self._tx_payload(entry, alloc, now), old_sent_at=old[1],
                                                 now=now)

    async def _apply_all(self, items: list[tuple[_Entry, Allocation]], now: datetime) -> list[bool | None]:
        """TxProfiles for several sessions at once: recorded in one transaction, sent concurrently, answers
        recorded in one transaction. Per item: True accepted, False rejected, None failed or not sendable."""
        sendable = [(entry, a) for entry, a in items
                    if not (entry.session.charger.protocol == Protocol.OCPP201 and not entry.session.charger_tx_id)]
        payloads = [self._tx_payload(entry, a, now) for entry, a in sendable]
        ids = es.record_commands(self.store, [
            {"at": now, "charger_id": e.session.charger.id, "connector_id": e.session.key[1], "purpose": "TxProfile",
             "profile_id": TX_PROFILE_ID_BASE + e.session.key[1], "limit_kw": a.limit_kw, "payload": p}
            for (e, a), p in zip(sendable, payloads, strict=True)])
        outcomes = await asyncio.gather(*(self._call(e.session.charger, e.session.key[1], p) for (e, _), p in
                                          zip(sendable, payloads, strict=True)))
        answered = self.clock()
        es.record_answers(self.store, [(cid, status, answered, detail)
                                       for cid, (status, detail) in zip(ids, outcomes, strict=True)])
        by_entry: dict[int, bool | None] = {}
        for (entry, a), payload, (status, detail) in zip(sendable, payloads, outcomes, strict=True):
            session = entry.session
            if status == "Accepted":
                self.commanded[session.key] = a.limit_kw
                self.sent[session.key] = (payload, now)
                self._rejects.pop(session.charger.id, None)
                current = self._health.get(session.charger.id)
                if current is not None and current.state == "rejecting":
                    self._set_health(session.charger.id, "ok", "accepts profiles again")
            elif status == "Rejected":
                self._rejected(session.charger.id, f"TxProfile {detail}")
            by_entry[id(entry)] = {"Accepted": True, "Rejected": False}.get(status)
        return [by_entry.get(id(entry)) for entry, _ in items]

    async def _call(self, charger: Charger, connector_id: int, payload: dict) -> tuple[str, str | None]:
        try:
            await self.runtime.central.set_charging_profile(charger.id, connector_id, payload)
        except ProfileRejected as exc:
            return "Rejected", exc.status
        except ChargerError as exc:
            return "Failed", str(exc)
        return "Accepted", None

    async def _send(self, charger: Charger, connector_id: int, purpose: str, profile_id: int, limit_kw: float,
                    payload: dict, now: datetime) -> bool | None:
        """One SetChargingProfile (defaults, station max), stored with its answer. True accepted, False
        rejected, None failed."""
        cid = es.record_command(self.store, at=now, charger_id=charger.id, connector_id=connector_id,
                                purpose=purpose, profile_id=profile_id, limit_kw=limit_kw, payload=payload)
        status, detail = await self._call(charger, connector_id, payload)
        es.record_answer(self.store, cid, status=status, at=self.clock(), detail=detail)
        if status == "Rejected":
            self._rejected(charger.id, f"{purpose} {detail}")
        elif status == "Accepted":
            self._rejects.pop(charger.id, None)
        return {"Accepted": True, "Rejected": False}.get(status)

    def _rejected(self, charger_id: str, detail: str) -> None:
        self._rejects[charger_id] = self._rejects.get(charger_id, 0) + 1
        if self._rejects[charger_id] >= REJECTS_TO_FLAG:
            self._flag(charger_id, "rejecting", f"{detail} ({self._rejects[charger_id]} in a row)")

    # ------------------------------------------------------------ verification

    def _verify(self, states: list[ConnectorState], now: datetime) -> None:
        grace = timedelta(seconds=self.settings.obey_grace_s)
        stale = timedelta(seconds=self.settings.stale_after_s)
        for st in states:
            limit = self.commanded.get(st.key)
            if limit is None or st.measured_kw is None or st.measured_at is None or now - st.measured_at > stale:
                continue
            tolerance = max(self.settings.obey_tolerance_kw, 0.05 * limit)
            if st.measured_kw > limit + tolerance:
                since = self.overdraw_since.setdefault(st.key, now)
                if now - since >= grace:
                    self._flag(st.charger_id, "overdrawing",
                               f"draws {st.measured_kw:.1f} kW above its limit {limit:.1f} kW since {since:%H:%M}")
            else:
                self.overdraw_since.pop(st.key, None)
                current = self._health.get(st.charger_id)
                if current is None or current.state == "overdrawing":
                    self._set_health(st.charger_id, "ok", "draws within its limit")

    def _flag(self, charger_id: str, state: str, detail: str) -> None:
        before = self._health.get(charger_id)
        self._set_health(charger_id, state, detail)
        if before is None or before.state != state:
            log.warning("charger %s: %s (%s)", charger_id, state, detail)
            self.runtime.request_replan(f"{charger_id} {state}")
            _alert(self.store, "profile rejected" if state == "rejecting" else "profile not obeyed", charger_id,
                   detail, self.clock())

    def _set_health(self, charger_id: str, state: str, detail: str) -> None:
        self._health[charger_id] = es.set_health(self.store, charger_id, state, now=self.clock(), detail=detail)

    @staticmethod
    def _target(charger: Charger) -> Target:
        return Target(charger.protocol or Protocol.OCPP16, charger.current_type, charger.phases,
                      charger.capabilities.rate_unit, charger.capabilities.max_periods)


@dataclass(frozen=True)
class _Entry:
    """One session in a pass, with everything its TxProfile is built from."""

    session: Session
    state: ConnectorState
    planned: list[float] | None  # its power from the current slot on, scaled to the limit in force
    slot_start: datetime  # start of the current plan slot
    slot_minutes: float
    fallback_kw: float  # the safe share its profile falls back to past the horizon


@dataclass(frozen=True)
class _PlanTable:
    """The active plan, parsed: each vehicle's power per slot, priority and departure."""

    start: datetime
    slot_minutes: float
    vehicles: dict[str, tuple[list[float], int, datetime | None]]

    @classmethod
    def parse(cls, problem: dict, plan: dict) -> _PlanTable:
        needs = {v["id"]: v for v in problem.get("vehicles", [])}
        vehicles = {}
        for v in plan.get("vehicles", []):
            need = needs.get(v["id"], {})
            dep = need.get("departure")
            vehicles[v["id"]] = (v["power_kw"], int(need.get("priority", 1)),
                                 datetime.fromisoformat(dep) if dep else None)
        return cls(datetime.fromisoformat(problem["start"]), float(problem.get("slot_minutes", 15)), vehicles)

    def slot(self, now: datetime) -> int:
        return int((now - self.start) // timedelta(minutes=self.slot_minutes))

    def slot_start(self, now: datetime) -> datetime:
        return self.start + timedelta(minutes=self.slot_minutes) * self.slot(now)

    def at(self, key: str, now: datetime) -> tuple[list[float] | None, int, datetime | None]:
        """A vehicle's power from the current slot on (None when the plan does not cover now), priority,
        departure."""
        power, priority, departure = self.vehicles.get(key, (None, 1, None))
        k0 = self.slot(now)
        if power is None or not 0 <= k0 < len(power):
            return None, priority, departure
        return power[k0:], priority, departure


def _scaled(planned: list[float] | None, scale: list[float], cap: float) -> list[float] | None:
    if not planned:
        return planned
    return [min(p * (scale[i] if i < len(scale) else 1.0), cap) for i, p in enumerate(planned)]


def _slot_scale(planned: list[list[float] | None], budget_kw: float) -> list[float]:
    """Per future slot, the factor that brings the planned total down to `budget_kw` (1 where it fits)."""
    width = max((len(p) for p in planned if p), default=0)
    totals = [sum(p[k] for p in planned if p and k < len(p)) for k in range(width)]
    return [min(1.0, budget_kw / t) if t > budget_kw > 0 else (0.0 if t > 0 and budget_kw <= 0 else 1.0)
            for t in totals]


def _alert(store, kind: str, charger_id: str, message: str, now: datetime) -> None:
    """Raise an alert when the alerts module is there (it comes with the people-and-maintenance feature)."""
    try:
        from depot.people import alerts
    except ImportError:
        return
    raise_alert = getattr(alerts, "raise_alert", None)
    if raise_alert is not None:
        try:
            raise_alert(store, kind, charger_id=charger_id, severity="warning", message=message, now=now)
        except Exception:  # noqa: BLE001 - an alert failing must not stop enforcement
            log.exception("could not raise alert %s for %s", kind, charger_id)

