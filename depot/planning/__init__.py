"""The departure planner: a PURE core with no I/O that takes time as a parameter.

Lives here: the planning problem and plan types, the min-cost-flow/LP solver, rounding and repair, the plan
checker, shortfall explanation, baselines, departures/rosters and the `depot plan` JSON format.
May import: depot.model, depot.errors and the standard library, numpy/scipy/ortools; never the store or I/O.
"""
