"""PURE: why a departure was missed. One finder per cause, each returning the causes it found with their evidence.

No I/O, no clock. `Window` is one departure with what belongs to it (its sessions and the plans that knew it,
from `depot.planning.audit_facts`); `depot.planning.audit` builds it and calls the finders for a miss only.
The causes and their priority order are `CAUSES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from depot.planning.audit_facts import (
    LIMIT_SLOT,
    ChargerFacts,
    DayFacts,
    PlanEntry,
    PlanVersion,
    SessionFacts,
    commanded_kw,
    duration,
)
from depot.planning.departures import Departure

GRACE = timedelta(minutes=15)  # later than expected by more than this is late
MOVED = timedelta(minutes=10)  # a departure this much earlier than a plan knew it moved
LESS_SHARE, LESS_MIN = 0.8, timedelta(minutes=30)  # drawing under 80 % of the command for 30 min or more
SAMPLE_CAP = timedelta(minutes=15)  # a meter sample stands for at most this long

CAUSES = {
    "impossible": "impossible from the start",
    "not_planned": "never in a plan",
    "need_changed": "need changed after the plan",
    "arrived_late": "arrived late",
    "plugged_in_late": "plugged in late",
    "unplugged_early": "unplugged early",
    "charger_fault": "charger faulted",
    "charger_offline": "charger went offline",
    "site_limit": "site limit dropped",
    "took_less": "took less than commanded",
    "unexplained": "no cause found in the data",
}
"""Every cause by code, in priority order: what made the departure impossible or changed it first, then the
vehicle's lost time, the equipment, the site, and the vehicle's own draw."""
PRIORITY = {code: i for i, code in enumerate(CAUSES)}


@dataclass(frozen=True)
class Cause:
    code: str
    evidence: str

    @property
    def title(self) -> str:
        return CAUSES[self.code]


def hm(t: datetime) -> str:
    return f"{t.astimezone(UTC):%H:%M}"


def _kw(x: float) -> str:
    return f"{round(x, 1):g} kW"


@dataclass(frozen=True)
class Window:
    """One departure and what belongs to it: from `start` to the departure, its sessions and the plans that
    knew it (in the order they were made)."""

    dep: Departure
    start: datetime
    sessions: tuple[SessionFacts, ...]
    known: tuple[tuple[PlanVersion, PlanEntry], ...]
    facts: DayFacts

    @property
    def end(self) -> datetime:
        return self.dep.departure

    def plugged(self, s: SessionFacts) -> tuple[datetime, datetime]:
        """The part of a session inside the window."""
        return max(self.start, s.started_at), min(self.end, s.end(self.end))

    def delivered(self, until: datetime | None = None) -> float:
        """kWh delivered in the window by `until` (default: the departure)."""
        until = self.end if until is None else min(until, self.end)
        total = 0.0
        for s in self.sessions:
            lo, hi = self.plugged(s)
            total += s.energy_kwh(lo, min(until, hi))
        return total

    def asked(self, p: PlanVersion, e: PlanEntry) -> float:
        """The whole energy a plan was asked for: its need plus what the session running then had delivered
        (the planner asks only for the rest of the energy entered)."""
        if e.arrival is not None and e.arrival > p.start:
            return e.need_kwh
        running = [s for s in self.sessions if s.started_at <= p.created_at < s.end(self.end)]
        return e.need_kwh + sum(s.energy_kwh(s.started_at, p.created_at) for s in running)

    def planned(self, p: PlanVersion, e: PlanEntry) -> float:
        """What the plan expected by the departure: delivered when it was made, plus what it planned after."""
        step = timedelta(minutes=p.slot_minutes)
        ahead = 0.0
        for k, kw in enumerate(e.power_kw):
            lo, hi = max(p.start + k * step, p.created_at), min(p.start + (k + 1) * step, self.end)
            if hi > lo:
                ahead += kw * (hi - lo).total_seconds() / 3600.0
        return self.delivered(p.created_at) + ahead

    def in_force(self, t: datetime) -> PlanVersion | None:
        """The plan in force at `t`: the newest made by then."""
        return self.facts.in_force(t)


# ---------------------------------------------------------------- the finders, one per cause


def impossible(w: Window) -> list[Cause]:
    """More energy than the window allowed at the vehicle's power, or short in the first plan already; never
    planned while it was plugged in."""
    if not w.known:
        return [Cause("not_planned", f"no plan included {w.dep.vehicle_id} before it left at {hm(w.end)}")] \
            if w.sessions else []
    p, e = w.known[0]
    begin = max(p.created_at, e.arrival or p.created_at)
    hours = max(0.0, (w.end - begin).total_seconds() / 3600.0)  # the real departure: a plan's may be cut at its horizon
    most = e.max_kw * hours
    if e.need_kwh > most + 0.5:
        return [Cause("impossible", f"impossible: {e.need_kwh:.0f} kWh in {duration(w.end - begin)} at "
                                    f"{e.max_kw:g} kW max ({most:.0f} kWh at most)")]
    horizon = p.start + len(p.total_kw) * timedelta(minutes=p.slot_minutes)
    if e.planned_kwh < e.need_kwh - 0.5 and e.departure < horizon:
        return [Cause("impossible", f"the first plan that knew it (#{p.id}, {hm(p.created_at)}) could give only "
                                    f"{e.planned_kwh:.0f} of {e.need_kwh:.0f} kWh: the site could not serve everyone")]
    return []


def need_changed(w: Window) -> list[Cause]:
    """The need raised, or the departure moved earlier, after a plan had it (or after the last plan)."""
    out: list[Cause] = []
    prev: tuple[PlanVersion, PlanEntry, float] | None = None
    for p, e in w.known:
        asked = w.asked(p, e)
        if prev is not None:
            pp, pe, pa = prev
            if asked > pa + max(2.0, 0.05 * pa):
                out.append(Cause("need_changed", f"need raised from {pa:.0f} to {asked:.0f} kWh at {hm(p.created_at)} "
                                                 f"after the plan of {hm(pp.created_at)} (re-planned: {p.reason})"))
            if e.departure < pe.departure - MOVED:
                out.append(Cause("need_changed", f"departure moved from {hm(pe.departure)} to {hm(e.departure)} at "
                                                 f"{hm(p.created_at)} (re-planned: {p.reason})"))
        prev = (p, e, asked)
    if prev is not None:
        lp, le, la = prev
        typed = w.dep.energy_kwh
        if typed is not None and typed > la + max(2.0, 0.05 * la):
            out.append(Cause("need_changed", f"need raised to {typed:g} kWh after the last plan (#{lp.id}, "
                                             f"{hm(lp.created_at)}, made for {la:.0f} kWh): no plan saw it"))
        if w.end < le.departure - MOVED:
            out.append(Cause("need_changed", f"departure moved to {hm(w.end)} after the last plan (#{lp.id}, "
                                             f"{hm(lp.created_at)}, made for {hm(le.departure)}): no plan saw it"))
    return out[:3]


def arrival(w: Window) -> list[Cause]:
    """Arrived after the expected arrival; plugged in well after its id tag was seen; or never plugged in."""
    expected = w.dep.arrival if w.dep.arrival is not None else (w.known[0][1].arrival if w.known else None)
    tags = sorted((t, ch) for t, ch in w.facts.tags_seen.get(w.dep.vehicle_id, ()) if w.start <= t <= w.end)
    plugged = w.sessions[0].started_at if w.sessions else None
    if plugged is None:
        if tags:
            return [Cause("plugged_in_late", f"arrived {hm(tags[0][0])} (id tag seen at {tags[0][1]}), "
                                             f"never plugged in before {hm(w.end)}")]
        return [Cause("arrived_late", f"no charging session before its departure at {hm(w.end)}"
                                      + (f" (expected {hm(expected)})" if expected else ""))]
    out = []
    arrived = min(plugged, tags[0][0]) if tags else plugged
    if expected is not None and arrived > expected + GRACE:
        out.append(Cause("arrived_late", f"arrived {hm(arrived)}, expected {hm(expected)}"))
    if tags and plugged > tags[0][0] + GRACE:
        out.append(Cause("plugged_in_late", f"arrived {hm(tags[0][0])} (id tag seen at {tags[0][1]}), "
                                            f"plugged in {hm(plugged)}"))
    return out


def unplugged(w: Window) -> list[Cause]:
    """A session ended well before the departure, and the vehicle was not plugged in again soon."""
    out = []
    for i, s in enumerate(w.sessions):
        end = s.end(w.end)
        if end >= w.end - GRACE:
            continue
        nxt = w.sessions[i + 1] if i + 1 < len(w.sessions) else None
        why = f" (stop reason {s.stop_reason})" if s.stop_reason else ""
        if nxt is None:
            out.append(Cause("unplugged_early", f"unplugged {hm(end)} at {s.charger_id}, {duration(w.end - end)} "
                                                f"before its departure{why}"))
        elif nxt.started_at > end + GRACE:
            out.append(Cause("unplugged_early", f"unplugged {hm(end)} at {s.charger_id}{why}, plugged in again "
                                                f"{hm(nxt.started_at)}"))
    return out


def charger(w: Window, chargers: Mapping[str, ChargerFacts]) -> list[Cause]:
    """The charger of a session faulted or fell silent while the vehicle was on it (or the fault ended it)."""
    out: list[Cause] = []
    for s in w.sessions:
        facts = chargers.get(s.charger_id)
        if facts is None:
            continue
        lo, hi = w.plugged(s)
        for conn, span in facts.faults:
            seen = span.clip(lo, w.end)
            if conn in (0, s.connector_id) and seen is not None and span.start <= hi:
                out.append(Cause("charger_fault", f"charger {s.charger_id} {span.text} {hm(seen.start)}–{hm(seen.end)}"))
        for span in facts.silences:
            seen = span.clip(lo, w.end)
            if seen is not None and span.start <= hi + GRACE:
                out.append(Cause("charger_offline", f"charger {s.charger_id} offline {hm(seen.start)}–{hm(seen.end)} "
                                                    f"({span.text})"))
    return list({c.evidence: c for c in out}.values())


def site_limit(w: Window) -> list[Cause]:
    """While the vehicle was plugged in, the measured site limit (a 15-min slot's average) fell below the total
    the plan in force when the drop began had planned, from a slot where that plan had power for this vehicle,
    and for as long as it stayed below that plan's total or the limit it assumed."""
    limits = w.facts.limit_slots
    plugged = [w.plugged(s) for s in w.sessions]
    spans: list[tuple[datetime, datetime, float, float, str]] = []
    run: dict | None = None
    for k in sorted(t for t in limits if t + LIMIT_SLOT > w.start and t < w.end):
        limit, building = limits[k]
        at, k_end = max(k, w.start), min(k + LIMIT_SLOT, w.end)
        on = any(at < hi and k_end > lo for lo, hi in plugged)
        if run is not None and (not on or k != run["next"]):
            spans.append(_limit_span(w, run))
            run = None
        ref = run["plan"] if run else w.in_force(at)
        i = ref.slot(at) if ref is not None and on else None
        planned = ref.total_kw[i] if i is not None else 0.0
        entry = ref.vehicles.get(w.dep.vehicle_id) if ref is not None else None
        mine = entry is not None and i is not None and i < len(entry.power_kw) and entry.power_kw[i] > 0.1
        below = i is not None and limit < planned - max(1.0, 0.02 * planned)
        still = run is not None and i is not None and limit < ref.site_limit_kw[i] - 1.0  # below what the plan assumed
        if (below and (mine or run)) or still:
            if run is None:
                run = {"plan": ref, "start": max(at, min(lo for lo, _ in plugged)), "low": (limit, building, i),
                       "planned": planned}
            if limit < run["low"][0]:
                run["low"] = (limit, building, i)
            run.update(planned=max(run["planned"], planned), end=k_end, next=k + LIMIT_SLOT)
        elif run is not None:
            spans.append(_limit_span(w, run))
            run = None
    if run is not None:
        spans.append(_limit_span(w, run))
    return [Cause("site_limit", f"site limit {low:.0f} kW {hm(a)}–{hm(b)} vs {planned:.0f} kW planned ({why})")
            for a, b, low, planned, why in spans]


def _limit_span(w: Window, run: dict) -> tuple[datetime, datetime, float, float, str]:
    limit, building, slot = run["low"]
    assumed = max(0.0, w.facts.grid_kw - w.facts.margin_kw - run["plan"].site_limit_kw[slot])
    why = f"building load {building:.0f} kW" if building is not None and building > assumed + 1.0 else "grid connection"
    return run["start"], run["end"], limit, run["planned"], why


def took_less(w: Window, chargers: Mapping[str, ChargerFacts]) -> list[Cause]:
    """Meter power under 80 % of the profile in force (and 1 kW short) for 30 min or more, outside faults and
    silences and below 97 % SoC (a full battery tapers)."""
    time_short, drawn, commanded = timedelta(0), 0.0, 0.0
    first: datetime | None = None
    last: datetime | None = None
    for s in w.sessions:
        if not s.commands:
            continue
        lo, hi = w.plugged(s)
        facts = chargers.get(s.charger_id, ChargerFacts())
        down = [span for _, span in facts.faults] + list(facts.silences)
        samples = [m for m in s.samples if lo <= m.at <= hi and m.power_w is not None]
        sent = 0  # the commands sent by the sample's time (both in time order)
        for i, m in enumerate(samples):
            nxt = samples[i + 1].at if i + 1 < len(samples) else hi
            step = min(nxt, m.at + SAMPLE_CAP) - m.at
            while sent < len(s.commands) and s.commands[sent].at <= m.at:
                sent += 1
            cmd = commanded_kw(s.commands[sent - 1:sent], m.at) if sent else None
            kw = m.power_w / 1000.0
            if (cmd is None or cmd < 1.0 or kw >= cmd * LESS_SHARE or cmd - kw < 1.0
                    or (m.soc is not None and m.soc >= 97.0) or any(d.start <= m.at < d.end for d in down)):
                continue
            hours = step.total_seconds() / 3600.0
            time_short += step
            drawn, commanded = drawn + kw * hours, commanded + cmd * hours
            first, last = first or m.at, m.at + step
    if time_short < LESS_MIN or first is None or last is None:
        return []
    h = time_short.total_seconds() / 3600.0
    return [Cause("took_less", f"took {_kw(drawn / h)} while commanded {_kw(commanded / h)} for "
                               f"{duration(time_short)} ({hm(first)}–{hm(last)})")]
