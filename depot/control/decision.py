"""The enforcement pass's decide step, PURE: the active plan parsed, each session's connector state, the
target limits and the TxProfile every session gets.

No I/O, no clock: `now` is a parameter. depot.control.enforcement gathers the inputs from the store and
applies what comes out (depot.control.sending sends it).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from depot.control.allocation import Allocation, ConnectorState, allocate, quantize
from depot.control.profiles import Period, Target, periods_from_plan, tx_profile
from depot.model import Charger, ConnectorStatus, Protocol

Key = tuple[str, int]  # (charger id, connector id)


@dataclass
class Session:
    """What the enforcer needs of one running session."""

    key: Key
    charger: Charger
    transaction_id: int
    charger_tx_id: str | None
    plan_key: str
    status: ConnectorStatus
    power_kw: float | None
    sample_at: datetime | None  # the newest reading, or the session's start when none came yet


@dataclass(frozen=True)
class PlanTable:
    """The active plan, parsed: each vehicle's power per slot, priority and departure."""

    start: datetime
    slot_minutes: float
    vehicles: dict[str, tuple[list[float], int, datetime | None]]

    @classmethod
    def parse(cls, problem: dict, plan: dict) -> PlanTable:
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


@dataclass(frozen=True)
class Entry:
    """One session in a pass, with everything its TxProfile is built from."""

    session: Session
    state: ConnectorState
    planned: list[float] | None  # its power from the current slot on, scaled to the limit in force
    slot_start: datetime  # start of the current plan slot
    slot_minutes: float
    fallback_kw: float  # the safe share its profile falls back to past the horizon


Row = tuple[Session, ConnectorState, list[float] | None]  # a session, its connector, its plan from now on


@dataclass(frozen=True)
class Decision:
    """What a pass decided, before anything is sent."""

    states: list[ConnectorState]  # the connectors of trusted chargers' sessions: the ones limits go to
    entries: dict[Key, Entry]  # every session, untrusted ones too
    target: list[Allocation]  # the limit each of `states` should have now
    budget_kw: float  # the site limit less what the untrusted chargers may draw


def reserved_kw(sessions: Sequence[Session], untrusted: Collection[Key], commanded: Mapping[Key, float]) -> float:
    """An untrusted charger's draw is a load we cannot steer: it comes off the others' limit."""
    return sum(max(s.power_kw or 0.0, commanded.get(s.key, s.charger.max_kw)) for s in sessions if s.key in untrusted)


def connector_rows(sessions: Sequence[Session], table: PlanTable | None, *, commanded: Mapping[Key, float],
                   defaults: Mapping[str, float], sent: Mapping[Key, tuple[dict, datetime]],
                   now: datetime) -> tuple[list[ConnectorState], dict[Key, Row]]:
    """Each session's connector as allocation sees it: the plan's power now, the last reading, the limit in
    force (the accepted TxProfile's, else the charger's default) and since when."""
    every, rows = [], {}
    for s in sessions:
        planned, priority, departure = table.at(s.plan_key, now) if table else (None, 1, None)
        cap = s.charger.max_kw
        last = sent.get(s.key)
        state = ConnectorState(s.charger.id, s.key[1], s.charger.current_type, s.charger.phases, cap, 0.0,
                               s.power_kw, s.sample_at, priority, departure,
                               commanded.get(s.key, defaults.get(s.charger.id)),
                               last[1] if last else None)
        planned_kw = planned[0] if planned else 0.0
        # not in the plan now (no departure known, or not planned yet): it charges on the site's headroom
        state = replace(state, planned_kw=min(planned_kw, cap), scheduled=planned is not None)
        every.append(state)
        rows[s.key] = (s, state, planned)
    return every, rows


