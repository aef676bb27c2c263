"""Shared UI pieces for every page: status badge and dot, KPI card, empty state, error message, key/value list.

Colours come from assets/style.css (`st-<status>` classes set `--st` from the `--st-<status>` variables),
so a status looks the same on every page. The page loader skips this file (its name starts with "_").
"""

from __future__ import annotations

from dash import html

from depot.model import ConnectorStatus
from depot.web.floorplan_text import status_label, status_slug


def status_dot(status: ConnectorStatus | str, **kwargs) -> html.Span:
    slug = status if isinstance(status, str) else status_slug(status)
    return html.Span(className=f"st-dot st-{slug}", **kwargs)


def status_badge(status: ConnectorStatus, text: str | None = None, **kwargs) -> html.Span:
    """A pill in the status colour: "● Charging". Faults are filled red so they stand out."""
    slug = status_slug(status)
    return html.Span([html.Span(className="st-dot"), text or status_label(status)],
                     className=f"st-badge st-{slug}", **kwargs)


def kpi_card(label: str, value: str, sub: str = "", *, value_id=None, sub_id=None, card_id=None,
             class_name: str = "", extra=None) -> html.Div:
    """A header number: small label, big value, a line under it. Ids let a callback update the texts only."""
    value_kwargs = {"id": value_id} if value_id is not None else {}
    sub_kwargs = {"id": sub_id} if sub_id is not None else {}
    card_kwargs = {"id": card_id} if card_id is not None else {}
    children = [html.Div(label, className="kpi-label"), html.Div(value, className="kpi-value", **value_kwargs)]
    if extra is not None:
        children.append(extra)
    children.append(html.Div(sub, className="kpi-sub", **sub_kwargs))
    return html.Div(children, className=f"kpi {class_name}".strip(), **card_kwargs)


def empty_state(title: str, *body, icon: str = "⚡") -> html.Div:
    return html.Div([html.Div(icon, className="empty-icon"), html.H4(title), *body], className="empty-state")


def error_message(title: str, detail: str, hint: str = "") -> html.Div:
    """What the user sees instead of a stack trace."""
    children = [html.Strong(title), html.Div(detail, className="small mt-1")]
    if hint:
        children.append(html.Div(hint, className="small text-muted mt-1"))
    return html.Div(children, className="alert alert-danger py-2 mb-2", role="alert")


def command(text: str) -> html.Pre:
    return html.Pre(html.Code(text))


def kv_list(rows) -> html.Dl:
    """A two-column list of (label, value) pairs."""
    items = []
    for label, value in rows:
        items += [html.Dt(label), html.Dd(value)]
    return html.Dl(items, className="kv")
