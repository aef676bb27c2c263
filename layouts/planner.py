"""/planner: the dispatcher enters the coming shift's departures and sees whether every vehicle will be ready.

Flow B of DESIGN.md: the table is validated as a whole (depot.planning.departures), saved atomically, and the runtime
is asked to re-plan; "Preview" plans the table as edited without saving anything. Each callback is a few
lines around one operation below (so role checks can wrap the operations later); per-user state lives in
the browser (the grids' rowData and the VIEW store), never in this module.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from depot.control.replan import HORIZON, snapshot, solve
from depot.planning.departures import (
    Departure,
    RowErrors,
    departures_to_csv,
    shift_departures,
    template_csv,
    validate_departures,
    validate_roster,
)
from depot.planning.json_format import parse_problem, plan_from_json
from depot.planning.planner import SHORTFALL_TOLERANCE_KWH, explain_shortfall
from depot.planning.snapshot import (
    PlannedVehicle,
    build_problem,
    default_departure,
)
from depot.planning.snapshot import readiness as plan_readiness
from depot.text import count
from depot.web.auth import EDIT_PLAN, PLAN_READERS, require
from depot.web.context import Services, services
from layouts import _planner_parts as parts
from layouts import _planner_upload as upload
from layouts import _replan_banner as replan_banner
from layouts._components import error_message

dash.register_page(__name__, path="/planner", name="Planner", title="Planner · Depot")
log = logging.getLogger(__name__)

# ---------------------------------------------------------------- ids
GRID, ADD, DELETE, SAVE, PREVIEW = "planner-grid", "planner-add", "planner-delete", "planner-save", "planner-preview"
UPLOAD, EXPORT, EXPORT_DL = "planner-upload", "planner-export", "planner-export-dl"
TEMPLATE, TEMPLATE_DL = "planner-template", "planner-template-dl"
MSG, SHIFT_NOTE = "planner-msg", "planner-shift-note"
ROSTER, ROSTER_ADD, ROSTER_DELETE, ROSTER_SAVE, ROSTER_MSG = (
    "planner-roster", "planner-roster-add", "planner-roster-delete", "planner-roster-save", "planner-roster-msg")
PLAN, GRAPH, VIEW, TICK, SHOW_ACTIVE = "planner-plan", "planner-graph", "planner-view", "planner-tick", "planner-show-active"

REFRESH_MS = 20_000  # how often the page looks for a newer active plan (the runtime re-plans on its own)


# ---------------------------------------------------------------- operations (store, validation, planning)


def _vehicles(svc: Services) -> dict:
    return {v.id: v for v in svc.store.list_vehicles()}


def _request_replan(svc: Services, reason: str) -> None:
    if svc.runtime is not None:
        svc.runtime.request_replan(reason)


def save_departures(svc: Services, rows: list[dict], *, first_line: int = 1,
                    reason: str = "departures edited") -> list[Departure]:
    """Validate the whole table (RowErrors lists every bad line) and replace the coming one-offs with it."""
    now = svc.clock()
    departures = validate_departures(rows, _vehicles(svc), now=now, first_line=first_line)
    saved = svc.store.replace_departures(departures, now=now)
    _request_replan(svc, reason)
    return saved


def save_roster(svc: Services, rows: list[dict]):
    entries = validate_roster(rows, _vehicles(svc), first_line=1)
    saved = svc.store.replace_roster(entries)
    _request_replan(svc, "roster edited")
    return saved


def forecast(svc: Services, departures: list[Departure], kind: str, note: str = "") -> parts.PlanView:
    """Plan the depot with these one-offs (saving nothing); a preview also lists badge changes."""
    now = svc.clock()
    snap = snapshot(svc.store, svc.settings, now, departures)
    outcome = solve(snap, now)  # = Replanner.preview(departures), keeping the snapshot for targets below
    active = active_view(svc, now, explain=False)
    changes: tuple = ()
    if kind == "preview" and active is not None:
        changes = badge_changes({r.key: r.badge for r in active.readiness}, outcome.readiness)
    return parts.PlanView(kind, outcome.problem, outcome.plan, outcome.readiness, outcome.explanation, now,
                          record=active.record if active else None, changes=changes, note=note,
                          targets=_targets(snap), unplanned=_unplanned(snap, outcome.readiness),
                          entered=parts.entered_energy(snap.departures))


def active_view(svc: Services, now: datetime, *, explain: bool = True) -> parts.PlanView | None:
    """The stored plan in force, with readiness badges from its own powers and today's SoC readings."""
    record = svc.store.active_plan()
    if record is None:
        return None
    problem = parse_problem(record.problem)
    result = plan_from_json(record.plan)
    snap = snapshot(svc.store, svc.settings, now)
    _, live = build_problem(snap, now=now)
    live_by_key = {p.key: p for p in live}
    planned = []
    for need in problem.vehicles:  # the stored plan's needs and departures, with what is known about the vehicle now
        pv = live_by_key.get(need.id) or PlannedVehicle(need.id, None, None, need.arrival is None, None, None,
                                                       need.departure, need.energy_kwh)
        planned.append(replace(pv, departure=need.departure, need_kwh=need.energy_kwh))
    by_plan = {v.id: v for v in result.vehicles}
    ready = tuple(replace(r, soc_at_departure=parts.remaining_soc(
        r, by_plan.get(r.key), problem, live_by_key[r.key].battery_kwh if r.key in live_by_key else None,
        live_by_key[r.key].soc_now if r.key in live_by_key else None, now))
        for r in plan_readiness(planned, problem, result))
    explanation = (explain_shortfall(problem, result, time_limit_s=2.0)
                   if explain and result.shortfall_kwh > SHORTFALL_TOLERANCE_KWH else None)
    return parts.PlanView("active", problem, result, ready, explanation, record.created_at, record=record,
                          targets=_targets(snap), unplanned=_unplanned(snap, ready),
                          entered=parts.entered_energy(snap.departures))


