"""Maintenance: tickets, maintenance windows, charger health and service history.

Tables (migration 0005): `tickets`, `ticket_notes`, `maintenance_windows`. Remote actions live in
`depot.ocpp.remote`; alerts in `depot.people.alerts`. Every change here is written to the audit log.

Maintenance windows: a charger set out of service from `start` to `end`. While a window is in force
(`chargers_in_maintenance`) the planner leaves the charger out (`depot.control.replan.snapshot`) and the alert sweep
does not call it offline or stuck. A runtime job (`install`) sends ChangeAvailability(Inoperative) for the
whole charger when a window starts (the charger then reports Unavailable, which the floor plan shows) and
ChangeAvailability(Operative) when it ends, retrying while the charger is unreachable, and asks for a
re-plan each time.

Charger health (uptime, fault counts, last errors, firmware, obedience) is `depot.control.health`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from depot.errors import ChargerError, NotFound, ValidationError
from depot.people.users import audit, audit_log
from depot.store import ChargerRow, Store
from depot.store.tables_people import TicketNoteRow, TicketRow, WindowRow

log = logging.getLogger(__name__)

TICKET_STATUSES = ("open", "in progress", "waiting for parts", "closed")
SCHEDULED, ACTIVE, DONE, CANCELLED = "scheduled", "active", "done", "cancelled"
WINDOWS_EVERY_S = 5.0  # real seconds between looks at the windows


@dataclass(frozen=True)
class Note:
    at: datetime
    author: str
    text: str


@dataclass(frozen=True)
class Ticket:
    id: int
    charger_id: str
    title: str
    status: str
    assignee: str | None
    alert_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Window:
    id: int
    charger_id: str
    start: datetime
    end: datetime
    reason: str
    state: str
    created_by: str
    created_at: datetime
    start_result: str | None = None
    end_result: str | None = None

    def in_force(self, now: datetime) -> bool:
        return self.state in (SCHEDULED, ACTIVE) and self.start <= now < self.end


def _ticket(r: TicketRow, notes=()) -> Ticket:
    return Ticket(r.id, r.charger_id, r.title, r.status, r.assignee, r.alert_id, r.created_by, r.created_at,
                  r.updated_at, tuple(Note(n.at, n.author, n.text) for n in notes))


def _window(r: WindowRow) -> Window:
    return Window(r.id, r.charger_id, r.start, r.end, r.reason, r.state, r.created_by, r.created_at, r.start_result,
                  r.end_result)


def _known_charger(s, charger_id: str) -> str:
    if not charger_id or s.get(ChargerRow, charger_id) is None:
        raise NotFound("charger", charger_id)
    return charger_id


# ---------------------------------------------------------------- tickets


def create_ticket(store: Store, charger_id: str, title: str, *, by: str, now: datetime, assignee: str | None = None,
                  note: str | None = None, alert_id: int | None = None) -> Ticket:
    title = (title or "").strip()
    if not title:
        raise ValidationError("title", "say what is wrong")
    with store.session() as s:
        _known_charger(s, charger_id)
        row = TicketRow(charger_id=charger_id, title=title[:200], status="open", assignee=(assignee or None),
                        alert_id=alert_id, created_by=by, created_at=now, updated_at=now)
        s.add(row)
        s.flush()
        notes = []
        if note and note.strip():
            n = TicketNoteRow(ticket_id=row.id, at=now, author=by, text=note.strip())
            s.add(n)
            notes.append(n)
        ticket = _ticket(row, notes)
    audit(store, by, "ticket.create", target=f"charger:{charger_id}",
          detail={"ticket": ticket.id, "title": title, "assignee": assignee}, now=now)
    return ticket


def update_ticket(store: Store, ticket_id: int, *, by: str, now: datetime, status: str | None = None,
                  assignee: str | None = None, note: str | None = None) -> Ticket:
    """Change status and/or assignee (an empty string unassigns) and/or add a note."""
    if status is not None and status not in TICKET_STATUSES:
        raise ValidationError("status", f"one of {', '.join(TICKET_STATUSES)}")
    changes: dict[str, Any] = {}
    with store.session() as s:
        row = s.get(TicketRow, ticket_id)
        if row is None:
            raise NotFound("ticket", ticket_id)
        if status is not None and status != row.status:
            changes["status"] = [row.status, status]
            row.status = status
        if assignee is not None and (assignee.strip() or None) != row.assignee:
            changes["assignee"] = [row.assignee, assignee.strip() or None]
            row.assignee = assignee.strip() or None
        if note and note.strip():
            s.add(TicketNoteRow(ticket_id=row.id, at=now, author=by, text=note.strip()))
            changes["note"] = note.strip()[:200]
        if not changes:
            raise ValidationError("ticket", "nothing to change: pick a status or assignee, or write a note")
        row.updated_at = now
        charger_id = row.charger_id
    audit(store, by, "ticket.update", target=f"charger:{charger_id}", detail={"ticket": ticket_id, **changes}, now=now)
    return get_ticket(store, ticket_id)


def get_ticket(store: Store, ticket_id: int) -> Ticket:
    with store.session() as s:
        row = s.get(TicketRow, ticket_id)
        if row is None:
            raise NotFound("ticket", ticket_id)
        notes = s.scalars(select(TicketNoteRow).where(TicketNoteRow.ticket_id == ticket_id).order_by(TicketNoteRow.id))
        return _ticket(row, list(notes))


def list_tickets(store: Store, *, charger_id: str | None = None, open_only: bool = False,
                 limit: int = 300) -> list[Ticket]:
    with store.session() as s:
        q = select(TicketRow)
        if charger_id:
            q = q.where(TicketRow.charger_id == charger_id)
        if open_only:
            q = q.where(TicketRow.status != "closed")
        rows = list(s.scalars(q.order_by(TicketRow.updated_at.desc()).limit(limit)))
        notes: dict[int, list] = {r.id: [] for r in rows}
        if rows:
            for n in s.scalars(select(TicketNoteRow).where(TicketNoteRow.ticket_id.in_(list(notes)))
                               .order_by(TicketNoteRow.id)):
                notes[n.ticket_id].append(n)
        return [_ticket(r, notes[r.id]) for r in rows]


# ---------------------------------------------------------------- maintenance windows


def add_window(store: Store, charger_id: str, start: datetime, end: datetime, reason: str, *, by: str,
               now: datetime) -> Window:
    if end <= start:
        raise ValidationError("end", "must be after the start")
    if end <= now:
        raise ValidationError("end", "is in the past")
    if end - start > timedelta(days=60):
        raise ValidationError("end", "a window is at most 60 days")
    with store.session() as s:
        _known_charger(s, charger_id)
        clash = s.scalar(select(WindowRow).where(WindowRow.charger_id == charger_id,
                                                 WindowRow.state.in_((SCHEDULED, ACTIVE)),
                                                 WindowRow.start < end, WindowRow.end > start).limit(1))
        if clash is not None:
            raise ValidationError("start", f"overlaps window {clash.id} ({clash.start:%d %b %H:%M}–{clash.end:%H:%M})")
        row = WindowRow(charger_id=charger_id, start=start, end=end, reason=(reason or "maintenance").strip()[:200],
                        state=SCHEDULED, created_by=by, created_at=now)
        s.add(row)
        s.flush()
        window = _window(row)
    audit(store, by, "window.add", target=f"charger:{charger_id}",
          detail={"window": window.id, "start": start.isoformat(), "end": end.isoformat(), "reason": window.reason},
          now=now)
    return window


def cancel_window(store: Store, window_id: int, *, by: str, now: datetime) -> Window:
    """Cancel a scheduled window, or end an active one now (the runtime job then sets the charger Operative)."""
    with store.session() as s:
        row = s.get(WindowRow, window_id)
        if row is None:
            raise NotFound("maintenance window", window_id)
        if row.state == SCHEDULED:
            row.state = CANCELLED
            row.end = min(row.end, max(row.start, now))
        elif row.state == ACTIVE:
            row.end = now  # the windows job sets the charger Operative and marks the window done
        else:
            raise ValidationError("window", f"window {window_id} is {row.state}")
        window = _window(row)
    audit(store, by, "window.cancel", target=f"charger:{window.charger_id}", detail={"window": window_id}, now=now)
    return window


def list_windows(store: Store, *, charger_id: str | None = None, current: bool = False, now: datetime | None = None,
                 limit: int = 200) -> list[Window]:
    with store.session() as s:
        q = select(WindowRow)
        if charger_id:
            q = q.where(WindowRow.charger_id == charger_id)
        if current:
            q = q.where(WindowRow.state.in_((SCHEDULED, ACTIVE)))
        return [_window(r) for r in s.scalars(q.order_by(WindowRow.start.desc()).limit(limit))]


def chargers_in_maintenance(store: Store, now: datetime) -> set[str]:
    """Chargers out of service now: the planner plans without them."""
    with store.session() as s:
        return set(s.scalars(select(WindowRow.charger_id).where(
            WindowRow.state.in_((SCHEDULED, ACTIVE)), WindowRow.start <= now, WindowRow.end > now)))


def _set_window(store: Store, window_id: int, **values) -> None:
    with store.session() as s:
        row = s.get(WindowRow, window_id)
        for k, v in values.items():
            setattr(row, k, v)


async def apply_windows(store: Store, central, now: datetime, *, on_change=None) -> list[tuple[int, str, str]]:
    """Start due windows (Inoperative) and end finished ones (Operative). Returns (window, step, result).
    A charger that cannot be reached keeps its window in the same state: the next run tries again."""
    with store.session() as s:
        starting = [_window(r) for r in s.scalars(select(WindowRow).where(
            WindowRow.state == SCHEDULED, WindowRow.start <= now))]
        ending = [_window(r) for r in s.scalars(select(WindowRow).where(
            WindowRow.state == ACTIVE, WindowRow.end <= now))]
    done = []
    for w in starting:
        if w.end <= now:  # over before it could start (the charger was away the whole time)
            _set_window(store, w.id, state=DONE, end_result=w.start_result or "never started")
            continue
        result = await _availability(central, w.charger_id, operative=False)
        if result.startswith("error"):
            _set_window(store, w.id, start_result=result)
        else:
            _set_window(store, w.id, state=ACTIVE, start_result=result)
        done.append((w.id, "start", result))
        audit(store, "system", "window.start", target=f"charger:{w.charger_id}", detail={"window": w.id},
              result=f"ChangeAvailability Inoperative: {result}", ok=not result.startswith("error"), now=now)
    for w in ending:
        result = await _availability(central, w.charger_id, operative=True)
        if result.startswith("error"):
            _set_window(store, w.id, end_result=result)
        else:
            _set_window(store, w.id, state=DONE, end_result=result)
        done.append((w.id, "end", result))
        audit(store, "system", "window.end", target=f"charger:{w.charger_id}", detail={"window": w.id},
              result=f"ChangeAvailability Operative: {result}", ok=not result.startswith("error"), now=now)
    if done and on_change is not None:
        on_change(", ".join(f"maintenance window {wid} {step}" for wid, step, _ in done))
    return done


async def _availability(central, charger_id: str, *, operative: bool) -> str:
    try:
        result = await central.change_availability(charger_id, 0, operative)
        return str(getattr(result, "status", "answered"))
    except ChargerError as exc:
        return f"error: {exc}"


def install(runtime) -> None:
    """The windows job on the runtime's scheduler (installed with the alert jobs, `depot.people.alert_watch.install`)."""

    async def windows_job() -> None:
        try:
            await apply_windows(runtime.store, runtime.central, runtime.clock(), on_change=runtime.request_replan)
        except Exception:  # noqa: BLE001 - the outermost frame of a job: log, run again next time
            log.exception("maintenance windows job failed")

    runtime.scheduler.add_job(windows_job, "interval", seconds=WINDOWS_EVERY_S, id="maintenance_windows",
                              max_instances=1, coalesce=True)


