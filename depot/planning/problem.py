"""Depot planning problem and plan: the vehicles, slots, site limit and prices; the schedule and its figures.

PURE: no I/O, no clock, no environment, no database. Frozen dataclasses and small functions of them;
the problem's ``start`` is the clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np

READY_TOLERANCE_KWH = 0.5
"""A vehicle is ready when its shortfall is at most this (planning-format.md)."""

SHORTFALL_TOLERANCE_KWH = 0.01
"""Shortfall above this (or above one whole-amp step for one slot, see ``fully_served``) makes a plan
``partial``; below it is numerical noise."""

MIP_MAX_VARIABLES = 1200
"""Problems with at most this many window variables are also solved exactly as a MIP."""

DEFAULT_VOLTS = 230.0
AC_MIN_AMPS = 6.0
_EPS = 1e-6


# --------------------------------------------------------------------------- small pure helpers


def is_ready(shortfall_kwh: float) -> bool:
    """Ready means short by at most READY_TOLERANCE_KWH (with a hair of float slack)."""
    return shortfall_kwh <= READY_TOLERANCE_KWH + 1e-6


def fully_served(vehicle: VehicleNeed, shortfall_kwh: float, slot_hours: float) -> bool:
    """True when the shortfall is noise or smaller than one whole-amp step for one slot: an AC
    vehicle's energy moves in steps of phases × volts × slot, so its need can rarely be hit exactly
    (a 3-phase vehicle on 15-minute slots: 0.17 kWh). Such a plan is not ``partial``."""
    step = vehicle.step_kw or 0.0
    return shortfall_kwh <= max(SHORTFALL_TOLERANCE_KWH, step * slot_hours + 1e-9)


def ac_power_kw(amps: float, phases: int, volts: float = DEFAULT_VOLTS) -> float:
    """Power in kW of an AC charge at ``amps`` per phase."""
    return amps * phases * volts / 1000.0


def ac_min_kw(phases: int, volts: float = DEFAULT_VOLTS, min_amps: float = AC_MIN_AMPS) -> float:
    """Least non-zero AC power (IEC 61851: 6 A per phase), e.g. 4.14 kW for 3 phases at 230 V."""
    return ac_power_kw(min_amps, phases, volts)


def energy_need_kwh(
    battery_kwh: float, soc_pct: float, target_soc_pct: float, *, efficiency: float = 1.0
) -> float:
    """Energy to draw to bring a battery from ``soc_pct`` to ``target_soc_pct`` (never negative).

    ``efficiency`` (0 < e ≤ 1) converts energy stored into energy drawn from the charger.
    """
    if battery_kwh < 0 or not 0 < efficiency <= 1:
        raise ValueError("battery_kwh must be >= 0 and efficiency in (0, 1]")
    return max(0.0, (target_soc_pct - soc_pct) / 100.0 * battery_kwh) / efficiency


# --------------------------------------------------------------------------- problem


@dataclass(frozen=True)
class VehicleNeed:
    """One vehicle to charge.

    ``arrival`` None (or before the problem's start) means plugged in now. ``max_kw`` is the least of
    charger and vehicle. ``phases``/``volts`` mark an AC vehicle whose power moves in whole amps
    (steps of phases × volts W) and never below 6 A; None means DC, continuous kW.
    """

    id: str
    departure: datetime
    energy_kwh: float
    max_kw: float
    min_kw: float = 0.0
    priority: int = 1
    arrival: datetime | None = None
    phases: int | None = None
    volts: float | None = None

    def __post_init__(self) -> None:
        if self.departure.tzinfo is None or (self.arrival is not None and self.arrival.tzinfo is None):
            raise ValueError(f"vehicle {self.id}: times must be timezone-aware")
        if self.arrival is not None and self.departure <= self.arrival:
            raise ValueError(f"vehicle {self.id}: departure must be after arrival")
        if not (self.energy_kwh >= 0 and self.max_kw > 0 and self.min_kw >= 0):
            raise ValueError(f"vehicle {self.id}: energy_kwh >= 0, max_kw > 0, min_kw >= 0 required")
        if self.priority < 1:
            raise ValueError(f"vehicle {self.id}: priority must be >= 1")
        if self.phases is not None and self.phases not in (1, 2, 3):
            raise ValueError(f"vehicle {self.id}: phases must be 1, 2 or 3")

    @property
    def step_kw(self) -> float | None:
        """Power step of one amp on all phases (AC), None for continuous (DC)."""
        if self.phases is None:
            return None
        return ac_power_kw(1.0, self.phases, self.volts or DEFAULT_VOLTS)

    def power_range(self) -> tuple[float, float]:
        """Usable (min, max) non-zero power after whole-amp rounding and the 6 A rule."""
        step = self.step_kw
        if step is None:
            return self.min_kw, self.max_kw
        lo_amps = max(AC_MIN_AMPS, math.ceil(self.min_kw / step - 1e-9))
        hi_amps = math.floor(self.max_kw / step + 1e-9)
        return lo_amps * step, hi_amps * step


@dataclass(frozen=True)
class PlanningProblem:
    """Vehicles, slots, site limit and prices. ``site_limit_kw``/``price_per_kwh``: one number or
    one per slot. ``demand_charge_per_kw`` None means no demand charge given."""

    start: datetime
    vehicles: tuple[VehicleNeed, ...]
    site_limit_kw: float | tuple[float, ...]
    price_per_kwh: float | tuple[float, ...] = 0.0
    slot_minutes: float = 15.0
    slots: int = 96
    demand_charge_per_kw: float | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.slots < 1 or self.slot_minutes <= 0:
            raise ValueError("slots must be >= 1 and slot_minutes > 0")
        for name in ("site_limit_kw", "price_per_kwh"):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != self.slots:
                raise ValueError(f"{name}: expected {self.slots} values, got {len(value)}")
        if len({v.id for v in self.vehicles}) != len(self.vehicles):
            raise ValueError("vehicle ids must be unique")

    @property
    def slot_hours(self) -> float:
        return self.slot_minutes / 60.0

    def slot_start(self, k: int) -> datetime:
        return self.start + timedelta(minutes=self.slot_minutes * k)

    def site_limits(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.site_limit_kw, dtype=float), (self.slots,)).copy()

    def prices(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.price_per_kwh, dtype=float), (self.slots,)).copy()

    def window(self, vehicle: VehicleNeed) -> tuple[int, int]:
        """Slots ``first .. end-1`` lying wholly inside the vehicle's ``[arrival, departure)``."""
        slot_s = self.slot_minutes * 60.0
        first = 0
        if vehicle.arrival is not None:
            first = max(0, math.ceil((vehicle.arrival - self.start).total_seconds() / slot_s - 1e-9))
        end = min(self.slots, math.floor((vehicle.departure - self.start).total_seconds() / slot_s + 1e-9))
        return first, max(first, end)


# --------------------------------------------------------------------------- plan


class PlanStatus(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    PARTIAL = "partial"


@dataclass(frozen=True)
class VehiclePlan:
    id: str
    power_kw: tuple[float, ...]
    energy_kwh: float
    shortfall_kwh: float
    ready: bool


@dataclass(frozen=True)
class Plan:
    """A schedule and its figures. ``status`` follows planning-format.md; ``solver_status`` is what
    the solver itself reached (``optimal``, ``feasible`` when a limit stopped it, ``fallback`` when a
    heuristic replaced it); ``method`` names what produced the powers."""

    status: PlanStatus
    solve_seconds: float
    energy_kwh: float
    shortfall_kwh: float
    energy_cost: float
    peak_kw: float
    demand_cost: float | None
    vehicles: tuple[VehiclePlan, ...]
    method: str = "lp+round"
    solver_status: str = "optimal"

    def power_matrix(self) -> np.ndarray:
        """Vehicles × slots power in kW."""
        if not self.vehicles:
            return np.zeros((0, 0))
        return np.array([v.power_kw for v in self.vehicles], dtype=float)


def plan_from_power(
    problem: PlanningProblem,
    power: np.ndarray,
    *,
    solve_seconds: float = 0.0,
    method: str = "given",
    solver_status: str = "optimal",
) -> Plan:
    """Build a Plan (figures, readiness, status) from a vehicles × slots power matrix."""
    power = np.asarray(power, dtype=float).reshape(len(problem.vehicles), problem.slots)
    dt = problem.slot_hours
    need = np.array([v.energy_kwh for v in problem.vehicles], dtype=float)
    energy = power.sum(axis=1) * dt
    shortfall = np.maximum(need - energy, 0.0)
    total = power.sum(axis=0)
    peak = float(total.max()) if total.size else 0.0
    rows = power.tolist()
    vehicles = tuple(
        VehiclePlan(v.id, tuple(rows[i]), float(energy[i]), float(shortfall[i]),
                    is_ready(float(shortfall[i])))
        for i, v in enumerate(problem.vehicles)
    )
    if not all(fully_served(v, float(s), dt) for v, s in zip(problem.vehicles, shortfall, strict=True)):
        status = PlanStatus.PARTIAL
    else:
        status = PlanStatus.OPTIMAL if solver_status == "optimal" else PlanStatus.FEASIBLE
    demand = problem.demand_charge_per_kw
    return Plan(
        status=status,
        solve_seconds=solve_seconds,
        energy_kwh=float(energy.sum()),
        shortfall_kwh=float(shortfall.sum()),
        energy_cost=float((total * problem.prices()).sum() * dt),
        peak_kw=peak,
        demand_cost=None if demand is None else demand * peak,
        vehicles=vehicles,
        method=method,
        solver_status=solver_status,
    )
