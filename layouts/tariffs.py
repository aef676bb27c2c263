"""/tariffs: managers edit the supplier tariff versions, the billing groups and which group each vehicle is in.

A tariff version is validated as a whole (`depot.costs.tariff_io.parse_tariff` names every bad field) and saved;
the ledger is then recomputed from the version's month, and the planner plans with it from its next re-plan.
Billing groups and vehicle groups re-bill the ledger. Every callback is a few lines around one of the
operations below (`save_version`, `delete_version`, `save_rates`, `save_groups`) so that role checks can
wrap them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from depot.costs import ledger, tariff_store
from depot.costs.billing import GROUP_KINDS
from depot.costs.tariff_io import parse_rates, parse_tariff, tariff_to_json
from depot.costs.tariffs import PERIOD_DAYS, TariffErrors, TariffVersion
from depot.errors import ValidationError
from depot.text import count
from depot.web.auth import MANAGE, TARIFF_READERS, require
from depot.web.context import Services, services

dash.register_page(__name__, path="/tariffs", name="Tariffs", title="Tariffs · Depot")

VERSION, MSG, SUMMARY = "tf-version", "tf-msg", "tf-summary"
FIELDS = ("name", "valid_from", "timezone", "currency", "demand_charge_per_kw", "fixed_fee_per_month", "holidays",
          "carbon_g_per_kwh")
PERIODS, SEASONS = "tf-periods", "tf-seasons"
SAVE, DELETE = "tf-save", "tf-delete"
RATES, RATES_ADD, RATES_DELETE, RATES_SAVE, RATES_MSG = ("tf-rates", "tf-rates-add", "tf-rates-delete",
                                                         "tf-rates-save", "tf-rates-msg")
GROUPS, GROUPS_SAVE, GROUPS_MSG = "tf-groups", "tf-groups-save", "tf-groups-msg"
NEW = "new"


def fid(name: str) -> str:
    return f"tf-{name.replace('_', '-')}"


# ---------------------------------------------------------------- operations


def version_form(svc: Services, version_id) -> tuple[dict, list[dict], list[dict]]:
    """The form fields, period rows and season rows of a version (a new one starts as a copy of the newest)."""
    versions = tariff_store.list_tariffs(svc.store)
    v = next((x for x in versions if str(x.id) == str(version_id)), None)
    base = v or (versions[-1] if versions else None)
    if base is None:
        doc = {"periods": [{"days": "weekday", "start": "22:00", "end": "06:00", "price": 0.15, "season": "all"},
                           {"days": "weekday", "start": "06:00", "end": "22:00", "price": 0.28, "season": "all"},
                           {"days": "weekend", "start": "00:00", "end": "24:00", "price": 0.18, "season": "all"}],
               "seasons": [], "holidays": [], "carbon_g_per_kwh": []}
        form = {"name": "", "timezone": "UTC", "currency": "EUR", "demand_charge_per_kw": 0.0,
                "fixed_fee_per_month": 0.0}
    else:
        doc = tariff_to_json(base)
        form = {"name": base.name if v else f"{base.name} (new)", "timezone": base.timezone, "currency": base.currency,
                "demand_charge_per_kw": base.demand_charge_per_kw, "fixed_fee_per_month": base.fixed_fee_per_month}
    start = v.valid_from if v else svc.clock() + timedelta(days=1)
    form["valid_from"] = start.astimezone(_zone(form["timezone"])).date().isoformat()
    form["holidays"] = ", ".join(doc["holidays"])
    form["carbon_g_per_kwh"] = ", ".join(f"{x:g}" for x in doc["carbon_g_per_kwh"])
    return form, doc["periods"], doc["seasons"]


def _zone(name: str):
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - an invalid zone is reported by the validation, the form shows UTC
        return ZoneInfo("UTC")


def save_version(svc: Services, form: dict, periods: list[dict], seasons: list[dict], version_id=None):
    """Validate and save one version; the ledger is recomputed. Raises TariffErrors naming every bad field."""
    others = tariff_store.list_tariffs(svc.store)
    vid = int(version_id) if version_id not in (None, NEW, "") else None
    version = parse_tariff(form, periods, seasons, others=others, version_id=vid)
    return ledger.save_tariff(svc.store, version, now=svc.clock())


def delete_version(svc: Services, version_id) -> ledger.LedgerUpdate:
    return ledger.delete_tariff(svc.store, int(version_id), now=svc.clock())


def save_rates(svc: Services, rows: list[dict]):
    return ledger.save_rates(svc.store, parse_rates(rows), now=svc.clock())


def save_groups(svc: Services, rows: list[dict]):
    groups = [tariff_store.VehicleGroups(str(r.get("vehicle_id")), r.get("cost_centre"), r.get("route"),
                                         r.get("department"), r.get("billing_group") or None) for r in rows]
    return ledger.save_vehicle_groups(svc.store, groups)


# ---------------------------------------------------------------- rendering


def version_options(versions: list[TariffVersion]) -> list[dict]:
    opts = [{"label": f"{v.name} · from {v.valid_from.astimezone(_zone(v.timezone)):%Y-%m-%d}", "value": str(v.id)}
            for v in reversed(versions)]
    return opts + [{"label": "+ New version", "value": NEW}]


def summary(versions: list[TariffVersion], now) -> html.Div:
    if not versions:
        return html.Div("No tariff yet: the ledger and the planner use the built-in time-of-use default "
                        "(0.12 at night, 0.22 by day, 0.34 from 16:00 to 21:00 UTC).", className="small text-muted")
    active = [v for v in versions if v.valid_from <= now]
    current = active[-1].id if active else None
    rows = [html.Tr([html.Td(v.name + (" (in force)" if v.id == current else "")),
                     html.Td(f"{v.valid_from.astimezone(_zone(v.timezone)):%Y-%m-%d}"), html.Td(v.timezone),
                     html.Td(f"{v.demand_charge_per_kw:g} {v.currency}/kW"), html.Td(f"{v.fixed_fee_per_month:g}"),
                     html.Td(str(len(v.periods)))], className="fw-semibold" if v.id == current else "")
            for v in reversed(versions)]
    head = html.Tr([html.Th(h) for h in ("Version", "From", "Time zone", "Demand charge", "Fixed fee / month",
                                         "Periods")])
    return html.Table([html.Thead(head), html.Tbody(rows)], className="table table-sm small mb-0")


def errors_box(exc: Exception, head: str = "Nothing was saved") -> html.Div:
    items = [str(e) for e in exc.errors] if isinstance(exc, TariffErrors) else [str(exc)]
    return html.Div([html.Strong(f"{head}: {count(len(items), 'problem')}."),
                     html.Ul([html.Li(i) for i in items], className="mb-0 mt-1 small")],
                    className="alert alert-danger py-2 mb-2", role="alert")


def ok(text: str) -> html.Div:
    return html.Div(text, className="alert alert-success py-2 mb-2", role="status")


def _grid(ident: str, rows: list[dict], cols: list[dict], height: int = 260) -> dag.AgGrid:
    # AG Grid 33 row selection: a tick box per row in its own column, a click on a cell edits and never selects;
    # flex, not columnSize="responsiveSizeToFit": a hidden grid has no width to size to (AG Grid warning #29)
    return dag.AgGrid(id=ident, rowData=rows, columnDefs=[{"headerName": "#", "valueGetter": {
        "function": "params.node.rowIndex + 1"}, "width": 64, "maxWidth": 64, "flex": 0, "editable": False}, *cols],
        defaultColDef={"editable": True, "resizable": True, "sortable": False, "suppressMovable": True, "flex": 1,
                       "minWidth": 90},
        style={"height": f"{height}px"},
        dashGridOptions={"rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": False,
                                          "enableClickSelection": False},
                         "selectionColumnDef": {"width": 44, "maxWidth": 44, "resizable": False},
                         "singleClickEdit": True, "stopEditingWhenCellsLoseFocus": True, "rowHeight": 32})


def _select(field: str, header: str, values) -> dict:
    return {"field": field, "headerName": header, "cellEditor": "agSelectCellEditor",
            "cellEditorParams": {"values": list(values)}}


def _num(field: str, header: str) -> dict:
    return {"field": field, "headerName": header, "cellDataType": "number", "cellEditor": "agNumberCellEditor"}


def _field(name: str, label: str, value, md: int = 2) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=fid(name), className="small mb-0"),
                    dbc.Input(id=fid(name), value=value, size="sm")], md=md)


def layout(**_):
    svc = services()
    versions = tariff_store.list_tariffs(svc.store)
    current = str(versions[-1].id) if versions else NEW
    form, periods, seasons = version_form(svc, current)
    rates = [asdict(r) for r in tariff_store.list_rates(svc.store)]
    groups = [asdict(g) for g in tariff_store.vehicle_groups(svc.store)]
    return html.Div([html.H2("Tariffs and billing"), _tariff_card(svc, versions, current, form, periods, seasons),
                     _billing_card(rates), _vehicles_card(groups, rates)], id="tariffs-page")


BTN = "btn btn-sm btn-"


def _tariff_card(svc, versions, current: str, form: dict, periods: list, seasons: list) -> html.Div:
    """The supplier tariff: version picker, the version's fields, its periods and seasons, save/delete."""
    btn = BTN
    return html.Div([
        html.Div([html.H4("Supplier tariff", className="mb-0 me-3"),
                  dcc.Dropdown(id=VERSION, options=version_options(versions), value=current, clearable=False,
                               style={"minWidth": "22rem"})], className="d-flex align-items-center mb-2"),
        html.P("A version applies from its start (local midnight) until the next version. Prices are per kWh by "
               "local time; a period whose end is before its start runs past midnight. Saving recomputes the "
               "ledger from that month; the planner plans with it from the next re-plan. For a price change, choose "
               "'+ New version': editing a version changes it for its whole period.", className="small"),
        dbc.Row([_field("name", "Name", form["name"], md=4), _field("valid_from", "Valid from (YYYY-MM-DD)",
                                                                      form["valid_from"]),
                 _field("timezone", "Time zone", form["timezone"]), _field("currency", "Currency", form["currency"], md=1),
                 _field("demand_charge_per_kw", "Demand charge / kW / month", form["demand_charge_per_kw"]),
                 _field("fixed_fee_per_month", "Fixed fee / month", form["fixed_fee_per_month"], md=1)],
                className="g-2 mb-2"),
        html.H6("Energy prices (time of use)", className="mt-2"),
        _grid(PERIODS, periods, [_select("days", "Days", PERIOD_DAYS), {"field": "season", "headerName": "Season"},
                                 {"field": "start", "headerName": "Start (HH:MM)"},
                                 {"field": "end", "headerName": "End (HH:MM)"}, _num("price", "Price per kWh")]),
        html.Div([html.Button("Add period", id="tf-periods-add", n_clicks=0, className=btn + "secondary"),
                  html.Button("Delete selected", id="tf-periods-del", n_clicks=0, className=btn + "secondary")],
                 className="d-flex gap-2 my-2"),
        dbc.Row([
            dbc.Col([html.H6("Seasons (optional; MM-DD, inclusive)"),
                     _grid(SEASONS, seasons, [{"field": "name", "headerName": "Season"},
                                              {"field": "start", "headerName": "First day"},
                                              {"field": "end", "headerName": "Last day"}], 150),
                     html.Div([html.Button("Add season", id="tf-seasons-add", n_clicks=0, className=btn + "secondary"),
                               html.Button("Delete selected", id="tf-seasons-del", n_clicks=0,
                                           className=btn + "secondary")], className="d-flex gap-2 my-2")], md=6),
            dbc.Col([dbc.Label("Holidays (YYYY-MM-DD, comma separated)", className="small mb-0"),
                     dbc.Textarea(id=fid("holidays"), value=form["holidays"], rows=3, size="sm"),
                     dbc.Label("Grid carbon g CO₂/kWh by local hour (24 values; empty: default profile)",
                               className="small mb-0 mt-2"),
                     dbc.Input(id=fid("carbon_g_per_kwh"), value=form["carbon_g_per_kwh"], size="sm")], md=6),
        ], className="g-3"),
        html.Div(id=MSG, className="mt-2"),
        html.Div([html.Button("Save version", id=SAVE, n_clicks=0, className=btn + "primary"),
                  html.Button("Delete version", id=DELETE, n_clicks=0, className=btn + "outline-danger")],
                 className="d-flex gap-2 mb-3"),
        html.Div(summary(versions, svc.clock()), id=SUMMARY),
    ], className="card card-body mb-3")


