"""Pieces of the /audit page (plan versus actual): KPI cards, the departures grid and the list of misses with
their causes. Pure drawing: a `DayAudit` in, components out; no store, no clock. The page loader skips this
file (its name starts with "_")."""

from __future__ import annotations

import dash_ag_grid as dag
from dash import html

from depot.planning.audit import DayAudit, DepartureAudit
from depot.text import count
from layouts._components import empty_state, kpi_card

STATUS_TEXT = {"ready": "ready", "missed": "missed", "to come": "still to come"}
STATUS_CLASS = {"ready": "text-bg-success", "missed": "text-bg-danger", "to come": "text-bg-secondary"}
NOTES = (
    "Needed: the energy entered for the departure, or (for a target SoC) what the last plan before it asked for.",
    "Planned: what a plan expected the vehicle to have by its departure (energy delivered when the plan was made, "
    "plus what it planned from then on), in the first plan that knew the departure and in the last one before it.",
    "Delivered: the meter readings of the vehicle's sessions in the 24 h before the departure (or since its "
    "previous departure). Ready: within 0.5 kWh (or 1 %) of the need, or at the target SoC.",
    "Causes are listed most telling first: impossible from the start, never planned, need changed after the plan, "
    "arrived late, plugged in late, unplugged early, charger faulted or offline, site limit dropped, took less "
    "than commanded. The weekly roster is read as it is now; the plans show what the planner was told then.",
)


def kpis(audit: DayAudit) -> html.Div:
    cards = [kpi_card("Departures", f"{len(audit.departures)}", f"{audit.day:%a %d %b %Y}", card_id="audit-kpi-n"),
             kpi_card("Ready", f"{audit.count('ready')}", "left with the energy needed", card_id="audit-kpi-ready"),
             kpi_card("Missed", f"{audit.count('missed')}", "left short", card_id="audit-kpi-missed",
                      class_name="tone-bad" if audit.count("missed") else ""),
             kpi_card("Still to come", f"{audit.count('to come')}", "not departed yet", card_id="audit-kpi-later")]
    return html.Div(cards, style={"display": "grid", "gap": ".6rem",
                                  "gridTemplateColumns": "repeat(auto-fit, minmax(150px, 1fr))"})


def _plan(kwh: float | None, plan_id: int | None) -> str:
    return "" if kwh is None else f"{kwh:.1f} (#{plan_id})"


def rows(audit: DayAudit) -> list[dict]:
    return [{"key": f"{a.vehicle_id}@{a.departure:%H:%M}", "vehicle": a.vehicle_id, "departs": f"{a.departure:%a %H:%M}",
             "source": a.source, "result": STATUS_TEXT[a.status], "needed": round(a.needed_kwh, 1),
             "planned_first": _plan(a.planned_first_kwh, a.first_plan_id),
             "planned_last": _plan(a.planned_last_kwh, a.last_plan_id), "delivered": round(a.delivered_kwh, 1),
             "short": round(max(0.0, a.needed_kwh - a.delivered_kwh), 1) if a.status == "missed" else None,
             "causes": "; ".join(dict.fromkeys(c.title for c in a.causes)), "chargers": " ".join(a.chargers)}
            for a in audit.departures]


_NUM = {"type": "rightAligned", "minWidth": 125, "valueFormatter": {"function": "params.value == null ? '' : "
                                                                              "d3.format(',.1f')(params.value)"}}


def grid(grid_id: str) -> dag.AgGrid:
    cols = [
        {"field": "vehicle", "headerName": "Vehicle", "pinned": "left", "minWidth": 110, "cellClass": "fw-semibold"},
        {"field": "departs", "headerName": "Departs (UTC)", "minWidth": 135},
        {"field": "result", "headerName": "Result", "minWidth": 110,
         "cellClassRules": {"text-danger fw-semibold": "params.value == 'missed'",
                            "text-success": "params.value == 'ready'"}},
        {"field": "needed", "headerName": "Needed kWh", **_NUM},
        {"field": "planned_first", "headerName": "Planned, first plan", "type": "rightAligned", "minWidth": 160,
         "headerTooltip": "kWh by the departure in the first plan that knew it (plan number)"},
        {"field": "planned_last", "headerName": "Planned, last plan", "type": "rightAligned", "minWidth": 160,
         "headerTooltip": "kWh by the departure in the last plan made before it (plan number)"},
        {"field": "delivered", "headerName": "Delivered kWh", **_NUM},
        {"field": "short", "headerName": "Short kWh", **_NUM},
        {"field": "causes", "headerName": "Causes", "minWidth": 240, "flex": 2, "tooltipField": "causes"},
        {"field": "source", "headerName": "Entered as", "minWidth": 115},
        {"field": "chargers", "headerName": "Chargers", "minWidth": 110},
    ]
    return dag.AgGrid(id=grid_id, rowData=[], columnDefs=cols, getRowId="params.data.key",
                      defaultColDef={"sortable": True, "resizable": True, "filter": False},
                      columnSize="responsiveSizeToFit",
                      dashGridOptions={"rowHeight": 32, "headerHeight": 36, "animateRows": False,
                                       "tooltipShowDelay": 300,
                                       "localeText": {"noRowsToShow": "No departures entered for this day"}},
                      style=grid_style(0))


def grid_style(n: int) -> dict:
    """Tall enough for every row up to 16, then it scrolls."""
    return {"height": f"{min(16, max(n, 3)) * 32 + 52}px"}


def _miss(a: DepartureAudit) -> html.Div:
    return html.Div([
        html.Div([html.Strong(a.vehicle_id), f" · departed {a.departure:%a %H:%M} UTC · ",
                  html.Span(f"{a.delivered_kwh:.1f} of {a.needed_kwh:.1f} kWh", className="fw-semibold"),
                  html.Span(f" · {', '.join(a.chargers)}" if a.chargers else "", className="text-muted")]),
        html.Ol([html.Li([html.Span(c.title, className="fw-semibold"), f": {c.evidence}"],
                         **{"data-cause": c.code}) for c in a.causes], className="mb-0 small"),
    ], className="border rounded bg-white px-3 py-2 mb-2 audit-miss", **{"data-vehicle": a.vehicle_id})


def misses(audit: DayAudit) -> html.Div:
    """Each missed departure with its causes, most telling first, and the evidence found."""
    missed = [a for a in audit.departures if a.status == "missed"]
    if not audit.departures:
        return empty_state("No departures entered for this day",
                           html.P("Plan versus actual covers the departures entered on the planner (one-off rows "
                                  "and the weekly roster). Pick another day.", className="mb-0"), icon="🗓")
    if not missed:
        return html.Div("Every departure that has left was ready." if audit.count("ready") else
                        "No departure of this day has left yet.", className="alert alert-success py-2 mb-2")
    return html.Div([html.H5(f"Why {count(len(missed), 'departure')} "
                             f"{'were' if len(missed) != 1 else 'was'} missed", className="mt-2"),
                     *[_miss(a) for a in missed]])


def notes() -> html.Ul:
    return html.Ul([html.Li(n) for n in NOTES], className="small text-muted mt-3")
