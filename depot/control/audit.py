"""Plan versus actual, the shell: read one UTC day from the store and explain every departure of it.

`audit(store, day, now=, heartbeat_s=)` is what the /audit page and `depot audit` call. It reads (`gather`)
the day's departures (one-offs, and the weekly roster's occurrences that no one-off overrides), the plans made
in the 24 h before (each stored version with its problem JSON), the vehicles' sessions with their meter
samples and the charging profiles their connectors accepted, the id tags seen (Authorize) and the site
readings; the pure `depot.planning.audit` says which departures were missed; only for those departures'
chargers it then reads the status and message history (`gather_chargers`: faults, silences); and explains.

The roster is read as it is now (it keeps no history); the plans show what the planner was told then.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select

from depot.model import MeterSample
from depot.planning.audit import SAME_SHIFT, WINDOW, DayAudit, audit_day, chargers_to_check, day_bounds
from depot.planning.audit_facts import (
    ChargerFacts,
    Commanded,
    DayFacts,
    LimitReading,
    PlanVersion,
    SessionFacts,
    fault_spans,
    plan_version,
    profile_steps,
    silences,
)
from depot.planning.departures import Departure, RosterEntry
from depot.store import ChargerRow, EventRow, MeterSampleRow, PlanRow, Store, TransactionRow
from depot.store.enforcement import CommandRow, SiteReadingRow

PROFILE_REACH = timedelta(hours=8)  # a TxProfile sent this long before the window may still be in force
FAULT_LOOKBACK = timedelta(days=1)  # a fault reported this long before the window may still be open


def audit(store: Store, day: date, *, now: datetime, heartbeat_s: int = 60) -> DayAudit:
    """Every departure of `day` (UTC): needed, planned, delivered, ready or not, and the causes of each miss."""
    facts = gather(store, day)
    start, end = day_bounds(day)
    chargers = gather_chargers(store, chargers_to_check(facts, now=now), since=start - WINDOW,
                               until=min(end, now), heartbeat_s=heartbeat_s)
    return audit_day(facts, chargers, now=now)


# ---------------------------------------------------------------- departures of a day


def _occurrences(roster: Iterable[RosterEntry], start: datetime, end: datetime) -> list[Departure]:
    out = []
    for entry in roster:
        for back in (1, 0):  # the evening before may depart this morning
            day = (start - timedelta(days=back)).date()
            if day.weekday() == entry.weekday:
                occ = entry.occurrence(day)
                if start <= occ.departure < end:
                    out.append(occ)
    return out


def departures_of(store: Store, day: date) -> tuple[tuple[Departure, ...], tuple[Departure, ...]]:
    """(the day's departures, the day before's): one-offs, and roster occurrences for vehicles without a
    one-off departing within 12 h of them (a one-off overrides the roster for its shift)."""
    start, end = day_bounds(day)
    roster = store.roster()
    out = []
    for lo, hi in ((start, end), (start - timedelta(days=1), start)):
        one_offs = [d for d in store.departures(after=lo - timedelta(microseconds=1), until=hi) if d.departure < hi]
        rostered = [o for o in _occurrences(roster, lo, hi)
                    if not any(d.vehicle_id == o.vehicle_id and abs(d.departure - o.departure) <= SAME_SHIFT
                               for d in one_offs)]
        out.append(tuple(sorted(one_offs + rostered, key=lambda d: (d.departure, d.vehicle_id))))
    return out[0], out[1]


# ---------------------------------------------------------------- the day's facts


def gather(store: Store, day: date) -> DayFacts:
    """What the audit of `day` reads, except the chargers' histories."""
    start, end = day_bounds(day)
    since = start - WINDOW
    departures, earlier = departures_of(store, day)
    vehicles = {v.id: v for v in store.list_vehicles()}
    wanted = sorted({d.vehicle_id for d in departures})
    site = store.get_site()
    return DayFacts(day, departures, earlier, vehicles, _plans(store, since, end), _sessions(store, wanted, since, end),
                    _tags_seen(store, since, end), _readings(store, since, end), site.grid_kw, site.safety_margin_kw)


def _plans(store: Store, since: datetime, end: datetime) -> tuple[PlanVersion, ...]:
    """The plans made in [since, end), and the one in force at `since`."""
    with store.session() as s:
        rows = list(s.scalars(select(PlanRow).where(PlanRow.created_at >= since, PlanRow.created_at < end)
                              .order_by(PlanRow.created_at, PlanRow.id)))
        before = s.scalar(select(PlanRow).where(PlanRow.created_at < since).order_by(PlanRow.created_at.desc(),
                                                                                      PlanRow.id.desc()).limit(1))
        rows = ([before] if before is not None else []) + rows
        return tuple(plan_version(r.id, r.created_at, r.reason, json.loads(r.problem), json.loads(r.plan))
                     for r in rows)


