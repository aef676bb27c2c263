"""Alerts: the alert table, its lifecycle, and the runtime hooks that raise and resolve alerts.

Lifecycle: open → acknowledged (by whom, when, note) → resolved (by the system when the condition clears,
or by a person with a note). An occurrence of a problem whose alert is still unresolved folds into it
(count + 1, last seen = now); after resolution the next occurrence opens a new alert.

Who raises what:
- the runtime listener (`install`): charger faults from StatusNotification (1.6 error and vendor codes) and
  2.0.1 Faulted; offline / back online; the planner's readiness on every new plan ("will miss", "at risk");
  impossible values a charger sent, quarantined by the central system (one data-quality alert per charger);
- the sweep job (every few seconds, off the loop thread): offline, faults, connectors stuck in Preparing /
  Finishing, charging without energy progress, site power near its limit, failed firmware updates, and
  2.0.1 NotifyEvent Problem reports (their techCode enriches the fault alert), re-planning that keeps failing
  (resolved at once by the next plan). The sweep compares the store's state with the open alerts and resolves
  what has cleared, so nothing depends on catching one event;
- other modules through `raise_alert` / `clear_alert` (the enforcement engine: profile rejected / not obeyed).

The rules themselves are pure (`depot.people.alert_rules`); the listener and jobs live in `depot.people.alert_watch`. Notifications (SMTP, webhook; `depot.people.notify`) go out
from a job for every alert that is new or has become more severe than what was last sent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from depot.errors import NotFound, ValidationError
from depot.people import alert_rules as rules
from depot.people.alert_rules import RANK, Condition, alert_key
from depot.people.users import audit
from depot.store import Store
from depot.store.tables_people import AlertRow

log = logging.getLogger(__name__)

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
UNRESOLVED = (OPEN, ACKNOWLEDGED)


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


def observe(store: Store, c: Condition, now: datetime) -> Alert:
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
    return resolve_where(store, [AlertRow.key == key], now=now, note=note)


def resolve_where(store: Store, where: list, *, now: datetime, note: str) -> list[Alert]:
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
    present = [observe(store, c, now) for c in conditions if c.kind == kind]
    keep = {c.key for c in conditions if c.kind == kind}
    where = [AlertRow.kind == kind]
    for column, value in (scope or {}).items():
        where.append(getattr(AlertRow, column) == value)
    with store.session() as s:
        stale = [r.key for r in s.scalars(select(AlertRow).where(AlertRow.status.in_(UNRESOLVED), *where))
                 if r.key not in keep]
    resolved = resolve_where(store, [AlertRow.key.in_(stale)], now=now, note="condition cleared") if stale else []
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


def _dumps(detail: dict | None) -> str:
    return json.dumps(detail or {}, separators=(",", ":"), default=str)
