"""PURE: what a plan-versus-actual audit reads, as values, and the small parsers that make them.

No I/O and no clock: the shell (`depot.control.audit`) reads the store into these; `depot.planning.audit`
explains each departure from them. The parsers turn stored JSON into values: a stored plan (the problem and
plan JSON of docs/planning-format.md) into a `PlanVersion`, a charging profile sent into the power it
commanded over time, StatusNotification payloads (OCPP 1.6 and 2.0.1) into fault spans, and the times a
charger was heard from into the spans it was silent (offline: nothing for twice its heartbeat).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property

from depot.model import MeterSample, Vehicle
from depot.planning.departures import Departure

VOLTS = 230.0  # a profile in amps per phase becomes kW at the nominal voltage
LIMIT_SLOT = timedelta(minutes=15)  # site readings are compared with the plans slot by slot


def duration(td: timedelta) -> str:
    """"3 h", "1 h 30 min", "45 min"."""
    minutes = int(round(td.total_seconds() / 60))
    h, m = divmod(minutes, 60)
    return f"{h} h {m} min" if h and m else f"{h} h" if h else f"{m} min"


@dataclass(frozen=True)
class Span:
    """A stretch of time and what happened in it ("Faulted (GroundFailure)")."""

    start: datetime
    end: datetime
    text: str = ""

    def clip(self, start: datetime, end: datetime) -> Span | None:
        a, b = max(self.start, start), min(self.end, end)
        return Span(a, b, self.text) if b > a else None


@dataclass(frozen=True)
class PlanEntry:
    """One vehicle in one stored plan: what the plan was told and what it planned."""

    departure: datetime
    arrival: datetime | None  # None: plugged in when the plan was made
    need_kwh: float  # energy still to deliver from the plan's start
    max_kw: float
    planned_kwh: float
    power_kw: tuple[float, ...]


@dataclass(frozen=True)
class PlanVersion:
    """A stored plan, reduced to what the audit compares: per slot the site limit it assumed and the total it
    planned, and per vehicle its entry."""

    id: int
    created_at: datetime
    reason: str
    start: datetime
    slot_minutes: int
    site_limit_kw: tuple[float, ...]
    total_kw: tuple[float, ...]
    vehicles: Mapping[str, PlanEntry] = field(default_factory=dict)

    def slot(self, t: datetime) -> int | None:
        """The slot `t` lies in, or None outside the plan's horizon."""
        k = int((t - self.start) // timedelta(minutes=self.slot_minutes))
        return k if 0 <= k < len(self.total_kw) else None


def _per_slot(value: object, slots: int) -> tuple[float, ...]:
    if isinstance(value, list | tuple):
        return tuple(float(v) for v in value)
    return (float(value or 0.0),) * slots


def plan_version(plan_id: int, created_at: datetime, reason: str, problem: dict, plan: dict) -> PlanVersion:
    """A stored plan's problem and plan JSON (docs/planning-format.md) as a `PlanVersion`."""
    slots = int(problem.get("slots", 0))
    planned = {v["id"]: v for v in plan.get("vehicles", ())}
    total = [0.0] * slots
    vehicles: dict[str, PlanEntry] = {}
    for need in problem.get("vehicles", ()):
        vp = planned.get(need["id"], {})
        power = tuple(float(p) for p in vp.get("power_kw", ()))
        for k, p in enumerate(power[:slots]):
            total[k] += p
        arrival = need.get("arrival")
        vehicles[need["id"]] = PlanEntry(datetime.fromisoformat(need["departure"]),
                                         datetime.fromisoformat(arrival) if arrival else None,
                                         float(need.get("energy_kwh", 0.0)), float(need.get("max_kw", 0.0)),
                                         float(vp.get("energy_kwh", 0.0)), power)
    return PlanVersion(plan_id, created_at, reason, datetime.fromisoformat(problem["start"]),
                       int(problem.get("slot_minutes", 15)), _per_slot(problem.get("site_limit_kw"), slots),
                       tuple(total), vehicles)


@dataclass(frozen=True)
class Commanded:
    """An accepted charging profile: from `at` on, the power it allowed, as (from, kW) steps."""

    at: datetime
    connector_id: int
    steps: tuple[tuple[datetime, float], ...]


def profile_steps(payload: dict, sent_at: datetime, *, volts: float = VOLTS) -> tuple[tuple[datetime, float], ...]:
    """The (from, kW) steps a SetChargingProfile payload (1.6 or 2.0.1, amps per phase or watts) commands."""
    sched = payload.get("chargingSchedule") or {}
    sched = (sched[0] if sched else {}) if isinstance(sched, list) else sched
    start = sched.get("startSchedule")
    origin = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else sent_at
    unit = sched.get("chargingRateUnit", "W")
    out = []
    for p in sched.get("chargingSchedulePeriod") or ():
        limit = float(p.get("limit", 0.0))
        kw = limit * int(p.get("numberPhases") or 3) * volts / 1000.0 if unit == "A" else limit / 1000.0
        out.append((origin + timedelta(seconds=int(p.get("startPeriod", 0))), kw))
    return tuple(out)


def commanded_kw(commands: Sequence[Commanded], t: datetime) -> float | None:
    """What the newest profile sent by `t` allowed at `t` (None: no profile yet); `commands` in time order."""
    i = bisect_right([c.at for c in commands], t)
    if i == 0:
        return None
    current = commands[i - 1]
    kw = None
    for start, limit in current.steps:
        if start <= t:
            kw = limit
    return kw if kw is not None else (current.steps[0][1] if current.steps else None)


@dataclass(frozen=True)
class SessionFacts:
    """One charging session of a vehicle with its meter samples and the profiles its connector was sent."""

    id: int
    charger_id: str
    connector_id: int
    started_at: datetime
    stopped_at: datetime | None
    stop_reason: str | None
    meter_start_wh: float
    meter_stop_wh: float | None
    samples: tuple[MeterSample, ...] = ()  # in time order
    commands: tuple[Commanded, ...] = ()  # in time order

    @cached_property
    def _registers(self) -> tuple[list[datetime], list[float]]:
        """Sample times and the register by then (never going back: a register only counts up)."""
        times, values, value = [], [], self.meter_start_wh
        for s in self.samples:
            if s.energy_wh is not None:
                value = max(value, s.energy_wh)
            times.append(s.at)
            values.append(value)
        return times, values

    def register_wh(self, t: datetime) -> float:
        """The energy register at `t`: the newest reading by then (the start before the first one)."""
        if t <= self.started_at:
            return self.meter_start_wh
        if self.stopped_at is not None and t >= self.stopped_at and self.meter_stop_wh is not None:
            return self.meter_stop_wh
        times, values = self._registers
        i = bisect_right(times, t)
        return values[i - 1] if i else self.meter_start_wh

    def energy_kwh(self, since: datetime, until: datetime) -> float:
        """kWh delivered in [since, until]."""
        if until <= since:
            return 0.0
        return max(0.0, self.register_wh(until) - self.register_wh(since)) / 1000.0

    def end(self, default: datetime) -> datetime:
        return self.stopped_at if self.stopped_at is not None else default


@dataclass(frozen=True)
class ChargerFacts:
    """What one charger went through: fault spans per connector (0: the whole charger) and silent spans."""

    faults: tuple[tuple[int, Span], ...] = ()
    silences: tuple[Span, ...] = ()


def status_of(payload: dict) -> tuple[int, str | None, str | None]:
    """(connector, status, error code) of a StatusNotification payload of either version."""
    if "status" in payload:  # 1.6
        code = payload.get("errorCode")
        code = None if code in (None, "NoError") else code
        if payload.get("vendorErrorCode"):
            code = f"{code or 'vendor'} {payload['vendorErrorCode']}"
        return int(payload.get("connectorId") or 0), payload.get("status"), code
    return int(payload.get("evseId") or 0), payload.get("connectorStatus"), None


def fault_spans(statuses: Iterable[tuple[datetime, dict]], *, until: datetime) -> tuple[tuple[int, Span], ...]:
    """From StatusNotification payloads in time order: each connector's Faulted spans (a fault still open at
    `until` ends there)."""
    open_: dict[int, tuple[datetime, str]] = {}
    out: list[tuple[int, Span]] = []
    for at, payload in statuses:
        conn, status, code = status_of(payload)
        if status == "Faulted":
            open_.setdefault(conn, (at, f"Faulted ({code})" if code else "Faulted"))
        elif conn in open_:
            start, text = open_.pop(conn)
            out.append((conn, Span(start, at, text)))
    out += [(conn, Span(start, until, text)) for conn, (start, text) in open_.items() if until > start]
    return tuple(sorted(out, key=lambda cs: cs[1].start))


def silences(heard: Sequence[datetime], *, start: datetime, end: datetime,
             heartbeat_s: float) -> tuple[Span, ...]:
    """The spans in [start, end] a charger sent nothing for longer than twice its heartbeat (it counted as
    offline), from the sorted times it was heard (include the last one before `start`). Nothing heard at all:
    no evidence either way, no span."""
    if not heard:
        return ()
    limit = timedelta(seconds=2 * heartbeat_s)
    out = []
    points = [*heard, end] if heard[-1] < end else list(heard)
    for a, b in zip(points, points[1:], strict=False):
        if b - a > limit:
            gap = Span(a, b, f"no message for {duration(b - a)}").clip(start, end)
            if gap is not None:
                out.append(gap)
    return tuple(out)


@dataclass(frozen=True)
class LimitReading:
    """A site reading: the limit in force from `at`, and the building and PV behind it."""

    at: datetime
    limit_kw: float
    building_kw: float | None = None
    pv_kw: float | None = None


@dataclass(frozen=True)
class DayFacts:
    """Everything the audit of one UTC day reads, except the chargers' histories (`ChargerFacts`), which the
    shell reads only for the chargers of departures that were missed."""

    day: date
    departures: tuple[Departure, ...]  # the day's: one-offs and roster occurrences (`roster=True`)
    earlier: tuple[Departure, ...] = ()  # the day before's: where each vehicle's window begins
    vehicles: Mapping[str, Vehicle] = field(default_factory=dict)
    plans: tuple[PlanVersion, ...] = ()  # in the order they were made
    sessions: Mapping[str, tuple[SessionFacts, ...]] = field(default_factory=dict)  # by vehicle
    tags_seen: Mapping[str, tuple[tuple[datetime, str], ...]] = field(default_factory=dict)  # (when, charger)
    readings: tuple[LimitReading, ...] = ()  # in time order
    grid_kw: float = 0.0
    margin_kw: float = 0.0

    @cached_property
    def plan_times(self) -> list[datetime]:
        return [p.created_at for p in self.plans]

    def in_force(self, t: datetime) -> PlanVersion | None:
        """The plan in force at `t`: the newest made by then."""
        i = bisect_right(self.plan_times, t)
        return self.plans[i - 1] if i else None

    @cached_property
    def limit_slots(self) -> dict[datetime, tuple[float, float | None]]:
        """Per 15-min slot (by its start): the site limit the readings gave, averaged over the time each was in
        force (the last one for a slot at most), and the building load likewise (None: not measured)."""
        acc: dict[datetime, list[float]] = {}  # seconds, limit × s, building × s, seconds with a building value
        for i, r in enumerate(self.readings):
            end = self.readings[i + 1].at if i + 1 < len(self.readings) else r.at + LIMIT_SLOT
            t = r.at
            while t < end:
                k = t.replace(minute=t.minute // 15 * 15, second=0, microsecond=0)
                upto = min(end, k + LIMIT_SLOT)
                secs = (upto - t).total_seconds()
                a = acc.setdefault(k, [0.0, 0.0, 0.0, 0.0])
                a[0] += secs
                a[1] += r.limit_kw * secs
                if r.building_kw is not None:
                    a[2] += r.building_kw * secs
                    a[3] += secs
                t = upto
        return {k: (a[1] / a[0], a[2] / a[3] if a[3] else None) for k, a in acc.items() if a[0] > 0}