def _sessions(store: Store, vehicle_ids: Sequence[str], since: datetime,
              end: datetime) -> dict[str, tuple[SessionFacts, ...]]:
    """The vehicles' sessions overlapping [since, end), with every meter sample up to `end` and the TxProfiles
    their connectors accepted."""
    if not vehicle_ids:
        return {}
    with store.session() as s:
        txs = list(s.scalars(select(TransactionRow).where(
            TransactionRow.vehicle_id.in_(vehicle_ids), TransactionRow.started_at < end,
            or_(TransactionRow.stopped_at.is_(None), TransactionRow.stopped_at > since))))
        samples: dict[int, list[MeterSample]] = {t.id: [] for t in txs}
        for tid, at, wh, w, a, soc in s.execute(select(
                MeterSampleRow.transaction_id, MeterSampleRow.at, MeterSampleRow.energy_wh, MeterSampleRow.power_w,
                MeterSampleRow.current_a, MeterSampleRow.soc).where(
                MeterSampleRow.transaction_id.in_(list(samples)), MeterSampleRow.at <= end).order_by(MeterSampleRow.at)):
            samples[tid].append(MeterSample(at, wh, w, a, soc))
        commands = list(s.scalars(select(CommandRow).where(
            CommandRow.charger_id.in_({t.charger_id for t in txs}), CommandRow.purpose == "TxProfile",
            CommandRow.status == "Accepted", CommandRow.at >= since - PROFILE_REACH, CommandRow.at <= end)
            .order_by(CommandRow.at, CommandRow.id)))
    out: dict[str, list[SessionFacts]] = {}
    for t in txs:
        mine = tuple(Commanded(c.at, c.connector_id, profile_steps(json.loads(c.payload), c.at)) for c in commands
                     if c.charger_id == t.charger_id and c.connector_id == t.connector_id
                     and c.at >= t.started_at - timedelta(minutes=1) and (t.stopped_at is None or c.at <= t.stopped_at))
        out.setdefault(t.vehicle_id, []).append(SessionFacts(
            t.id, t.charger_id, t.connector_id, t.started_at, t.stopped_at, t.stop_reason, t.meter_start_wh,
            t.meter_stop_wh, tuple(samples[t.id]), mine))
    return {vid: tuple(v) for vid, v in out.items()}


def _tag_of(payload: str) -> str | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    token = data.get("idTag") or data.get("idToken")
    return token.get("idToken") if isinstance(token, dict) else token


def _tags_seen(store: Store, since: datetime, end: datetime) -> dict[str, tuple[tuple[datetime, str], ...]]:
    """When and where each vehicle's id tag was presented (Authorize), by vehicle."""
    owner = {t.tag: t.vehicle_id for t in store.list_tags() if t.vehicle_id}
    out: dict[str, list[tuple[datetime, str]]] = {}
    with store.session() as s:
        for at, charger_id, payload in s.execute(select(EventRow.at, EventRow.charger_id, EventRow.payload).where(
                EventRow.action == "Authorize", EventRow.direction == "in", EventRow.kind == "call",
                EventRow.at >= since, EventRow.at <= end).order_by(EventRow.at)):
            vehicle = owner.get(_tag_of(payload) or "")
            if vehicle:
                out.setdefault(vehicle, []).append((at, charger_id))
    return {vid: tuple(v) for vid, v in out.items()}


def _readings(store: Store, since: datetime, end: datetime) -> tuple[LimitReading, ...]:
    """The site readings in [since, end] and the one in force at `since`, with the limit they gave."""
    with store.session() as s:
        rows = list(s.scalars(select(SiteReadingRow).where(SiteReadingRow.at >= since, SiteReadingRow.at <= end)
                              .order_by(SiteReadingRow.at, SiteReadingRow.id)))
        before = s.scalar(select(SiteReadingRow).where(SiteReadingRow.at < since)
                          .order_by(SiteReadingRow.at.desc()).limit(1))
    rows = ([before] if before is not None else []) + rows
    return tuple(LimitReading(r.at, r.site_limit_kw, r.building_kw, r.pv_kw) for r in rows if r.site_limit_kw is not None)


# ---------------------------------------------------------------- the chargers' histories


def gather_chargers(store: Store, charger_ids: Iterable[str], *, since: datetime, until: datetime,
                    heartbeat_s: int) -> dict[str, ChargerFacts]:
    """Per charger: its Faulted spans (StatusNotification, either version) and the spans it sent nothing for
    longer than twice its heartbeat (its own interval from boot, else `heartbeat_s`), in [since, until]."""
    out = {}
    with store.session() as s:
        for cid in sorted(set(charger_ids)):
            hb = s.scalar(select(ChargerRow.heartbeat_interval).where(ChargerRow.id == cid)) or heartbeat_s
            statuses = []
            for at, payload in s.execute(select(EventRow.at, EventRow.payload).where(
                    EventRow.charger_id == cid, EventRow.direction == "in", EventRow.kind == "call",
                    EventRow.action == "StatusNotification", EventRow.at >= since - FAULT_LOOKBACK,
                    EventRow.at <= until).order_by(EventRow.at, EventRow.id)):
                try:
                    statuses.append((at, json.loads(payload)))
                except ValueError:
                    continue
            inbound = (EventRow.charger_id == cid, EventRow.direction == "in")
            last_before = s.scalar(select(func.max(EventRow.at)).where(*inbound, EventRow.at < since))
            heard = list(s.scalars(select(EventRow.at).where(*inbound, EventRow.at >= since, EventRow.at <= until)
                                   .order_by(EventRow.at)))
            heard = ([last_before] if last_before is not None else []) + heard
            out[cid] = ChargerFacts(fault_spans(statuses, until=until),
                                    silences(heard, start=since, end=until, heartbeat_s=hb))
    return out
