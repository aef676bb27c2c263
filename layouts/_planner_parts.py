"""Components of the planner page: the two editable grids, row errors, and the plan panel.

Nothing here reads the store or the clock: the page module gathers, these functions draw. The page loader
skips this file (its name starts with "_").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import uuid4

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from depot.planning.departures import COLUMN_LABELS, ROSTER_LABELS, WEEKDAYS, Departure, RosterEntry, RowError
from depot.planning.planner import (
    Plan,
    PlanningProblem,
    ShortfallExplanation,
    VehiclePlan,
)
from depot.planning.snapshot import Readiness
from layouts._components import command, empty_state
from layouts._figures import plan_timeline

if TYPE_CHECKING:  # a type only: the page module hands the record over
    from depot.store import PlanRecord

BADGE_CLASS = {"ready": "text-bg-success", "at risk": "text-bg-warning", "will miss": "text-bg-danger"}
BADGE_ORDER = {"will miss": 0, "at risk": 1, "ready": 2}
STATUS_TEXT = {"optimal": "optimal: every vehicle gets its energy",
               "feasible": "feasible: the solver stopped at its time limit; every vehicle gets its energy",
               "partial": "partial: not every vehicle can be ready"}

# ---------------------------------------------------------------- page furniture

ONE_OFF_INTRO = html.P([
    "Departures for the coming shift (the next 24 h). Times are ", html.Strong("UTC"),
    " (e.g. 2026-11-22 05:30). Give ", html.Strong("either"), " the energy to add (kWh) ", html.Strong("or"),
    " a target SoC (%). Leave the arrival blank for a vehicle already in the depot."], className="small mb-2")
ROSTER_INTRO = html.P([
    "Recurring weekly departures: the vehicle arrives on the weekday at the arrival time (UTC) and leaves at the "
    "departure time, the next day when that is not later than the arrival. ",
    html.Strong("A one-off row for the same vehicle overrides its roster entry for that shift.")],
    className="small mb-2")


def button(label: str, ident: str, colour: str = "secondary", **kw) -> html.Button:
    return html.Button(label, id=ident, n_clicks=0, className=f"btn btn-{colour} btn-sm", **kw)


def no_vehicles() -> html.Div:
    return empty_state(
        "No vehicles known yet",
        html.P("The planner plans the vehicles the depot knows. Add them from a shell on the depot server, "
               "one command per vehicle (the tag is the RFID card or id token the vehicle charges with):"),
        command("depot vehicles add BUS-01 --battery-kwh 300 --name \"Bus 1\" --tag 04A1B2C3"),
        html.P("Then reload this page.", className="mb-0"),
        icon="⚡",
    )


# ---------------------------------------------------------------- grids

_TIME_HINT = "UTC, e.g. 2026-11-22 05:30"


def new_row_id() -> str:
    return uuid4().hex[:10]


def departure_row(d: Departure | None = None, *, departure: datetime | None = None) -> dict:
    """A grid row (strings for times, numbers or None for numbers); `_rid` keeps the grid's row identity."""
    if d is None:
        return {"_rid": new_row_id(), "vehicle": None, "arrival": "",
                "departure": _fmt(departure) if departure else "", "energy_kwh": None, "target_soc": None,
                "arrival_soc": None, "priority": 1}
    return {"_rid": new_row_id(), "vehicle": d.vehicle_id, "arrival": _fmt(d.arrival),
            "departure": _fmt(d.departure), "energy_kwh": d.energy_kwh, "target_soc": d.target_soc,
            "arrival_soc": d.arrival_soc, "priority": d.priority}


def roster_row(e: RosterEntry | None = None) -> dict:
    if e is None:
        return {"_rid": new_row_id(), "vehicle": None, "weekday": "Mon", "arrival": "17:00", "departure": "05:30",
                "energy_kwh": None, "target_soc": None, "priority": 1}
    return {"_rid": new_row_id(), "vehicle": e.vehicle_id, "weekday": WEEKDAYS[e.weekday],
            "arrival": e.arrival.strftime("%H:%M"), "departure": e.departure.strftime("%H:%M"),
            "energy_kwh": e.energy_kwh, "target_soc": e.target_soc, "priority": e.priority}


def _fmt(t: datetime | None) -> str:
    return "" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _line_column() -> dict:
    # the row number a validation message names ("line 3"): the grid is never sorted or filtered, so it is
    # also the row's position in rowData
    return {"headerName": "#", "colId": "line", "valueGetter": {"function": "params.node.rowIndex + 1"},
            "width": 64, "minWidth": 64, "maxWidth": 64, "flex": 0, "editable": False, "pinned": "left",
            "cellClass": "text-muted"}


