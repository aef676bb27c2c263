"""Keeping the site within its limit: site limit, allocation and profiles (PURE), and the enforcer shell.

Lives here: sitelimit, allocation, profiles (pure functions over values), the enforcer that applies them
through OCPP charging profiles, the re-planner that feeds the planner, and charger health.
May import: the pure core (model, errors, planning), depot.store, depot.costs, depot.people; never web/layouts.
"""
