"""/audit, "Plan vs actual": afterwards, why wasn't a vehicle ready? Every departure of a day with the energy
needed, planned and delivered, ready or not, and for each miss the causes found in the data, with evidence.

The dispatcher or manager picks a day (UTC); the callback runs `depot.control.audit.audit` (the store is read
there, never here) and draws the grid and the misses; CSV downloads the same table (`depot audit --date D
--csv FILE` gives it from a shell). The day lives in the browser (the DAY store).
"""

from __future__ import annotations

import logging
from datetime import date

import dash
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from depot.control.audit import audit
from depot.errors import ValidationError
from depot.planning.audit import DayAudit, parse_day, to_csv
from depot.web.auth import READ_AUDIT, require
from depot.web.context import Services, services
from layouts import _audit_parts as parts
from layouts._components import error_message

dash.register_page(__name__, path="/audit", name="Plan vs actual", title="Plan vs actual · Depot")
log = logging.getLogger(__name__)

DATE, DAY, MSG, KPIS, GRID, MISSES, CSV, DOWNLOAD = ("audit-date", "audit-day", "audit-msg", "audit-kpis",
                                                      "audit-grid", "audit-misses", "audit-csv", "audit-download")


def day_audit(svc: Services, day: date) -> DayAudit:
    return audit(svc.store, day, now=svc.clock(), heartbeat_s=svc.settings.heartbeat_interval)


def layout(**_):
    today = services().clock().date()
    return html.Div([
        html.Div([html.H2("Plan vs actual", className="mb-0 me-3"),
                  html.Span("Afterwards: was every vehicle ready, and if not, why? All times UTC.",
                            className="text-muted me-auto"),
                  dcc.Link("Planner →", href="/planner", className="small")],
                 className="d-flex align-items-baseline flex-wrap mb-2"),
        html.Div([
            html.Label("Departures of", htmlFor=DATE, className="small text-muted"),
            html.Div(dcc.DatePickerSingle(id=DATE, date=today.isoformat(), display_format="YYYY-MM-DD",
                                          first_day_of_week=1), style={"width": "11rem"}),
            html.Span(className="me-auto"),
            html.Button("CSV", id=CSV, n_clicks=0, className="btn btn-outline-primary btn-sm",
                        title="download this day's table"),
            dcc.Download(id=DOWNLOAD),
        ], className="d-flex flex-wrap gap-2 align-items-center mb-3"),
        html.Div(id=MSG),
        dcc.Loading(html.Div([
            html.Div(id=KPIS, className="mb-3"),
            html.Div(parts.grid(GRID), className="card card-body mb-3"),
            html.Div(id=MISSES),
        ]), type="circle", delay_show=300),
        parts.notes(),
        dcc.Store(id=DAY),
    ], id="audit-page")


# ---------------------------------------------------------------- callbacks (thin)


def on_date(value):
    """The day's KPIs, grid rows and misses; a failure is a message, never a traceback."""
    if not value:
        raise PreventUpdate
    try:
        day = parse_day(value[:10])
        result = day_audit(services(), day)
    except ValidationError as exc:
        return error_message("Cannot audit that day", str(exc)), None, [], parts.grid_style(0), None, None
    except Exception as exc:  # the outermost boundary of this request: log it, show it
        log.exception("audit of %s failed", value)
        return (error_message("Could not compare the plan with what happened", str(exc) or type(exc).__name__),
                None, [], parts.grid_style(0), None, None)
    return (None, parts.kpis(result), parts.rows(result), parts.grid_style(len(result.departures)),
            parts.misses(result), day.isoformat())


def on_download(_n, day):
    try:
        chosen = parse_day(day or "")
    except ValidationError:
        raise PreventUpdate from None
    result = day_audit(services(), chosen)
    return dcc.send_string(to_csv(result), f"plan-vs-actual-{day}.csv")


callback(Output(MSG, "children"), Output(KPIS, "children"), Output(GRID, "rowData"), Output(GRID, "style"),
         Output(MISSES, "children"), Output(DAY, "data"), Input(DATE, "date"))(require(*READ_AUDIT)(on_date))
callback(Output(DOWNLOAD, "data"), Input(CSV, "n_clicks"), State(DAY, "data"),
         prevent_initial_call=True)(require(*READ_AUDIT)(on_download))
