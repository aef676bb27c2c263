"""Alerts: the alert table, its lifecycle, and the runtime hooks that raise and resolve alerts.

Lifecycle: open → acknowledged (by whom, when, note) → resolved (by the system when the condition clears,
or by a person with a note). An occurrence of a problem whose alert is still unresolved folds into it
(count + 1, last seen = now); after resolution the next occurrence opens a new alert.

Who raises what:
- the runtime listener (`install`): charger faults from StatusNotification (1.6 error and vendor codes) and
  2.0.1 Faulted; offline / back online; the planner's readiness on every new plan ("will miss", "at risk");
- the sweep job (every few seconds, off the loop thread): offline, faults, connectors stuck in Preparing /
  Finishing, charging without energy progress, site power near its limit, failed firmware updates, and
  2.0.1 NotifyEvent Problem reports (their techCode enriches the fault alert). The sweep compares the store's
  state with the open alerts and resolves what has cleared, so nothing depends on catching one event;
- other modules through `raise_alert` / `clear_alert` (the enforcement engine: profile rejected / not obeyed).

The rules themselves are pure (`depot.alert_rules`). Notifications (SMTP, webhook; `depot.notify`) go out
from a job for every alert that is new or has become more severe than what was last sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from depot import alert_rules as rules
from depot.alert_rules import RANK, Condition, alert_key
from depot.errors import NotFound, ValidationError
from depot.people import audit
from depot.store import Base, Store, UTCDateTime, is_online

log = logging.getLogger(__name__)

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
UNRESOLVED = (OPEN, ACKNOWLEDGED)
SWEEP_EVERY_S = 5.0  # real seconds
NOTIFY_EVERY_S = 10.0
SWEPT_KINDS = (rules.CHARGER_OFFLINE, rules.CHARGER_FAULT, rules.CONNECTOR_STUCK, rules.NO_ENERGY,
               rules.SITE_POWER, rules.FIRMWARE_FAILED, rules.PROFILE_REJECTED, rules.PROFILE_NOT_OBEYED)


class AlertRow(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    charger_id: Mapped[str | None] = mapped_column(String(64))
    connector_id: Mapped[int | None] = mapped_column(Integer)
    vehicle_id: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(500))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    assignee: Mapped[str | None] = mapped_column(String(64))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_note: Mapped[str | None] = mapped_column(String(500))
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_note: Mapped[str | None] = mapped_column(String(500))
    notified_severity: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (Index("ix_alerts_key_status", "key", "status"), Index("ix_alerts_status_kind", "status", "kind"),
                      Index("ix_alerts_charger", "charger_id"))


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str
    severity: str
    charger_id: str | None
    connector_id: int | None
    vehicle_id: str | None
    message: str
    detail: dict
    first_seen: datetime
    last_seen: datetime
    count: int
    status: str
    assignee: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_note: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolve_note: str | None = None

    @property
    def label(self) -> str:
        return rules.label(self.kind)


def _alert(r: AlertRow) -> Alert:
    return Alert(r.id, r.kind, r.severity, r.charger_id, r.connector_id, r.vehicle_id, r.message,
                 json.loads(r.detail or "{}"), r.first_seen, r.last_seen, r.count, r.status, r.assignee,
                 r.acknowledged_by, r.acknowledged_at, r.ack_note, r.resolved_by, r.resolved_at, r.resolve_note)


def _check_severity(severity: str | None, kind: str) -> str:
    severity = severity or rules.default_severity(kind)
    if severity not in RANK:
        raise ValidationError("severity", f"{severity!r} is not one of {', '.join(rules.SEVERITIES)}")
    return severity


# ---------------------------------------------------------------- raising and resolving


def raise_alert(store: Store, kind: str, *, charger_id: str | None = None, vehicle_id: str | None = None,
                connector_id: int | None = None, severity: str | None = None, message: str = "",
                detail: dict | None = None, now: datetime, count: bool = True) -> Alert:
    """Raise an alert, or fold this occurrence into the unresolved alert of the same kind, charger, connector
    and vehicle (count + 1 unless `count=False`, last seen, the newest message and severity)."""
    kind = rules.normal_kind(kind)
    severity = _check_severity(severity, kind)
    key = alert_key(kind, charger_id, connector_id, vehicle_id)
    text = (message or rules.label(kind))[:500]
    with store.session() as s:
        row = s.scalar(select(AlertRow).where(AlertRow.key == key, AlertRow.status.in_(UNRESOLVED))
                       .order_by(AlertRow.id.desc()).limit(1))
        if row is None:
            row = AlertRow(key=key, kind=kind, severity=severity, charger_id=charger_id, connector_id=connector_id,
                           vehicle_id=vehicle_id, message=text, detail=_dumps(detail), first_seen=now, last_seen=now,
                           count=1, status=OPEN)
            s.add(row)
            s.flush()
            log.warning("alert %d raised: %s %s", row.id, severity, text)
        else:
            row.last_seen = max(row.last_seen, now)
            if count:
                row.count += 1
            if message:
                row.message = text
            if detail:
                row.detail = _dumps({**json.loads(row.detail or "{}"), **detail})
            row.severity = severity
        return _alert(row)


def _touch(store: Store, c: Condition, now: datetime) -> Alert:
    """A condition seen again by the sweep: raise it if new, else only last seen (and a higher severity)."""
    with store.session() as s:
        row = s.scalar(select(AlertRow).where(AlertRow.key == c.key, AlertRow.status.in_(UNRESOLVED)).limit(1))
        if row is not None:
            row.last_seen = max(row.last_seen, now)
            if RANK[c.severity] > RANK.get(row.severity, 0):
                row.severity, row.message = c.severity, c.message[:500]
            return _alert(row)
    return raise_alert(store, c.kind, charger_id=c.charger_id, vehicle_id=c.vehicle_id, connector_id=c.connector_id,
                       severity=c.severity, message=c.message, detail=c.detail, now=now)


def clear_alert(store: Store, kind: str, *, charger_id: str | None = None, vehicle_id: str | None = None,
                connector_id: int | None = None, now: datetime, note: str = "condition cleared") -> list[Alert]:
    """Resolve (by the system) the unresolved alert of this kind for this charger / connector / vehicle."""
    key = alert_key(rules.normal_kind(kind), charger_id, connector_id, vehicle_id)
    return _resolve_where(store, [AlertRow.key == key], now=now, note=note)


def _resolve_where(store: Store, where: list, *, now: datetime, note: str) -> list[Alert]:
    with store.session() as s:
        rows = list(s.scalars(select(AlertRow).where(AlertRow.status.in_(UNRESOLVED), *where)))
        for row in rows:
            row.status, row.resolved_by, row.resolved_at, row.resolve_note = RESOLVED, "system", now, note[:500]
            log.info("alert %d resolved: %s", row.id, note)
        return [_alert(r) for r in rows]


def reconcile(store: Store, kind: str, conditions: list[Condition], *, now: datetime,
              scope: dict | None = None) -> tuple[list[Alert], list[Alert]]:
    """Make the unresolved alerts of `kind` (optionally only those matching `scope`, e.g. one charger) match
    the conditions present now: raise or touch each, resolve the rest. Returns (present, resolved)."""
    present = [_touch(store, c, now) for c in conditions if c.kind == kind]
    keep = {c.key for c in conditions if c.kind == kind}
    where = [AlertRow.kind == kind]
    for column, value in (scope or {}).items():
        where.append(getattr(AlertRow, column) == value)
    with store.session() as s:
        stale = [r.key for r in s.scalars(select(AlertRow).where(AlertRow.status.in_(UNRESOLVED), *where))
                 if r.key not in keep]
    resolved = _resolve_where(store, [AlertRow.key.in_(stale)], now=now, note="condition cleared") if stale else []
    return present, resolved


# ---------------------------------------------------------------- what people do


def _by_id(s, alert_id: int) -> AlertRow:
    row = s.get(AlertRow, alert_id)
    if row is None:
        raise NotFound("alert", alert_id)
    return row


def acknowledge(store: Store, alert_id: int, *, by: str, note: str = "", now: datetime) -> Alert:
    with store.session() as s:
        row = _by_id(s, alert_id)
        if row.status != OPEN:
            raise ValidationError("alert", f"alert {alert_id} is {row.status}, not open")
        row.status, row.acknowledged_by, row.acknowledged_at = ACKNOWLEDGED, by, now
        row.ack_note = (note or "").strip()[:500] or None
        alert = _alert(row)
    audit(store, by, "alert.acknowledge", target=f"alert:{alert_id}", detail=_ctx(alert, note=note), now=now)
    return alert


def resolve(store: Store, alert_id: int, *, by: str, note: str, now: datetime) -> Alert:
    if not (note or "").strip():
        raise ValidationError("note", "say how it was resolved")
    with store.session() as s:
        row = _by_id(s, alert_id)
        if row.status == RESOLVED:
            raise ValidationError("alert", f"alert {alert_id} is resolved already")
        row.status, row.resolved_by, row.resolved_at, row.resolve_note = RESOLVED, by, now, note.strip()[:500]
        alert = _alert(row)
    audit(store, by, "alert.resolve", target=f"alert:{alert_id}", detail=_ctx(alert, note=note), now=now)
    return alert


def assign(store: Store, alert_id: int, assignee: str | None, *, by: str, now: datetime) -> Alert:
    with store.session() as s:
        row = _by_id(s, alert_id)
        row.assignee = (assignee or "").strip()[:64] or None
        alert = _alert(row)
    audit(store, by, "alert.assign", target=f"alert:{alert_id}", detail=_ctx(alert, assignee=alert.assignee), now=now)
    return alert


def _ctx(alert: Alert, **extra) -> dict:
    return {"kind": alert.kind, "charger": alert.charger_id, "vehicle": alert.vehicle_id, **extra}


# ---------------------------------------------------------------- reading


def get_alert(store: Store, alert_id: int) -> Alert:
    with store.session() as s:
        return _alert(_by_id(s, alert_id))


def list_alerts(store: Store, *, status: str | None = "active", severity: str | None = None, kind: str | None = None,
                charger_id: str | None = None, limit: int = 500) -> list[Alert]:
    """`status`: "active" (open or acknowledged), one status, or None for all. Most severe and newest first."""
    with store.session() as s:
        q = select(AlertRow)
        if status == "active":
            q = q.where(AlertRow.status.in_(UNRESOLVED))
        elif status:
            q = q.where(AlertRow.status == status)
        if severity:
            q = q.where(AlertRow.severity == severity)
        if kind:
            q = q.where(AlertRow.kind == kind)
        if charger_id:
            q = q.where(AlertRow.charger_id == charger_id)
        rows = [_alert(r) for r in s.scalars(q.order_by(AlertRow.last_seen.desc()).limit(limit))]
    order = {OPEN: 0, ACKNOWLEDGED: 1, RESOLVED: 2}
    return sorted(rows, key=lambda a: (order.get(a.status, 3), -RANK.get(a.severity, 0)))


def counts(store: Store) -> dict[str, dict[str, int]]:
    """{"open": {severity: n}, "acknowledged": {severity: n}} over unresolved alerts (the header badge)."""
    out: dict[str, dict[str, int]] = {OPEN: {}, ACKNOWLEDGED: {}}
    with store.session() as s:
        for status, severity, n in s.execute(select(AlertRow.status, AlertRow.severity, func.count())
                                             .where(AlertRow.status.in_(UNRESOLVED))
                                             .group_by(AlertRow.status, AlertRow.severity)):
            out[status][severity] = n
    return out


def to_notify(store: Store) -> list[Alert]:
    """Unresolved alerts that are new or more severe than what was last sent."""
    with store.session() as s:
        rows = s.scalars(select(AlertRow).where(AlertRow.status.in_(UNRESOLVED)).order_by(AlertRow.id))
        return [_alert(r) for r in rows if RANK.get(r.severity, 0) > RANK.get(r.notified_severity or "", 0)]


def mark_notified(store: Store, alert_id: int, severity: str) -> None:
    with store.session() as s:
        _by_id(s, alert_id).notified_severity = severity


def enforcement_health(store: Store) -> list[tuple[str, str, str | None]] | None:
    """(charger, state, detail) from the enforcement engine's health table, None without that engine."""
    try:
        from depot import enforcement_store
    except ImportError:
        return None
    return [(h.charger_id, h.state, h.detail) for h in enforcement_store.health(store).values()]