def _vehicle_column(vehicle_ids: Sequence[str]) -> dict:
    return {"field": "vehicle", "headerName": "Vehicle", "cellDataType": "text", "cellEditor": "agSelectCellEditor",
            "cellEditorParams": {"values": list(vehicle_ids)}, "minWidth": 130}


def _text(field: str, header: str, tip: str, width: int) -> dict:
    # "text": AG Grid would otherwise infer a date-only editor from "2026-11-22 05:30" and drop the time
    return {"field": field, "headerName": header, "cellDataType": "text", "headerTooltip": tip, "minWidth": width}


def _number(field: str, header: str, tip: str) -> dict:
    return {"field": field, "headerName": header, "cellDataType": "number", "headerTooltip": tip,
            "cellEditor": "agNumberCellEditor", "minWidth": 110}


def departures_grid(grid_id: str, rows: list[dict], vehicle_ids: Sequence[str]) -> dag.AgGrid:
    cols = [
        _line_column(), _vehicle_column(vehicle_ids),
        _text("arrival", "Expected arrival", f"blank: already in the depot; {_TIME_HINT}", 160),
        _text("departure", "Departure", _TIME_HINT, 160),
        _number("energy_kwh", "Energy kWh", "energy to add, or leave blank and give a target SoC"),
        _number("target_soc", "Target SoC %", "state of charge to reach, or leave blank and give energy"),
        _number("arrival_soc", "Arrival SoC %", "optional: expected SoC on arrival (for a target SoC)"),
        _number("priority", "Priority", "1 = normal; higher is served first when not everyone can be ready"),
    ]
    return _grid(grid_id, rows, cols)


def roster_grid(grid_id: str, rows: list[dict], vehicle_ids: Sequence[str]) -> dag.AgGrid:
    cols = [
        _line_column(), _vehicle_column(vehicle_ids),
        {"field": "weekday", "headerName": "Weekday", "cellEditor": "agSelectCellEditor",
         "cellEditorParams": {"values": WEEKDAYS}, "cellDataType": "text", "headerTooltip": "the day the vehicle arrives", "minWidth": 110},
        _text("arrival", "Arrival", "HH:MM UTC", 100),
        _text("departure", "Departure", "HH:MM UTC; the next day when not later than the arrival", 110),
        _number("energy_kwh", "Energy kWh", "energy to add, or leave blank and give a target SoC"),
        _number("target_soc", "Target SoC %", "state of charge to reach, or leave blank and give energy"),
        _number("priority", "Priority", "1 = normal; higher is served first"),
    ]
    return _grid(grid_id, rows, cols)


# AG Grid 33 row selection: tick boxes (one in the header for all) in their own pinned column; a click on a
# cell edits it and never selects the row
MULTI_ROW_CHECKBOXES = {"mode": "multiRow", "checkboxes": True, "headerCheckbox": True, "enableClickSelection": False}
SELECTION_COLUMN = {"width": 44, "minWidth": 44, "maxWidth": 44, "pinned": "left", "suppressMovable": True,
                    "resizable": False}


def _grid(grid_id: str, rows: list[dict], cols: list[dict]) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, rowData=rows, columnDefs=cols, getRowId="params.data._rid",
        # flex, not columnSize="responsiveSizeToFit": a hidden grid has no width to size to (AG Grid warning #29)
        defaultColDef={"editable": True, "sortable": False, "filter": False, "resizable": True,
                       "suppressMovable": True, "flex": 1},
        dashGridOptions={"rowSelection": MULTI_ROW_CHECKBOXES, "selectionColumnDef": SELECTION_COLUMN,
                         "singleClickEdit": True,
                         "stopEditingWhenCellsLoseFocus": True, "rowHeight": 34, "headerHeight": 36,
                         "tooltipShowDelay": 300, "animateRows": False,
                         "localeText": {"noRowsToShow": "No rows: press Add row or upload a CSV"}},
        style={"height": f"{min(420, max(190, 40 + 34 * (len(rows) + 2)))}px"},
    )


# ---------------------------------------------------------------- messages


