"""The live floor plan: every charger in its bay, coloured by status, refreshed every two seconds.

One server callback reads the store (`floor_snapshot`, three queries) and sends the live values; it sends
the drawing only when lanes or bays change, and assets/floorplan.js paints the values into the bays already
drawn, so nothing flickers, remounts or shows a spinner. A click on a bay opens the detail panel, which stays open on its
charger across refreshes. Selection and filter live in the browser (dcc.Store), never in this module.
"""

from __future__ import annotations

import hashlib
import logging

import dash
import dash_bootstrap_components as dbc
from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)

from depot.errors import DepotError, NotFound
from depot.web.context import STORE_ERRORS, services
from depot.web.floorplan import LEGEND_ORDER, floor_model, paint_data
from depot.web.floorplan_detail import detail_model
from depot.web.floorplan_text import fmt_time
from layouts import _floor as ui
from layouts import _replan_banner as replan_banner
from layouts._components import error_message

dash.register_page(__name__, path="/", name="Floor plan", title="Floor plan · Depot charging")

log = logging.getLogger(__name__)

REFRESH_MS = 2000


def layout(**_):
    return html.Div([
        dcc.Interval(id=ui.TICK, interval=REFRESH_MS),
        dcc.Interval(id=ui.DETAIL_TICK, interval=REFRESH_MS, disabled=True),
        dcc.Store(id=ui.DATA), dcc.Store(id=ui.KEY), dcc.Store(id=ui.DRAWING), dcc.Store(id=ui.SELECTED),
        dcc.Store(id=ui.STATUSES, data=[]), dcc.Store(id=ui.DETAIL_KEY), dcc.Store(id=ui.PAINTED),
        ui.header(),
        html.Div(id=ui.ALERT), replan_banner.block("floor"),
        html.Div(ui.legend(), className="fp-toolbar"),
        html.Div(id=ui.PLAN, className="fp-plan"),
        dbc.Offcanvas(html.Div(id=ui.PANEL_BODY), id=ui.PANEL, title="", is_open=False, placement="end",
                      backdrop=False, scrollable=True, class_name="fp-panel"),
    ], className="fp-page")


# ---------------------------------------------------------------- refresh


@callback(
    Output(ui.DATA, "data"), Output(ui.DRAWING, "data"), Output(ui.KEY, "data"), Output(ui.ALERT, "children"),
    Input(ui.TICK, "n_intervals"), Input(ui.SEARCH, "value"), Input(ui.STATUSES, "data"),
    State(ui.KEY, "data"), State(ui.SELECTED, "data"), State(ui.ALERT, "children"),
)
def refresh(_tick, query, statuses, drawn_key, selected, alert=None):
    """Live values every tick; the drawing only when its structure differs from the one in the browser."""
    svc = services()
    now = svc.clock()
    try:
        views, summary = svc.store.floor_snapshot(now, default_heartbeat=svc.settings.heartbeat_interval)
    except STORE_ERRORS as exc:
        log.error("floor plan: cannot read the store: %s", exc)
        return no_update, no_update, no_update, store_error(exc, now)
    model = floor_model(views, summary, now, query=query, statuses=statuses)
    data = paint_data(model, now)
    if data["key"] == drawn_key:  # every output left alone is one update less for the browser
        return data, no_update, no_update, (None if alert else no_update)
    return data, ui.plan(model, selected, ocpp_url=ocpp_url(svc)), data["key"], None


def store_error(exc: Exception, now) -> html.Div:
    reason = getattr(exc, "orig", None) or exc
    return error_message(
        "The depot database cannot be read right now.",
        f"{type(reason).__name__}: {str(reason).splitlines()[0] if str(reason) else 'no detail'}",
        f"The plan below shows the last data received (tried at {fmt_time(now, now)}); it retries every "
        f"{REFRESH_MS // 1000} s. Check that the database is running and DEPOT_DATABASE_URL points to it.")