def _billing_card(rates: list[dict]) -> html.Div:
    """Billing groups: what a group is billed per session."""
    btn = BTN
    return html.Div([
        html.H4("Billing groups"),
        html.P("What a group is billed per session (tenants, members; internal cost centres are usually free "
               "here and get the actual cost in the reports). The idle fee counts the minutes after charging "
               "completed beyond the grace period.", className="small"),
        _grid(RATES, rates, [{"field": "group", "headerName": "Group"}, _select("kind", "Kind", GROUP_KINDS),
                             _num("per_kwh", "Per kWh"), _num("per_minute", "Per minute"),
                             _num("session_fee", "Session fee"), _num("idle_fee_per_minute", "Idle fee / min"),
                             _num("idle_grace_minutes", "Grace (min)"),
                             {"field": "free", "headerName": "Free", "cellDataType": "boolean"}], 220),
        html.Div(id=RATES_MSG, className="mt-2"),
        html.Div([html.Button("Add group", id=RATES_ADD, n_clicks=0, className=btn + "secondary"),
                  html.Button("Delete selected", id=RATES_DELETE, n_clicks=0, className=btn + "secondary"),
                  html.Button("Save groups", id=RATES_SAVE, n_clicks=0, className=btn + "primary")],
                 className="d-flex gap-2 mt-2"),
    ], className="card card-body mb-3")


