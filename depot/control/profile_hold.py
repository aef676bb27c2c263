"""PURE: which charging profiles need not go out again, and which limits stay where they are.

No I/O, no clock (`now=` is a parameter). Used by the enforcer (depot.control.enforcement) between its
decide and apply steps:

- `limits_since`: what an accepted TxProfile limits its connector to at `now` (its schedule moves on by
  itself at the plan's slot boundaries: that is no change to send), and since when it has allowed that
  much (a reading from before a rise says nothing about unused power; one from before a cut still does);
- `steady_targets`: a limit that only follows a measurement stays put while the measurement wiggles: a
  connector drawing clearly less than its limit is not raised (it would not use it), and what a tapering
  vehicle leaves unused is taken back only in chunks of `TAKE_BACK_BAND_KW` — as far as the limits held
  still fit the budget;
- `hold`: a TxProfile goes to a charger only when, from now until the accepted profile's horizon, its limit
  in some period moves by at least one controllable step (`step_of`: 1 A per phase, 100 W, or the
  charger's own step) or its transaction changes; an accepted profile past half its horizon is renewed.
  Holding never breaks the site limit: at every period boundary ahead, the profiles held plus the ones
  sent must fit the budget, else the held one that exceeds its new schedule most is sent after all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from depot.control.allocation import HEADROOM_KW, Allocation, ConnectorState
from depot.control.decision import Decision, Entry, Key
from depot.model import NOMINAL_VOLTS, CurrentType

STEP_A = 1.0  # per phase
STEP_W = 100.0
TAKE_BACK_BAND_KW = HEADROOM_KW  # unused power is taken back in chunks at least this big
_TAKE_BACK = "draws "  # the reason allocation gives a limit cut to what the vehicle draws
NOT_RAISED = "draws less than its limit: not raised"
LIMIT_KEPT = "draws a little less: limit kept"
KEPT_REASONS = (NOT_RAISED, LIMIT_KEPT)


@dataclass(frozen=True)
class Schedule:
    """A profile's periods on the clock: (start, limit in its unit), its unit and phases."""

    start: datetime
    points: tuple[tuple[datetime, float], ...]
    unit: str
    phases: int
    transaction: str | None

    @classmethod
    def of(cls, payload: Mapping, default_phases: int = 3) -> Schedule:
        sched = payload["chargingSchedule"]
        sched = sched[0] if isinstance(sched, list) else sched
        start = datetime.fromisoformat(str(sched["startSchedule"]).replace("Z", "+00:00"))
        periods = sched["chargingSchedulePeriod"]
        phases = next((int(p["numberPhases"]) for p in periods if p.get("numberPhases")), default_phases)
        points = tuple((start + timedelta(seconds=p["startPeriod"]), float(p["limit"])) for p in periods)
        tx = payload.get("transactionId")
        return cls(start, points, sched["chargingRateUnit"], phases, None if tx is None else str(tx))

    def at(self, t: datetime) -> float:
        """The limit in force at `t` (its unit); the first period's before the schedule starts."""
        value = self.points[0][1] if self.points else 0.0
        for start, limit in self.points:
            if start <= t:
                value = limit
            else:
                break
        return value

    def kw(self, value: float) -> float:
        return value * self.phases * NOMINAL_VOLTS / 1000.0 if self.unit == "A" else value / 1000.0

    def kw_at(self, t: datetime) -> float:
        return self.kw(self.at(t))

    def kw_series(self, now: datetime, seconds: np.ndarray) -> np.ndarray:
        """kW in force at `now` + each of `seconds`."""
        starts = np.array([(t - now).total_seconds() for t, _ in self.points])
        values = np.array([self.kw(v) for _, v in self.points]) if self.points else np.zeros(1)
        idx = np.searchsorted(starts, seconds, side="right") - 1
        return values[np.maximum(idx, 0)]