# ---------------------------------------------------------------- service history


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    who: str
    what: str
    result: str
    ok: bool = True


HISTORY_SECURITY_KINDS = ("charger", "rotation", "profile", "replaced")  # not every accepted handshake


def service_history(store: Store, charger_id: str, *, limit: int = 100) -> list[HistoryItem]:
    """Everything done to or about a charger: tickets and notes, windows, remote commands, and its security
    events (what the charger reported in SecurityEventNotification, password and profile changes over OCPP,
    replaced connections), newest first."""
    items = [HistoryItem(e.at, e.who, _describe(e.action, e.detail), e.result, e.ok)
             for e in audit_log(store, target=f"charger:{charger_id}", limit=limit)]
    for t in list_tickets(store, charger_id=charger_id, limit=limit):
        items += [HistoryItem(n.at, n.author, f"note on ticket #{t.id} {t.title!r}", n.text) for n in t.notes]
    items += [_security_item(e) for e in store.security_events(charger_id=charger_id, kinds=HISTORY_SECURITY_KINDS,
                                                               limit=limit)]
    return sorted(items, key=lambda i: i.at, reverse=True)[:limit]


def _security_item(e) -> HistoryItem:
    d = e.detail
    if e.kind == "charger":
        info = f": {d['tech_info']}" if d.get("tech_info") else ""
        return HistoryItem(e.at, "charger", f"security event {d.get('type', e.reason)}",
                           f"at {d.get('timestamp', '?')} (charger's clock){info}")
    what = {"rotation": "password rotation", "profile": "security profile change",
            "replaced": "connection replaced"}.get(e.kind, e.kind)
    step = f" ({d['step']})" if d.get("step") else ""
    return HistoryItem(e.at, str(d.get("by") or "system"), what + step, e.reason,
                       d.get("step") not in ("failed", "rejected"))


def _describe(action: str, detail: dict) -> str:
    params = {k: v for k, v in detail.items() if v not in (None, "")}
    text = action.replace("charger.", "").replace("_", " ")
    return f"{text} ({', '.join(f'{k} {v}' for k, v in params.items())})" if params else text


def quarantined(store: Store, charger_id: str, *, limit: int = 20):
    """The charger's latest quarantined values (impossible values it sent, kept for diagnosis; depot.ocpp.sanity),
    newest first: what its data-quality alert is about."""
    return store.quarantined(charger_id, limit=limit)
