"""``explain_shortfall``: why vehicles are short and what would fix it, in a dispatcher's words.

PURE: a function of a PlanningProblem and a Plan, no I/O, no clock. The only side effect is CPU time
spent re-solving the relaxation (the extra kW that would fix the shortfall), bounded by ``time_limit_s``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo

import numpy as np

from depot.planning.arrays import _Arrays, _arrays, _weights
from depot.planning.lp import _solve
from depot.planning.problem import READY_TOLERANCE_KWH, Plan, PlanningProblem, fully_served


@dataclass(frozen=True)
class VehicleShortfall:
    """Why one vehicle is short. ``cause``: ``no_window`` (no whole slot plugged in),
    ``vehicle_limit`` (its own power × stay is too small), ``site_limit`` (the site is full while
    it could charge), or ``rounding`` (whole-amp steps cannot hit the need exactly)."""

    vehicle_id: str
    priority: int
    need_kwh: float
    planned_kwh: float
    shortfall_kwh: float
    cause: str
    text: str


@dataclass(frozen=True)
class CapacityGap:
    """The site would need ``extra_kw`` more between ``start`` and ``end``."""

    start: datetime
    end: datetime
    extra_kw: float


@dataclass(frozen=True)
class ShortfallExplanation:
    """Dispatcher-facing explanation; ``lines`` are ready to print, most important first."""

    all_ready: bool
    lines: tuple[str, ...]
    vehicles: tuple[VehicleShortfall, ...] = ()
    capacity_gaps: tuple[CapacityGap, ...] = ()
    protected: tuple[str, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def explain_shortfall(
    problem: PlanningProblem, plan: Plan, *, tz: tzinfo = UTC, max_vehicles: int = 10, time_limit_s: float = 5.0
) -> ShortfallExplanation:
    """Say why vehicles are short and what would fix it, in a dispatcher's words.

    Per vehicle: percentage of need met and the cause. For the site: the extra kW needed in the
    saturated periods (verified by re-solving the relaxation with the raised limit). Also which
    higher-priority vehicles the priorities protected. Times are shown in ``tz``.
    """
    a = _arrays(problem)
    power = plan.power_matrix()
    short = [s for s in (_vehicle_reason(problem, a, power, i) for i in range(a.n_vehicles)) if s]
    if not short:
        return ShortfallExplanation(True, ("Every vehicle gets its full energy.",))
    short.sort(key=lambda s: (-s.priority, -s.shortfall_kwh))
    not_ready = [s for s in short if s.shortfall_kwh > READY_TOLERANCE_KWH]
    lines = [f"{len(not_ready)} of {a.n_vehicles} vehicles will not be ready; "
             f"{sum(s.shortfall_kwh for s in short):.1f} kWh short in total."]
    gaps = _capacity_gaps(problem, a, power, short, time_limit_s)
    for gap in gaps:
        lines.append(f"The site needs {gap.extra_kw:.0f} kW more between {_hhmm(gap.start, tz)} "
                     f"and {_hhmm(gap.end, tz)} to get every vehicle ready.")
    protected = _protected(problem, power, short)
    if protected:
        lines.append(protected[1])
    lines += [s.text for s in short[:max_vehicles]]
    if len(short) > max_vehicles:
        rest = short[max_vehicles:]
        lines.append(f"… and {len(rest)} more vehicles, {sum(s.shortfall_kwh for s in rest):.1f} kWh short together.")
    return ShortfallExplanation(False, tuple(lines), tuple(short), gaps, protected[0] if protected else ())


def _hhmm(t: datetime, tz: tzinfo) -> str:
    return t.astimezone(tz).strftime("%H:%M")


def _vehicle_reason(problem: PlanningProblem, a: _Arrays, power: np.ndarray, i: int) -> VehicleShortfall | None:
    v = problem.vehicles[i]
    planned = float(power[i].sum() * a.dt)
    short = v.energy_kwh - planned
    if fully_served(v, short, a.dt):
        return None
    pct = 100.0 * planned / v.energy_kwh if v.energy_kwh else 100.0
    head = f"{v.id} gets {pct:.0f} % of its need ({planned:.1f} of {v.energy_kwh:.1f} kWh)"
    first, end = problem.window(v)
    reachable = a.hi[i] * (a.end[i] - a.first[i]) * a.dt
    if end <= first:
        cause = "no_window"
        text = (f"{head}: it is plugged in for no whole {problem.slot_minutes:g}-minute slot of the plan; "
                f"check its arrival and departure.")
    elif reachable < v.energy_kwh - READY_TOLERANCE_KWH:
        cause = "vehicle_limit"
        hours = (a.end[i] - a.first[i]) * a.dt
        text = (f"{head}: at {a.hi[i]:.1f} kW for {hours:g} h it can take at most {reachable:.1f} kWh "
                f"even with the site to itself; a later departure or a faster charger would fix it.")
    elif short <= READY_TOLERANCE_KWH:
        cause = "rounding"
        text = f"{head}: {short:.2f} kWh left over by whole-amp steps and the minimum power (counts as ready)."
    else:
        cause = "site_limit"
        text = f"{head}: the site is at its limit while it could charge; {short:.1f} kWh short."
    return VehicleShortfall(v.id, v.priority, v.energy_kwh, planned, short, cause, text)


def _protected(problem: PlanningProblem, power: np.ndarray, short: list[VehicleShortfall]) -> tuple[tuple[str, ...], str] | None:
    """Higher-priority vehicles made ready while lower-priority ones are short on site capacity."""
    site_short = [s for s in short if s.cause == "site_limit"]
    if not site_short:
        return None
    lowest = min(s.priority for s in site_short)
    short_ids = {s.vehicle_id for s in short}
    ids = tuple(v.id for v in problem.vehicles
                if v.priority > lowest and v.id not in short_ids and v.energy_kwh > 0)
    if not ids:
        return None
    shown = ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
    return ids, (f"Priorities protected {shown}: fully charged, while priority-{lowest} vehicles "
                 f"take the shortfall.")


def _capacity_gaps(
    problem: PlanningProblem, a: _Arrays, power: np.ndarray, short: list[VehicleShortfall], time_limit_s: float
) -> tuple[CapacityGap, ...]:
    """Saturated periods in the short vehicles' windows and the extra kW that would fix them."""
    idx = {v.id: i for i, v in enumerate(problem.vehicles)}
    site_short = [idx[s.vehicle_id] for s in short if s.cause == "site_limit"]
    if not site_short:
        return ()
    load = power.sum(axis=0)
    full = load >= a.limit - np.maximum(a.lo.min(initial=0.0), 0.5)
    in_window = a.window_mask()[site_short].any(axis=0)
    busy = full & in_window
    if not busy.any():
        busy = in_window
    missing = sum(problem.vehicles[i].energy_kwh - power[i].sum() * a.dt for i in site_short)
    extra = _verified_extra_kw(a, busy, missing / (busy.sum() * a.dt), time_limit_s)
    gaps = []
    for k0, k1 in _runs(busy):
        gaps.append(CapacityGap(problem.slot_start(k0), problem.slot_start(k1), extra))
    return tuple(gaps)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _verified_extra_kw(a: _Arrays, busy: np.ndarray, guess: float, time_limit_s: float) -> float:
    """Smallest extra kW (on ``busy`` slots, relaxation) that removes the site-caused shortfall."""
    reachable = np.minimum(a.need, a.hi * (a.end - a.first) * a.dt)
    floor_short = float((a.need - reachable).sum())
    deadline = time.perf_counter() + time_limit_s
    w = _weights(a, tie_break=False)

    def enough(extra: float) -> bool | None:
        left = deadline - time.perf_counter()
        if left <= 0.05:
            return None
        raised = replace(a, limit=a.limit + extra * busy)
        sol = _solve(raised, w, left)
        if sol.status == "none":
            return None
        return float((a.need - sol.power.sum(axis=1) * a.dt).sum()) <= floor_short + 0.5

    low, high = 0.0, max(guess, 1.0)
    for _ in range(8):  # grow until enough (or give up and report the estimate)
        ok = enough(high)
        if ok is None:
            return math.ceil(high)
        if ok:
            break
        low, high = high, high * 2.0
    for _ in range(6):  # tighten to about 5 %
        if high - low <= max(1.0, 0.05 * high):
            break
        mid = (low + high) / 2.0
        ok = enough(mid)
        if ok is None:
            break
        low, high = (low, mid) if ok else (mid, high)
    return float(math.ceil(high))
