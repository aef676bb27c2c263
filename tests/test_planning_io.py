"""`depot plan` files: validation naming the field, the plan JSON contract, round trips, exit codes."""

from __future__ import annotations

import copy
import io
import json

import pytest

from depot.planning import json_format as planning_io
from depot.planning.json_format import (
    ProblemError,
    load_problem,
    parse_problem,
    plan_from_json,
    plan_to_json,
    problem_to_json,
    run_plan_cli,
)
from depot.planning.planner import PlanStatus, check_plan, plan

PROBLEM = {
    "start": "2026-11-21T12:00:00+00:00",
    "slot_minutes": 15,
    "slots": 96,
    "site_limit_kw": 120.0,
    "price_per_kwh": [0.30] * 40 + [0.12] * 56,
    "demand_charge_per_kw": 0.4,
    "vehicles": [
        {"id": "BUS-12", "arrival": "2026-11-21T17:05:00+00:00", "departure": "2026-11-22T05:30:00+00:00",
         "energy_kwh": 142.0, "max_kw": 150.0, "min_kw": 0.0, "priority": 1},
        {"id": "VAN-3", "departure": "2026-11-22T07:00:00Z", "energy_kwh": 40.0, "max_kw": 11.0,
         "min_kw": 4.14, "colour": "blue"},
        {"id": "VAN-4", "departure": "2026-11-22T07:00:00+00:00", "energy_kwh": 30.0, "max_kw": 11.04,
         "min_kw": 4.14, "priority": 2, "phases": 3},
    ],
}


def edited(path: str, value) -> dict:
    """PROBLEM with the value at a dotted path (list indices as numbers) replaced; None deletes."""
    data = copy.deepcopy(PROBLEM)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = data
    for p in parents:
        node = node[p]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return data


def test_parse_a_valid_problem():
    p = parse_problem(PROBLEM)
    assert [v.id for v in p.vehicles] == ["BUS-12", "VAN-3", "VAN-4"]
    assert p.vehicles[1].arrival is None and p.vehicles[1].priority == 1 and p.vehicles[1].phases is None
    assert p.vehicles[2].phases == 3 and p.vehicles[2].priority == 2
    assert p.site_limit_kw == 120.0 and len(p.price_per_kwh) == 96 and p.demand_charge_per_kw == 0.4


@pytest.mark.parametrize(("path", "value", "message"), [
    ("vehicles.2.arrival", "2026-11-22T08:00:00+00:00", "vehicles[2].departure: must be after arrival"),
    ("vehicles.0.departure", "2026-11-21T17:00:00+00:00", "vehicles[0].departure: must be after arrival"),
    ("vehicles.1.id", "BUS-12", "vehicles[1].id: duplicate id 'BUS-12'"),
    ("vehicles.1.energy_kwh", -1, "vehicles[1].energy_kwh: must be >= 0"),
    ("vehicles.1.max_kw", 0, "vehicles[1].max_kw: must be > 0"),
    ("vehicles.1.min_kw", 20.0, "vehicles[1].min_kw: must not exceed max_kw"),
    ("vehicles.1.priority", 0, "vehicles[1].priority: must be >= 1"),
    ("vehicles.1.priority", 1.5, "vehicles[1].priority: must be an integer"),
    ("vehicles.1.energy_kwh", True, "vehicles[1].energy_kwh: must be a number"),
    ("vehicles.1.departure", None, "vehicles[1].departure: is required"),
    ("vehicles.1.departure", "2026-11-22T07:00:00", "vehicles[1].departure: must carry a timezone"),
    ("vehicles.1.departure", "tomorrow", "vehicles[1].departure: not an ISO 8601 date-time"),
    ("vehicles.2.phases", 4, "vehicles[2].phases: must be 1, 2 or 3"),
    ("price_per_kwh", [0.2] * 95, "price_per_kwh: must have exactly 96 values"),
    ("site_limit_kw", [100.0] * 95 + [-1.0], "site_limit_kw[95]: must be >= 0"),
    ("site_limit_kw", None, "site_limit_kw: is required"),
    ("start", "2026-11-21T12:00:00", "start: must carry a timezone"),
    ("slots", 0, "slots: must be >= 1"),
    ("vehicles", {}, "vehicles: must be a list"),
    ("demand_charge_per_kw", -0.1, "demand_charge_per_kw: must be >= 0"),
])
def test_invalid_problems_name_the_field_and_the_reason(path, value, message):
    with pytest.raises(ProblemError) as info:
        parse_problem(edited(path, value))
    assert str(info.value).startswith(message)
    assert info.value.field == message.split(":")[0]


