"""/maintenance, Chargers tab: the Credentials card, for managers only (the admins of this app).

Per charger: its security profile, whether a password is set and whether a rotation is pending (never a
hash), and four confirmed actions: set the profile here, generate a new password (shown once, in a panel the
user dismisses; never stored in the page, never logged), rotate the password over OCPP and raise the profile
over OCPP (both only while the charger is connected, 1.6 or 2.0.1; `depot.ocpp.charger_security`). The card
is in the page only for a manager, and every callback re-checks the role on the server (`require(*MANAGE)`):
a maintenance user's forged call gets 403 and changes nothing. CSRF as every Dash POST (`depot.web.auth`).

The page loader skips this file (its name starts with "_"); layouts/maintenance.py places the card.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from depot.errors import DepotError
from depot.ocpp import charger_security
from depot.web.auth import MANAGE, current_name, require
from depot.web.context import services

CARD, STATUS, PROFILE, MSG, SECRET = "mt-cr-card", "mt-cr-status", "mt-cr-profile", "mt-cr-msg", "mt-cr-secret"
SET_PROFILE, GENERATE, ROTATE, RAISE = "mt-cr-set-profile", "mt-cr-generate", "mt-cr-rotate", "mt-cr-raise"
CHARGER, VERSION = "mt-charger", "mt-version"  # the page's charger picker and change counter
PROFILES = [{"label": "0: none (a lab only)", "value": "0"}, {"label": "1: Basic auth over ws", "value": "1"},
            {"label": "2: Basic auth over wss", "value": "2"}, {"label": "3: client certificate", "value": "3"}]
PENDING_TEXT = {"accepted": "the charger accepted a new password; the old one works until it reconnects with it",
                "unconfirmed": "a new password was sent but not answered; both work until the charger uses one"}


def _confirmed(label: str, ident: str, message: str, colour: str = "secondary") -> dcc.ConfirmDialogProvider:
    return dcc.ConfirmDialogProvider(dbc.Button(label, id=f"{ident}-button", color=colour, size="sm"), id=ident,
                                     message=message)


def card() -> html.Div:
    """The card's frame; `show` fills it for the picked charger."""
    return html.Div([
        html.H5("Credentials"),
        html.Div(id=STATUS, className="small mb-2"),
        dbc.Row([dbc.Col(dbc.Select(id=PROFILE, options=PROFILES, size="sm"), md=3),
                 dbc.Col(html.Div([
                     _confirmed("Set profile", SET_PROFILE, "Set this charger's security profile here? It must use "
                                "the same profile, or it is refused."),
                     _confirmed("Raise profile over OCPP", RAISE, "Raise the profile over OCPP (1.6 "
                                "ChangeConfiguration SecurityProfile; 2.0.1 SetNetworkProfile, "
                                "NetworkConfigurationPriority and a Reset OnIdle)? Once accepted the charger must "
                                "reconnect over wss."),
                     _confirmed("Generate a new password", GENERATE, "Replace the password now? The charger is "
                                "refused until the new one is entered on it.", "warning"),
                     _confirmed("Rotate over OCPP", ROTATE, "Send the charger a new password over OCPP? The old "
                                "one keeps working until it reconnects with the new one.", "primary"),
                 ], className="d-flex flex-wrap gap-2"), md=9)], class_name="mt-form"),
        html.Div(id=MSG, className="mt-2"),
        dbc.Alert(id=SECRET, is_open=False, dismissable=True, color="warning", class_name="mt-2 mb-0"),
    ], className="mt-card mt-2", id=CARD)


