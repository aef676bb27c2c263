"""The planning problem as numpy arrays, and the objective weights that make it lexicographic.

PURE: functions of a PlanningProblem, no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depot.planning.problem import PlanningProblem


@dataclass(frozen=True)
class _Arrays:
    """The problem as numpy arrays (V vehicles, K slots, N window variables)."""

    need: np.ndarray       # (V,)
    lo: np.ndarray         # (V,) least non-zero power
    hi: np.ndarray         # (V,) most power (whole amps)
    step: np.ndarray       # (V,) amp step in kW, 0 = continuous
    priority: np.ndarray   # (V,)
    first: np.ndarray      # (V,) first window slot
    end: np.ndarray        # (V,) one past last window slot
    limit: np.ndarray      # (K,)
    price: np.ndarray      # (K,)
    veh: np.ndarray        # (N,) vehicle of each variable
    slot: np.ndarray       # (N,) slot of each variable
    dt: float
    demand: float

    @property
    def n_vehicles(self) -> int:
        return len(self.need)

    @property
    def n_slots(self) -> int:
        return len(self.limit)

    def window_mask(self) -> np.ndarray:
        k = np.arange(self.n_slots)
        return (k >= self.first[:, None]) & (k < self.end[:, None])


def _arrays(problem: PlanningProblem) -> _Arrays:
    vs = problem.vehicles
    windows = np.array([problem.window(v) for v in vs], dtype=np.int64).reshape(-1, 2)
    ranges = np.array([v.power_range() for v in vs], dtype=float).reshape(-1, 2)
    lo, hi = ranges[:, 0], ranges[:, 1]
    first, end = windows[:, 0], windows[:, 1]
    end = np.where(hi > 0, end, first)            # a vehicle that cannot draw gets no variables
    end = np.where(lo <= hi + 1e-9, end, first)
    lengths = end - first
    veh = np.repeat(np.arange(len(vs)), lengths)
    offsets = np.cumsum(lengths) - lengths
    slot = first[veh] + (np.arange(lengths.sum()) - offsets[veh])
    return _Arrays(
        need=np.array([v.energy_kwh for v in vs], dtype=float),
        lo=lo, hi=hi,
        step=np.array([v.step_kw or 0.0 for v in vs], dtype=float),
        priority=np.array([v.priority for v in vs], dtype=np.int64),
        first=first, end=end,
        limit=problem.site_limits(), price=problem.prices(),
        veh=veh, slot=slot, dt=problem.slot_hours,
        demand=problem.demand_charge_per_kw or 0.0,
    )


@dataclass(frozen=True)
class _Weights:
    shortfall: np.ndarray  # (V,) cost per kWh short
    price: np.ndarray      # (K,) price per kWh
    demand: float          # cost per kW of peak
    span: float            # range of the tie-break, below any price difference
    urgency: np.ndarray    # (V,) tie-break strength: earlier departure, stronger pull to early slots

    def energy_cost(self, veh: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """Cost per kWh of vehicle ``veh`` charging in ``slot`` (broadcasting): price + tie-break."""
        return self.price[slot] + self.span * self.urgency[veh] * slot / max(len(self.price), 1)

    def cost_rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), K) cost per kWh for those vehicles in every slot."""
        return self.energy_cost(np.asarray(rows)[:, None], np.arange(len(self.price))[None, :])


def _weights(a: _Arrays, *, priorities: bool = True, tie_break: bool = True,
             ready: np.ndarray | None = None) -> _Weights:
    """Weights making the objective lexicographic.

    Moving one kWh between vehicles frees at most one kWh elsewhere (the constraints are a
    transportation network), so a shortfall weight W above the dearest kWh (price + tie-break + the
    peak rise it can cause) makes delivering always win, and W more per priority rank makes a
    higher-priority kWh always win. The tie-break (below the smallest price difference) prefers
    earlier slots. It is the same for every vehicle: a per-vehicle (Monge) tie-break would make the
    schedules contiguous by itself but made HiGHS 5-10x slower (measured); ``_smooth`` re-lays
    the equal-price runs afterwards instead.

    ``ready`` (V,): the vehicles chosen to leave ready (``depot.planning.readiness``). Their shortfall
    weighs above every other, in tiers above the highest priority, ordered by priority among themselves:
    the LP then serves them in full, rounding refills them first, and the rest are served by priority.
    """
    price = a.price
    diffs = np.diff(np.unique(price))
    span = 0.01 * float(diffs.min()) if diffs.size else 1e-4 * max(float(price.max(initial=0.0)), 1.0)
    dearest = float(price.max(initial=0.0)) + span + a.demand / a.dt
    w = 2.0 * dearest + 1.0
    if priorities and a.n_vehicles:
        rank = np.searchsorted(np.unique(a.priority), a.priority)
    else:
        rank = np.zeros(a.n_vehicles, dtype=np.int64)
    urgency = np.full(a.n_vehicles, 1.0 if tie_break else 0.0)
    shortfall = w * (1.0 + rank)
    if ready is not None and not ready.all():
        top = w * (float(rank.max(initial=0)) + 2.0) + w * rank  # within the set, priority still first
        shortfall = np.where(ready, top, shortfall)
    return _Weights(shortfall=shortfall, price=price, demand=a.demand, span=span, urgency=urgency)