def ocpp_url(svc) -> str:
    port = getattr(svc.runtime, "ocpp_port", None) or svc.settings.ocpp_port or "<port>"
    host = svc.settings.ocpp_host
    return f"ws://{'<this machine>' if host in ('0.0.0.0', '::') else host}:{port}"


# A new drawing goes through a store: an output on the plan itself would make Dash flag the whole plan
# as loading (an attribute on it, a style pass over 2,000 elements) on every tick.
clientside_callback(
    "function (drawing) { return drawing; }",
    Output(ui.PLAN, "children"), Input(ui.DRAWING, "data"), prevent_initial_call=True,
)

# the painter writes the live values into the drawn plan (see assets/floorplan.js for why not via outputs)
clientside_callback(
    ClientsideFunction("floorplan", "paint"),
    Output(ui.PAINTED, "data"),
    Input(ui.DATA, "data"), Input(ui.SELECTED, "data"), Input(ui.STATUSES, "data"),
)


# ---------------------------------------------------------------- selection and filter


@callback(
    Output(ui.SELECTED, "data"), Output(ui.PANEL, "is_open"), Output(ui.DETAIL_TICK, "disabled"),
    Input({"type": ui.BAY, "id": ALL}, "n_clicks"), Input(ui.PANEL, "is_open"),
    prevent_initial_call=True,
)
def select(_clicks, is_open):
    return selection(ctx.triggered_id, ctx.triggered[0]["value"] if ctx.triggered else None, is_open)


def selection(trigger, value, is_open):
    """(selected charger, panel open, panel refresh off) after a click on a bay or the panel closing.
    A bay drawn anew also 'triggers' with no clicks: that is not a click."""
    if trigger == ui.PANEL:
        return (no_update, no_update, False) if is_open else (None, no_update, True)
    if isinstance(trigger, dict) and trigger.get("type") == ui.BAY and value:
        return trigger["id"], True, False
    return no_update, no_update, no_update


@callback(
    Output(ui.STATUSES, "data"),
    Input({"type": ui.CHIP, "status": ALL}, "n_clicks"), State(ui.STATUSES, "data"),
    prevent_initial_call=True,
)
def filter_status(_clicks, current):
    trigger = ctx.triggered_id
    if not (isinstance(trigger, dict) and ctx.triggered and ctx.triggered[0]["value"]):
        return no_update
    return toggled(current, trigger["status"])


def toggled(current: list[str] | None, status: str) -> list[str]:
    """The legend filter after a click on `status`: on if it was off, off if it was on; legend order."""
    chosen = set(current or ())
    chosen ^= {status}
    return [s.value for s in LEGEND_ORDER if s.value in chosen]


# ---------------------------------------------------------------- detail panel


@callback(
    Output(ui.PANEL, "title"), Output(ui.PANEL_BODY, "children"), Output(ui.DETAIL_KEY, "data"),
    Input(ui.DETAIL_TICK, "n_intervals"), Input(ui.SELECTED, "data"),
    State(ui.DETAIL_KEY, "data"),
)
def detail(_tick, selected, shown_key):
    """The selected charger's detail, redrawn only when what it shows has changed. Its interval runs only
    while the panel is open."""
    if not selected:
        return no_update, no_update, no_update
    svc = services()
    now = svc.clock()
    try:
        model = detail_model(svc.store.charger_detail(selected, now, default_heartbeat=svc.settings.heartbeat_interval),
                             now)
    except NotFound:
        return selected, ui.detail_missing(selected), None
    except (*STORE_ERRORS, DepotError) as exc:
        log.error("floor plan: cannot read charger %s: %s", selected, exc)
        return selected, [store_error(exc, now)], None
    key = hashlib.sha1(repr(model).encode()).hexdigest()[:16]
    if key == shown_key:
        return no_update, no_update, no_update
    return ui.detail_title(model), ui.detail_body(model), key
