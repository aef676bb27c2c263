"""/reports: what charging cost, where the peak came from and what smart charging saved, for any date range.

The manager picks a range and a grouping; KPI cards, charts (energy and cost over time, power by weekday and
hour, top vehicles) and the group table follow. Clicking a row lists the sessions behind it. CSV and XLSX
export the table, PDF the report for finance. Each callback is a few lines around one function of
`depot.costs.reports` (the ledger is brought up to date on the way); the query lives in the browser (QUERY store).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from depot.costs import report_data, report_export, reports, tariff_store
from depot.costs.report_pdf import build_pdf
from depot.errors import ValidationError
from depot.text import count
from depot.web.auth import READ_REPORTS, require
from depot.web.context import Services, services
from layouts import _reports_parts as parts
from layouts._components import error_message

dash.register_page(__name__, path="/reports", name="Reports", title="Reports · Depot")
log = logging.getLogger(__name__)

RANGE, BY, QUERY, BODY = "rep-range", "rep-by", "rep-query", "rep-body"
KPIS, TIME_FIG, TOP_FIG, HEAT_FIG, GRID, TABLE_TITLE = ("rep-kpis", "rep-time", "rep-top", "rep-heat", "rep-grid",
                                                        "rep-table-title")
DRILL, DRILL_GRID, ALL_SESSIONS, DRILL_QUERY = "rep-drill", "rep-drill-grid", "rep-all-sessions", "rep-drill-query"
PRESETS = {"rep-this-month": "This month", "rep-last-month": "Last month", "rep-30-days": "Last 30 days",
           "rep-this-year": "This year"}
CSV, XLSX, PDF, DRILL_CSV, DOWNLOAD = "rep-csv", "rep-xlsx", "rep-pdf", "rep-drill-csv", "rep-download"
MSG = "rep-msg"


# ---------------------------------------------------------------- operations


def today(svc: Services) -> date:
    return svc.clock().astimezone(ZoneInfo(tariff_store.site_timezone(tariff_store.list_tariffs(svc.store)))).date()


def preset_range(name: str, day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    if name == "rep-last-month":
        last = first - timedelta(days=1)
        return last.replace(day=1), last
    if name == "rep-30-days":
        return day - timedelta(days=29), day
    if name == "rep-this-year":
        return day.replace(month=1, day=1), day
    return first, day


def report(svc: Services, query: dict) -> reports.Report:
    tz = tariff_store.site_timezone(tariff_store.list_tariffs(svc.store))
    start, end = report_data.parse_range(query["from"], query["to"], tz)
    return reports.build_report(svc.store, start, end, query["by"], now=svc.clock())


def drill(svc: Services, query: dict, key: str | None):
    r = report(svc, query)
    return r, reports.sessions_behind(svc.store, r.data, query["by"], key)


def file_name(query: dict, ext: str) -> str:
    return f"energy-report-{query['from']}-{query['to']}-{query['by']}.{ext}"


# ---------------------------------------------------------------- rendering


def render(svc: Services, r: reports.Report) -> tuple:
    cur = r.data.currency
    ts = reports.timeseries(r.data)
    by_vehicle = r if r.by == "vehicle" else reports.build_report(svc.store, r.data.start, r.data.end, "vehicle",
                                                                 data=r.data)
    top = reports.top_vehicles(by_vehicle.table)
    total = {"group": "Total", **{c: r.totals[c] for c, _, _ in reports.COLUMNS}}
    title = f"{r.title} · {count(len(r.table), 'row')}"
    return (parts.kpi_row(r.totals, cur), parts.energy_cost_figure(ts, cur), parts.top_figure(top, cur),
            parts.heatmap_figure(reports.heatmap(r.data)), r.table.to_dict("records"),
            parts.column_defs(r.by, cur), {"pinnedBottomRowData": [total]}, parts.grid_style(len(r.table)), title)


def layout(**_):
    svc = services()
    day = today(svc)
    start, end = preset_range("rep-this-month", day)
    presets = [html.Button(label, id=ident, n_clicks=0, className="btn btn-outline-secondary btn-sm")
               for ident, label in PRESETS.items()]
    controls = html.Div([
        dcc.DatePickerRange(id=RANGE, start_date=start.isoformat(), end_date=end.isoformat(),
                            display_format="YYYY-MM-DD", first_day_of_week=1, minimum_nights=0),
        dcc.Dropdown(id=BY, options=[{"label": f"by {v.lower()}", "value": k} for k, v in report_data.GROUPINGS.items()],
                     value="vehicle", clearable=False, style={"width": "12rem"}),
        html.Div(presets, className="btn-group"),
        html.Span(className="me-auto"),
        html.Div([html.Button("CSV", id=CSV, n_clicks=0, className="btn btn-outline-primary btn-sm"),
                  html.Button("XLSX", id=XLSX, n_clicks=0, className="btn btn-outline-primary btn-sm"),
                  html.Button("PDF report", id=PDF, n_clicks=0, className="btn btn-primary btn-sm")],
                 className="btn-group", title="download"),
        dcc.Download(id=DOWNLOAD),
    ], className="d-flex flex-wrap gap-2 align-items-center mb-3")
    body = html.Div([
        html.Div(id=KPIS, className="mb-3"),
        dbc.Row([
            dbc.Col(parts.card("Energy and cost", dcc.Graph(id=TIME_FIG, config={"displaylogo": False})), lg=8),
            dbc.Col(parts.card("Top vehicles by cost", dcc.Graph(id=TOP_FIG, config={"displayModeBar": False})), lg=4),
        ], className="g-3"),
        parts.card("Where the peak comes from: average power by weekday and hour",
                   dcc.Graph(id=HEAT_FIG, config={"displayModeBar": False})),
        parts.card("Table", html.Div([
            html.Div(id=TABLE_TITLE, className="small text-muted mb-2"),
            parts.group_grid(GRID),
            html.Div("Click a row to see the sessions behind it.", className="small text-muted mt-2"),
        ]), extra=html.Button("All sessions", id=ALL_SESSIONS, n_clicks=0,
                              className="btn btn-outline-secondary btn-sm")),
        html.Div(id=DRILL),
        html.Ul([html.Li(n) for n in reports.NOTES], className="small text-muted"),
    ], id=BODY)
    return html.Div([
        html.Div([html.H2("Reports", className="mb-0 me-3"),
                  html.Span("What charging cost, where the peak came from, what smart charging saved.",
                            className="text-muted me-auto"),
                  dcc.Link("Tariffs and billing groups →", href="/tariffs", className="small")],
                 className="d-flex align-items-baseline flex-wrap mb-2"),
        controls, html.Div(id=MSG), dcc.Loading(body, type="circle", delay_show=300),
        dcc.Store(id=QUERY), dcc.Store(id=DRILL_QUERY),
    ], id="reports-page")


# ---------------------------------------------------------------- callbacks (thin)


def on_query(start, end, by):
    if not start or not end or not by:
        raise PreventUpdate
    query = {"from": start[:10], "to": end[:10], "by": by}
    svc = services()
    try:
        r = report(svc, query)
        out = render(svc, r)
    except ValidationError as exc:
        return (error_message("Cannot build the report", str(exc)), *[no_update] * 9, None, no_update)
    except Exception as exc:  # the outermost boundary of this request: log it, show it
        log.exception("reports: %s", query)
        return (error_message("Could not build the report", str(exc) or type(exc).__name__), *[no_update] * 9,
                None, no_update)
    note = None
    if r.totals["sessions"] == 0:
        note = html.Div("No finished charging sessions in this range. Sessions appear here once vehicles have "
                        "charged and unplugged; they are costed with the tariff on the Tariffs page.",
                        className="alert alert-info py-2 mb-2", role="status")
    return (note, *out, None, query)


def on_preset(*_):
    name = dash.ctx.triggered_id
    if name not in PRESETS:
        raise PreventUpdate
    start, end = preset_range(name, today(services()))
    return start.isoformat(), end.isoformat()


def on_drill(cell, _all, query):
    trigger = dash.ctx.triggered_id
    if not query or (trigger == GRID and not cell):
        raise PreventUpdate
    key = None if trigger == ALL_SESSIONS or (cell or {}).get("rowPinned") else (cell or {}).get("rowId")
    r, frame = drill(services(), query, key)
    what = "all sessions" if key is None else f"{report_data.GROUPINGS[query['by']].lower()} {key}"
    cost = frame["cost"].sum() if len(frame) else 0.0
    head = f"Sessions behind {what}: {len(frame)} · {parts.money(cost, r.data.currency, 2)}"
    return parts.card(head, parts.session_grid(DRILL_GRID, frame, r.data.currency),
                      extra=html.Button("CSV", id=DRILL_CSV, n_clicks=0, className="btn btn-outline-primary btn-sm"),
                      class_name="rep-drill"), {**query, "key": key}


def on_download(_csv, _xlsx, _pdf, query):
    trigger = dash.ctx.triggered_id
    if not query or trigger not in (CSV, XLSX, PDF):
        raise PreventUpdate
    svc = services()
    if trigger == PDF:
        tz = tariff_store.site_timezone(tariff_store.list_tariffs(svc.store))
        start, end = report_data.parse_range(query["from"], query["to"], tz)
        return dcc.send_bytes(build_pdf(svc.store, start, end, query["by"], now=svc.clock()), file_name(query, "pdf"))
    r = report(svc, query)
    sheet = report_export.table_sheet(r)
    if trigger == CSV:
        return dcc.send_string(report_export.to_csv(sheet), file_name(query, "csv"))
    return dcc.send_bytes(report_export.to_xlsx(sheet, title=r.title, notes=reports.NOTES), file_name(query, "xlsx"))


def on_drill_csv(n, query):
    if not n or not query:
        raise PreventUpdate
    r, frame = drill(services(), query, query.get("key"))
    name = file_name(query, "csv").replace(".csv", f"-sessions-{query.get('key') or 'all'}.csv")
    return dcc.send_string(report_export.to_csv(report_export.sessions_sheet(frame, r.data.currency)), name)


callback(Output(MSG, "children"), Output(KPIS, "children"), Output(TIME_FIG, "figure"), Output(TOP_FIG, "figure"),
         Output(HEAT_FIG, "figure"), Output(GRID, "rowData"), Output(GRID, "columnDefs"),
         Output(GRID, "dashGridOptions"), Output(GRID, "style"), Output(TABLE_TITLE, "children"), Output(DRILL, "children"),
         Output(QUERY, "data"), Input(RANGE, "start_date"), Input(RANGE, "end_date"), Input(BY, "value"))(require(*READ_REPORTS)(on_query))
callback(Output(RANGE, "start_date"), Output(RANGE, "end_date"), *[Input(p, "n_clicks") for p in PRESETS],
         prevent_initial_call=True)(require(*READ_REPORTS)(on_preset))
callback(Output(DRILL, "children", allow_duplicate=True), Output(DRILL_QUERY, "data"),
         Input(GRID, "cellClicked"), Input(ALL_SESSIONS, "n_clicks"), State(QUERY, "data"),
         prevent_initial_call=True)(require(*READ_REPORTS)(on_drill))
callback(Output(DOWNLOAD, "data"), Input(CSV, "n_clicks"), Input(XLSX, "n_clicks"), Input(PDF, "n_clicks"),
         State(QUERY, "data"), prevent_initial_call=True)(require(*READ_REPORTS)(on_download))
callback(Output(DOWNLOAD, "data", allow_duplicate=True), Input(DRILL_CSV, "n_clicks"), State(DRILL_QUERY, "data"),
         prevent_initial_call=True)(require(*READ_REPORTS)(on_drill_csv))

