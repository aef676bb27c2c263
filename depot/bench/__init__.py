"""Benchmarks that print tables: `python -m depot.bench planner|ocpp|control|reports ...`.

Lives here: the synthetic depots and the load generators, one module per benchmark (depot.bench.NAME).
May import: anything in depot (it sits at the top, beside depot.cli); nothing in depot imports it.
"""