def in_force_kw(payload: Mapping, now: datetime) -> float:
    """What the accepted profile `payload` limits its connector to at `now`, kW."""
    return Schedule.of(payload).kw_at(now)


def risen_at(payload: Mapping, sent_at: datetime, now: datetime) -> datetime:
    """Since when the accepted profile has allowed at least what it allows now: the start of the period it
    rose in (a slot boundary it passed by itself), or when it was sent. Only a reading taken since then can
    show power the vehicle leaves unused; one from before the rise was taken under a lower limit."""
    s = Schedule.of(payload)
    level, since = s.at(now), now
    for t, limit in reversed([p for p in s.points if p[0] <= now]):
        if limit < level - 1e-9:
            break
        since = t
    return max(since, sent_at)


def limits_since(sent: Mapping[Key, tuple[dict, datetime]], seen: Mapping[Key, float],
                 since: Mapping[Key, datetime], now: datetime) -> tuple[dict[Key, float], dict[Key, datetime]]:
    """Each accepted TxProfile's limit in force now (kW) and since when it has been at least that: moved on
    when the limit rose (a raise sent, or a slot boundary passed) since the last pass (`seen`), kept when it
    fell, because a reading taken under a higher limit still shows power the vehicle leaves unused; so a
    limit cut to what the vehicle draws is not raised back before a new reading, only to be cut again."""
    in_force, out = {}, {}
    for key, (payload, sent_at) in sent.items():
        kw = in_force_kw(payload, now)
        rose = key not in since or key not in seen or kw > seen[key] + 0.05
        out[key] = risen_at(payload, sent_at, now) if rose else since[key]
        in_force[key] = kw
    return in_force, out


def step_of(unit: str, phases: int, *, ac: bool, own_step: float | None = None) -> float:
    """The least change worth telling a charger, in the profile's unit."""
    if own_step:
        return own_step
    if unit == "A":
        return STEP_A
    return STEP_A * phases * NOMINAL_VOLTS if ac else STEP_W


def same_within_step(old: Schedule, new: Schedule, *, now: datetime, until: datetime, step: float) -> bool:
    """`new` says what `old` does from `now` to `until`, to within less than `step` in every period."""
    if old.unit != new.unit or old.transaction != new.transaction:
        return False
    times = sorted({now, *(t for t, _ in old.points if now < t < until), *(t for t, _ in new.points if now < t < until)})
    return all(abs(old.at(t) - new.at(t)) < step - 1e-9 for t in times)


def hold(old: Mapping[Key, Schedule], new: Mapping[Key, Schedule], steps: Mapping[Key, float], *, budget_kw: float,
         now: datetime, hours: float) -> set[Key]:
    """The connectors whose accepted profile (`old`) can stay instead of `new` (see the module docstring).
    `new` holds every connector a profile would go to; `old` those with an accepted one."""
    horizon = timedelta(hours=hours)
    held = {k for k, o in old.items() if k in new and now - o.start < horizon / 2
            and same_within_step(o, new[k], now=now, until=o.start + horizon, step=steps.get(k, STEP_W))}
    if not held or budget_kw == float("inf"):
        return held
    keys = sorted(new)
    times = sorted({now, *(t for s in (*old.values(), *new.values()) for t, _ in s.points if now < t < now + horizon)})
    grid = np.array([(t - now).total_seconds() for t in times])
    new_kw = np.array([new[k].kw_series(now, grid) for k in keys])  # (connectors, instants)
    excess = np.array([old[k].kw_series(now, grid) - new_kw[i] if k in held else np.zeros(len(grid))
                       for i, k in enumerate(keys)])
    is_held = np.array([k in held for k in keys])
    total = new_kw.sum(axis=0) + excess[is_held].sum(axis=0)
    for j in range(len(grid)):  # at each instant ahead, send the held ones that exceed most until it fits
        while total[j] > budget_kw + 1e-6:
            worst = int(np.argmax(np.where(is_held, excess[:, j], -np.inf)))
            if not is_held[worst] or excess[worst, j] <= 1e-9:
                break  # the new profiles alone do not fit here: nothing held is to blame
            is_held[worst] = False
            total -= excess[worst]
    return {k for k, h in zip(keys, is_held, strict=True) if h}


