"""Whether re-planning works, on the planner and floor-plan pages: a banner while it fails, the plan's age.

While re-plans fail, both pages say so in plain words (since when, how many attempts, the last reason, which
plan stays in force and how old it is: `depot.control.replan.ReplanFailure.text`, the same sentence as the
alert). The planner page also shows the age of the plan in force when all is well. The page loader skips this
file (its name starts with "_"); layouts/planner.py and layouts/floorplan.py place `block(page)`, and its own
interval keeps it current. What it reads: the runtime's re-planner (`Replanner.health`) in this process, and
the store's plan in force when this process has not made one (just started, or no runtime here).
"""

from __future__ import annotations

import logging
from datetime import datetime

from dash import Input, Output, callback, dcc, html

from depot.control.replan import plan_in_force_text
from depot.web.auth import ALL, PLAN_READERS, require
from depot.web.context import STORE_ERRORS, Services, services

log = logging.getLogger(__name__)

PAGES = ("planner", "floor")
REFRESH_MS = 5000


def banner_id(page: str) -> str:
    return f"replan-banner-{page}"


def tick_id(page: str) -> str:
    return f"replan-banner-tick-{page}"


def _health(svc: Services):
    return getattr(getattr(svc.runtime, "replanner", None), "health", None)


def _in_force(svc: Services, health) -> tuple[int | None, datetime | None]:
    if health is not None and health.in_force is not None:
        return health.in_force
    record = svc.store.active_plan()  # this process has not planned yet (or plans elsewhere)
    return (record.id, record.created_at) if record is not None else (None, None)


def children(svc: Services, page: str) -> list:
    """The banner while re-planning fails; on the planner page otherwise the plan's age; else nothing."""
    health = _health(svc)
    failure = health.failure if health is not None else None
    if failure is None and page != "planner":
        return []
    now = svc.clock()
    try:
        plan_id, plan_at = _in_force(svc, health)
    except STORE_ERRORS as exc:  # the page says the database is unreachable elsewhere
        log.error("re-plan banner: cannot read the plan in force: %s", exc)
        return []
    if failure is not None:
        return [html.Div(failure.text(plan_id, plan_at, now), className="alert alert-danger py-2 px-3 mb-2",
                         role="alert", id=f"{banner_id(page)}-failing")]
    return [html.Div(plan_in_force_text(plan_id, plan_at, now), className="text-muted small mb-2",
                     id=f"{banner_id(page)}-age")]


def block(page: str) -> html.Div:
    """The banner as the page first shows it, and the interval that keeps it current."""
    return html.Div([html.Div(children(services(), page), id=banner_id(page)),
                     dcc.Interval(id=tick_id(page), interval=REFRESH_MS)])


def _refresh(page: str):
    def refresh(_n):
        return children(services(), page)

    refresh.__name__ = f"refresh_{page}"
    return refresh


callback(Output(banner_id("planner"), "children"), Input(tick_id("planner"), "n_intervals"),
         prevent_initial_call=True)(require(*PLAN_READERS)(_refresh("planner")))
callback(Output(banner_id("floor"), "children"), Input(tick_id("floor"), "n_intervals"),
         prevent_initial_call=True)(require(*ALL)(_refresh("floor")))
