"""The alert listener and jobs on the runtime: charger and plan events raise and resolve alerts at once, a sweep
compares the store with the open alerts every few seconds, and a job sends notifications.

The sweep runs in a worker thread (it only reads and writes the database), never on the OCPP loop. What it
looks at: offline chargers (not those in a maintenance window), faulted connectors, connectors stuck in
Preparing / Finishing, sessions charging without energy, site power against its limit, failed firmware
updates, the enforcement engine's health (profiles rejected / not obeyed), new 2.0.1 NotifyEvent Problem
reports, whose techCode names the fault, and re-planning that keeps failing (the runtime's re-planner).
A `data_quality` event (impossible values a charger sent were quarantined) raises or folds that charger's
data-quality alert; a person resolves it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from depot.model import is_online
from depot.people import alert_rules as rules
from depot.people.alert_rules import Condition
from depot.people.alerts import (
    UNRESOLVED,
    AlertRow,
    clear_alert,
    mark_notified,
    observe,
    raise_alert,
    reconcile,
    resolve_where,
    to_notify,
)
from depot.store import Store

log = logging.getLogger("depot.people.alerts")

SWEEP_EVERY_S = 5.0  # real seconds
NOTIFY_EVERY_S = 10.0
SWEPT_KINDS = (rules.CHARGER_OFFLINE, rules.CHARGER_FAULT, rules.CONNECTOR_STUCK, rules.NO_ENERGY,
               rules.SITE_POWER, rules.FIRMWARE_FAILED, rules.PROFILE_REJECTED, rules.PROFILE_NOT_OBEYED)


def enforcement_health(store: Store) -> list[tuple[str, str, str | None]] | None:
    """(charger, state, detail) from the enforcement engine's health table, None without that engine."""
    try:
        from depot.store import enforcement as enforcement_store
    except ImportError:
        return None
    return [(h.charger_id, h.state, h.detail) for h in enforcement_store.health(store).values()]


def install(runtime) -> AlertWatcher:
    """Called once by `Runtime._add_jobs`: event listener, sweep and notification jobs, maintenance windows."""
    from depot.people import maintenance

    watcher = AlertWatcher(runtime.store, runtime.settings, runtime.clock, runtime=runtime)
    runtime.add_listener(watcher.on_event)
    runtime.scheduler.add_job(watcher.sweep_job, "interval", seconds=SWEEP_EVERY_S, id="alerts_sweep",
                              max_instances=1, coalesce=True)
    runtime.scheduler.add_job(watcher.notify_job, "interval", seconds=NOTIFY_EVERY_S, id="alerts_notify",
                              max_instances=1, coalesce=True)
    maintenance.install(runtime)
    runtime.alerts = watcher
    return watcher