def _unplanned(snap, readiness) -> tuple[str, ...]:
    return tuple(sorted({d.vehicle_id for d in snap.departures} - {r.key for r in readiness}))


def _targets(snap) -> dict[str, float]:
    """Target SoC per vehicle in the coming shift (to say "at 67 % instead of 90 %")."""
    return {d.vehicle_id: d.target_soc for d in snap.departures if d.target_soc is not None}


def badge_changes(before: dict[str, str], after) -> tuple[tuple[str, str | None, str | None], ...]:
    now_badges = {r.key: r.badge for r in after}
    keys = sorted(set(before) | set(now_badges))
    return tuple((k, before.get(k), now_badges.get(k)) for k in keys if before.get(k) != now_badges.get(k))


def shift_note(svc: Services) -> html.Div:
    now = svc.clock()
    one_offs = [d for d in svc.store.departures(after=now) if d.departure <= now + HORIZON]
    return parts.shift_note(shift_departures(svc.store.roster(), [], now=now, horizon=HORIZON), one_offs)


# ---------------------------------------------------------------- rendering helpers


def _panel(svc: Services, make, kind_hint: str) -> tuple:
    """(plan panel, VIEW data) for the view `make()` returns; a failure is a message, never a traceback."""
    now = svc.clock()
    try:
        view = make()
    except Exception as exc:  # the outermost boundary of this request: log it, show it
        log.exception("planner: could not compute the %s plan", kind_hint)
        return error_message("Could not compute the plan", str(exc) or type(exc).__name__,
                             "Nothing about the saved departures changed because of this."), no_update
    record = view.record if view is not None else None
    data = {"kind": view.kind if view else "none", "plan_id": record.id if record else None}
    return parts.plan_panel(view, now=now, graph_id=GRAPH), data


def _saved_note(svc: Services) -> str:
    if svc.runtime is None:
        return ("No planning service runs in this web process: chargers are not re-planned until the depot "
                "service (depot serve) runs.")
    return "A re-plan was requested; the active plan below replaces this forecast when it is ready."


def _empty_shift_hint(svc: Services):
    """What happens to a vehicle that plugs in while no departure is known for the coming shift."""
    default = svc.store.get_site().default_departure
    when = (f"are planned to leave at {default:%H:%M} UTC (the site's default departure)" if default else
            "charge at once on the power the planned vehicles leave free (no departure is known; set a "
            "default departure on the Power page's Site card to plan them)")
    return parts.notice(f"No departures entered for the coming shift. Vehicles that plug in {when}. Add rows "
                        "below, upload a CSV (start from the template), or fill in the weekly roster.", "info")


