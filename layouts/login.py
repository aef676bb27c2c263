"""/login: sign in with a user name and password.

A plain HTML form that POSTs to /login (handled by depot.web.auth with its CSRF token, throttling and audit):
it needs no Dash callback, works with password managers, and is the only page an anonymous visitor gets.
In the demo (simulator on) it lists the demo users and their passwords; never otherwise.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from depot.people.users import DEMO_USERS, ROLE_TEXT
from depot.web.auth import safe_next, user
from depot.web.context import services
from layouts._auth_parts import csrf_field

dash.register_page(__name__, path="/login", name="Sign in", title="Sign in · Depot charging")

FORM, NAME, PASSWORD, SUBMIT, ERROR, DEMO = ("login-form", "login-user", "login-password", "login-submit",
                                             "login-error", "login-demo")

ERRORS = {
    "invalid": "Wrong user name or password (or the account is disabled).",
    "throttled": "Too many failed sign-ins. Wait {wait} seconds, then try again.",
    "expired": "The sign-in form had expired. Please try again.",
}


def layout(**query):
    u = user()
    if u is not None:
        return html.Div(dbc.Card(dbc.CardBody([
            html.H3("Signed in", className="h4"),
            html.P(f"You are signed in as {u.name} ({u.role})."),
            html.A("Go to the floor plan", href="/", className="btn btn-primary btn-sm"),
        ])), className="login-wrap")
    error = query.get("error")
    wait = str(query.get("wait", ""))
    message = ERRORS.get(error, "").format(wait=wait if wait.isdigit() else "a few") if error else ""
    form = html.Form([
        csrf_field(),
        dcc.Input(type="hidden", name="next", value=safe_next(query.get("next")) or ""),
        dbc.Label("User name", html_for=NAME),
        dbc.Input(id=NAME, name="username", value=query.get("user") or "", autocomplete="username",
                  autofocus=True, required=True, class_name="mb-2"),
        dbc.Label("Password", html_for=PASSWORD),
        dbc.Input(id=PASSWORD, name="password", type="password", autocomplete="current-password", required=True,
                  class_name="mb-3"),
        html.Div(message, id=ERROR, className="alert alert-danger py-2", role="alert") if message else None,
        dbc.Button("Sign in", id=SUBMIT, type="submit", color="primary", class_name="w-100"),
    ], id=FORM, method="POST", action="/login")
    body = [html.H3("Sign in", className="h4 mb-3"), form]
    if services().settings.simulator:
        body.append(demo_users())
    return html.Div(dbc.Card(dbc.CardBody(body)), className="login-wrap")


def demo_users() -> html.Div:
    rows = [html.Tr([html.Td(html.Code(name)), html.Td(html.Code(password)), html.Td(role),
                     html.Td(ROLE_TEXT[role], className="text-muted")]) for role, name, password in DEMO_USERS]
    return html.Div([
        html.Hr(),
        html.Div("Demo depot: sign in as any of these users (demo mode only).", className="small fw-semibold mb-1"),
        html.Table([html.Thead(html.Tr([html.Th("User"), html.Th("Password"), html.Th("Role"), html.Th("May")])),
                    html.Tbody(rows)], className="table table-sm small mb-0"),
    ], id=DEMO)