def _dumps(detail: dict | None) -> str:
    return json.dumps(detail or {}, separators=(",", ":"), default=str)


# ---------------------------------------------------------------- the runtime hooks


def install(runtime) -> AlertWatcher:
    """Called once by `Runtime._add_jobs`: event listener, sweep and notification jobs, maintenance windows."""
    from depot import maintenance

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
        elif kind == "offline":
            raise_alert(self.store, rules.CHARGER_OFFLINE, charger_id=cid, message=f"{cid}: missed heartbeats",
                        now=now)
        elif kind in ("online", "connected", "boot"):
            clear_alert(self.store, rules.CHARGER_OFFLINE, charger_id=cid, now=now, note=f"charger {kind}")
        elif kind == "plan":
            last = getattr(getattr(self.runtime, "replanner", None), "last", None)
            if last is not None:
                reconcile(self.store, rules.DEPARTURE_AT_RISK, rules.readiness_conditions(last.readiness), now=now)

    # ------------------------------------------------------------ the sweep

    async def sweep_job(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.sweep)
        except Exception:  # noqa: BLE001 - the outermost frame of a job: log with context, keep running
            log.exception("alert sweep failed")

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """Compare the store with the open alerts; returns the number of conditions present per kind."""
        from depot.maintenance import chargers_in_maintenance

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
        for kind, conditions in found.items():
            if kind == rules.CHARGER_FAULT:  # offline chargers keep their fault alerts until they speak again
                self._reconcile_faults(conditions, offline, now)
            else:
                reconcile(self.store, kind, conditions, now=now)
        return {k: len(v) for k, v in found.items()}

    def _reconcile_faults(self, conditions: list[Condition], skip: set[str], now: datetime) -> None:
        keep = {c.key for c in conditions}
        for c in conditions:
            _touch(self.store, c, now)
        with self.store.session() as s:
            stale = [r.key for r in s.scalars(select(AlertRow).where(
                AlertRow.status.in_(UNRESOLVED), AlertRow.kind == rules.CHARGER_FAULT))
                if r.key not in keep and r.charger_id not in skip]
        if stale:
            _resolve_where(self.store, [AlertRow.key.in_(stale)], now=now, note="connector no longer faulted")

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
        from depot import notify

        sent = 0
        channels = notify.configured(self.settings)
        for alert in to_notify(self.store):
            if channels:
                results = notify.send(self.settings, alert)
                sent += sum(1 for r in results if r.ok)
            mark_notified(self.store, alert.id, alert.severity)
        return sent
