"""The site's grid connection in the web app: the banner every signed-in page shows while no limit is set, and
the Site card (on the power page) where a manager sets the grid connection, the safety margin and the default
departure of vehicles plugged in without one.

The page loader skips this file (its name starts with "_"); app.py's shell and layouts/power.py import it. The
banner's words are depot.control.sitelimit.UNSET_TEXT, the same the start-up log and `depot site show` print;
the card validates like `depot site set` (depot.control.sitelimit.check_site). A saved limit is enforced by the
runtime's next site poll (a pass at once, then a re-plan), exactly as one set from the command line.
"""

from __future__ import annotations

import logging

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, html, no_update

from depot.control.sitelimit import (
    UNSET_PAGE,
    UNSET_TEXT,
    check_site,
    describe_site,
    parse_default_departure,
)
from depot.errors import ValidationError
from depot.model import Site
from depot.people import users as people
from depot.web.auth import ALL, MANAGE, can, current_name, require, user
from depot.web.context import STORE_ERRORS, Services, services

log = logging.getLogger(__name__)

BANNER, UNSET = "site-banner", "site-unset"
CARD, GRID, MARGIN, DEPARTURE, SAVE, MSG = ("site-card", "site-grid", "site-margin", "site-departure", "site-save",
                                           "site-msg")
PAGE_PATH = "/power"  # the page of UNSET_PAGE, where the card is


# ---------------------------------------------------------------- the banner


def banner_children(site: Site | None) -> list:
    """The warning while no grid connection limit is set (nothing once it is)."""
    if site is None or site.grid_set:
        return []
    before, command, after = UNSET_TEXT.split("`")
    head, tail = after.split(UNSET_PAGE, 1)
    return [html.Div([before, html.Code(command), head,
                      html.A(UNSET_PAGE, href=f"{PAGE_PATH}#{CARD}", className="alert-link"), tail],
                     id=UNSET, className="alert alert-warning py-2 px-3 mb-3", role="alert")]


def banner() -> html.Div:
    """For the app shell: one read of the site row, only for a signed-in user (an anonymous visitor gets no
    banner element at all, so its navigation refresh never asks the server)."""
    if user() is None:
        return html.Div()
    site = None
    try:
        site = services().store.get_site()
    except STORE_ERRORS as exc:  # the shell must render without the database; the pages say why
        log.error("site banner: cannot read the site: %s", exc)
    return html.Div(banner_children(site), id=BANNER, className="container-fluid")


# ---------------------------------------------------------------- the Site card


def save_site(svc: Services, grid, margin, departure, *, who: str) -> Site:
    """Validate all three fields (nothing is written when one is wrong), save, audit; a new default departure
    asks for a re-plan (the limit itself is noticed by the runtime's site poll)."""
    grid_kw = _number(grid, "grid connection")
    margin_kw = 0.0 if margin in (None, "") else _number(margin, "safety margin")
    check_site(grid_kw, margin_kw, grid_field="grid connection", margin_field="safety margin")
    dep = parse_default_departure(departure, "default departure")
    before = svc.store.get_site()
    site = svc.store.set_site(before.name, grid_kw, margin_kw)
    if dep != before.default_departure:
        site = svc.store.set_default_departure(dep)
        if svc.runtime is not None:
            svc.runtime.request_replan("default departure changed")
    people.audit(svc.store, who, "site set", target="site", now=svc.clock(),
                 detail={"grid_kw": grid_kw, "margin_kw": margin_kw,
                         "default_departure": dep.strftime("%H:%M") if dep else None,
                         "before": {"grid_kw": before.grid_kw, "margin_kw": before.safety_margin_kw}})
    return site


def _number(value, field: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError(field, "a number of kW is needed") from None


def card(svc: Services) -> html.Div:
    """The grid connection, margin and default departure; editable for managers, read only for the others."""
    site = svc.store.get_site()
    edit = can(MANAGE)

    def field(label: str, id_: str, value, hint: str, **kw) -> dbc.Col:
        return dbc.Col([dbc.Label(label, html_for=id_, className="small mb-0"),
                        dbc.Input(id=id_, value=value, size="sm", disabled=not edit, **kw),
                        html.Div(hint, className="small text-muted")], md=4)

    departure = site.default_departure.strftime("%H:%M") if site.default_departure else ""
    rows = dbc.Row([
        field("Grid connection (kW)", GRID, site.grid_kw if site.grid_set else None,
              "sized by the demo for the chargers it simulates; a limit you save here stays"
              if site.grid_by_demo else "available for charging",
              type="number", min=0, step="any", placeholder="not set"),
        field("Safety margin (kW)", MARGIN, site.safety_margin_kw, "kept free, below the grid connection",
              type="number", min=0, step="any"),
        field("Default departure (UTC)", DEPARTURE, departure,
              "HH:MM for vehicles plugged in without one; empty: they charge now", type="text",
              placeholder="none: charge now"),
    ], className="g-2")
    actions = [dbc.Button("Save", id=SAVE, size="sm", color="primary", className="me-2")] if edit else []
    return html.Div([html.H5("Site", className="mb-2"), rows,
                     html.Div([*actions, html.Span(id=MSG, className="small")], className="mt-2"),
                     ], id=CARD, className="card card-body mb-3")


def _message(text: str, tone: str) -> html.Div:
    return html.Div(text, className=f"text-{tone} d-inline-block")


@callback(Output(MSG, "children"), Output(BANNER, "children", allow_duplicate=True), Input(SAVE, "n_clicks"),
          State(GRID, "value"), State(MARGIN, "value"), State(DEPARTURE, "value"), prevent_initial_call=True)
@require(*MANAGE)
def on_save(n_clicks, grid, margin, departure):
    if not n_clicks:
        return no_update, no_update
    svc = services()
    try:
        site = save_site(svc, grid, margin, departure, who=current_name())
    except ValidationError as exc:
        return _message(f"Not saved: {exc}", "danger"), no_update
    except STORE_ERRORS as exc:
        log.error("site card: cannot save: %s", exc)
        return _message("Not saved: the depot database cannot be written right now.", "danger"), no_update
    return _message("Saved: " + "; ".join(describe_site(site)), "success"), banner_children(site)


@callback(Output(BANNER, "children"), Input("url", "pathname"), prevent_initial_call=True)
@require(*ALL)
def on_navigate(_pathname):
    """Moving to another page reads the site again (a limit set with the command goes away from the banner)."""
    try:
        return banner_children(services().store.get_site())
    except STORE_ERRORS:
        return no_update