def layout(**_):
    svc = services()
    vehicles = svc.store.list_vehicles()
    if not vehicles:
        return html.Div([html.H2("Planner"), parts.no_vehicles()], id="planner-page")
    now = svc.clock()
    ids = [v.id for v in vehicles]
    one_offs = svc.store.departures(after=now)
    roster = svc.store.roster()
    panel, view_data = _panel(svc, lambda: active_view(svc, now), "active")
    empty_hint = None
    if not one_offs and not shift_departures(roster, [], now=now, horizon=HORIZON):
        empty_hint = _empty_shift_hint(svc)
    one_off_tab = html.Div([
        parts.ONE_OFF_INTRO,
        empty_hint,
        html.Div([
            parts.button("Add row", ADD), parts.button("Delete selected", DELETE),
            html.Span(className="vr mx-1"),
            parts.button("Preview", PREVIEW, "outline-primary", title="plan the table as it is, without saving"),
            parts.button("Save", SAVE, "primary", title="validate the whole table, save it, and re-plan"),
            html.Span(className="vr mx-1"),
            dcc.Upload(parts.button("Upload CSV", "planner-upload-btn", "outline-secondary"), id=UPLOAD, accept=".csv,text/csv",
                       multiple=False),
            parts.button("Download CSV", EXPORT, "outline-secondary", title="the saved departures"),
            parts.button("CSV template", TEMPLATE, "link", title="an example file to fill in"),
            dcc.Download(id=EXPORT_DL), dcc.Download(id=TEMPLATE_DL),
        ], className="d-flex flex-wrap gap-2 align-items-center mb-2"),
        html.Div(id=MSG), upload.box(), dcc.Store(id=upload.PENDING),
        parts.departures_grid(GRID, [parts.departure_row(d) for d in one_offs], ids),
        html.Div(shift_note(svc), id=SHIFT_NOTE),
    ], className="pt-2")
    roster_tab = html.Div([
        parts.ROSTER_INTRO,
        html.Div([parts.button("Add row", ROSTER_ADD), parts.button("Delete selected", ROSTER_DELETE),
                  parts.button("Save roster", ROSTER_SAVE, "primary")], className="d-flex gap-2 mb-2"),
        html.Div(id=ROSTER_MSG),
        parts.roster_grid(ROSTER, [parts.roster_row(e) for e in roster], ids),
    ], className="pt-3")
    return html.Div([
        html.Div([html.H2("Planner", className="mb-0 me-3"),
                  html.Span("Who charges when, and will every vehicle be ready? All times UTC.", className="text-muted")],
                 className="d-flex align-items-baseline flex-wrap mb-2"), replan_banner.block("planner"),
        html.Div(dbc.Tabs([
            dbc.Tab(one_off_tab, label="This shift (one-off)", tab_id="one-off"),
            dbc.Tab(roster_tab, label="Weekly roster", tab_id="roster"),
        ], active_tab="one-off", id="planner-tabs"), className="card card-body mb-3"),
        html.Div([html.H4("Plan", className="mb-0 me-3"),
                  parts.button("Show active plan", SHOW_ACTIVE, "outline-secondary")],
                 className="d-flex align-items-center mb-2"),
        dcc.Loading(html.Div(panel, id=PLAN), type="circle", delay_show=250, target_components={PLAN: "children"},
                    overlay_style={"visibility": "visible", "opacity": 0.45}),
        dcc.Store(id=VIEW, data=view_data),
        dcc.Interval(id=TICK, interval=REFRESH_MS),
    ], id="planner-page")


# ---------------------------------------------------------------- callbacks (thin)

_BUSY = [(Output(SAVE, "disabled"), True, False), (Output(PREVIEW, "disabled"), True, False)]


def on_add(_n, rows):
    return (rows or []) + [parts.departure_row(departure=default_departure(services().clock()))]


