"""The floor plan's components: ids, the drawing of lanes and bays, the detail panel, the empty state.

`depot/web/floorplan.py` decides what to show (pure); this module only turns those values into Dash components.
A refresh paints new values into the elements already drawn (assets/floorplan.js finds them by
`data-cid`, `data-lane`, `data-status` and the header ids) instead of re-creating the plan: Dash 4 remounts
every child of a `children` output, and applying one prop update per bay through the renderer costs seconds
at 200 chargers (one lookup and one store dispatch per component id, each proportional to the page size).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from depot.web.floorplan import (
    LEGEND_ORDER,
    OPTIONAL_IN_LEGEND,
    EmptyBay,
    FloorModel,
    Header,
    Lane,
    header_values,
    lane_stats,
)
from depot.web.floorplan_detail import DetailModel
from depot.web.floorplan_text import STATUS_HELP, status_label, status_slug
from depot.web.floorplan_tiles import Tile
from layouts._components import command, empty_state, kpi_card, kv_list, status_badge, status_dot

# ---------------------------------------------------------------- ids

TICK = "fp-tick"  # dcc.Interval: the refresh
DATA = "fp-data"  # dcc.Store: live values of the last refresh (paint_data)
KEY = "fp-key"  # dcc.Store: structure key of the plan as drawn
DRAWING = "fp-drawing"  # dcc.Store: a new drawing of the plan, copied into PLAN in the browser
DETAIL_TICK = "fp-detail-tick"  # dcc.Interval: the detail panel's refresh, disabled while it is closed
SELECTED = "fp-selected"  # dcc.Store: the charger id in the detail panel
STATUSES = "fp-statuses"  # dcc.Store: the statuses the legend filter keeps (empty: all)
DETAIL_KEY = "fp-detail-key"  # dcc.Store: what the detail panel shows, to skip unchanged redraws
SEARCH = "fp-search"
PLAN = "fp-plan"
ALERT = "fp-alert"
UPDATED = "fp-updated"
PANEL = "fp-panel"
PANEL_BODY = "fp-panel-body"
ONLINE, ONLINE_SUB = "fp-online", "fp-online-sub"
CHARGING = "fp-charging"
FAULTED, FAULTED_SUB, FAULTED_CARD = "fp-faulted", "fp-faulted-sub", "fp-faulted-card"
POWER, POWER_SUB, POWER_BAR, POWER_CARD = "fp-power", "fp-power-sub", "fp-power-bar", "fp-power-card"

PAINTED = "fp-painted"  # dcc.Store the painter "outputs" to (it never changes: the painter writes the DOM)
# pattern-matching types, for clicks: {"type": BAY, "id": charger id}, {"type": CHIP, "status": "Faulted"}
BAY = "fp-bay"
CHIP = "fp-chip"

PLACE_HINT = "depot chargers set {id} --bay A01 --max-kw 22 --commissioned"

# ---------------------------------------------------------------- header and toolbar


def header() -> html.Div:
    h = header_values_empty()
    power = html.Div([
        html.Div("Site power", className="kpi-label"),
        html.Div(h["power"], id=POWER, className="kpi-value"),
        html.Div(html.Div(id=POWER_BAR, className="progress-bar", style={"width": "0%"}), className="progress"),
        html.Div(h["load_text"], id=POWER_SUB, className="kpi-sub"),
    ], id=POWER_CARD, className="kpi fp-power level-none")
    return html.Div([
        kpi_card("Chargers online", h["online"], h["online_sub"], value_id=ONLINE, sub_id=ONLINE_SUB),
        kpi_card("Charging now", h["charging"], "connectors delivering energy", value_id=CHARGING),
        kpi_card("Faulted", h["faulted"], h["faulted_sub"], value_id=FAULTED, sub_id=FAULTED_SUB,
                 card_id=FAULTED_CARD, class_name="tone-zero"),
        power,
        html.Div([
            dbc.Input(id=SEARCH, type="search", placeholder="Search charger, bay or vehicle", size="sm",
                      class_name="fp-search", autocomplete="off"),
            html.Div("", id=UPDATED, className="fp-updated"),
        ], className="fp-side"),
    ], className="fp-header")


def header_values_empty() -> dict:
    return header_values(Header(0, 0, 0, 0, 0.0, 0.0, None, "none"))


def legend() -> html.Div:
    """Status chips with counts; a click keeps only that status (several may be active)."""
    chips = []
    for status in LEGEND_ORDER:
        slug = status_slug(status)
        hidden = " is-hidden" if status in OPTIONAL_IN_LEGEND else ""
        chips.append(html.Button(
            [status_dot(slug), status_label(status), html.Span("0", className="fp-count")],
            id={"type": CHIP, "status": status.value}, className=f"fp-chip st-{slug} is-zero{hidden}", type="button",
            **{"data-status": status.value},
            title=f"{status_label(status)}: {STATUS_HELP[status]}. Click to show only these.",
        ))
    return html.Div(chips, className="fp-legend")


# ---------------------------------------------------------------- the plan


def tile_class(slug: str, *, selected: bool, commissioned: bool) -> str:
    """Kept in step with assets/floorplan.js, which repaints it."""
    return f"fp-bay st-{slug}" + (" is-selected" if selected else "") + ("" if commissioned else " is-new")


def bay(t: Tile, selected: str | None) -> html.Button:
    cid = t.charger_id
    children = [
        html.Span(cid, className="fp-id"),
        html.Span(t.kind, className="fp-kind kind-" + t.kind.split()[0].lower()),
        html.Span(t.label, className="fp-status"),
        html.Span(t.vehicle, className="fp-vehicle"),
        html.Span("" if t.soc is None else f"{t.soc:.0f}%", className="fp-soc"),
        html.Span(t.metrics, className="fp-metrics"),
        html.Span(className="fp-socbar", style={"width": f"{0 if t.soc is None else max(0.0, min(100.0, t.soc)):.1f}%"}),
    ]
    if t.connectors:
        children.append(html.Span([html.Span(className=f"fp-conn st-{slug}") for _, slug in t.connectors],
                                  className="fp-conns"))
    return html.Button(children, id={"type": BAY, "id": cid}, type="button", title=t.title,
                       className=tile_class(t.slug, selected=cid == selected, commissioned=t.commissioned),
                       **{"data-cid": cid})


def empty_bay(e: EmptyBay) -> html.Div:
    return html.Div(e.name, className="fp-bay-empty", title=f"bay {e.name}: no charger")


def lane(ln: Lane, selected: str | None) -> html.Div:
    stats, faults = lane_stats(ln)
    head = html.Div([
        html.Span(ln.title, className="fp-lane-title"),
        html.Span(stats, className="fp-lane-stats"),
        html.Span(faults, className="fp-lane-faults"),
    ], className="fp-lane-head")
    parts = [head]
    if ln.unplaced:
        parts.append(html.Div(
            "Chargers without a bay, e.g. recorded in commissioning mode: click one to see how to place it.",
            className="fp-lane-hint", title=PLACE_HINT.format(id="ID")))
    parts.append(html.Div([bay(s, selected) if isinstance(s, Tile) else empty_bay(s) for s in ln.slots],
                          className="fp-bays"))
    return html.Div(parts, className="fp-lane is-unplaced" if ln.unplaced else "fp-lane",
                    style={"--bays": str(len(ln.slots))}, **{"data-lane": ln.name})


def plan(model: FloorModel, selected: str | None, *, ocpp_url: str = "ws://<host>:9000") -> list:
    """The drawing: lanes of bays, or the empty state, or "nothing matches"."""
    if model.total == 0:
        return [no_chargers(ocpp_url)]
    if not model.lanes:
        return [html.Div("No charger matches this filter. Clear the search or the status chips to see all "
                         f"{model.total}.", className="fp-nomatch")]
    return [lane(ln, selected) for ln in model.lanes]


def no_chargers(ocpp_url: str) -> html.Div:
    return empty_state(
        "No chargers yet",
        html.P("The floor plan draws every charger of the depot in its bay. Register your chargers, then point "
               "each one at the central system; they turn green as soon as they boot."),
        html.Div("Register a charger (lane letter + number for its bay):", className="small fw-semibold"),
        command("depot chargers add CP-001 --max-kw 22 --bay A01\n"
                "depot chargers add CP-101 --max-kw 150 --dc --bay B01"),
        html.Div(["Then set the charger's OCPP URL to ", html.Code(f"{ocpp_url}/CP-001"),
                  " (OCPP 1.6J or 2.0.1)."], className="small mb-3"),
        html.Div("Or just look around with the simulated depot:", className="small fw-semibold"),
        command("python app.py            # starts 20 simulated chargers (make run does the same)"),
        html.Div(["Commissioning many chargers? Start with ", html.Code("--accept-unknown-chargers"),
                  ": chargers that connect are recorded and appear under Unplaced."], className="small"),
    )


# ---------------------------------------------------------------- the detail panel


def detail_title(d: DetailModel) -> list:
    return [html.Span(d.charger_id), status_badge(d.status, d.label)]


def _section(title: str, *children) -> html.Div:
    return html.Div([html.H6(title), *children], className="fp-section")


def detail_body(d: DetailModel) -> list:
    out = []
    if not d.commissioned:
        out.append(html.Div(["Recorded when it first connected (commissioning mode). Give it a bay: ",
                             html.Code(PLACE_HINT.format(id=d.charger_id))],
                            className="alert alert-warning py-2 small"))
    if d.sessions:
        sessions = [html.Div(kv_list([
            ("Vehicle", html.Strong(s.vehicle)), ("Connector", str(s.connector_id)), ("Id tag", s.id_tag),
            ("Started", s.started), ("Energy", s.energy), ("Power", s.power), ("SoC", s.soc),
        ]), className="fp-session") for s in d.sessions]
    else:
        sessions = [html.Div("No session running.", className="fp-muted")]
    out.append(_section("Current session", *sessions))

    rows = [html.Tr([html.Td(str(c.connector_id)), html.Td(status_badge(c.status, c.label)),
                     html.Td(c.error or "–"), html.Td(c.updated, className="text-muted")]) for c in d.connectors]
    out.append(_section("Connectors", html.Table(
        [html.Thead(html.Tr([html.Th("#"), html.Th("Status"), html.Th("Error"), html.Th("Since")])),
         html.Tbody(rows)], className="fp-table") if rows else html.Div("No connector reported yet.",
                                                                          className="fp-muted")))

    out.append(_section("Last errors", html.Ul([html.Li(e) for e in d.errors], className="fp-errors")
                        if d.errors else html.Div("No faults reported.", className="fp-muted")))
    out.append(_section("Charger", kv_list(d.identity)))

    msgs = [html.Div([
        html.Span(m.time, className="fp-msg-time"),
        html.Span(m.arrow, className="fp-msg-arrow", title="from the charger" if m.direction == "in" else "to the charger"),
        html.Span(m.action, className="fp-msg-action"),
        html.Span(m.payload, className="fp-msg-payload", title=m.full),
    ], className=f"fp-msg dir-{m.direction} kind-{m.kind}") for m in d.messages]
    out.append(_section("Last messages",
                        html.Div("UTC, newest first · ← from the charger · → to the charger",
                                 className="fp-section-note"),
                        html.Div(msgs, className="fp-msgs") if msgs else html.Div("No messages logged yet.",
                                                                                 className="fp-muted")))
    return out


def detail_missing(charger_id: str) -> list:
    return [html.Div(f"Charger {charger_id} is no longer known (it was removed).", className="fp-muted")]