def steady_targets(states: Sequence[ConnectorState], target: Sequence[Allocation], budget_kw: float) -> list[Allocation]:
    """The allocation with measurement-driven changes damped (see the module docstring); every limit kept
    lower is safe, every one kept higher only while the total fits `budget_kw`."""
    by_key = {s.key: s for s in states}
    out = list(target)
    keep_higher = []
    for i, a in enumerate(out):
        s = by_key.get(a.key)
        if s is None or s.limit_kw is None or s.measured_kw is None:
            continue
        # a raise it would not use: a reading under this limit (or a higher one) is clearly below it
        if a.limit_kw > s.limit_kw + 1e-9 and _fresh(s) and s.measured_kw < s.limit_kw - HEADROOM_KW / 2:
            out[i] = _keep(a, s, NOT_RAISED)
        elif a.limit_kw < s.limit_kw - 1e-9 and a.reason.startswith(_TAKE_BACK) and _fresh(s) \
                and s.limit_kw - a.limit_kw < TAKE_BACK_BAND_KW:
            keep_higher.append(i)
    total = sum(a.limit_kw for a in out)
    for i in sorted(keep_higher, key=lambda i: by_key[out[i].key].limit_kw - out[i].limit_kw):
        s = by_key[out[i].key]
        if total + s.limit_kw - out[i].limit_kw <= budget_kw + 1e-6:
            total += s.limit_kw - out[i].limit_kw
            out[i] = _keep(out[i], s, LIMIT_KEPT)
    return out


def _fresh(s: ConnectorState) -> bool:
    """A reading taken after the limit in force was accepted (only such a reading shows unused power)."""
    return (s.measured_kw is not None and s.measured_at is not None and s.limit_since is not None
            and s.measured_at > s.limit_since)


def _keep(a: Allocation, s: ConnectorState, reason: str) -> Allocation:
    amps = a.limit_a if a.limit_a is None else round(s.limit_kw * 1000.0 / (s.phases * NOMINAL_VOLTS), 3)
    return replace(a, limit_kw=s.limit_kw, limit_a=amps, reason=reason)


def steady_decision(decision: Decision, sent: Mapping[Key, tuple[dict, datetime]], in_force: Mapping[Key, float],
                    payload: Callable[[Entry, Allocation], dict], *, now: datetime,
                    hours: float) -> tuple[Decision, set[Key]]:
    """A pass's decision with `steady_targets` applied and the connectors whose accepted profile stays
    (`hold`); their target is the limit in force, so the enforcer sends them nothing."""
    target = steady_targets(decision.states, decision.target, decision.budget_kw)
    entries = dict(decision.entries)
    for a in target:  # held back to what it draws: its later periods too, or it steps up again at the next slot
        e = entries[a.key]
        if e.planned and (a.reason.startswith(_TAKE_BACK) or a.reason in KEPT_REASONS):
            entries[a.key] = replace(e, planned=[min(p, a.limit_kw) for p in e.planned])
    decision = replace(decision, entries=entries)
    new = {a.key: Schedule.of(payload(decision.entries[a.key], a)) for a in target}
    old = {k: Schedule.of(p) for k, (p, _) in sent.items() if k in new}
    steps = {k: step_of(s.unit, s.phases, ac=decision.entries[k].state.current_type == CurrentType.AC)
             for k, s in new.items()}
    held = hold(old, new, steps, budget_kw=decision.budget_kw, now=now, hours=hours)
    target = [replace(a, limit_kw=in_force[a.key]) if a.key in held and a.key in in_force else a for a in target]
    return replace(decision, target=target), held
