"""/maintenance: what is wrong, who is on it, and what was done (managers and maintenance staff).

Tabs: the alert queue (filter, acknowledge, resolve, assign, open a ticket), one charger's health with remote
actions (confirmed, answered, audited) and its service history, tickets, maintenance windows, the audit log.
Callbacks are thin: each calls one function of depot.people.alerts / depot.people.maintenance / depot.ocpp.remote with the
signed-in user's name, and every one of them requires a manager or maintenance role (`auth.MAINTAIN`). The
Credentials card (layouts/_maintenance_credentials.py) is a manager's only, and so are its callbacks.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from depot.control.health import charger_health
from depot.errors import DepotError
from depot.model import is_online
from depot.ocpp import remote
from depot.people import alerts, maintenance
from depot.people.users import MAINTENANCE, MANAGER, audit_log, list_users
from depot.web.auth import MAINTAIN, MANAGE, can, current_name, require
from depot.web.context import services
from layouts import _maintenance_credentials as credentials
from layouts import _maintenance_parts as ui
from layouts._auth_parts import BADGE_BUMP

dash.register_page(__name__, path="/maintenance", name="Maintenance", title="Maintenance · Depot charging")

TICK, KPIS, TABS, VERSION = "mt-tick", "mt-kpis", "mt-tabs", "mt-version"
F_STATUS, F_SEV, F_KIND, F_CHARGER = "mt-f-status", "mt-f-sev", "mt-f-kind", "mt-f-charger"
A_GRID, A_DETAIL, A_NOTE, A_ASSIGNEE, A_MSG = "mt-alert-grid", "mt-alert-detail", "mt-a-note", "mt-a-assignee", "mt-a-msg"
A_ACK, A_RESOLVE, A_ASSIGN, A_TICKET = "mt-a-ack", "mt-a-resolve", "mt-a-assign", "mt-a-ticket"
A_NOTE_FOR = "mt-a-note-for"  # the alert the note box was filled for
CHARGER, HEALTH, HISTORY = "mt-charger", "mt-health", "mt-history"
R_ACTION, R_CONNECTOR, R_TAG, R_KEY, R_VALUE, R_URL = ("mt-r-action", "mt-r-connector", "mt-r-tag", "mt-r-key",
                                                      "mt-r-value", "mt-r-url")
R_SEND, R_RESULT, R_PENDING = "mt-r-send", "mt-r-result", "mt-r-pending"
CONFIRM, CONFIRM_TEXT, CONFIRM_OK, CONFIRM_CANCEL = "mt-confirm", "mt-confirm-text", "mt-confirm-ok", "mt-confirm-cancel"
T_CHARGER, T_TITLE, T_ASSIGNEE, T_NOTE, T_CREATE, T_MSG = ("mt-t-charger", "mt-t-title", "mt-t-assignee", "mt-t-note",
                                                           "mt-t-create", "mt-t-msg")
T_GRID, T_NOTES, U_STATUS, U_ASSIGNEE, U_NOTE, U_SAVE = ("mt-t-grid", "mt-t-notes", "mt-u-status", "mt-u-assignee",
                                                         "mt-u-note", "mt-u-save")
W_CHARGER, W_START, W_END, W_REASON, W_ADD, W_MSG, W_GRID, W_CANCEL = (
    "mt-w-charger", "mt-w-start", "mt-w-end", "mt-w-reason", "mt-w-add", "mt-w-msg", "mt-w-grid", "mt-w-cancel")
AUDIT, PEOPLE = "mt-audit", "mt-people"
REFRESH_MS = 5000
FIELDS = {"connector": R_CONNECTOR, "id_tag": R_TAG, "key": R_KEY, "value": R_VALUE, "url": R_URL}


# ---------------------------------------------------------------- layout


def layout(charger=None, **_):
    svc = services()
    now = svc.clock()
    chargers = [c.id for c in svc.store.list_chargers()]
    selected = charger if charger in chargers else (chargers[0] if chargers else None)
    start, end = ui.default_window_times(now)
    staff = [u.name for u in list_users(svc.store) if u.role in (MANAGER, MAINTENANCE) and not u.disabled]
    return html.Div([
        dcc.Interval(id=TICK, interval=REFRESH_MS), ui.store(VERSION, 0), ui.store(R_PENDING), ui.store(A_NOTE_FOR),
        ui.datalist(PEOPLE, staff),
        html.Div([html.H2("Maintenance"), ui.tip("Alerts, charger health, remote actions, tickets and windows. "
                                                 "All times UTC.")], className="mb-2"),
        html.Div(id=KPIS, className="mt-kpis"),
        dbc.Tabs([dbc.Tab(_alerts_tab(now), label="Alerts", tab_id="alerts"),
                  dbc.Tab(_chargers_tab(chargers, selected), label="Chargers", tab_id="chargers"),
                  dbc.Tab(_tickets_tab(chargers, selected, now), label="Tickets", tab_id="tickets"),
                  dbc.Tab(_windows_tab(chargers, selected, start, end), label="Maintenance windows", tab_id="windows"),
                  dbc.Tab(html.Div(id=AUDIT, className="pt-2"), label="Audit log", tab_id="audit")],
                 id=TABS, active_tab="chargers" if charger else "alerts"),
        dbc.Modal([dbc.ModalHeader(dbc.ModalTitle("Send this command?")), dbc.ModalBody(id=CONFIRM_TEXT),
                   dbc.ModalFooter([ui.button("Cancel", CONFIRM_CANCEL), ui.button("Send", CONFIRM_OK, "danger")])],
                  id=CONFIRM, is_open=False),
    ], className="mt-page", id="maintenance-page")


def _alerts_tab(now) -> html.Div:
    return html.Div([
        dbc.Row([ui.field("Status", ui.select(F_STATUS, ui.STATUS_FILTER, "active")),
                 ui.field("Severity", ui.select(F_SEV, ui.SEVERITY_FILTER, ui.ANY)),
                 ui.field("Kind", ui.select(F_KIND, ui.KIND_FILTER, ui.ANY)),
                 ui.field("Charger", ui.text(F_CHARGER, "e.g. CP-A01", type="search"))], class_name="mt-form mb-2"),
        ui.alerts_grid(A_GRID, []),
        dbc.Row([
            dbc.Col(html.Div(ui.alert_detail(None, now), id=A_DETAIL, className="mt-card h-100"), md=6),
            dbc.Col(html.Div([
                dbc.Label("Note (required to resolve)", html_for=A_NOTE, class_name="small"),
                dbc.Textarea(id=A_NOTE, rows=2, size="sm", placeholder="what you saw or did"),
                dbc.Row([ui.field("Assign to", ui.text(A_ASSIGNEE, "user name", list=PEOPLE), 6)], class_name="mt-form"),
                html.Div([ui.button("Acknowledge", A_ACK, "primary"), ui.button("Resolve", A_RESOLVE, "success"),
                          ui.button("Assign", A_ASSIGN), ui.button("Open a ticket", A_TICKET, "outline-secondary")],
                         className="d-flex flex-wrap gap-2 mt-2"),
                html.Div(id=A_MSG, className="mt-2"),
            ], className="mt-card mt-form"), md=6),
        ], class_name="mt-2"),
    ], className="pt-2")


def _remote_card() -> html.Div:
    return html.Div([
        html.H5("Remote action"),
        dbc.Row([ui.field("Action", ui.select(R_ACTION, ui.action_options(), "reset_soft"), 4),
                 ui.field("Connector / EVSE", ui.text(R_CONNECTOR, "1 (0 = whole charger)", type="number"), 2),
                 ui.field("Id tag", ui.text(R_TAG, "for remote start"), 2),
                 ui.field("Key or Component/Variable", ui.text(R_KEY, "HeartbeatInterval"), 2),
                 ui.field("Value", ui.text(R_VALUE, "new value"), 2),
                 ui.field("URL", ui.text(R_URL, "https://… (diagnostics upload / firmware)"), 6)],
                class_name="mt-form"),
        html.Div([ui.button("Send…", R_SEND, "warning"),
                  ui.tip(" 1.6 keys are configuration keys; 2.0.1 uses Component/Variable, e.g. "
                         "OCPPCommCtrlr/HeartbeatInterval.")], className="mt-2"),
        html.Div(id=R_RESULT, className="mt-2"),
    ], className="mt-card mt-2")


def _chargers_tab(chargers: list[str], selected: str | None) -> html.Div:
    return html.Div([
        dbc.Row([ui.field("Charger", ui.select(CHARGER, chargers, selected), 3)], class_name="mt-form mb-2"),
        dcc.Loading(html.Div(id=HEALTH), type="dot", delay_show=300),
        _remote_card(),
        *([credentials.card()] if can(MANAGE) else []),  # managers only: profile, password, rotation
        html.Div([html.H5("Service history"), html.Div(id=HISTORY)], className="mt-card mt-2"),
    ], className="pt-2")


def _tickets_tab(chargers: list[str], selected: str | None, now) -> html.Div:
    return html.Div([
        html.Div([html.H5("New ticket"), dbc.Row([
            ui.field("Charger", ui.select(T_CHARGER, chargers, selected), 2),
            ui.field("Title", ui.text(T_TITLE, "what is wrong"), 4),
            ui.field("Assignee", ui.text(T_ASSIGNEE, "user name", list=PEOPLE), 2),
            ui.field("First note", ui.text(T_NOTE, "optional"), 4)], class_name="mt-form"),
            html.Div(ui.button("Create ticket", T_CREATE, "primary"), className="mt-2"), html.Div(id=T_MSG, className="mt-2"),
        ], className="mt-card mb-2"),
        ui.grid(T_GRID, "tickets", []),
        dbc.Row([dbc.Col(html.Div(ui.ticket_notes(None, now), id=T_NOTES, className="mt-card h-100"), md=6),
                 dbc.Col(html.Div([html.H5("Update the selected ticket"), dbc.Row([
                     ui.field("Status", ui.select(U_STATUS, ui.TICKET_STATUS_OPTIONS), 6),
                     ui.field("Assignee", ui.text(U_ASSIGNEE, "user name (empty: nobody)", list=PEOPLE), 6),
                     ui.field("Note", dbc.Textarea(id=U_NOTE, rows=2, size="sm"), 12)], class_name="mt-form"),
                     html.Div(ui.button("Save", U_SAVE, "primary"), className="mt-2")], className="mt-card"), md=6)],
                class_name="mt-2"),
    ], className="pt-2")


def _windows_tab(chargers: list[str], selected: str | None, start: str, end: str) -> html.Div:
    return html.Div([
        html.Div([html.H5("New maintenance window"),
                  ui.tip("The charger is set Inoperative at the start (the floor plan shows it Unavailable), left "
                         "out of the plan while the window lasts, and set Operative at the end. Times are UTC."),
                  dbc.Row([ui.field("Charger", ui.select(W_CHARGER, chargers, selected), 2),
                           ui.field("Start (UTC)", ui.text(W_START, value=start), 2),
                           ui.field("End (UTC)", ui.text(W_END, value=end), 2),
                           ui.field("Reason", ui.text(W_REASON, "e.g. replace cable"), 6)], class_name="mt-form mt-1"),
                  html.Div([ui.button("Add window", W_ADD, "primary"),
                            ui.button("Cancel / end the selected window", W_CANCEL, "outline-danger")],
                           className="d-flex gap-2 mt-2"),
                  html.Div(id=W_MSG, className="mt-2")], className="mt-card mb-2"),
        ui.grid(W_GRID, "windows", []),
    ], className="pt-2")


# ---------------------------------------------------------------- reading (refresh)


def _selected_id(rows) -> int | None:
    return rows[0]["id"] if rows else None


@callback(Output(A_GRID, "rowData"), Output(KPIS, "children"), Output(A_DETAIL, "children"),
          Input(TICK, "n_intervals"), Input(F_STATUS, "value"), Input(F_SEV, "value"), Input(F_KIND, "value"),
          Input(F_CHARGER, "value"), Input(VERSION, "data"), Input(A_GRID, "selectedRows"))
@require(*MAINTAIN)
def refresh_alerts(_n, status, severity, kind, charger, _version, selected):
    svc = services()
    now = svc.clock()
    rows = alerts.list_alerts(svc.store, status=None if status == "all" else status,
                              severity=None if severity in (None, "", ui.ANY) else severity,
                              kind=None if kind in (None, "", ui.ANY) else kind)
    if charger:
        rows = [a for a in rows if charger.strip().lower() in (a.charger_id or "").lower()]
    views, _ = svc.store.floor_snapshot(now, default_heartbeat=svc.settings.heartbeat_interval)
    offline = sum(1 for v in views if v.charger.last_seen and not is_online(v.charger, now, svc.settings.heartbeat_interval))
    kpis = ui.kpis(alerts.counts(svc.store), offline, len(maintenance.chargers_in_maintenance(svc.store, now)),
                   len(maintenance.list_tickets(svc.store, open_only=True)))
    chosen = _selected_id(selected)
    detail = ui.alert_detail(alerts.get_alert(svc.store, chosen) if chosen else None, now)
    return ui.alert_rows(rows, now), kpis, detail


@callback(Output(T_GRID, "rowData"), Output(W_GRID, "rowData"), Output(AUDIT, "children"), Output(T_NOTES, "children"),
          Input(TABS, "active_tab"), Input(VERSION, "data"), Input(T_GRID, "selectedRows"), Input(TICK, "n_intervals"))
@require(*MAINTAIN)
def refresh_lists(tab, _version, ticket_sel, _n):
    svc = services()
    now = svc.clock()
    tickets = maintenance.list_tickets(svc.store)
    chosen = _selected_id(ticket_sel)
    notes = ui.ticket_notes(next((t for t in tickets if t.id == chosen), None), now)
    entries = [e for e in audit_log(svc.store, limit=300) if e.action.split(".")[0] in
               ("charger", "alert", "ticket", "window")][:200] if tab == "audit" else no_update
    audit = ui.audit_table(entries, now) if tab == "audit" else no_update
    return ui.ticket_rows(tickets, now), ui.window_rows(maintenance.list_windows(svc.store), now), audit, notes


@callback(Output(HEALTH, "children"), Output(HISTORY, "children"),
          Input(CHARGER, "value"), Input(VERSION, "data"), Input(TABS, "active_tab"))
@require(*MAINTAIN)
def show_charger(charger_id, _version, tab):
    if not charger_id or tab != "chargers":
        raise PreventUpdate
    svc = services()
    now = svc.clock()
    try:
        h = charger_health(svc.store, charger_id, now, heartbeat_s=svc.settings.heartbeat_interval)
    except DepotError as exc:
        return ui.notice(str(exc), "warning"), None
    open_alerts = alerts.list_alerts(svc.store, charger_id=charger_id)
    health = html.Div([ui.health_panel(h, open_alerts, now),
                       ui.quarantine_table(maintenance.quarantined(svc.store, charger_id), now)])
    return health, ui.history_table(maintenance.service_history(svc.store, charger_id), now)


# ---------------------------------------------------------------- alert actions


@callback(Output(A_NOTE, "value", allow_duplicate=True), Output(A_NOTE_FOR, "data"),
          Input(A_GRID, "selectedRows"), State(A_NOTE_FOR, "data"), prevent_initial_call=True)
@require(*MAINTAIN)
def fill_note(selected, noted_for):
    """Picking another alert fills the note box with its acknowledgement note (empty for an open one), so
    Resolve right after Acknowledge needs no retyping; the same alert re-selected by a refresh keeps the text."""
    alert_id = _selected_id(selected)
    if alert_id == noted_for:
        raise PreventUpdate
    try:
        a = alerts.get_alert(services().store, alert_id) if alert_id is not None else None
    except DepotError:
        a = None
    return (a.ack_note or "") if a is not None else "", alert_id


@callback(Output(A_MSG, "children"), Output(VERSION, "data", allow_duplicate=True), Output(A_NOTE, "value"),
          Output(BADGE_BUMP, "data"),
          Input(A_ACK, "n_clicks"), Input(A_RESOLVE, "n_clicks"), Input(A_ASSIGN, "n_clicks"), Input(A_TICKET, "n_clicks"),
          State(A_GRID, "selectedRows"), State(A_NOTE, "value"), State(A_ASSIGNEE, "value"), State(VERSION, "data"),
          State(BADGE_BUMP, "data"), prevent_initial_call=True)
@require(*MAINTAIN)
def on_alert_action(_a, _r, _s, _t, selected, note, assignee, version, bump):
    alert_id = _selected_id(selected)
    if alert_id is None:
        return ui.notice("Pick an alert in the table first.", "secondary"), no_update, no_update, no_update
    svc, who = services(), current_name()
    now = svc.clock()
    try:
        if ctx.triggered_id == A_ACK:
            a = alerts.acknowledge(svc.store, alert_id, by=who, note=note or "", now=now)
            text = f"Alert #{a.id} acknowledged by {who}."
        elif ctx.triggered_id == A_RESOLVE:
            a = alerts.resolve(svc.store, alert_id, by=who, note=note or "", now=now)
            text = f"Alert #{a.id} resolved by {who}."
        elif ctx.triggered_id == A_ASSIGN:
            a = alerts.assign(svc.store, alert_id, assignee, by=who, now=now)
            text = f"Alert #{a.id} assigned to {a.assignee or 'nobody'}."
        else:
            a = alerts.get_alert(svc.store, alert_id)
            t = maintenance.create_ticket(svc.store, a.charger_id or "", f"{a.label}: {a.message}"[:200], by=who, now=now,
                                          assignee=assignee or a.assignee, note=note, alert_id=a.id)
            text = f"Ticket #{t.id} opened for {t.charger_id} (see the Tickets tab)."
    except DepotError as exc:
        return ui.notice(f"Nothing changed: {exc}", "danger"), no_update, no_update, no_update
    # the note stays after Acknowledge and Assign (Resolve right after uses it); the header badge is redrawn now
    keep = ctx.triggered_id in (A_ACK, A_ASSIGN)
    return ui.notice(text), (version or 0) + 1, no_update if keep else "", (bump or 0) + 1


# ---------------------------------------------------------------- remote actions


@callback(*[Output(f"{ident}", "disabled") for ident in FIELDS.values()], Input(R_ACTION, "value"))
@require(*MAINTAIN)
def action_fields(action):
    used = remote.ACTIONS.get(action, ("", ()))[1]
    return [name not in used for name in FIELDS]


def _params(values) -> dict:
    return {name: value for name, value in zip(FIELDS, values, strict=True)}


@callback(Output(CONFIRM, "is_open"), Output(CONFIRM_TEXT, "children"), Output(R_PENDING, "data"),
          Output(R_RESULT, "children"),
          Input(R_SEND, "n_clicks"), State(R_ACTION, "value"), State(CHARGER, "value"),
          *[State(ident, "value") for ident in FIELDS.values()], prevent_initial_call=True)
@require(*MAINTAIN)
def on_send(_n, action, charger_id, *values):
    if not charger_id:
        return False, no_update, None, ui.notice("Pick a charger first.", "secondary")
    try:
        params = remote.check_params(action, _params(values))
    except DepotError as exc:
        return False, no_update, None, ui.notice(f"Not sent: {exc}", "danger")
    pending = {"action": action, "charger": charger_id, "params": params}
    return True, ui.confirm_text(action, charger_id, params), pending, None


@callback(Output(CONFIRM, "is_open", allow_duplicate=True), Output(R_RESULT, "children", allow_duplicate=True),
          Output(VERSION, "data", allow_duplicate=True),
          Input(CONFIRM_OK, "n_clicks"), Input(CONFIRM_CANCEL, "n_clicks"), State(R_PENDING, "data"),
          State(VERSION, "data"), prevent_initial_call=True, running=[(Output(CONFIRM_OK, "disabled"), True, False)])
@require(*MAINTAIN)
def on_confirm(_ok, _cancel, pending, version):
    if ctx.triggered_id == CONFIRM_CANCEL or not pending:
        return False, ui.notice("Cancelled: nothing was sent.", "secondary"), no_update
    svc = services()
    try:
        result = remote.perform(svc.runtime, svc.store, pending["action"], pending["charger"], pending["params"],
                                by=current_name(), now=svc.clock())
    except DepotError as exc:
        return False, ui.notice(f"Not sent: {exc}", "danger"), no_update
    return False, ui.result_box(result, svc.clock()), (version or 0) + 1


# ---------------------------------------------------------------- tickets and windows


@callback(Output(T_MSG, "children"), Output(VERSION, "data", allow_duplicate=True), Output(T_TITLE, "value"),
          Input(T_CREATE, "n_clicks"), State(T_CHARGER, "value"), State(T_TITLE, "value"), State(T_ASSIGNEE, "value"),
          State(T_NOTE, "value"), State(VERSION, "data"), prevent_initial_call=True)
@require(*MAINTAIN)
def on_create_ticket(_n, charger_id, title, assignee, note, version):
    svc = services()
    try:
        t = maintenance.create_ticket(svc.store, charger_id or "", title or "", by=current_name(), now=svc.clock(),
                                      assignee=assignee, note=note)
    except DepotError as exc:
        return ui.notice(f"Not created: {exc}", "danger"), no_update, no_update
    return ui.notice(f"Ticket #{t.id} created for {t.charger_id}."), (version or 0) + 1, ""


@callback(Output(T_MSG, "children", allow_duplicate=True), Output(VERSION, "data", allow_duplicate=True),
          Output(U_NOTE, "value"),
          Input(U_SAVE, "n_clicks"), State(T_GRID, "selectedRows"), State(U_STATUS, "value"), State(U_ASSIGNEE, "value"),
          State(U_NOTE, "value"), State(VERSION, "data"), prevent_initial_call=True)
@require(*MAINTAIN)
def on_update_ticket(_n, selected, status, assignee, note, version):
    ticket_id = _selected_id(selected)
    if ticket_id is None:
        return ui.notice("Pick a ticket in the table first.", "secondary"), no_update, no_update
    svc = services()
    try:
        t = maintenance.update_ticket(svc.store, ticket_id, by=current_name(), now=svc.clock(), status=status or None,
                                      assignee=assignee, note=note)
    except DepotError as exc:
        return ui.notice(f"Not saved: {exc}", "danger"), no_update, no_update
    return ui.notice(f"Ticket #{t.id} saved ({t.status})."), (version or 0) + 1, ""


@callback(Output(W_MSG, "children"), Output(VERSION, "data", allow_duplicate=True),
          Input(W_ADD, "n_clicks"), Input(W_CANCEL, "n_clicks"), State(W_CHARGER, "value"), State(W_START, "value"),
          State(W_END, "value"), State(W_REASON, "value"), State(W_GRID, "selectedRows"), State(VERSION, "data"),
          prevent_initial_call=True)
@require(*MAINTAIN)
def on_window(_add, _cancel, charger_id, start, end, reason, selected, version):
    svc, who = services(), current_name()
    now = svc.clock()
    try:
        if ctx.triggered_id == W_CANCEL:
            window_id = _selected_id(selected)
            if window_id is None:
                return ui.notice("Pick a window in the table first.", "secondary"), no_update
            w = maintenance.cancel_window(svc.store, window_id, by=who, now=now)
            text = f"Window #{w.id} on {w.charger_id} {'cancelled' if w.state == 'cancelled' else 'ends now'}."
        else:
            w = maintenance.add_window(svc.store, charger_id or "", ui.parse_utc(start, "start"),
                                       ui.parse_utc(end, "end"), reason or "", by=who, now=now)
            text = (f"Window #{w.id}: {w.charger_id} out of service {w.start:%d %b %H:%M}–{w.end:%d %b %H:%M} UTC. "
                    "ChangeAvailability is sent at the start; the planner leaves the charger out meanwhile.")
    except DepotError as exc:
        return ui.notice(f"Nothing changed: {exc}", "danger"), no_update
    if svc.runtime is not None:
        svc.runtime.request_replan(f"maintenance window {w.id} changed")
    return ui.notice(text), (version or 0) + 1
