"""``check_plan``: re-verify a plan against its problem, independently of the planner.

PURE: a function of a PlanningProblem and a Plan, no I/O, no clock. Written without the planner's
arrays: windows from the datetimes, levels from the vehicle, every figure recomputed from the powers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from depot.planning.problem import (
    DEFAULT_VOLTS,
    Plan,
    PlanningProblem,
    PlanStatus,
    VehicleNeed,
    VehiclePlan,
    ac_min_kw,
    fully_served,
    is_ready,
)


class ViolationKind(StrEnum):
    SHAPE = "shape"
    NEGATIVE = "negative"
    WINDOW = "window"
    MAX_POWER = "max_power"
    MIN_POWER = "min_power"
    WHOLE_AMPS = "whole_amps"
    SITE_LIMIT = "site_limit"
    ENERGY_OVER_NEED = "energy_over_need"
    ENERGY_MISMATCH = "energy_mismatch"
    SHORTFALL_MISMATCH = "shortfall_mismatch"
    READY_MISMATCH = "ready_mismatch"
    TOTALS_MISMATCH = "totals_mismatch"
    COST_MISMATCH = "cost_mismatch"
    STATUS_MISMATCH = "status_mismatch"


@dataclass(frozen=True)
class Violation:
    kind: ViolationKind
    message: str
    vehicle_id: str | None = None
    slot: int | None = None


def check_plan(problem: PlanningProblem, plan: Plan, *, tol: float = 1e-6) -> list[Violation]:
    """Independently re-verify a plan against its problem; an empty list means it is valid.

    Written without the planner's arrays: windows from the datetimes, levels from the vehicle, every
    figure recomputed from the powers. Checks the window, min/max power with the 0-or-[min, max]
    rule, whole amps for AC vehicles, the site limit in every slot, energy ≤ need, and that the
    reported energy, shortfall, readiness, totals, costs and status agree with the powers.
    """
    out: list[Violation] = []
    ids = [v.id for v in plan.vehicles]
    if ids != [v.id for v in problem.vehicles]:
        return [Violation(ViolationKind.SHAPE, "plan vehicles differ from the problem's (ids or order)")]
    bad_len = [vp.id for vp in plan.vehicles if len(vp.power_kw) != problem.slots]
    if bad_len:
        return [Violation(ViolationKind.SHAPE, f"power_kw must have {problem.slots} values", i) for i in bad_len]
    for need, vp in zip(problem.vehicles, plan.vehicles, strict=True):
        out += _check_vehicle(problem, need, vp, tol)
    total = [sum(vp.power_kw[k] for vp in plan.vehicles) for k in range(problem.slots)]
    for k, (load, limit) in enumerate(zip(total, problem.site_limits().tolist(), strict=True)):
        if load > limit + tol * max(1.0, limit):
            out.append(Violation(ViolationKind.SITE_LIMIT,
                                 f"slot {k}: {load:.3f} kW exceeds the site limit {limit:.3f} kW", slot=k))
    out += _check_figures(problem, plan, total, tol)
    return out


def _check_vehicle(problem: PlanningProblem, need: VehicleNeed, vp: VehiclePlan, tol: float) -> list[Violation]:
    out: list[Violation] = []
    slot = timedelta(minutes=problem.slot_minutes)
    step = need.step_kw
    for k, p in enumerate(vp.power_kw):
        def bad(kind: ViolationKind, what: str, k: int = k) -> None:
            out.append(Violation(kind, f"{need.id} slot {k}: {what}", need.id, k))

        if p < -tol:
            bad(ViolationKind.NEGATIVE, f"negative power {p:.3f} kW")
        if abs(p) <= tol:
            continue
        s0 = problem.start + k * slot
        if s0 < (need.arrival or s0) or s0 + slot > need.departure:
            bad(ViolationKind.WINDOW, f"{p:.3f} kW outside the window")
        if p > need.max_kw + tol:
            bad(ViolationKind.MAX_POWER, f"{p:.3f} kW above max {need.max_kw} kW")
        least = max(need.min_kw, ac_min_kw(need.phases, need.volts or DEFAULT_VOLTS) if step else 0.0)
        if p < least - tol:
            bad(ViolationKind.MIN_POWER, f"{p:.3f} kW is between 0 and the minimum {least:.3f} kW")
        if step and abs(p / step - round(p / step)) > 1e-4:
            bad(ViolationKind.WHOLE_AMPS, f"{p:.4f} kW is not a whole number of amps")
    energy = sum(vp.power_kw) * problem.slot_hours
    ftol = max(1e-4, tol * max(1.0, need.energy_kwh))
    if energy > need.energy_kwh + ftol:
        out.append(Violation(ViolationKind.ENERGY_OVER_NEED,
                             f"{need.id}: {energy:.3f} kWh planned, need is {need.energy_kwh:.3f}", need.id))
    if abs(vp.energy_kwh - energy) > ftol:
        out.append(Violation(ViolationKind.ENERGY_MISMATCH,
                             f"{need.id}: reports {vp.energy_kwh:.3f} kWh, powers give {energy:.3f}", need.id))
    shortfall = max(need.energy_kwh - energy, 0.0)
    if abs(vp.shortfall_kwh - shortfall) > ftol:
        out.append(Violation(ViolationKind.SHORTFALL_MISMATCH,
                             f"{need.id}: reports {vp.shortfall_kwh:.3f} kWh short, is {shortfall:.3f}", need.id))
    if vp.ready != is_ready(shortfall):
        out.append(Violation(ViolationKind.READY_MISMATCH, f"{need.id}: ready={vp.ready} is wrong", need.id))
    return out


def _check_figures(problem: PlanningProblem, plan: Plan, total: list[float], tol: float) -> list[Violation]:
    out: list[Violation] = []
    dt = problem.slot_hours
    shortfalls = [max(n.energy_kwh - sum(vp.power_kw) * dt, 0.0)
                  for n, vp in zip(problem.vehicles, plan.vehicles, strict=True)]
    peak = max(total, default=0.0)
    figures = {
        "energy_kwh": (plan.energy_kwh, sum(total) * dt),
        "shortfall_kwh": (plan.shortfall_kwh, sum(shortfalls)),
        "peak_kw": (plan.peak_kw, peak),
    }
    for name, (reported, actual) in figures.items():
        if abs(reported - actual) > max(1e-4, tol * max(1.0, abs(actual))):
            out.append(Violation(ViolationKind.TOTALS_MISMATCH, f"{name}: reports {reported:.4f}, is {actual:.4f}"))
    cost = sum(p * t for p, t in zip(problem.prices().tolist(), total, strict=True)) * dt
    costs = {"energy_cost": (plan.energy_cost, cost)}
    if problem.demand_charge_per_kw is not None:
        costs["demand_cost"] = (plan.demand_cost, problem.demand_charge_per_kw * peak)
    elif plan.demand_cost is not None:
        out.append(Violation(ViolationKind.COST_MISMATCH, "demand_cost reported but no demand charge given"))
    for name, (reported, actual) in costs.items():
        if reported is None or abs(reported - actual) > max(1e-4, tol * max(1.0, abs(actual))):
            out.append(Violation(ViolationKind.COST_MISMATCH, f"{name}: reports {reported}, is {actual:.4f}"))
    partial = not all(fully_served(n, s, dt) for n, s in zip(problem.vehicles, shortfalls, strict=True))
    if partial != (plan.status == PlanStatus.PARTIAL):
        out.append(Violation(ViolationKind.STATUS_MISMATCH,
                             f"status {plan.status!s} but shortfall is {sum(shortfalls):.3f} kWh"))
    return out
