"""The `depot plan` files (docs/planning-format.md): parse problems, write plans, run the command.

``parse_problem`` and the ``*_to_json`` functions are pure; ``run_plan_cli`` is the thin shell that
reads the problem file, calls the planner and writes the plan (the only I/O in this module).

Problem keys beyond the format are ignored, except two optional per-vehicle keys this
implementation understands and other readers may ignore: ``phases`` (1-3, an AC vehicle whose
power moves in whole amps with a 6 A minimum) and ``volts`` (default 230).
"""

from __future__ import annotations

import json
import math
import os
import sys
from datetime import datetime
from typing import Any, TextIO

from depot.errors import ValidationError
from depot.planning.planner import (
    Plan,
    PlanningProblem,
    PlanStatus,
    VehicleNeed,
    VehiclePlan,
    explain_shortfall,
    plan,
)

PLAN_TIME_LIMIT_S = 30.0


class ProblemError(ValidationError):
    """An invalid problem: ``field`` is a JSON path such as ``vehicles[3].departure``."""


# --------------------------------------------------------------------------- parsing


def _number(value: Any, where: str, *, minimum: float | None = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProblemError(where, f"must be a number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ProblemError(where, f"must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return float(value)


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise ProblemError(where, f"must be an ISO 8601 date-time string, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProblemError(where, f"not an ISO 8601 date-time: {value!r}") from None
    if t.tzinfo is None:
        raise ProblemError(where, "must carry a timezone (e.g. +00:00)")
    return t


def _per_slot(value: Any, where: str, slots: int) -> float | tuple[float, ...]:
    if isinstance(value, list):
        if len(value) != slots:
            raise ProblemError(where, f"must have exactly {slots} values (one per slot), got {len(value)}")
        return tuple(_number(x, f"{where}[{k}]") for k, x in enumerate(value))
    return _number(value, where)


def _integer(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        raise ProblemError(where, f"must be an integer, got {value!r}")
    if value < minimum:
        raise ProblemError(where, f"must be >= {minimum}, got {value!r}")
    return int(value)


def _vehicle(data: Any, where: str) -> VehicleNeed:
    if not isinstance(data, dict):
        raise ProblemError(where, "must be an object")
    for key in ("id", "departure", "energy_kwh", "max_kw"):
        if key not in data:
            raise ProblemError(f"{where}.{key}", "is required")
    vid = data["id"]
    if not isinstance(vid, str) or not vid.strip():
        raise ProblemError(f"{where}.id", f"must be a non-empty string, got {vid!r}")
    departure = _time(data["departure"], f"{where}.departure")
    arrival = None if data.get("arrival") is None else _time(data["arrival"], f"{where}.arrival")
    if arrival is not None and departure <= arrival:
        raise ProblemError(f"{where}.departure", "must be after arrival")
    max_kw = _number(data["max_kw"], f"{where}.max_kw", strict=True)
    min_kw = _number(data.get("min_kw", 0.0), f"{where}.min_kw")
    if min_kw > max_kw:
        raise ProblemError(f"{where}.min_kw", f"must not exceed max_kw ({max_kw:g}), got {min_kw:g}")
    phases = None if data.get("phases") is None else _integer(data["phases"], f"{where}.phases", 1)
    if phases is not None and phases > 3:
        raise ProblemError(f"{where}.phases", f"must be 1, 2 or 3, got {phases}")
    volts = None if data.get("volts") is None else _number(data["volts"], f"{where}.volts", strict=True)
    return VehicleNeed(
        id=vid,
        departure=departure,
        energy_kwh=_number(data["energy_kwh"], f"{where}.energy_kwh"),
        max_kw=max_kw,
        min_kw=min_kw,
        priority=_integer(data.get("priority", 1), f"{where}.priority", 1),
        arrival=arrival,
        phases=phases,
        volts=volts,
    )


def parse_problem(data: Any) -> PlanningProblem:
    """Validate a decoded problem JSON; raise ProblemError naming the field and the reason."""
    if not isinstance(data, dict):
        raise ProblemError("problem", "must be a JSON object")
    for key in ("start", "site_limit_kw", "vehicles"):
        if key not in data:
            raise ProblemError(key, "is required")
    start = _time(data["start"], "start")
    slot_minutes = _number(data.get("slot_minutes", 15), "slot_minutes", strict=True)
    slots = _integer(data.get("slots", 96), "slots", 1)
    vehicles_data = data["vehicles"]
    if not isinstance(vehicles_data, list):
        raise ProblemError("vehicles", "must be a list")
    vehicles = tuple(_vehicle(v, f"vehicles[{i}]") for i, v in enumerate(vehicles_data))
    seen: dict[str, int] = {}
    for i, v in enumerate(vehicles):
        if v.id in seen:
            raise ProblemError(f"vehicles[{i}].id", f"duplicate id {v.id!r} (also vehicles[{seen[v.id]}])")
        seen[v.id] = i
    demand = data.get("demand_charge_per_kw")
    return PlanningProblem(
        start=start,
        vehicles=vehicles,
        site_limit_kw=_per_slot(data["site_limit_kw"], "site_limit_kw", slots),
        price_per_kwh=_per_slot(data.get("price_per_kwh", 0.0), "price_per_kwh", slots),
        slot_minutes=slot_minutes,
        slots=slots,
        demand_charge_per_kw=None if demand is None else _number(demand, "demand_charge_per_kw"),
    )


def load_problem(text: str) -> PlanningProblem:
    """Parse problem JSON text (ProblemError on bad JSON or an invalid problem)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProblemError(f"line {e.lineno}", f"not valid JSON: {e.msg}") from None
    return parse_problem(data)


# --------------------------------------------------------------------------- writing


def problem_to_json(problem: PlanningProblem) -> dict[str, Any]:
    """The problem as planning-format.md JSON (``phases``/``volts`` only when set)."""

    def per_slot(value: float | tuple[float, ...]) -> float | list[float]:
        return list(value) if isinstance(value, tuple) else value

    vehicles = []
    for v in problem.vehicles:
        d: dict[str, Any] = {"id": v.id}
        if v.arrival is not None:
            d["arrival"] = v.arrival.isoformat()
        d |= {"departure": v.departure.isoformat(), "energy_kwh": v.energy_kwh, "max_kw": v.max_kw,
              "min_kw": v.min_kw, "priority": v.priority}
        if v.phases is not None:
            d["phases"] = v.phases
        if v.volts is not None:
            d["volts"] = v.volts
        vehicles.append(d)
    out: dict[str, Any] = {
        "start": problem.start.isoformat(),
        "slot_minutes": problem.slot_minutes,
        "slots": problem.slots,
        "site_limit_kw": per_slot(problem.site_limit_kw),
        "price_per_kwh": per_slot(problem.price_per_kwh),
    }
    if problem.demand_charge_per_kw is not None:
        out["demand_charge_per_kw"] = problem.demand_charge_per_kw
    out["vehicles"] = vehicles
    return out


def plan_to_json(result: Plan) -> dict[str, Any]:
    """The plan exactly as planning-format.md lists it (``demand_cost`` only with a demand charge)."""
    out: dict[str, Any] = {
        "status": result.status.value,
        "solve_seconds": round(result.solve_seconds, 4),
        "energy_kwh": result.energy_kwh,
        "shortfall_kwh": result.shortfall_kwh,
        "energy_cost": result.energy_cost,
        "peak_kw": result.peak_kw,
    }
    if result.demand_cost is not None:
        out["demand_cost"] = result.demand_cost
    out["vehicles"] = [
        {"id": v.id, "power_kw": list(v.power_kw), "energy_kwh": v.energy_kwh,
         "shortfall_kwh": v.shortfall_kwh, "ready": v.ready}
        for v in result.vehicles
    ]
    return out


def plan_from_json(data: dict[str, Any]) -> Plan:
    """Read a plan written by ``plan_to_json`` back (figures as written, not recomputed)."""
    return Plan(
        status=PlanStatus(data["status"]),
        solve_seconds=float(data["solve_seconds"]),
        energy_kwh=float(data["energy_kwh"]),
        shortfall_kwh=float(data["shortfall_kwh"]),
        energy_cost=float(data["energy_cost"]),
        peak_kw=float(data["peak_kw"]),
        demand_cost=None if data.get("demand_cost") is None else float(data["demand_cost"]),
        vehicles=tuple(
            VehiclePlan(v["id"], tuple(float(p) for p in v["power_kw"]), float(v["energy_kwh"]),
                        float(v["shortfall_kwh"]), bool(v["ready"]))
            for v in data["vehicles"]
        ),
        method="file",
    )


def dump_plan(result: Plan) -> str:
    return json.dumps(plan_to_json(result), indent=1) + "\n"


# --------------------------------------------------------------------------- the command


def _write_whole(path: str, body: str) -> None:
    """Write via a temporary file and rename, so a failure leaves no half-written plan."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(body)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_plan_cli(problem_path: str, out_path: str | None, stdout: TextIO = sys.stdout,
                 stderr: TextIO = sys.stderr) -> int:
    """`depot plan PROBLEM.json [-o PLAN.json]`: 0 plan written (even with shortfall), 2 invalid
    problem (message on stderr, nothing written), 1 internal error. With shortfall, the
    explanation goes to stderr."""
    try:
        try:
            with open(problem_path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            print(f"depot plan: cannot read {problem_path}: {e.strerror or e}", file=stderr)
            return 2
        try:
            problem = load_problem(text)
        except ProblemError as e:
            print(f"depot plan: invalid problem: {e}", file=stderr)
            return 2
        result = plan(problem, time_limit_s=PLAN_TIME_LIMIT_S)
        body = dump_plan(result)
        if out_path is None:
            stdout.write(body)
            stdout.flush()
        else:
            _write_whole(out_path, body)
        if result.status == PlanStatus.PARTIAL:
            print(explain_shortfall(problem, result).text, file=stderr)
        return 0
    except Exception as e:  # the outermost layer of the command: report, exit 1
        print(f"depot plan: internal error: {type(e).__name__}: {e}", file=stderr)
        return 1
