"""PURE: turn the plan's current slot and live measurements into one power limit per connector.

No I/O, no clock: `now` is a parameter. Rules, in order:
0. No site limit set (`site_limit_kw` = math.inf, `SiteLimit.unset`): every connector gets its maximum.
   Unset means no cap, never 0 A.
1. Every scheduled connector starts from what the plan gives its vehicle now.
2. Fail safe on stale data: a connector not heard of for longer than `stale_after` keeps
   only its floor (AC: 6 A per phase, the least it can charge at; DC: 0) — never its ceiling — and is
   counted at its commanded limit, not at its last reading.
3. Power a vehicle does not use (a reading taken after its limit was accepted shows it draws clearly less:
   tapering, full, SuspendedEV) is taken back to what it draws plus headroom and redistributed to connectors that want more, highest
   priority and earliest departure first, up to their maximum.
4. The sum of limits never exceeds the site limit: when even the floors do not fit, the lowest priority
   connectors are switched off (limit 0) until they do.
5. Unscheduled sessions (`scheduled=False`: the plan has no power for them now, e.g. a vehicle or an
   unknown id tag plugged in without a departure) charge now: they share the headroom the scheduled ones
   leave (site limit − their limits), before the scheduled ones get more than planned, and never take from
   what the scheduled ones are planned to draw. A stale one gets at most its floor.
6. AC limits are whole amps per phase, 0 or ≥ 6 A; DC limits are kW with one decimal.
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
    scheduled: bool = True  # False: the plan has nothing for it now (no departure known): it gets headroom

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
    if math.isinf(site_limit_kw):  # 0. no site limit set: no cap
        return [Allocation(s.charger_id, s.connector_id, *quantize(s, s.max_kw), NO_CAP_REASON) for s in states]
    site_limit_kw = max(0.0, site_limit_kw)
    stale = {s.key for s in states if is_stale(s, now, stale_after)}
    scheduled = [s for s in states if s.scheduled]
    want, reason = _planned(scheduled, stale)
    spare = _take_back_unused(scheduled, stale, want, reason)
    order = sorted(scheduled, key=_urgency)
    cut = sum(want.values()) > site_limit_kw
    if cut:
        _cut_to_limit(order, site_limit_kw, want, reason)
    unscheduled = [s for s in states if not s.scheduled]
    room = site_limit_kw - sum(quantize(s, want[s.key])[0] for s in scheduled)  # what their limits leave
    _share_headroom(unscheduled, stale, room, want, reason)
    if not cut:
        _redistribute(order, stale, min(site_limit_kw - sum(want.values()), spare), want, reason)
    out = []
    for s in states:
        kw, amps = quantize(s, want[s.key])
        out.append(Allocation(s.charger_id, s.connector_id, kw, amps, reason[s.key]))
    assert sum(a.limit_kw for a in out) <= site_limit_kw + 1e-6, "allocation exceeds the site limit"
    return out


NO_CAP_REASON = "no site limit set: full power"
HEADROOM_REASON = "no departure known: the site's headroom"


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


def _share_headroom(unscheduled: Sequence[ConnectorState], stale: set[tuple[str, int]], room: float,
                    want: _Wants, reason: _Reasons) -> None:
    """5. The unscheduled sessions share `room` (what the scheduled ones leave) in equal parts up to what each
    can use; when an AC share would fall below its 6 A floor, the least urgent is left out and the rest
    share again (an AC connector cannot charge on less)."""
    caps = {s.key: _usable_kw(s, s.key in stale) for s in unscheduled}
    for s in unscheduled:
        want[s.key] = 0.0
        reason[s.key] = "stale data: floor only" if s.key in stale else HEADROOM_REASON
    active = [s for s in sorted(unscheduled, key=_urgency) if caps[s.key] > 0]
    while active:
        shares = _water_fill({s.key: caps[s.key] for s in active}, max(0.0, room))
        if all(shares[s.key] >= s.floor_kw - 1e-9 for s in active):
            for s in active:
                want[s.key] = shares[s.key]
            break
        left_out = active.pop()
        reason[left_out.key] = "no departure known: no headroom left"
    for s in unscheduled:
        if want[s.key] <= 0 and reason[s.key] == HEADROOM_REASON:
            reason[s.key] = "no departure known: no headroom left"


def _usable_kw(s: ConnectorState, stale: bool) -> float:
    """What an unscheduled connector can use: its floor on stale data, else its maximum, or what it draws plus
    headroom when a reading under its own limit (after it was accepted: not the 0 W of a session just
    begun) shows it draws clearly less (tapering, full)."""
    if stale:
        return s.floor_kw
    if (s.limit_kw is not None and s.measured_kw is not None and s.measured_at is not None
            and s.limit_since is not None and s.measured_at > s.limit_since
            and s.measured_kw < UNUSED_FRACTION * s.limit_kw):
        return min(s.max_kw, max(s.floor_kw, s.measured_kw + HEADROOM_KW))
    return s.max_kw


def _water_fill(caps: dict[tuple[str, int], float], room: float) -> dict[tuple[str, int], float]:
    """Equal shares of `room`, none above its cap; what a capped one cannot use goes to the others."""
    out = dict.fromkeys(caps, 0.0)
    left = dict(caps)
    while left and room > 1e-9:
        share = room / len(left)
        small = {k: c for k, c in left.items() if c <= share}
        if not small:
            for k in left:
                out[k] = share
            break
        for k, c in small.items():
            out[k] = c
            room -= c
            del left[k]
    return out


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