def status_lines(creds, protocol: str | None) -> html.Dl:
    """Profile, password set / pending, connection: never a hash."""
    pending = PENDING_TEXT.get(creds.pending_state or "", "a new password is pending") if creds.has_pending else "no"
    lines = [("Security profile", str(creds.profile)),
             ("Password", ("set" + (f" {creds.password_set_at:%Y-%m-%d %H:%M} UTC" if creds.password_set_at else ""))
              if creds.has_password else "not set"),
             ("Rotation pending", pending), ("Connected", protocol or "no")]
    return html.Dl([i for k, v in lines for i in (html.Dt(k), html.Dd(v))], className="kv mb-0",
                   id="mt-cr-lines", **{"data-profile": creds.profile, "data-password": int(creds.has_password),
                                        "data-pending": creds.pending_state or ""})


def _protocol(svc, charger_id: str) -> str | None:
    central = getattr(svc.runtime, "central", None) if svc.runtime is not None else None
    try:
        found = central.connected().get(charger_id) if central is not None else None
    except RuntimeError:  # the loop thread changed the connections while we looked: say not connected
        return None
    return found.value if found is not None else None


@callback(Output(STATUS, "children"), Output(PROFILE, "value"), Output(f"{ROTATE}-button", "disabled"),
          Output(f"{RAISE}-button", "disabled"),
          Input(CHARGER, "value"), Input(VERSION, "data"))
@require(*MANAGE)
def show(charger_id, _version):
    if not charger_id:
        raise PreventUpdate
    svc = services()
    creds = svc.store.charger_credentials(charger_id)
    if creds is None:
        return "unknown charger", None, True, True
    protocol = _protocol(svc, charger_id)
    return (status_lines(creds, protocol), str(creds.profile), protocol is None or creds.profile not in (1, 2),
            protocol is None or creds.profile >= 3)


def _once(charger_id: str, password: str) -> list:
    return [html.Strong(f"New password of {charger_id}, shown only now: "), html.Code(password, id="mt-cr-password"),
            html.Div("Enter it on the charger (1.6 AuthorizationKey, 2.0.1 BasicAuthPassword). It is kept only as "
                     "a salted hash: nobody can show it again. Close this panel when done.", className="small")]


@callback(Output(MSG, "children"), Output(SECRET, "children"), Output(SECRET, "is_open"),
          Output(VERSION, "data", allow_duplicate=True),
          Input(SET_PROFILE, "submit_n_clicks"), Input(GENERATE, "submit_n_clicks"), Input(ROTATE, "submit_n_clicks"),
          Input(RAISE, "submit_n_clicks"), State(CHARGER, "value"), State(PROFILE, "value"), State(VERSION, "data"),
          prevent_initial_call=True)
@require(*MANAGE)
def act(_set, _generate, _rotate, _raise, charger_id, profile, version):
    if not charger_id:
        return _notice("Pick a charger first.", "secondary"), no_update, no_update, no_update
    svc, who, secret = services(), current_name(), None
    now = svc.clock()
    try:
        if ctx.triggered_id == SET_PROFILE:
            creds = charger_security.set_profile_by_hand(svc.store, charger_id, int(profile), by=who, now=now)
            text, tone = f"{charger_id}: security profile {creds.profile} here.", "success"
        elif ctx.triggered_id == GENERATE:
            secret = charger_security.set_password_by_hand(svc.store, charger_id, by=who, now=now)
            text, tone = f"{charger_id}: new password set; the old one no longer works.", "success"
        else:
            what = "rotate" if ctx.triggered_id == ROTATE else "raise"
            outcome = charger_security.perform(svc.runtime, svc.store, what, charger_id, by=who, now=now,
                                               profile=int(profile) if what == "raise" else None)
            text, tone = f"{charger_id}, {outcome.what}: {outcome.summary}", "success" if outcome.ok else "danger"
    except (DepotError, TypeError, ValueError) as exc:
        return _notice(f"Nothing changed: {exc}", "danger"), no_update, no_update, no_update
    return (_notice(text, tone), _once(charger_id, secret) if secret else None, secret is not None,
            (version or 0) + 1)


def _notice(text: str, tone: str) -> html.Div:
    return html.Div(text, className=f"alert alert-{tone} py-2 mb-0", role="alert", id="mt-cr-notice")