class AlertWatcher:
    """Raises and resolves alerts from charger events, plan events and a periodic look at the store."""

    def __init__(self, store: Store, settings, clock, *, runtime=None):
        self.store, self.settings, self.clock, self.runtime = store, settings, clock, runtime
        self._status_since: dict[tuple[str, int], tuple[str, datetime]] = {}
        self._site_active = False
        with store.session() as s:  # 2.0.1 NotifyEvents are read from the event log from here on
            from depot.store import EventRow

            self._last_event_id = s.scalar(select(func.max(EventRow.id))) or 0

    # ------------------------------------------------------------ events (on the loop thread)

    def on_event(self, event: Any) -> None:
        kind, cid, now = getattr(event, "kind", ""), getattr(event, "charger_id", ""), getattr(event, "at", None)
        now = now or self.clock()
        detail = getattr(event, "detail", None) or {}
        conn = getattr(event, "connector_id", None)
        if kind == "fault":
            c = rules.fault_condition(cid, conn, status=detail.get("status"), error_code=detail.get("error_code"),
                                      vendor_error_code=detail.get("vendor_error_code"), info=detail.get("info"))
            raise_alert(self.store, c.kind, charger_id=cid, connector_id=conn, severity=c.severity,
                        message=c.message, detail=c.detail, now=now)
        elif kind == "status":
            status = detail.get("status")
            if conn is not None and status:
                previous = self._status_since.get((cid, conn))
                if previous is None or previous[0] != status:
                    self._status_since[(cid, conn)] = (status, now)
            if rules.fault_cleared(status, detail.get("error_code")):
                clear_alert(self.store, rules.CHARGER_FAULT, charger_id=cid, connector_id=conn, now=now,
                            note=f"connector reports {status}")
        elif kind == "data_quality":  # impossible values quarantined (depot.ocpp.screening): one alert per charger
            c = rules.data_quality_condition(cid, action=detail.get("action"), count=int(detail.get("count") or 1),
                                             field=detail.get("field"), value=detail.get("value"),
                                             reason=detail.get("reason"))
            raise_alert(self.store, c.kind, charger_id=cid, severity=c.severity, message=c.message, detail=c.detail,
                        now=now)
        elif kind == "offline":
            raise_alert(self.store, rules.CHARGER_OFFLINE, charger_id=cid, message=f"{cid}: missed heartbeats",
                        now=now)
        elif kind in ("online", "connected", "boot"):
            clear_alert(self.store, rules.CHARGER_OFFLINE, charger_id=cid, now=now, note=f"charger {kind}")
        elif kind == "plan":
            clear_alert(self.store, rules.REPLAN_FAILING, now=now, note="a re-plan succeeded")
            last = getattr(getattr(self.runtime, "replanner", None), "last", None)
            if last is not None:  # one alert per vehicle at risk: many writes, so off the OCPP loop
                conditions = rules.readiness_conditions(last.readiness)
                task = asyncio.get_running_loop().run_in_executor(
                    None, lambda: reconcile(self.store, rules.DEPARTURE_AT_RISK, conditions, now=now))
                task.add_done_callback(_log_failure)

    # ------------------------------------------------------------ the sweep

    async def sweep_job(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.sweep)
        except Exception:  # noqa: BLE001 - the outermost frame of a job: log with context, keep running
            log.exception("alert sweep failed")

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """Compare the store with the open alerts; returns the number of conditions present per kind."""
        from depot.people.maintenance import chargers_in_maintenance

        now = now or self.clock()
        hb = self.settings.heartbeat_interval
        views, summary = self.store.floor_snapshot(now, default_heartbeat=hb)
        resting = chargers_in_maintenance(self.store, now)
        connectors = self._connectors(now)
        found: dict[str, list[Condition]] = {k: [] for k in SWEPT_KINDS}
        found[rules.CHARGER_OFFLINE] = rules.offline_conditions(
            [rules.Seen(v.charger.id, v.charger.last_seen, is_online(v.charger, now, hb)) for v in views
             if v.charger.id not in resting], now)
        offline = {c.charger_id for c in found[rules.CHARGER_OFFLINE]}
        live = [c for c in connectors if c.charger_id not in offline]
        found[rules.CHARGER_FAULT] = rules.fault_conditions(live)
        found[rules.CONNECTOR_STUCK] = rules.stuck_conditions([c for c in live if c.charger_id not in resting], now)
        found[rules.NO_ENERGY] = rules.no_progress_conditions(self._sessions(now, live), now)
        site = self.store.get_site()
        cond = rules.site_power_condition(summary.site_power_kw, site.grid_kw - site.safety_margin_kw,
                                          active=self._site_active)
        self._site_active = cond is not None
        found[rules.SITE_POWER] = [cond] if cond else []
        found[rules.FIRMWARE_FAILED] = rules.firmware_conditions(self._firmware_statuses())
        health = enforcement_health(self.store)
        if health is None:  # no enforcement engine in this build: its alerts are neither raised nor cleared here
            del found[rules.PROFILE_REJECTED], found[rules.PROFILE_NOT_OBEYED]
        else:
            for c in rules.profile_conditions(health):
                found[c.kind].append(c)
        self._notify_events(now, {(c.charger_id, c.connector_id) for c in live if c.status == "Faulted"})
        self._replan_alert(now)
        for kind, conditions in found.items():
            if kind == rules.CHARGER_FAULT:  # offline chargers keep their fault alerts until they speak again
                self._reconcile_faults(conditions, offline, now)
            else:
                reconcile(self.store, kind, conditions, now=now)
        return {k: len(v) for k, v in found.items()}

    def _replan_alert(self, now: datetime) -> None:
        """Re-planning that keeps failing (the runtime's re-planner counts it): raised with the banner's words and
        kept up to date, resolved once a re-plan succeeds. Without a re-planner: left alone."""
        health = getattr(getattr(self.runtime, "replanner", None), "health", None)
        if health is None:
            return
        failure, condition = health.failure, None
        if failure is not None:
            plan_id, plan_at = health.in_force or _plan_head(self.store)
            condition = rules.replan_condition(failure.attempts, failure.text(plan_id, plan_at, now), detail={
                "since": failure.since.isoformat(), "attempts": failure.attempts, "reason": failure.reason,
                "plan_id": plan_id})
        if condition is None:
            clear_alert(self.store, rules.REPLAN_FAILING, now=now, note="re-planning works again")
        else:
            raise_alert(self.store, condition.kind, severity=condition.severity, message=condition.message,
                        detail=condition.detail, now=now, count=False)

    def _reconcile_faults(self, conditions: list[Condition], skip: set[str], now: datetime) -> None:
        keep = {c.key for c in conditions}
        for c in conditions:
            observe(self.store, c, now)
        with self.store.session() as s:
            stale = [r.key for r in s.scalars(select(AlertRow).where(
                AlertRow.status.in_(UNRESOLVED), AlertRow.kind == rules.CHARGER_FAULT))
                if r.key not in keep and r.charger_id not in skip]
        if stale:
            resolve_where(self.store, [AlertRow.key.in_(stale)], now=now, note="connector no longer faulted")

    def _connectors(self, now: datetime) -> list[rules.ConnectorState]:
        from depot.store import ConnectorRow

        out = []
        with self.store.session() as s:
            rows = list(s.scalars(select(ConnectorRow)))
        multi = {r.charger_id for r in rows if r.connector_id > 0}
        for r in rows:
            if r.connector_id == 0 and r.charger_id in multi and r.status != "Faulted" and not r.error_code:
                continue
            tracked = self._status_since.get((r.charger_id, r.connector_id))
            since = tracked[1] if tracked and tracked[0] == r.status else r.updated_at
            out.append(rules.ConnectorState(r.charger_id, r.connector_id, r.status, since, r.error_code,
                                            r.vendor_error_code, r.info))
        return out

    def _sessions(self, now: datetime, connectors: list[rules.ConnectorState]) -> list[rules.ChargingSession]:
        from depot.store import MeterSampleRow, TransactionRow

        charging = {(c.charger_id, c.connector_id) for c in connectors if c.status == "Charging"}
        if not charging:
            return []
        since = now - rules.NO_PROGRESS_WINDOW - timedelta(minutes=10)
        with self.store.session() as s:
            txs = [t for t in s.scalars(select(TransactionRow).where(TransactionRow.stopped_at.is_(None)))
                   if (t.charger_id, t.connector_id) in charging]
            samples: dict[int, list[tuple[datetime, float]]] = {t.id: [] for t in txs}
            if txs:
                for tx_id, at, wh in s.execute(select(MeterSampleRow.transaction_id, MeterSampleRow.at,
                                                      MeterSampleRow.energy_wh)
                                               .where(MeterSampleRow.transaction_id.in_(list(samples)),
                                                      MeterSampleRow.at >= since, MeterSampleRow.energy_wh.is_not(None))):
                    samples[tx_id].append((at, wh))
        return [rules.ChargingSession(t.charger_id, t.connector_id, t.vehicle_id, "Charging", t.started_at,
                                      tuple(samples[t.id])) for t in txs]

    def _firmware_statuses(self) -> list[tuple[str, str | None]]:
        from depot.store import ChargerRow

        with self.store.session() as s:
            return list(s.execute(select(ChargerRow.id, ChargerRow.firmware_status)))

    def _notify_events(self, now: datetime, faulted: set[tuple[str, int]]) -> None:
        """2.0.1 NotifyEvent Problem reports since the last sweep: their techCode enriches the fault alert of a
        connector that is still faulted (one that has recovered since is left alone)."""
        from depot.store import EventRow

        batch = 1000
        with self.store.session() as s:
            newest = s.scalar(select(func.max(EventRow.id))) or self._last_event_id
            rows = list(s.execute(select(EventRow.id, EventRow.charger_id, EventRow.payload).where(
                EventRow.id > self._last_event_id, EventRow.id <= newest, EventRow.action == "NotifyEvent",
                EventRow.direction == "in", EventRow.kind == "call").order_by(EventRow.id).limit(batch)))
        latest: dict[tuple[str, int | None], rules.Problem] = {}
        for _id, cid, payload in rows:
            try:
                for p in rules.problems(json.loads(payload)):
                    latest[(cid, p.connector_id)] = p
            except (ValueError, AttributeError):
                log.warning("charger %s: unreadable NotifyEvent %s", cid, _id)
        for (cid, conn), p in latest.items():
            if p.active and (cid, conn) in faulted:
                c = rules.problem_condition(cid, p)
                raise_alert(self.store, c.kind, charger_id=cid, connector_id=conn, severity=c.severity,
                            message=c.message, detail=c.detail, now=now, count=False)
        self._last_event_id = rows[-1][0] if len(rows) == batch else max(newest, self._last_event_id)

    # ------------------------------------------------------------ notifications

    async def notify_job(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.notify)
        except Exception:  # noqa: BLE001 - the outermost frame of a job
            log.exception("alert notification failed")

    def notify(self) -> int:
        from depot.people import notify

        sent = 0
        channels = notify.configured(self.settings)
        for alert in to_notify(self.store):
            if channels:
                results = notify.send(self.settings, alert)
                sent += sum(1 for r in results if r.ok)
            mark_notified(self.store, alert.id, alert.severity)
        return sent


def _plan_head(store: Store) -> tuple[int | None, datetime | None]:
    record = store.active_plan()
    return (record.id, record.created_at) if record is not None else (None, None)


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("departure-at-risk alerts failed", exc_info=future.exception())
