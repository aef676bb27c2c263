"""/users: managers add users, change roles, disable accounts, set passwords, and read the audit log.

The same operations as `depot users …` on the command line (depot/people/users.py), each written to the audit log
with the manager's name. Every callback requires the manager role (`auth.MANAGE`).
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from depot.errors import DepotError
from depot.people import users as people
from depot.web.auth import MANAGE, current_name, require
from depot.web.context import services
from layouts import _maintenance_parts as ui

dash.register_page(__name__, path="/users", name="Users", title="Users · Depot charging")

TABLE, VERSION, AUDIT, AUDIT_DL, AUDIT_BTN = "users-table", "users-version", "users-audit", "users-audit-dl", "users-audit-csv"
N_NAME, N_ROLE, N_PW, N_PW2, N_ADD, N_MSG = ("users-new-name", "users-new-role", "users-new-pw", "users-new-pw2",
                                             "users-add", "users-add-msg")
C_NAME, C_ROLE, C_PW, C_MSG = "users-c-name", "users-c-role", "users-c-pw", "users-c-msg"
C_SET_ROLE, C_DISABLE, C_ENABLE, C_SET_PW = "users-set-role", "users-disable", "users-enable", "users-set-pw"
ROLE_OPTIONS = [{"label": f"{r}: {people.ROLE_TEXT[r]}", "value": r} for r in people.ROLES]


def layout(**_):
    names = [u.name for u in people.list_users(services().store)]
    add = html.Div([
        html.H5("Add a user"),
        dbc.Row([ui.field("Name", ui.text(N_NAME, "e.g. j.smith", autocomplete="off"), 3),
                 ui.field("Role", ui.select(N_ROLE, ROLE_OPTIONS, people.VIEWER), 3),
                 ui.field("Password", ui.text(N_PW, f"≥ {people.MIN_PASSWORD} characters", type="password",
                                              autocomplete="new-password"), 3),
                 ui.field("Repeat", ui.text(N_PW2, "", type="password", autocomplete="new-password"), 3)],
                class_name="mt-form"),
        html.Div(ui.button("Add user", N_ADD, "primary"), className="mt-2"), html.Div(id=N_MSG, className="mt-2"),
    ], className="mt-card mb-3")
    change = html.Div([
        html.H5("Change a user"),
        dbc.Row([ui.field("User", ui.select(C_NAME, names), 3), ui.field("Role", ui.select(C_ROLE, ROLE_OPTIONS), 3),
                 ui.field("New password", ui.text(C_PW, "", type="password", autocomplete="new-password"), 3)],
                class_name="mt-form"),
        html.Div([ui.button("Set role", C_SET_ROLE, "primary"), ui.button("Set password", C_SET_PW),
                  ui.button("Disable", C_DISABLE, "outline-danger"), ui.button("Enable", C_ENABLE, "outline-success")],
                 className="d-flex flex-wrap gap-2 mt-2"),
        html.Div(id=C_MSG, className="mt-2"),
    ], className="mt-card mb-3")
    return html.Div([
        dcc.Store(id=VERSION, data=0),
        html.H2("Users"), ui.tip("Who may sign in, and with which role. Disabling a user or setting a new password "
                                 "ends their other sessions."),
        html.Div(id=TABLE, className="mt-card my-3"),
        dbc.Row([dbc.Col(add, md=6), dbc.Col(change, md=6)]),
        html.Div([html.Div([html.H5("Audit log", className="me-3 mb-0"), ui.button("Download CSV", AUDIT_BTN),
                            dcc.Download(id=AUDIT_DL)], className="d-flex align-items-center mb-2"),
                  html.Div(id=AUDIT)], className="mt-card"),
    ], className="mt-page", id="users-page")


def users_table(users: list[people.User], now) -> html.Table:
    rows = [html.Tr([html.Td(u.name), html.Td(u.role), html.Td("disabled" if u.disabled else "active"),
                     html.Td(ui.fmt(u.created_at, now)), html.Td(ui.fmt(u.last_login_at, now))],
                    className="text-muted" if u.disabled else "", **{"data-user": u.name}) for u in users]
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in ("Name", "Role", "Status", "Created", "Last sign-in")])),
                       html.Tbody(rows)], className="table table-sm mt-table mb-0")


@callback(Output(TABLE, "children"), Output(AUDIT, "children"), Output(C_NAME, "options"), Input(VERSION, "data"))
@require(*MANAGE)
def refresh(_version):
    svc = services()
    now = svc.clock()
    users = people.list_users(svc.store)
    return (users_table(users, now), ui.audit_table(people.audit_log(svc.store, limit=100), now),
            [{"label": u.name, "value": u.name} for u in users])


@callback(Output(N_MSG, "children"), Output(VERSION, "data", allow_duplicate=True), Output(N_PW, "value"),
          Output(N_PW2, "value"), Input(N_ADD, "n_clicks"), State(N_NAME, "value"), State(N_ROLE, "value"),
          State(N_PW, "value"), State(N_PW2, "value"), State(VERSION, "data"), prevent_initial_call=True)
@require(*MANAGE)
def on_add(_n, name, role, password, repeat, version):
    svc = services()
    if (password or "") != (repeat or ""):
        return ui.notice("The two passwords differ.", "danger"), no_update, "", ""
    try:
        u = people.add_user(svc.store, name or "", role or "", password or "", now=svc.clock(), by=current_name())
    except DepotError as exc:
        return ui.notice(f"Not added: {exc}", "danger"), no_update, "", ""
    return ui.notice(f"Added {u.name} ({u.role})."), (version or 0) + 1, "", ""


@callback(Output(C_MSG, "children"), Output(VERSION, "data", allow_duplicate=True), Output(C_PW, "value"),
          Input(C_SET_ROLE, "n_clicks"), Input(C_SET_PW, "n_clicks"), Input(C_DISABLE, "n_clicks"),
          Input(C_ENABLE, "n_clicks"), State(C_NAME, "value"), State(C_ROLE, "value"), State(C_PW, "value"),
          State(VERSION, "data"), prevent_initial_call=True)
@require(*MANAGE)
def on_change(_r, _p, _d, _e, name, role, password, version):
    svc, who = services(), current_name()
    now = svc.clock()
    if not name:
        return ui.notice("Pick a user first.", "secondary"), no_update, ""
    try:
        if ctx.triggered_id == C_SET_ROLE:
            u = people.set_role(svc.store, name, role or "", now=now, by=who)
            text = f"{u.name} is now {u.role}."
        elif ctx.triggered_id == C_SET_PW:
            u = people.set_password(svc.store, name, password or "", now=now, by=who)
            text = f"New password set for {u.name}."
        else:
            disable = ctx.triggered_id == C_DISABLE
            if disable and name == who:
                return ui.notice("You cannot disable yourself.", "danger"), no_update, ""
            u = people.set_disabled(svc.store, name, disable, now=now, by=who)
            text = f"{u.name} {'disabled' if u.disabled else 'enabled'}."
    except DepotError as exc:
        return ui.notice(f"Nothing changed: {exc}", "danger"), no_update, ""
    return ui.notice(text), (version or 0) + 1, ""


@callback(Output(AUDIT_DL, "data"), Input(AUDIT_BTN, "n_clicks"), prevent_initial_call=True)
@require(*MANAGE)
def on_audit_csv(_n):
    import csv
    import io
    import json

    svc = services()
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["at_utc", "who", "action", "target", "detail", "result", "ok"])
    for e in people.audit_log(svc.store, limit=100_000):
        w.writerow([e.at.isoformat(), e.who, e.action, e.target or "", json.dumps(e.detail), e.result, int(e.ok)])
    return dcc.send_string(buf.getvalue(), f"audit-{svc.clock():%Y%m%d-%H%M}.csv")