def row_errors(errors: Sequence[RowError], *, what: str, head: str = "Nothing was saved", roster: bool = False,
               csv: bool = False) -> html.Div:
    """Every bad line, one per item, naming the column by its header: "line 3, Departure: … is in the past"
    (a CSV file's line also names its column: "Energy kWh (energy_kwh)")."""
    n = len(errors)
    labels = ROSTER_LABELS if roster else COLUMN_LABELS
    return html.Div([
        html.Strong(f"{head}: {n} problem{'s' if n != 1 else ''} in {what}."),
        html.Ul([html.Li(e.shown(labels, csv=csv)) for e in errors], className="mb-0 mt-1 small planner-errors"),
    ], className="alert alert-danger py-2 mb-2", role="alert")


def notice(text: str, tone: str = "success", *extra) -> html.Div:
    return html.Div([text, *extra], className=f"alert alert-{tone} py-2 mb-2", role="status")


def shift_note(roster_shift: Sequence[Departure], one_offs: Sequence[Departure]) -> html.Div:
    """Which roster departures fall in the coming shift, and which of them a one-off row overrides."""
    rule = ("A one-off row here overrides that vehicle's weekly roster entry for this shift; "
            "the plan uses at most one departure per vehicle, the earliest.")
    overridden = sorted({d.vehicle_id for d in one_offs} & {d.vehicle_id for d in roster_shift})
    used = [d for d in roster_shift if d.vehicle_id not in overridden]
    parts: list = [html.Span(rule)]
    if used:
        shown = ", ".join(f"{d.vehicle_id} {d.departure:%a %H:%M}" for d in used[:12])
        more = f" and {len(used) - 12} more" if len(used) > 12 else ""
        parts += [html.Br(), html.Span(f"From the weekly roster this shift: {shown}{more}.")]
    if overridden:
        parts += [html.Br(), html.Span(f"Overridden by a row in this table: {', '.join(overridden)}.",
                                       className="fw-semibold")]
    return html.Div(parts, className="small text-muted mt-2")


# ---------------------------------------------------------------- the plan panel


@dataclass(frozen=True)
class PlanView:
    """What the plan panel shows. `kind`: "active" (the stored plan in force), "saved" (just computed for
    the departures saved a moment ago), or "preview" (the table as edited, not saved)."""

    kind: str
    problem: PlanningProblem
    plan: Plan
    readiness: tuple[Readiness, ...]
    explanation: ShortfallExplanation | None
    made_at: datetime
    record: PlanRecord | None = None
    changes: tuple[tuple[str, str | None, str | None], ...] = ()  # (vehicle, badge in active plan, badge here)
    note: str = ""
    targets: Mapping[str, float] = field(default_factory=dict)  # target SoC % per vehicle, where one was given
    unplanned: tuple[str, ...] = ()  # vehicles with a departure this shift that the plan does not include
    entered: Mapping[str, float] = field(default_factory=dict)  # energy typed per vehicle (kWh), where one was


def entered_energy(departures: Iterable[Departure]) -> dict[str, float]:
    """The energy the dispatcher typed per vehicle (the plan's need may be less: some is already delivered)."""
    return {d.vehicle_id: d.energy_kwh for d in departures if d.energy_kwh is not None}


def badge(r: Readiness) -> html.Span:
    label = r.text if r.badge == "will miss" else r.badge
    return html.Span(label, className=f"badge rounded-pill {BADGE_CLASS.get(r.badge, 'text-bg-secondary')}",
                     title=r.text, **{"data-vehicle": r.key, "data-badge": r.badge})


