"""PURE: plan versus actual. For every departure of a day: the energy needed, planned and delivered, ready or
not, and for each miss the causes found in the data, in priority order, each with its evidence.

No I/O and no clock (`now=` says which departures are still to come); the shell `depot.control.audit` reads
the store into `DayFacts` and `ChargerFacts` (depot.planning.audit_facts). For one departure:

- its window: from 24 h before it (or the vehicle's previous departure, if later) to the departure;
- needed: the energy entered, else (a target SoC) what the last plan before the departure asked for;
- planned: what a plan expected the vehicle to have by its departure (energy delivered in the window when the
  plan was made, plus what it planned from then on), in the first plan that knew the departure (same vehicle,
  departing within 12 h of it) and in the last one made before it;
- delivered: the meter registers of the vehicle's sessions in the window; ready within 0.5 kWh (or 1 %), or
  at the target SoC.

The causes of a miss and their order are in depot.planning.audit_causes (`CAUSES`); the CSV is `to_csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from depot.errors import ValidationError
from depot.planning import audit_causes as find
from depot.planning.audit_causes import PRIORITY, Cause, Window
from depot.planning.audit_facts import ChargerFacts, DayFacts
from depot.planning.departures import Departure
from depot.text import count

WINDOW = timedelta(hours=24)
SAME_SHIFT = timedelta(hours=12)  # a plan's entry for the vehicle departing this close is this departure


@dataclass(frozen=True)
class DepartureAudit:
    vehicle_id: str
    departure: datetime
    source: str  # "one-off" or "roster"
    status: str  # "ready", "missed" or "to come"
    needed_kwh: float
    delivered_kwh: float
    planned_first_kwh: float | None = None
    planned_last_kwh: float | None = None
    first_plan_id: int | None = None
    last_plan_id: int | None = None
    expected_arrival: datetime | None = None
    plugged_in: datetime | None = None
    chargers: tuple[str, ...] = ()
    causes: tuple[Cause, ...] = ()

    @property
    def ready(self) -> bool:
        return self.status == "ready"


@dataclass(frozen=True)
class DayAudit:
    day: date
    departures: tuple[DepartureAudit, ...]

    def count(self, status: str) -> int:
        return sum(1 for d in self.departures if d.status == status)

    def summary(self) -> str:
        n = len(self.departures)
        parts = [count(n, 'departure'), f"{self.count('ready')} ready", f"{self.count('missed')} missed"]
        if self.count("to come"):
            parts.append(f"{self.count('to come')} still to come")
        return ", ".join(parts)


def parse_day(text: str, field: str = "date") -> date:
    """A YYYY-MM-DD day, or ValidationError naming the field."""
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a day (use YYYY-MM-DD)") from None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


# ---------------------------------------------------------------- one departure


def window(dep: Departure, facts: DayFacts) -> Window:
    """The departure with its window, sessions and the plans that knew it."""
    earlier = [d.departure for d in (*facts.earlier, *facts.departures)
               if d.vehicle_id == dep.vehicle_id and d.departure < dep.departure]
    start = max([dep.departure - WINDOW, *earlier])
    sessions = tuple(sorted((s for s in facts.sessions.get(dep.vehicle_id, ())
                             if s.started_at < dep.departure and s.end(dep.departure) > start),
                            key=lambda s: s.started_at))
    known = tuple((p, e) for p in facts.plans if start <= p.created_at < dep.departure
                  and (e := p.vehicles.get(dep.vehicle_id)) is not None
                  and abs(e.departure - dep.departure) <= SAME_SHIFT)
    return Window(dep, start, sessions, known, facts)


def _needed(w: Window) -> float:
    dep = w.dep
    if dep.energy_kwh is not None:
        return dep.energy_kwh
    if w.known:
        return w.asked(*w.known[-1])
    vehicle = w.facts.vehicles.get(dep.vehicle_id)
    socs = [m.soc for s in w.sessions for m in s.samples if m.soc is not None and m.at >= w.start]
    return dep.energy_needed(vehicle.battery_kwh, socs[0] if socs else None) if vehicle else 0.0


def _final_soc(w: Window) -> float | None:
    socs = [(m.at, m.soc) for s in w.sessions for m in s.samples if m.soc is not None and m.at <= w.end]
    return max(socs)[1] if socs else None


def outcome(w: Window, *, now: datetime) -> tuple[float, float, str]:
    """(needed, delivered, status): "to come" before the departure, else "ready" or "missed"."""
    dep = w.dep
    needed, delivered = _needed(w), w.delivered()
    soc = _final_soc(w)
    ready = needed - delivered <= max(0.5, 0.01 * needed) or (
        dep.target_soc is not None and soc is not None and soc >= dep.target_soc - 0.5)
    return needed, delivered, "to come" if dep.departure > now else "ready" if ready else "missed"


def audit_departure(dep: Departure, facts: DayFacts, chargers: Mapping[str, ChargerFacts], *,
                    now: datetime) -> DepartureAudit:
    w = window(dep, facts)
    needed, delivered, status = outcome(w, now=now)
    first, last = (w.known[0], w.known[-1]) if w.known else (None, None)
    return DepartureAudit(
        dep.vehicle_id, dep.departure, "roster" if dep.roster else "one-off", status, needed, delivered,
        w.planned(*first) if first else None, w.planned(*last) if last else None,
        first[0].id if first else None, last[0].id if last else None,
        dep.arrival if dep.arrival is not None else (first[1].arrival if first else None),
        w.sessions[0].started_at if w.sessions else None,
        tuple(dict.fromkeys(s.charger_id for s in w.sessions)),
        causes(w, chargers, needed, delivered) if status == "missed" else ())


def causes(w: Window, chargers: Mapping[str, ChargerFacts], needed: float, delivered: float) -> tuple[Cause, ...]:
    """Every cause found for a miss, in priority order; "no cause found" when there is none."""
    found = [*find.impossible(w), *find.need_changed(w), *find.arrival(w), *find.unplugged(w),
             *find.charger(w, chargers), *find.site_limit(w), *find.took_less(w, chargers)]
    if not found:
        found = [Cause("unexplained", f"delivered {delivered:.0f} of {needed:.0f} kWh; no late arrival, fault, "
                                      "site-limit drop or short plan in the data")]
    return tuple(sorted(found, key=lambda c: PRIORITY[c.code]))


# ---------------------------------------------------------------- the day


def chargers_to_check(facts: DayFacts, *, now: datetime) -> set[str]:
    """The chargers whose history the causes need: those of the sessions of departures that were missed."""
    out: set[str] = set()
    for dep in facts.departures:
        w = window(dep, facts)
        if outcome(w, now=now)[2] == "missed":
            out.update(s.charger_id for s in w.sessions)
    return out


def audit_day(facts: DayFacts, chargers: Mapping[str, ChargerFacts], *, now: datetime) -> DayAudit:
    """Every departure of the day, in departure order."""
    rows = [audit_departure(d, facts, chargers, now=now) for d in facts.departures]
    return DayAudit(facts.day, tuple(sorted(rows, key=lambda a: (a.departure, a.vehicle_id))))


# ---------------------------------------------------------------- CSV

CSV_COLUMNS = ["vehicle", "departure", "source", "result", "needed_kwh", "planned_first_kwh", "first_plan",
               "planned_last_kwh", "last_plan", "delivered_kwh", "expected_arrival", "plugged_in", "chargers",
               "causes", "evidence"]


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.1f}"


def _iso(t: datetime | None) -> str:
    return "" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def csv_rows(audit: DayAudit) -> list[list[str]]:
    rows = []
    for a in audit.departures:
        rows.append([a.vehicle_id, _iso(a.departure), a.source, a.status, _num(a.needed_kwh), _num(a.planned_first_kwh),
                     "" if a.first_plan_id is None else str(a.first_plan_id), _num(a.planned_last_kwh),
                     "" if a.last_plan_id is None else str(a.last_plan_id), _num(a.delivered_kwh),
                     _iso(a.expected_arrival), _iso(a.plugged_in), " ".join(a.chargers),
                     "; ".join(dict.fromkeys(c.title for c in a.causes)), "; ".join(c.evidence for c in a.causes)])
    return rows


def to_csv(audit: DayAudit, rows: Sequence[Sequence[str]] | None = None) -> str:
    """One line per departure (times UTC); the causes and their evidence joined with "; "."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    w.writerows(csv_rows(audit) if rows is None else rows)
    return buf.getvalue()