def test_bad_json_is_a_problem_error():
    with pytest.raises(ProblemError, match="line 1: not valid JSON"):
        load_problem("{nope")


def test_plan_json_has_exactly_the_contract_keys():
    problem = parse_problem(PROBLEM)
    out = plan_to_json(plan(problem))
    assert list(out) == ["status", "solve_seconds", "energy_kwh", "shortfall_kwh", "energy_cost", "peak_kw",
                         "demand_cost", "vehicles"]
    assert out["status"] in ("optimal", "feasible", "partial")
    for v in out["vehicles"]:
        assert list(v) == ["id", "power_kw", "energy_kwh", "shortfall_kwh", "ready"]
        assert len(v["power_kw"]) == 96 and isinstance(v["ready"], bool)
        assert v["ready"] == (v["shortfall_kwh"] <= 0.5)
    no_demand = parse_problem(edited("demand_charge_per_kw", None))
    assert "demand_cost" not in plan_to_json(plan(no_demand))


def test_json_round_trips():
    problem = parse_problem(PROBLEM)
    again = parse_problem(json.loads(json.dumps(problem_to_json(problem))))
    assert again == problem
    result = plan(problem)
    back = plan_from_json(json.loads(json.dumps(plan_to_json(result))))
    assert back.status == result.status and back.vehicles == result.vehicles
    assert (back.energy_kwh, back.energy_cost, back.peak_kw, back.demand_cost) == (
        result.energy_kwh, result.energy_cost, result.peak_kw, result.demand_cost)
    assert check_plan(problem, back) == []


def run(tmp_path, problem_text: str, out: str | None = "plan.json"):
    src = tmp_path / "problem.json"
    src.write_text(problem_text)
    stdout, stderr = io.StringIO(), io.StringIO()
    out_path = None if out is None else str(tmp_path / out)
    code = run_plan_cli(str(src), out_path, stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_cli_writes_the_plan_and_exits_0(tmp_path):
    code, out, err = run(tmp_path, json.dumps(PROBLEM))
    assert code == 0 and out == ""
    written = json.loads((tmp_path / "plan.json").read_text())
    assert [v["id"] for v in written["vehicles"]] == ["BUS-12", "VAN-3", "VAN-4"]
    code, out, err = run(tmp_path, json.dumps(PROBLEM), out=None)
    assert code == 0 and json.loads(out)["status"] in ("optimal", "feasible")


def test_cli_partial_plan_exits_0_and_explains_on_stderr(tmp_path):
    code, out, err = run(tmp_path, json.dumps(edited("site_limit_kw", 5.0)), out=None)
    assert code == 0
    assert json.loads(out)["status"] == PlanStatus.PARTIAL.value
    assert "will not be ready" in err and "kW more between" in err


def test_cli_invalid_problem_exits_2_and_writes_nothing(tmp_path):
    code, out, err = run(tmp_path, json.dumps(edited("vehicles.0.departure", "2026-11-21T17:00:00+00:00")))
    assert code == 2 and out == ""
    assert "vehicles[0].departure: must be after arrival" in err
    assert not (tmp_path / "plan.json").exists()
    code, _, err = run(tmp_path, "[1, 2")
    assert code == 2 and "not valid JSON" in err
    code = run_plan_cli(str(tmp_path / "missing.json"), None, io.StringIO(), err_io := io.StringIO())
    assert code == 2 and "cannot read" in err_io.getvalue()


def test_cli_internal_error_exits_1(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(planning_io, "plan", broken)
    code, out, err = run(tmp_path, json.dumps(PROBLEM))
    assert code == 1 and "internal error" in err and "solver exploded" in err
    assert not (tmp_path / "plan.json").exists()
