"""`python -m depot.bench planner`: the planner against the baselines on synthetic depots.

For each depot size and site limit it prints, for uncontrolled charging, EDF, LLF, the energy-first LP
(cost + shortfall weighted by priority: the planner before readiness came first), our planner and the LP
bound: vehicles ready (count and %), priority vehicles ready, energy delivered % (of the need), energy
cost, demand cost, peak kW, overload kW (above the site limit), the most charging-profile periods any
vehicle needs, and the time to plan. Roomy depots have the site limit at a fraction of the chargers'
total power (a congested evening, a long enough night); scarce ones at a fraction of the total demand
(the constant power that would serve every need over the average stay), where not everyone can be
ready. Then PASS/FAIL against the floors for our planner, and separate lines for the plan time of a
5000-vehicle depot (roomy with and without a demand charge, and scarce).

Times are wall-clock medians of ``--repeats`` runs in this process (building + solving + rounding);
the CPU time is shown beside them because other work on the machine stretches wall time.
Exit status 1 when a floor fails.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from depot.bench.synthetic import synthetic_depot
from depot.planning.arrays import _arrays
from depot.planning.baselines import earliest_deadline_first, least_laxity_first, lp_bound, uncontrolled
from depot.planning.planner import Plan, PlanningProblem, check_plan, plan
from depot.planning.readiness import select_ready

ENERGY_FLOOR = 0.995          # of the LP bound's energy
COST_CEILING = 1.01           # of the LP bound's cost (energy + demand)
TIME_LIMITS_S = {1000: 0.5, 5000: 3.0}


@dataclass(frozen=True)
class Row:
    name: str
    ready: int
    priority_ready: int
    met_pct: float
    energy_pct: float
    energy_cost: float
    demand_cost: float
    peak_kw: float
    overload_kw: float
    max_periods: int
    seconds: float
    cpu_seconds: float


def periods(problem: PlanningProblem, result: Plan) -> int:
    """Most charging-profile periods any vehicle needs (a new period at every change of power)."""
    m = result.power_matrix()
    if not m.size:
        return 0
    changes = (np.abs(np.diff(m, axis=1)) > 1e-6).sum(axis=1)
    return int(changes.max()) + 1


def metrics(name: str, problem: PlanningProblem, result: Plan, seconds: float, cpu: float) -> Row:
    need = sum(v.energy_kwh for v in problem.vehicles)
    total = result.power_matrix().sum(axis=0) if result.vehicles else np.zeros(problem.slots)
    overload = float(np.maximum(total - problem.site_limits(), 0.0).max(initial=0.0))
    ready = [v.ready for v in result.vehicles]
    return Row(
        name=name,
        ready=sum(ready),
        priority_ready=sum(r for r, v in zip(ready, problem.vehicles, strict=True) if v.priority > 1),
        met_pct=100.0 * sum(v.ready for v in result.vehicles) / max(len(result.vehicles), 1),
        energy_pct=100.0 * result.energy_kwh / need if need else 100.0,
        energy_cost=result.energy_cost,
        demand_cost=result.demand_cost or 0.0,
        peak_kw=result.peak_kw,
        overload_kw=overload,
        max_periods=periods(problem, result),
        seconds=seconds,
        cpu_seconds=cpu,
    )


def timed(fn: Callable[[], Plan], repeats: int) -> tuple[Plan, float, float]:
    """Run ``fn`` ``repeats`` times; the last result and the median wall and CPU seconds."""
    walls, cpus = [], []
    result = None
    for _ in range(max(repeats, 1)):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    assert result is not None
    return result, statistics.median(walls), statistics.median(cpus)


HEADER = (f"{'method':<13}{'ready':>7}{'prio':>6}{'met %':>7}{'energy %':>10}{'energy cost':>13}{'demand':>9}"
          f"{'peak kW':>10}{'overload kW':>13}{'periods':>9}{'time s':>9}{'cpu s':>8}")


def fmt(row: Row) -> str:
    return (f"{row.name:<13}{row.ready:>7d}{row.priority_ready:>6d}{row.met_pct:>7.1f}{row.energy_pct:>10.2f}{row.energy_cost:>13.1f}"
            f"{row.demand_cost:>9.1f}{row.peak_kw:>10.0f}{row.overload_kw:>13.1f}{row.max_periods:>9d}"
            f"{row.seconds:>9.3f}{row.cpu_seconds:>8.3f}")


def readiness_floors(ours: Row, energy_first: Row, bound: dict[int, float],
                     problem: PlanningProblem) -> list[tuple[str, bool, str]]:
    """(floor, passed, detail): readiness first never makes fewer vehicles, or priority vehicles, ready."""
    priority_total = sum(1 for v in problem.vehicles if v.priority > 1)
    most = sum(bound.values())
    return [
        ("priority vehicles ready >= energy-first", ours.priority_ready >= energy_first.priority_ready,
         f"{ours.priority_ready} vs {energy_first.priority_ready} of {priority_total}"),
        ("vehicles ready >= energy-first", ours.ready >= energy_first.ready,
         f"{ours.ready} vs {energy_first.ready} (no plan can exceed {most:.0f}: the LP relaxation)"),
    ]


def floors(n: int, problem: PlanningProblem, ours: Plan, bound: Plan, row: Row) -> list[tuple[str, bool, str]]:
    """(floor, passed, detail) for our planner against the LP bound."""
    out = []
    violations = check_plan(problem, ours)
    out.append(("valid plan (check_plan)", not violations, f"{len(violations)} violations"))
    out.append(("no overload", row.overload_kw <= 1e-6, f"{row.overload_kw:.2f} kW"))
    ratio = ours.energy_kwh / bound.energy_kwh if bound.energy_kwh else 1.0
    out.append((f"energy >= {ENERGY_FLOOR:.1%} of bound", ratio >= ENERGY_FLOOR, f"{ratio:.4%}"))
    ours_cost = ours.energy_cost + (ours.demand_cost or 0.0)
    bound_cost = bound.energy_cost + (bound.demand_cost or 0.0)
    excess = ours_cost / bound_cost - 1.0 if bound_cost else 0.0
    out.append((f"cost <= bound + {COST_CEILING - 1:.0%}", excess <= COST_CEILING - 1 + 1e-12, f"{excess:+.3%}"))
    top = max((v.priority for v in problem.vehicles), default=1)
    missed = [v.id for v, o, b in zip(problem.vehicles, ours.vehicles, bound.vehicles, strict=True)
              if v.priority > 1 and b.ready and not o.ready]
    out.append(("priority vehicles met when the bound meets them", not missed or top == 1,
                f"{len(missed)} missed"))
    if n in TIME_LIMITS_S:
        limit = TIME_LIMITS_S[n]
        out.append((f"plan time <= {limit:g} s", row.seconds <= limit, f"{row.seconds:.3f} s"))
    return out


def run_case(n: int, fraction: float, seed: int, repeats: int, basis: str = "chargers") -> tuple[list[str], bool]:
    problem = synthetic_depot(n, site_fraction=fraction, seed=seed, site_basis=basis)
    limit = problem.site_limits()[0]
    of = "chargers" if basis == "chargers" else "total demand (scarce)"
    lines = [f"\n{n} vehicles × {problem.slots} slots, site limit {fraction:.0%} of {of} = {limit:.0f} kW",
             HEADER]
    ours, ours_s, ours_cpu = timed(lambda: plan(problem), repeats)
    first, first_s, first_cpu = timed(lambda: plan(problem, readiness=False), repeats)
    bound, bound_s, bound_cpu = timed(lambda: lp_bound(problem), 1)
    rows = []
    for name, fn in (("uncontrolled", uncontrolled), ("EDF", earliest_deadline_first),
                     ("LLF", least_laxity_first)):
        result, s, c = timed(lambda fn=fn: fn(problem), 1)
        rows.append(metrics(name, problem, result, s, c))
    ours_row, first_row = metrics("planner", problem, ours, ours_s, ours_cpu), metrics(
        "energy-first", problem, first, first_s, first_cpu)
    rows += [first_row, ours_row, metrics("LP bound", problem, bound, bound_s, bound_cpu)]
    lines += [fmt(r) for r in rows]
    ok = True
    checks = floors(n, problem, ours, bound, ours_row)
    checks += readiness_floors(ours_row, first_row, ready_bound(problem), problem)
    for floor, passed, detail in checks:
        ok &= passed
        lines.append(f"  {'PASS' if passed else 'FAIL'}  {floor}: {detail}")
    return lines, ok


def ready_bound(problem: PlanningProblem) -> dict[int, float]:
    """Per priority level, the most vehicles any plan could make ready (the readiness LP relaxation)."""
    return select_ready(_arrays(problem), time.perf_counter() + 10.0, exact=False).bound


def run_big(n: int, seed: int, repeats: int, *, demand: float | None = 0.2,
            basis: str = "chargers") -> tuple[str, bool]:
    problem = synthetic_depot(n, site_fraction=0.3, seed=seed, demand_charge_per_kw=demand, site_basis=basis)
    result, s, c = timed(lambda: plan(problem), repeats)
    limit = TIME_LIMITS_S.get(n, float("inf"))
    valid = not check_plan(problem, result)
    passed = s <= limit and valid
    what = ("site 30 % of chargers" + ("" if demand else ", no demand charge")) if basis == "chargers" \
        else "scarce: site 30 % of total demand"
    return (f"\n{n} vehicles × {problem.slots} slots ({what}): plan time {s:.2f} s wall, {c:.2f} s cpu "
            f"(median of {repeats}), {result.method}, {'valid' if valid else 'INVALID'} plan, "
            f"{sum(v.ready for v in result.vehicles) / n:.1%} met  "
            f"{'PASS' if passed else 'FAIL'} (<= {limit:g} s)"), passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m depot.bench planner", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="40,200,1000", help="depot sizes, comma-separated")
    parser.add_argument("--fractions", default="0.2,0.3,0.45", help="roomy: site limits as fractions of charger power")
    parser.add_argument("--scarce", default="0.2,0.3,0.6",
                        help="scarce: site limits as fractions of the total demand ('' to skip)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of our planner (median)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--big", type=int, default=5000, help="vehicles for the separate plan-time line (0: skip)")
    parser.add_argument("--quick", action="store_true", help="sizes 40,200, one repeat, no big line")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    repeats, big = args.repeats, args.big
    if args.quick:
        sizes, repeats, big = [s for s in sizes if s <= 200] or [40], 1, 0
    fractions = [(float(f), "chargers") for f in args.fractions.split(",") if f.strip()]
    fractions += [(float(f), "demand") for f in args.scarce.split(",") if f.strip()]
    plan(synthetic_depot(10, seed=args.seed))  # warm up imports and the solver library
    print("Planner benchmark: synthetic depots (evening arrivals, morning departures, 20-200 kWh, "
          "AC 11/22 kW in whole amps, DC 50/150 kW, 15 % priority 2, time-of-use prices, demand charge 0.2/kW)")
    all_ok = True
    for n in sizes:
        for fraction, basis in fractions:
            lines, ok = run_case(n, fraction, args.seed, repeats, basis)
            all_ok &= ok
            print("\n".join(lines), flush=True)
    if big:
        for demand, basis in ((0.2, "chargers"), (None, "chargers"), (0.2, "demand")):  # no demand charge: most degenerate
            line, ok = run_big(big, args.seed, max(1, min(repeats, 3)), demand=demand, basis=basis)
            all_ok &= ok
            print(line, flush=True)
    print(f"\n{'ALL FLOORS PASS' if all_ok else 'SOME FLOORS FAIL'}")
    return 0 if all_ok else 1