# ---------------------------------------------------------------- text (the `depot audit` command)

TEXT_HEADER = ["vehicle", "departs", "source", "result", "needed kWh", "planned first", "planned last", "delivered kWh"]


def _planned(kwh: float | None, plan_id: int | None) -> str:
    return "-" if kwh is None else f"{kwh:.1f} (#{plan_id})"


def text_lines(audit: DayAudit) -> list[str]:
    """A table of the day's departures, then each miss with its causes and evidence, in priority order."""
    head = f"Plan vs actual, {audit.day:%a %Y-%m-%d} (UTC): {audit.summary()}"
    if not audit.departures:
        return [head, "(no departures entered for this day)"]
    rows = [[a.vehicle_id, f"{a.departure:%H:%M}", a.source, a.status, f"{a.needed_kwh:.1f}",
             _planned(a.planned_first_kwh, a.first_plan_id), _planned(a.planned_last_kwh, a.last_plan_id),
             f"{a.delivered_kwh:.1f}"] for a in audit.departures]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(TEXT_HEADER)]
    lines = [head, "", "  ".join(h.ljust(w) for h, w in zip(TEXT_HEADER, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    missed = [a for a in audit.departures if a.status == "missed"]
    if missed:
        lines += ["", "Why:"]
        for a in missed:
            lines.append(f"{a.vehicle_id} {a.departure:%H:%M}: {a.delivered_kwh:.1f} of {a.needed_kwh:.1f} kWh")
            lines += [f"  {i}. {c.title}: {c.evidence}" for i, c in enumerate(a.causes, 1)]
    return lines