def on_delete(_n, rows, selected):
    if not selected:
        return no_update, parts.notice("Tick the rows to delete in the # column first.", "secondary")
    gone = {r.get("_rid") for r in selected}
    return [r for r in rows or [] if r.get("_rid") not in gone], None


def on_save(_n, rows):
    svc = services()
    try:
        saved = save_departures(svc, rows or [])
    except RowErrors as exc:
        return parts.row_errors(exc.errors, what="the table"), no_update, no_update, no_update, no_update
    panel, data = _panel(svc, lambda: forecast(svc, saved, "saved", _saved_note(svc)), "saved")
    msg = parts.notice(f"Saved {count(len(saved), 'departure')}.")
    return msg, panel, [parts.departure_row(d) for d in saved], data, shift_note(svc)


def on_preview(_n, rows):
    svc = services()
    try:
        departures = validate_departures(rows or [], _vehicles(svc), now=svc.clock(), first_line=1)
    except RowErrors as exc:
        return parts.row_errors(exc.errors, what="the table", head="Cannot preview"), no_update, no_update
    panel, data = _panel(svc, lambda: forecast(svc, departures, "preview"), "preview")
    return parts.notice("Preview below: nothing was saved.", "warning"), panel, data


def on_upload(contents, filename):
    """A chosen file: what it would add, change and remove, and Merge / Replace / Cancel; nothing is saved."""
    if not contents:
        raise PreventUpdate
    return upload.preview(services(), contents, filename)


def _after_save(svc: Services, saved: list[Departure]) -> tuple:
    """(plan panel, VIEW data, shift note) for departures just saved."""
    panel, data = _panel(svc, lambda: forecast(svc, saved, "saved", _saved_note(svc)), "saved")
    return panel, data, shift_note(svc)


def on_merge(_n, pending):
    return upload.apply(services(), pending, "merge", _after_save)


def on_replace(_n, pending):
    return upload.apply(services(), pending, "replace", _after_save)


def on_upload_cancel(_n):
    return True, None, parts.notice("Upload cancelled: nothing was saved.", "secondary")


def on_export(_n):
    svc = services()
    now = svc.clock()
    return dcc.send_string(departures_to_csv(svc.store.departures(after=now)), f"departures-{now:%Y%m%d-%H%M}.csv")


def on_template(_n):
    svc = services()
    return dcc.send_string(template_csv(svc.store.list_vehicles(), now=svc.clock()), "departures-template.csv")


def on_roster_add(_n, rows):
    return (rows or []) + [parts.roster_row()]


def on_roster_save(_n, rows):
    svc = services()
    try:
        saved = save_roster(svc, rows or [])
    except RowErrors as exc:
        return parts.row_errors(exc.errors, what="the roster", roster=True), no_update, no_update, no_update, no_update
    panel, data = _panel(svc, lambda: forecast(svc, svc.store.departures(after=svc.clock()), "saved",
                                               _saved_note(svc)), "saved")
    msg = parts.notice(f"Saved {count(len(saved), 'roster entry', 'roster entries')}.")
    return msg, panel, [parts.roster_row(e) for e in saved], data, shift_note(svc)


def on_show_active(_n):
    svc = services()
    return _panel(svc, lambda: active_view(svc, svc.clock()), "active")


def on_tick(_n, view):
    """Show a newer active plan (the runtime re-planned) unless the dispatcher is looking at a preview."""
    view = view or {}
    if view.get("kind") == "preview":
        raise PreventUpdate
    svc = services()
    plan_id = svc.store.active_plan_id()
    if plan_id is None or (plan_id == view.get("plan_id") and view.get("kind") == "active"):
        raise PreventUpdate
    if view.get("kind") == "saved" and plan_id == view.get("plan_id"):
        raise PreventUpdate  # the plan made before the save is still the newest
    return _panel(svc, lambda: active_view(svc, svc.clock()), "active")


_DUP = {"allow_duplicate": True}
callback(Output(GRID, "rowData", **_DUP), Input(ADD, "n_clicks"), State(GRID, "rowData"),
         prevent_initial_call=True)(require(*EDIT_PLAN)(on_add))