def _vehicles_card(groups: list[dict], rates: list[dict]) -> html.Div:
    """Per vehicle: cost centre, route, department and billing group."""
    btn = BTN
    return html.Div([
        html.H4("Vehicles"),
        html.P("Reports group by these; the billing group decides what the vehicle's sessions are billed.",
               className="small"),
        _grid(GROUPS, groups, [{"field": "vehicle_id", "headerName": "Vehicle", "editable": False},
                               {"field": "cost_centre", "headerName": "Cost centre"},
                               {"field": "route", "headerName": "Route"},
                               {"field": "department", "headerName": "Department"},
                               _select("billing_group", "Billing group", ["", *[r["group"] for r in rates]])], 320),
        html.Div(id=GROUPS_MSG, className="mt-2"),
        html.Button("Save vehicles", id=GROUPS_SAVE, n_clicks=0, className=btn + "primary mt-2"),
    ], className="card card-body mb-3")


# ---------------------------------------------------------------- callbacks (thin)


def on_pick(value):
    form, periods, seasons = version_form(services(), value)
    return (*[form[f] for f in FIELDS], periods, seasons)


def on_save(_n, version, periods, seasons, *values):
    svc = services()
    try:
        saved, update = save_version(svc, dict(zip(FIELDS, values, strict=True)), periods or [], seasons or [], version)
    except ValidationError as exc:
        return errors_box(exc), no_update, no_update, no_update
    versions = tariff_store.list_tariffs(svc.store)
    return (ok(f"Saved {saved.name!r}. Ledger recomputed: {update}."), version_options(versions), str(saved.id),
            summary(versions, svc.clock()))


