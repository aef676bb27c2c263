"""PURE: turn the plan's current slot and live measurements into one power limit per connector.

No I/O, no clock: `now` is a parameter. Rules, in order:
1. Every connector starts from what the plan gives its vehicle now (0 for a session the plan does not know).
2. Fail safe on stale data: a connector not heard of for longer than `stale_after` keeps
   only its floor (AC: 6 A per phase, the least it can charge at; DC: 0) — never its ceiling — and is
   counted at its commanded limit, not at its last reading.
3. Power a vehicle does not use (a reading taken after its limit was accepted shows it draws clearly less:
   tapering, full, SuspendedEV) is taken back to what it draws plus headroom and redistributed to connectors that want more, highest
   priority and earliest departure first, up to their maximum.
4. The sum of limits never exceeds the site limit: when even the floors do not fit, the lowest priority
   connectors are switched off (limit 0) until they do.
5. AC limits are whole amps per phase, 0 or ≥ 6 A; DC limits are kW with one decimal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from depot.model import CurrentType, ac_amps, ac_kw

AC_MIN_AMPS = 6.0
HEADROOM_KW = 1.5  # what a connector drawing less than its limit keeps above its reading
UNUSED_FRACTION = 0.85  # drawing less than this share of the limit counts as not using it


@dataclass(frozen=True)
class ConnectorState:
    charger_id: str
    connector_id: int
    current_type: CurrentType
    phases: int
    max_kw: float  # charger ∧ vehicle
    planned_kw: float  # the plan's power for this vehicle in the current slot
    measured_kw: float | None = None
    measured_at: datetime | None = None
    priority: int = 1
    departure: datetime | None = None
    limit_kw: float | None = None  # the limit commanded now (None: none yet)
    limit_since: datetime | None = None  # when that limit was accepted: only later readings show unused power

    @property
    def key(self) -> tuple[str, int]:
        return (self.charger_id, self.connector_id)

    @property
    def floor_kw(self) -> float:
        return ac_kw(AC_MIN_AMPS, self.phases) if self.current_type == CurrentType.AC else 0.0


@dataclass(frozen=True)
class Allocation:
    charger_id: str
    connector_id: int
    limit_kw: float
    limit_a: float | None  # per phase, AC only
    reason: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.charger_id, self.connector_id)


def is_stale(state: ConnectorState, now: datetime, stale_after: timedelta) -> bool:
    """Heard of too long ago. A session without a reading yet passes `measured_at` = its start: it is new,
    not silent."""
    return state.measured_at is None or now - state.measured_at > stale_after


def quantize(state: ConnectorState, kw: float) -> tuple[float, float | None]:
    """Round down to what the charger can be told: whole amps with the 6 A floor (AC), 0.1 kW (DC)."""
    kw = max(0.0, min(kw, state.max_kw))
    if state.current_type == CurrentType.AC:
        amps = math.floor(ac_amps(kw, state.phases) + 1e-9)
        if amps < AC_MIN_AMPS:
            return 0.0, 0.0
        return ac_kw(amps, state.phases), float(amps)
    return math.floor(kw * 10 + 1e-9) / 10, None


def allocate(states: Sequence[ConnectorState], site_limit_kw: float, *, now: datetime,
             stale_after: timedelta = timedelta(seconds=60)) -> list[Allocation]:
    site_limit_kw = max(0.0, site_limit_kw)
    stale = {s.key for s in states if is_stale(s, now, stale_after)}
    want, reason = _planned(states, stale)
    spare = _take_back_unused(states, stale, want, reason)
    order = sorted(states, key=_urgency)
    if sum(want.values()) > site_limit_kw:
        _cut_to_limit(order, site_limit_kw, want, reason)
    else:
        _redistribute(order, stale, min(site_limit_kw - sum(want.values()), spare), want, reason)
    by_key = {s.key: s for s in states}
    out = []
    for s in states:
        kw, amps = quantize(by_key[s.key], want[s.key])
        out.append(Allocation(s.charger_id, s.connector_id, kw, amps, reason[s.key]))
    assert sum(a.limit_kw for a in out) <= site_limit_kw + 1e-6, "allocation exceeds the site limit"
    return out


_Wants = dict[tuple[str, int], float]
_Reasons = dict[tuple[str, int], str]


def _planned(states: Sequence[ConnectorState], stale: set[tuple[str, int]]) -> tuple[_Wants, _Reasons]:
    """1.-2. What the plan gives each connector now (at least its floor); the floor only on stale data."""
    want: _Wants = {}
    reason: _Reasons = {}
    for s in states:
        if s.key in stale:
            want[s.key], reason[s.key] = (s.floor_kw if s.planned_kw > 0 else 0.0), "stale data: floor only"
        else:
            want[s.key], reason[s.key] = min(s.planned_kw, s.max_kw), "plan"
            if s.planned_kw > 0 and s.planned_kw < s.floor_kw:
                want[s.key] = s.floor_kw
    return want, reason


def _take_back_unused(states: Sequence[ConnectorState], stale: set[tuple[str, int]], want: _Wants,
                      reason: _Reasons) -> float:
    """3. Take back what is not used (in `want`); returns the power taken back."""
    spare = 0.0
    for s in states:
        if s.key in stale or want[s.key] <= 0 or s.limit_kw is None or s.measured_kw is None:
            continue
        if s.limit_since is not None and s.measured_at is not None and s.measured_at <= s.limit_since:
            continue  # the reading predates its limit: it says nothing about what the vehicle would draw now
        if s.measured_kw < UNUSED_FRACTION * min(s.limit_kw, want[s.key]):
            used = max(s.floor_kw, s.measured_kw + HEADROOM_KW)
            if used < want[s.key]:
                spare += want[s.key] - used
                want[s.key], reason[s.key] = used, f"draws {s.measured_kw:.1f} kW: unused power given to others"
    return spare


def _cut_to_limit(order: Sequence[ConnectorState], site_limit_kw: float, want: _Wants, reason: _Reasons) -> None:
    """4. Never above the site limit: cut the lowest priority, latest departure first (`order` is by urgency)."""
    for s in reversed(order):
        excess = sum(want.values()) - site_limit_kw
        if excess <= 1e-9:
            break
        w = want[s.key]
        if w <= 0:
            continue
        keep = w - excess
        want[s.key] = keep if keep >= s.floor_kw else 0.0
        reason[s.key] = "site limit: reduced" if want[s.key] > 0 else "site limit: paused"


def _redistribute(order: Sequence[ConnectorState], stale: set[tuple[str, int]], room: float, want: _Wants,
                  reason: _Reasons) -> None:
    """3b. Give `room` (what was taken back, as far as the site limit has room) to those who want more."""
    for s in order:
        if room <= 1e-9:
            break
        if s.key in stale or s.planned_kw <= 0:
            continue
        extra = min(room, s.max_kw - want[s.key])
        if extra > 0 and reason[s.key] == "plan":
            want[s.key] += extra
            room -= extra
            reason[s.key] = "plan + redistributed"


def _urgency(s: ConnectorState) -> tuple:
    """Who is served first: higher priority, then earlier departure."""
    return (-s.priority, s.departure.timestamp() if s.departure else math.inf, s.key)


# ---------------------------------------------------------------- applying changes safely


@dataclass(frozen=True)
class Step:
    """One batch of limit changes; the next batch is sent only after this one was accepted."""

    changes: tuple[Allocation, ...]
    kind: str  # "reduce" or "increase"


def sequence_changes(commanded: dict[tuple[str, int], float], target: Sequence[Allocation],
                     *, tolerance_kw: float = 0.05, must_send: frozenset | set = frozenset()) -> list[Step]:
    """Reductions first, increases after them: the sum of commanded limits never exceeds the larger of the
    old and new sums at any instant, so if both fit the site limit every instant does. Connectors in
    `must_send` are included even when their limit does not change (an unchanged limit counts as a
    reduction: it is safe to send at once)."""
    reduce, increase = [], []
    for a in target:
        old = commanded.get(a.key)
        if old is not None and abs(old - a.limit_kw) <= tolerance_kw and a.key not in must_send:
            continue
        (reduce if old is None or a.limit_kw <= old + tolerance_kw else increase).append(a)
    # a connector with no commanded limit yet is treated as unlimited, so its first limit is a reduction
    steps = []
    if reduce:
        steps.append(Step(tuple(reduce), "reduce"))
    if increase:
        steps.append(Step(tuple(increase), "increase"))
    return steps


def fit_increases(commanded: dict[tuple[str, int], float], increases: Sequence[Allocation],
                  states: Sequence[ConnectorState], site_limit_kw: float) -> list[Allocation]:
    """After some reductions were refused, cut the increases so the commanded sum still fits."""
    by_key = {s.key: s for s in states}
    budget = site_limit_kw - sum(commanded.values())
    out = []
    for a in increases:
        old = commanded.get(a.key, 0.0)
        grow = min(a.limit_kw - old, max(0.0, budget))
        kw, amps = quantize(by_key[a.key], old + grow) if a.key in by_key else (old + grow, None)
        if kw < old:  # quantizing must not turn an increase into an unintended cut
            kw, amps = old, a.limit_a if kw == a.limit_kw else None
        budget -= kw - old
        if kw > old + 1e-9:
            out.append(replace(a, limit_kw=kw, limit_a=amps))
    return out