def plan_panel(view: PlanView | None, *, now: datetime, graph_id: str) -> html.Div:
    if view is None:
        return html.Div([
            html.H5("No plan yet", className="mb-1"),
            html.P(["A plan is made when departures are saved, a vehicle plugs in, or every few minutes while "
                    "the depot service runs. Press ", html.Strong("Preview"),
                    " to see what the table above would give without saving it."], className="mb-0"),
        ], className="empty-state my-2", id="planner-no-plan")
    counts = {b: sum(1 for r in view.readiness if r.badge == b) for b in BADGE_ORDER}
    short = sum(r.shortfall_kwh for r in view.readiness if r.badge == "will miss")
    children = [
        _version_line(view),
        html.Div([
            _kpi("Vehicles planned", f"{len(view.readiness)}", ""),
            _kpi("Ready", f"{counts['ready']}", "", "success" if counts["ready"] else "muted"),
            _kpi("At risk", f"{counts['at risk']}", "little time to spare", "warning" if counts["at risk"] else "muted"),
            _kpi("Will miss", f"{counts['will miss']}", f"{short:.0f} kWh short" if short else "",
                 "danger" if counts["will miss"] else "muted"),
            _kpi("Peak", f"{view.plan.peak_kw:.0f} kW",
                 f"limit {min(view.problem.site_limits(), default=0):.0f} kW"),
            _kpi("Energy", f"{view.plan.energy_kwh:.0f} kWh", f"cost {view.plan.energy_cost:.2f}"),
        ], className="d-flex flex-wrap gap-2 my-2"),
    ]
    if view.problem.site_limits().max(initial=0.0) <= 0 and view.problem.vehicles:
        children.append(notice("The site's grid connection is 0 kW, so nothing can charge: set it with "
                               "`depot site set --grid-kw KW [--margin-kw KW]`.", "danger"))
    if view.explanation is not None and not view.explanation.all_ready:
        children.append(_explanation(view.explanation))
    if view.changes:
        children.append(_changes(view.changes))
    if view.unplanned:
        children.append(notice(
            f"Not in the plan: {', '.join(view.unplanned)}. A departure is entered, but the vehicle is not plugged "
            "in and no expected arrival is given (or it arrives after the plan's 24 h). Give its expected arrival "
            "to reserve energy for it.", "secondary"))
    if not view.readiness:
        children.append(html.P("No vehicle is plugged in or expected in the coming shift.", className="text-muted"))
    badges = {r.key: r.badge for r in view.readiness}
    title = "Planned power per vehicle and site total (UTC)" + (" — PREVIEW" if view.kind == "preview" else "")
    children.append(dbc.Row([
        dbc.Col(readiness_table(view.readiness, view.problem, view.targets, view.entered), xl=6, className="mb-3"),
        dbc.Col(dcc.Graph(id=graph_id, figure=plan_timeline(view.problem, view.plan, badges=badges, now=now,
                                                            title=title),
                          config={"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}),
                xl=6),
    ], className="mt-2"))
    tone = {"preview": "planner-preview border-warning", "saved": "border-success"}.get(view.kind, "")
    style = {"borderWidth": "3px", "borderStyle": "dashed"} if view.kind == "preview" else {}
    return html.Div(children, className=f"card card-body {tone}", style=style,
                    **{"data-kind": view.kind})


def _version_line(view: PlanView) -> html.Div:
    status = view.plan.status.value
    if view.kind == "preview":
        head = [html.Span("PREVIEW — not saved", className="badge text-bg-warning fs-6 me-2"),
                html.Span(f"computed {view.made_at:%Y-%m-%d %H:%M} UTC from the table as it is now; "
                          "press Save to keep it.")]
    elif view.kind == "saved":
        head = [html.Span("Saved", className="badge text-bg-success fs-6 me-2"),
                html.Span(f"forecast for the saved departures, computed {view.made_at:%H:%M} UTC. ")]
    else:
        rec = view.record
        head = [html.Span(f"Active plan #{rec.id}" if rec else "Active plan", className="badge text-bg-primary fs-6 me-2"),
                html.Span(f"made {rec.created_at:%Y-%m-%d %H:%M} UTC · reason: {rec.reason}" if rec else "")]
    parts = [*head, html.Span(f" · status: {STATUS_TEXT.get(status, status)}", className="text-muted")]
    if view.kind != "active":
        rec = view.record
        parts.append(html.Div(f"In force now: plan #{rec.id}, made {rec.created_at:%Y-%m-%d %H:%M} UTC ({rec.reason})."
                              if rec else "No plan is in force yet.", className="small text-muted"))
    if view.note:
        parts += [html.Div(view.note, className="small text-muted")]
    return html.Div(parts, className="planner-version", **{"data-kind": view.kind})


def _kpi(label: str, value: str, sub: str, tone: str = "") -> html.Div:
    colour = f" text-{tone}" if tone else ""
    return html.Div([html.Div(label, className="small text-uppercase text-muted"),
                     html.Div(value, className=f"fs-4 fw-semibold lh-sm{colour}"),
                     html.Div(sub, className="small text-muted")],
                    className="border rounded bg-white px-3 py-1", style={"minWidth": "8.5rem"})


def _explanation(expl: ShortfallExplanation, shown: int = 2) -> html.Div:
    """The summary, the site's missing kW, the protected vehicles and the first vehicles' reasons in view;
    the other per-vehicle lines folded."""
    first, *rest = expl.lines
    per_vehicle = {s.text for s in expl.vehicles}
    site = [line for line in rest if line not in per_vehicle and not line.startswith("… and")]
    vehicles = [line for line in rest if line not in site]
    folded = vehicles[shown:]
    return html.Div([
        html.Strong("Why not everyone can be ready, and what would fix it: "), html.Span(first),
        html.Ul([html.Li(line) for line in site + vehicles[:shown]], className="mb-0 mt-1"),
        html.Details([html.Summary(f"{len(folded)} more line{'s' if len(folded) != 1 else ''} per vehicle",
                                   className="small mt-1"),
                      html.Ul([html.Li(line) for line in folded], className="mb-0 small")]) if folded else None,
    ], className="alert alert-warning py-2 mb-2 planner-explanation")


def _changes(changes: Iterable[tuple[str, str | None, str | None]]) -> html.Div:
    items = [html.Li([html.Strong(k), f": {a or 'not planned'} → {b or 'not planned'}"]) for k, a, b in changes]
    return html.Div([html.Strong("Compared with the active plan: "), html.Ul(items, className="mb-0 small")],
                    className="alert alert-info py-2 mb-2 planner-changes")


def need_note(typed: float | None, need_kwh: float) -> str | None:
    """Why the plan's need differs from the energy typed: "30 kWh entered, 14 kWh already delivered"."""
    if typed is None or abs(typed - need_kwh) < 0.5:
        return None
    if typed > need_kwh:
        return f"{typed:g} kWh entered, {typed - need_kwh:.0f} kWh already delivered"
    return f"{typed:g} kWh entered now; this plan was made for {need_kwh:.0f} kWh"


def readiness_table(readiness: Sequence[Readiness], problem: PlanningProblem | None = None,
                    targets: Mapping[str, float] | None = None, entered: Mapping[str, float] | None = None) -> html.Div:
    """One row per vehicle, the ones that will miss first; notes (assumptions) as a tooltip marked *; where the
    plan's need differs from the energy typed, the row says why."""
    arrivals = {n.id: n.arrival for n in problem.vehicles} if problem is not None else {}
    rows = sorted(readiness, key=lambda r: (BADGE_ORDER.get(r.badge, 3), r.departure, r.key))
    head = html.Thead(html.Tr([html.Th("Vehicle"), html.Th("Charger"), html.Th("Departs"),
                               html.Th("kWh planned / need", className="text-end"),
                               html.Th("SoC at dep.", className="text-end"), html.Th("Forecast")]))
    body = []
    for r in rows:
        arrival = arrivals.get(r.key)
        where = r.charger_id or (f"due {arrival:%H:%M}" if arrival else "expected")
        soc = "—" if r.soc_at_departure is None else f"{r.soc_at_departure:.0f} %"
        target = (targets or {}).get(r.key)
        if r.soc_at_departure is not None and target is not None and r.soc_at_departure < target - 0.5:
            soc = f"{r.soc_at_departure:.0f} % of {target:g} %"
        body.append(html.Tr([
            html.Td([r.key, html.Span("*", className="text-muted") if r.notes else None],
                    title="\n".join(r.notes) if r.notes else None),
            html.Td(where, className="text-muted"), html.Td(f"{r.departure:%a %H:%M}"),
            html.Td([f"{r.planned_kwh:.0f} / {r.need_kwh:.0f}",
                     html.Div(note, className="text-muted planner-need-note", style={"fontSize": "0.75rem"})
                     if (note := need_note((entered or {}).get(r.key), r.need_kwh)) else None],
                    className="text-end"),
            html.Td(soc, className="text-end"), html.Td(badge(r)),
        ], **{"data-vehicle": r.key}))
    table = html.Table([head, html.Tbody(body)],
                       className="table table-sm table-hover align-middle mb-0 small text-nowrap")
    foot = html.Div("* an assumption was made: hover the vehicle to see it.", className="small text-muted px-2 py-1") \
        if any(r.notes for r in readiness) else None
    return html.Div([html.Div(table, style={"maxHeight": "760px", "overflow": "auto"}), foot],
                    className="bg-white border rounded")


def remaining_soc(r: Readiness, vp: VehiclePlan | None, problem: PlanningProblem, battery_kwh: float | None,
                  soc_now: float | None, now: datetime) -> float | None:
    """SoC at departure for a stored plan: the SoC now plus the energy still planned from now on."""
    if vp is None or not battery_kwh or soc_now is None:
        return r.soc_at_departure
    step = timedelta(minutes=problem.slot_minutes)
    done = sum(1 for k in range(problem.slots) if problem.start + (k + 1) * step <= now)
    left = sum(vp.power_kw[done:]) * problem.slot_hours
    return min(100.0, soc_now + left / battery_kwh * 100.0)