callback(Output(GRID, "rowData", **_DUP), Output(MSG, "children", **_DUP), Input(DELETE, "n_clicks"),
         State(GRID, "rowData"), State(GRID, "selectedRows"), prevent_initial_call=True)(require(*EDIT_PLAN)(on_delete))
callback(Output(MSG, "children", **_DUP), Output(PLAN, "children", **_DUP), Output(GRID, "rowData", **_DUP),
         Output(VIEW, "data", **_DUP), Output(SHIFT_NOTE, "children", **_DUP),
         Input(SAVE, "n_clicks"), State(GRID, "rowData"), prevent_initial_call=True, running=_BUSY)(require(*EDIT_PLAN)(on_save))
callback(Output(MSG, "children", **_DUP), Output(PLAN, "children", **_DUP), Output(VIEW, "data", **_DUP),
         Input(PREVIEW, "n_clicks"), State(GRID, "rowData"), prevent_initial_call=True, running=_BUSY)(require(*EDIT_PLAN)(on_preview))
callback(Output(MSG, "children", **_DUP), Output(upload.BOX, "hidden", **_DUP), Output(upload.SUMMARY, "children"),
         Output(upload.PENDING, "data", **_DUP), Output(UPLOAD, "contents"), Input(UPLOAD, "contents"),
         State(UPLOAD, "filename"), prevent_initial_call=True, running=_BUSY)(require(*EDIT_PLAN)(on_upload))
_APPLIED = [Output(MSG, "children", **_DUP), Output(PLAN, "children", **_DUP), Output(GRID, "rowData", **_DUP),
            Output(VIEW, "data", **_DUP), Output(SHIFT_NOTE, "children", **_DUP), Output(upload.BOX, "hidden", **_DUP),
            Output(upload.PENDING, "data", **_DUP)]
for _fn, _button in ((on_merge, upload.MERGE), (on_replace, upload.REPLACE)):
    callback(*_APPLIED, Input(_button, "n_clicks"), State(upload.PENDING, "data"), prevent_initial_call=True,
             running=_BUSY)(require(*EDIT_PLAN)(_fn))
callback(Output(upload.BOX, "hidden", **_DUP), Output(upload.PENDING, "data", **_DUP), Output(MSG, "children", **_DUP),
         Input(upload.CANCEL, "n_clicks"), prevent_initial_call=True)(require(*EDIT_PLAN)(on_upload_cancel))
callback(Output(EXPORT_DL, "data"), Input(EXPORT, "n_clicks"), prevent_initial_call=True)(require(*EDIT_PLAN)(on_export))
callback(Output(TEMPLATE_DL, "data"), Input(TEMPLATE, "n_clicks"), prevent_initial_call=True)(require(*EDIT_PLAN)(on_template))
callback(Output(ROSTER, "rowData", **_DUP), Input(ROSTER_ADD, "n_clicks"), State(ROSTER, "rowData"),
         prevent_initial_call=True)(require(*EDIT_PLAN)(on_roster_add))
callback(Output(ROSTER, "rowData", **_DUP), Output(ROSTER_MSG, "children", **_DUP), Input(ROSTER_DELETE, "n_clicks"),
         State(ROSTER, "rowData"), State(ROSTER, "selectedRows"), prevent_initial_call=True)(require(*EDIT_PLAN)(on_delete))
callback(Output(ROSTER_MSG, "children", **_DUP), Output(PLAN, "children", **_DUP), Output(ROSTER, "rowData", **_DUP),
         Output(VIEW, "data", **_DUP), Output(SHIFT_NOTE, "children", **_DUP),
         Input(ROSTER_SAVE, "n_clicks"), State(ROSTER, "rowData"), prevent_initial_call=True)(require(*EDIT_PLAN)(on_roster_save))
callback(Output(PLAN, "children", **_DUP), Output(VIEW, "data", **_DUP), Input(SHOW_ACTIVE, "n_clicks"),
         prevent_initial_call=True)(require(*PLAN_READERS)(on_show_active))
callback(Output(PLAN, "children", **_DUP), Output(VIEW, "data", **_DUP), Input(TICK, "n_intervals"),
         State(VIEW, "data"), prevent_initial_call=True)(require(*PLAN_READERS)(on_tick))
