"""The header's people parts (alert badge, user menu) and the notices a guarded page shows instead of itself.

The page loader skips this file (its name starts with "_"); app.py's shell imports it.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html
from flask_wtf.csrf import generate_csrf

from depot.people import alerts
from depot.people.users import ROLE_TEXT
from depot.text import count
from depot.web.auth import MANAGE, SEE_ALERTS, can, require, user
from depot.web.context import services

BADGE, BADGE_TICK, USER_MENU = "hdr-alert-badge", "hdr-alert-tick", "hdr-user-menu"
BADGE_BUMP = "hdr-alert-bump"  # a page that changes an alert bumps this: the badge is redrawn at once
BADGE_REFRESH_MS = 10_000


def csrf_field() -> dcc.Input:
    return dcc.Input(type="hidden", name="csrf_token", value=generate_csrf())


def badge_state() -> tuple[str, str, str]:
    """(text, class, tooltip) of the alert badge: open alerts, coloured by the worst of them."""
    c = alerts.counts(services().store)
    open_, acked = c["open"], c["acknowledged"]
    n = sum(open_.values())
    worst = "critical" if open_.get("critical") else "warning" if open_.get("warning") else "info" if n else "none"
    tip = f"{count(n, 'open alert')}, {sum(acked.values())} acknowledged"
    return str(n), f"alert-badge alert-badge-{worst}", tip


def header_right() -> html.Div:
    """The alert badge (managers, maintenance) and the user menu; nothing for an anonymous visitor."""
    u = user()
    if u is None:
        return html.Div()
    items = []
    if can(SEE_ALERTS):
        text, cls, tip = badge_state()
        items.append(html.A(["Alerts ", html.Span(text, id=BADGE, className=cls, title=tip)], href="/maintenance",
                            className="nav-alerts me-3", title=tip))
        items.append(dcc.Interval(id=BADGE_TICK, interval=BADGE_REFRESH_MS))
        items.append(dcc.Store(id=BADGE_BUMP, data=0))
    menu = [dbc.DropdownMenuItem(f"Role: {u.role}", header=True),
            dbc.DropdownMenuItem(ROLE_TEXT.get(u.role, ""), header=True, class_name="small text-muted")]
    if can(MANAGE):
        menu.append(dbc.DropdownMenuItem("Users and audit log", href="/users"))
    menu += [dbc.DropdownMenuItem(divider=True),
             html.Form([csrf_field(), html.Button("Sign out", type="submit", id="hdr-logout",
                                                  className="dropdown-item")], method="POST", action="/logout")]
    items.append(dbc.DropdownMenu(menu, label=u.name, id=USER_MENU, align_end=True, nav=False, size="sm",
                                  color="secondary", class_name="user-menu"))
    return html.Div(items, className="d-flex align-items-center ms-3")


@callback(Output(BADGE, "children"), Output(BADGE, "className"), Output(BADGE, "title"),
          Input(BADGE_TICK, "n_intervals"), Input(BADGE_BUMP, "data"), prevent_initial_call=True)
@require(*SEE_ALERTS)
def refresh_badge(_n, _bump):
    """Every BADGE_REFRESH_MS, and at once when the maintenance page acknowledges or resolves an alert."""
    return badge_state()