def decide(every: Sequence[ConnectorState], rows: Mapping[Key, Row], untrusted: Collection[Key], budget_kw: float,
           *, table: PlanTable | None, share_kw: float, now: datetime, stale_after: timedelta) -> Decision:
    """The target limits of the trusted sessions within `budget_kw`, and every session's profile inputs.
    `budget_kw` is math.inf when no site limit is set: every connector then gets its maximum, flat (no
    plan periods, so no later 0 A period either)."""
    states = [st for st in every if st.key not in untrusted]
    uncapped = math.isinf(budget_kw)
    # the plan's later slots, scaled so that all profiles together fit the limit in force now at every
    # future instant too (a plan made for a higher limit must not step up at the next slot boundary)
    scale = slot_scale([rows[st.key][2] for st in states], budget_kw)
    slot_start = table.slot_start(now) if table else now
    slot_minutes = table.slot_minutes if table else 15.0
    target = allocate(states, budget_kw, now=now, stale_after=stale_after)
    ahead = {} if uncapped else headroom_ahead(states, rows, scale, target, budget_kw)
    entries = {key: Entry(s, st, None if uncapped else ahead.get(key, scaled(planned, scale, st.max_kw)), slot_start,
                          slot_minutes, quantize(st, min(st.max_kw, share_kw))[0])
               for key, (s, st, planned) in rows.items()}
    return Decision(states, entries, target, budget_kw)


def headroom_ahead(states: Sequence[ConnectorState], rows: Mapping[Key, Row], scale: list[float],
                   target: Sequence[Allocation], budget_kw: float) -> dict[Key, list[float]]:
    """The unscheduled sessions' profile per coming slot: their limit now, and in each later slot no more than
    their part (in proportion to now) of what the scheduled sessions' plan leaves free then, so that when
    the planned vehicles step up at a slot boundary the site limit still holds before the next pass."""
    unscheduled = {st.key for st in states if not st.scheduled}
    now_kw = {a.key: a.limit_kw for a in target if a.key in unscheduled}
    total = sum(now_kw.values())
    if total <= 0:
        return {}
    planned = [scaled(rows[st.key][2], scale, st.max_kw) for st in states if st.scheduled]
    width = max((len(p) for p in planned if p), default=0)
    free = [max(0.0, budget_kw - sum(p[k] for p in planned if p and k < len(p))) for k in range(1, width)]
    return {key: [kw] + [min(kw, f * kw / total) for f in free] for key, kw in now_kw.items()}


def scaled(planned: list[float] | None, scale: list[float], cap: float) -> list[float] | None:
    if not planned:
        return planned
    return [min(p * (scale[i] if i < len(scale) else 1.0), cap) for i, p in enumerate(planned)]


def slot_scale(planned: list[list[float] | None], budget_kw: float) -> list[float]:
    """Per future slot, the factor that brings the planned total down to `budget_kw` (1 where it fits)."""
    width = max((len(p) for p in planned if p), default=0)
    totals = [sum(p[k] for p in planned if p and k < len(p)) for k in range(width)]
    return [min(1.0, budget_kw / t) if t > budget_kw > 0 else (0.0 if t > 0 and budget_kw <= 0 else 1.0)
            for t in totals]


# ---------------------------------------------------------------- the TxProfile of a session


def target_of(charger: Charger) -> Target:
    """What a charger's profiles are written for: its protocol, current type, phases, unit and periods."""
    return Target(charger.protocol or Protocol.OCPP16, charger.current_type, charger.phases,
                  charger.capabilities.rate_unit, charger.capabilities.max_periods)


def profile_periods(entry: Entry, alloc: Allocation, *, now: datetime, hours: float) -> list[Period]:
    """The limit now, then the plan's later slots for `hours`, then the safe share."""
    if not entry.planned:
        return [Period(0, alloc.limit_kw)]
    periods = periods_from_plan(entry.planned, plan_start=entry.slot_start, slot_minutes=entry.slot_minutes,
                                now=now, first_kw=alloc.limit_kw, hours=hours)
    # past its horizon the profile falls back to the safe share: if we are gone by then, the limit holds
    end = int(hours * 3600)
    if periods[-1].start_s < end and entry.fallback_kw < periods[-1].limit_kw:
        periods.append(Period(end, entry.fallback_kw))
    return periods


def tx_payload(entry: Entry, alloc: Allocation, *, now: datetime, hours: float) -> dict:
    """The SetChargingProfile payload of a session's TxProfile."""
    session = entry.session
    tx_id = session.transaction_id if session.charger.protocol == Protocol.OCPP16 else session.charger_tx_id
    return tx_profile(target_of(session.charger), session.key[1], tx_id,
                      profile_periods(entry, alloc, now=now, hours=hours), now=now)