def on_delete(_n, version):
    if version in (None, NEW):
        raise PreventUpdate
    svc = services()
    update = delete_version(svc, version)
    versions = tariff_store.list_tariffs(svc.store)
    value = str(versions[-1].id) if versions else NEW
    return ok(f"Deleted. Ledger recomputed: {update}."), version_options(versions), value, summary(versions, svc.clock())


def on_rows(_add, _del, rows, selected):
    """Add or delete rows of the periods, seasons or billing groups grid (whichever button was pressed)."""
    trigger = dash.ctx.triggered_id or ""
    rows = list(rows or [])
    if trigger.endswith("add"):
        blank = {"tf-periods-add": {"days": "all", "season": "all", "start": "", "end": "", "price": None},
                 "tf-seasons-add": {"name": "", "start": "", "end": ""},
                 RATES_ADD: {"group": "", "kind": "tenant", "per_kwh": 0.0, "per_minute": 0.0, "session_fee": 0.0,
                             "idle_fee_per_minute": 0.0, "idle_grace_minutes": 0.0, "free": False}}[trigger]
        return rows + [blank]
    return [r for r in rows if r not in (selected or [])]


def on_rates_save(_n, rows):
    try:
        saved = save_rates(services(), rows or [])
    except ValidationError as exc:
        return errors_box(exc)
    return ok(f"Saved {count(len(saved), 'billing group')}; the ledger was re-billed.")


def on_groups_save(_n, rows):
    try:
        saved = save_groups(services(), rows or [])
    except ValidationError as exc:
        return errors_box(exc)
    return ok(f"Saved {count(len(saved), 'vehicle')}; the ledger was re-billed.")


_DUP = {"allow_duplicate": True}
callback(*[Output(fid(f), "value") for f in FIELDS], Output(PERIODS, "rowData"), Output(SEASONS, "rowData"),
         Input(VERSION, "value"), prevent_initial_call=True)(require(*TARIFF_READERS)(on_pick))
callback(Output(MSG, "children"), Output(VERSION, "options"), Output(VERSION, "value"),
         Output(SUMMARY, "children"), Input(SAVE, "n_clicks"), State(VERSION, "value"), State(PERIODS, "rowData"),
         State(SEASONS, "rowData"), *[State(fid(f), "value") for f in FIELDS], prevent_initial_call=True)(require(*MANAGE)(on_save))
callback(Output(MSG, "children", **_DUP), Output(VERSION, "options", **_DUP), Output(VERSION, "value", **_DUP),
         Output(SUMMARY, "children", **_DUP), Input(DELETE, "n_clicks"), State(VERSION, "value"),
         prevent_initial_call=True)(require(*MANAGE)(on_delete))
for grid, add, delete in ((PERIODS, "tf-periods-add", "tf-periods-del"), (SEASONS, "tf-seasons-add", "tf-seasons-del"),
                          (RATES, RATES_ADD, RATES_DELETE)):
    callback(Output(grid, "rowData", **_DUP), Input(add, "n_clicks"), Input(delete, "n_clicks"),
             State(grid, "rowData"), State(grid, "selectedRows"), prevent_initial_call=True)(require(*MANAGE)(on_rows))
callback(Output(RATES_MSG, "children"), Input(RATES_SAVE, "n_clicks"), State(RATES, "rowData"),
         prevent_initial_call=True)(require(*MANAGE)(on_rates_save))
callback(Output(GROUPS_MSG, "children"), Input(GROUPS_SAVE, "n_clicks"), State(GROUPS, "rowData"),
         prevent_initial_call=True)(require(*MANAGE)(on_groups_save))
