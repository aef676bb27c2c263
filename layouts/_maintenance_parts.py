"""Rendering for /maintenance: KPI row, grids, charger health, forms. Pure functions of domain values.

The page loader skips this file (its name starts with "_").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from depot.control.health import ChargerHealth
from depot.errors import ValidationError
from depot.ocpp.remote import ACTIONS, ActionResult
from depot.people import alert_rules as rules
from depot.people.alerts import Alert
from depot.people.maintenance import TICKET_STATUSES, HistoryItem, Ticket, Window
from depot.people.users import AuditEntry
from layouts._components import kpi_card

TIME_FMT = "%Y-%m-%d %H:%M"


def fmt(t: datetime | None, now: datetime | None = None) -> str:
    if t is None:
        return "–"
    t = t.astimezone(UTC)
    if now is not None and t.date() == now.astimezone(UTC).date():
        return t.strftime("%H:%M")
    return t.strftime("%d %b %H:%M")


def parse_utc(text: str | None, field: str) -> datetime:
    """"2026-11-22 05:30" (UTC) → aware datetime; ValidationError names the field."""
    raw = (text or "").strip().replace("T", " ")
    try:
        return datetime.strptime(raw[:16], TIME_FMT).replace(tzinfo=UTC)
    except ValueError:
        raise ValidationError(field, f"write it as {datetime(2026, 11, 22, 5, 30):{TIME_FMT}} (UTC)") from None


def notice(text, tone: str = "success", **kw) -> html.Div:
    return html.Div(text, className=f"alert alert-{tone} py-2 mb-2", role="alert", **kw)


def sev(severity: str) -> html.Span:
    return html.Span(severity, className=f"sev sev-{severity}")


def button(label: str, ident: str, colour: str = "secondary", **kw) -> dbc.Button:
    return dbc.Button(label, id=ident, n_clicks=0, color=colour, size="sm", **kw)


def field(label: str, control, width: int = 3) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=getattr(control, "id", None)), control], md=width)


# ---------------------------------------------------------------- KPIs


def kpis(counts: dict, offline: int, resting: int, open_tickets: int) -> list:
    open_ = counts["open"]
    n_open = sum(open_.values())
    return [
        kpi_card("Open alerts", str(n_open), f"{open_.get('critical', 0)} critical, {open_.get('warning', 0)} warning",
                 class_name="kpi-alert" if open_.get("critical") else ""),
        kpi_card("Acknowledged", str(sum(counts["acknowledged"].values())), "being worked on"),
        kpi_card("Chargers offline", str(offline), "missed heartbeats"),
        kpi_card("In maintenance", str(resting), "out of service now"),
        kpi_card("Open tickets", str(open_tickets), "not closed"),
    ]


# ---------------------------------------------------------------- grids


def _grid(grid_id: str, cols: list[dict], rows: list[dict], height: int = 360, empty: str = "Nothing here") -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, rowData=rows, columnDefs=cols, getRowId="params.data.id + ''",
        # flex, not columnSize="responsiveSizeToFit": a grid in a hidden tab has no width to size to (AG Grid #29)
        defaultColDef={"sortable": True, "filter": False, "resizable": True, "suppressMovable": True, "flex": 1},
        dashGridOptions={"rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
                         "rowHeight": 32, "headerHeight": 34, "animateRows": False, "tooltipShowDelay": 300,
                         "localeText": {"noRowsToShow": empty}},
        style={"height": f"{height}px"}, className="ag-theme-alpine",
    )


ALERT_COLS = [  # minimum widths that show "acknowledged" and "21 Nov 12:03" whole at 1,440 px
    {"field": "id", "headerName": "#", "minWidth": 60, "maxWidth": 80},
    {"field": "severity", "headerName": "Severity", "minWidth": 96,
     "cellClassRules": {"sev-cell-critical": "params.value == 'critical'",
                        "sev-cell-warning": "params.value == 'warning'"}},
    {"field": "status", "headerName": "Status", "minWidth": 132},
    {"field": "title", "headerName": "Alert", "minWidth": 140},
    {"field": "charger", "headerName": "Charger", "minWidth": 92},
    {"field": "vehicle", "headerName": "Vehicle", "minWidth": 88},
    {"field": "message", "headerName": "What", "flex": 2, "minWidth": 170, "tooltipField": "message"},
    {"field": "first_seen", "headerName": "First seen", "minWidth": 124},
    {"field": "last_seen", "headerName": "Last seen", "minWidth": 124},
    {"field": "count", "headerName": "Count", "minWidth": 78, "maxWidth": 90},
    {"field": "assignee", "headerName": "Assignee", "minWidth": 100},
    {"field": "ack", "headerName": "Acknowledged", "minWidth": 150, "flex": 1.5, "tooltipField": "ack"},
]


def alert_rows(alerts: Sequence[Alert], now: datetime) -> list[dict]:
    return [{"id": a.id, "severity": a.severity, "status": a.status, "title": a.label, "charger": a.charger_id or "",
             "vehicle": a.vehicle_id or "", "message": a.message, "first_seen": fmt(a.first_seen, now),
             "last_seen": fmt(a.last_seen, now), "count": a.count, "assignee": a.assignee or "",
             "ack": f"{a.acknowledged_by} {fmt(a.acknowledged_at, now)}" if a.acknowledged_by else ""}
            for a in alerts]


def alerts_grid(grid_id: str, rows: list[dict]) -> dag.AgGrid:
    return _grid(grid_id, ALERT_COLS, rows, 320, "No alerts match: all quiet")


def alert_detail(a: Alert | None, now: datetime) -> html.Div:
    if a is None:
        return html.Div("Pick an alert in the table to act on it.", className="text-muted small")
    lines = [("Alert", f"#{a.id} {a.label}"), ("Severity", sev(a.severity)), ("Status", a.status),
             ("Charger", a.charger_id or "–"), ("Vehicle", a.vehicle_id or "–"), ("What", a.message),
             ("Seen", f"{a.count}× from {fmt(a.first_seen, now)} to {fmt(a.last_seen, now)} UTC"),
             ("Assignee", a.assignee or "nobody")]
    if a.acknowledged_by:
        lines.append(("Acknowledged", f"by {a.acknowledged_by} at {fmt(a.acknowledged_at, now)}"
                      + (f": {a.ack_note}" if a.ack_note else "")))
    if a.resolved_by:
        lines.append(("Resolved", f"by {a.resolved_by} at {fmt(a.resolved_at, now)}: {a.resolve_note or ''}"))
    return html.Dl([item for k, v in lines for item in (html.Dt(k), html.Dd(v))], className="kv small mb-0",
                   id="mt-alert-detail-list", **{"data-alert": a.id, "data-status": a.status})


TICKET_COLS = [
    {"field": "id", "headerName": "#", "minWidth": 70, "maxWidth": 80},
    {"field": "charger", "headerName": "Charger", "minWidth": 110},
    {"field": "title", "headerName": "Title", "flex": 2, "minWidth": 200, "tooltipField": "title"},
    {"field": "status", "headerName": "Status", "minWidth": 140},
    {"field": "assignee", "headerName": "Assignee", "minWidth": 120},
    {"field": "updated", "headerName": "Updated", "minWidth": 120},
    {"field": "notes", "headerName": "Notes", "minWidth": 80},
]


def ticket_rows(tickets: Sequence[Ticket], now: datetime) -> list[dict]:
    return [{"id": t.id, "charger": t.charger_id, "title": t.title, "status": t.status, "assignee": t.assignee or "",
             "updated": fmt(t.updated_at, now), "notes": len(t.notes)} for t in tickets]


def ticket_notes(t: Ticket | None, now: datetime) -> html.Div:
    if t is None:
        return html.Div("Pick a ticket to see its notes and update it.", className="text-muted small")
    items = [html.Li([html.Strong(f"{n.author} "), html.Span(fmt(n.at, now), className="text-muted"), html.Br(), n.text])
             for n in t.notes] or [html.Li("No notes yet.", className="text-muted")]
    return html.Div([html.Div(f"#{t.id} {t.title} · {t.charger_id} · opened by {t.created_by} {fmt(t.created_at, now)}",
                              className="fw-semibold small mb-1"), html.Ul(items, className="small mb-0")])


WINDOW_COLS = [
    {"field": "id", "headerName": "#", "minWidth": 70, "maxWidth": 80},
    {"field": "charger", "headerName": "Charger", "minWidth": 110},
    {"field": "start", "headerName": "Start (UTC)", "minWidth": 130},
    {"field": "end", "headerName": "End (UTC)", "minWidth": 130},
    {"field": "state", "headerName": "State", "minWidth": 110},
    {"field": "reason", "headerName": "Reason", "flex": 1, "minWidth": 160},
    {"field": "by", "headerName": "By", "minWidth": 110},
    {"field": "result", "headerName": "Charger answered", "flex": 1, "minWidth": 160, "tooltipField": "result"},
]


def window_rows(windows: Sequence[Window], now: datetime) -> list[dict]:
    return [{"id": w.id, "charger": w.charger_id, "start": w.start.strftime(TIME_FMT), "end": w.end.strftime(TIME_FMT),
             "state": "in force" if w.in_force(now) else w.state, "reason": w.reason, "by": w.created_by,
             "result": " / ".join(x for x in (w.start_result, w.end_result) if x)} for w in windows]


def grid(grid_id: str, kind: str, rows: list[dict]) -> dag.AgGrid:
    cols = {"tickets": TICKET_COLS, "windows": WINDOW_COLS}[kind]
    return _grid(grid_id, cols, rows, 240, f"No {kind} yet")


# ---------------------------------------------------------------- charger health


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f} %"


def _uptime_card(label: str, x: float | None, sub: str) -> html.Div:
    bar = html.Div(html.Div(style={"width": f"{(x or 0) * 100:.1f}%"}), className="uptime-bar")
    return kpi_card(label, _pct(x), sub, extra=bar)


def _obedience(value) -> str | html.Dl:
    if value is None:
        return "not measured (no enforcement engine in this process)"
    if isinstance(value, dict):
        return html.Dl([i for k, v in value.items() for i in (html.Dt(k), html.Dd(str(v)))], className="kv mb-0")
    return str(value)


def health_panel(h: ChargerHealth, alerts: Sequence[Alert], now: datetime) -> html.Div:
    cards = html.Div([
        _uptime_card("Uptime 7 days", h.uptime_7d, "online and not faulted"),
        _uptime_card("Uptime 30 days", h.uptime_30d, "online and not faulted"),
        kpi_card("Faults (30 d)", str(sum(h.faults_by_code.values())), ", ".join(list(h.faults_by_code)[:2]) or "none"),
        kpi_card("Firmware", h.firmware or "–", h.firmware_status or "no update reported"),
        kpi_card("Last boot", fmt(h.last_boot, now), f"last message {fmt(h.last_seen, now)}"),
    ], className="mt-kpis", id="mt-health-kpis")
    facts = html.Dl([i for k, v in (
        ("Protocol", h.protocol or "–"), ("Vendor / model", f"{h.vendor or '–'} / {h.model or '–'}"),
        ("Diagnostics", h.diagnostics_status or "–"), ("Profile obedience", _obedience(h.obedience)),
    ) for i in (html.Dt(k), html.Dd(v))], className="kv small")
    codes = html.Table([html.Thead(html.Tr([html.Th("Fault code"), html.Th("Count")])),
                        html.Tbody([html.Tr([html.Td(c), html.Td(n)]) for c, n in h.faults_by_code.items()]
                                   or [html.Tr(html.Td("No faults in 30 days", colSpan=2, className="text-muted"))])],
                       className="table table-sm mt-table mb-2")
    errors = html.Ul([html.Li([html.Span(fmt(at, now) + " ", className="text-muted"), text]) for at, text in h.last_errors]
                     or [html.Li("none", className="text-muted")], className="small mb-0")
    open_alerts = html.Ul([html.Li([sev(a.severity), f" #{a.id} {a.label}: {a.message} ({a.status})"])
                           for a in alerts] or [html.Li("no open alerts", className="text-muted")], className="small mb-0")
    return html.Div([cards, dbc.Row([
        dbc.Col([html.H6("Charger"), facts, html.H6("Open alerts"), open_alerts], md=5),
        dbc.Col([html.H6("Fault counts by code"), codes], md=3),
        dbc.Col([html.H6("Last errors"), errors], md=4),
    ])], id="mt-health-body", **{"data-charger": h.charger_id})


def quarantine_table(rows: Sequence, now: datetime) -> html.Div:
    """The charger's latest quarantined values: received, message, field, value, why it is impossible."""
    body = [html.Tr([html.Td(fmt(q.received_at, now)), html.Td(q.action), html.Td(q.field),
                     html.Td(q.value[:60]), html.Td(q.reason)]) for q in rows]
    table = html.Table([html.Thead(html.Tr([html.Th(c) for c in ("Received (UTC)", "Message", "Field", "Value",
                                                                "Why impossible")])),
                        html.Tbody(body or [html.Tr(html.Td("Nothing quarantined: every value it sent was possible.",
                                                            colSpan=5, className="text-muted"))])],
                       className="table table-sm mt-table mb-0")
    return html.Div([html.H6("Quarantined values (kept for diagnosis, never billed, planned or drawn)"), table],
                    className="mt-2", id="mt-quarantine")


def history_table(items: Sequence[HistoryItem], now: datetime) -> html.Table:
    rows = [html.Tr([html.Td(fmt(i.at, now)), html.Td(i.who), html.Td(i.what), html.Td(i.result),
                     ], className="" if i.ok else "table-danger") for i in items]
    return html.Table([html.Thead(html.Tr([html.Th("When (UTC)"), html.Th("Who"), html.Th("What"), html.Th("Result")])),
                       html.Tbody(rows or [html.Tr(html.Td("Nothing done to this charger yet.", colSpan=4,
                                                           className="text-muted"))])],
                      className="table table-sm mt-table mb-0", id="mt-history-table")


def audit_table(entries: Sequence[AuditEntry], now: datetime) -> html.Table:
    rows = [html.Tr([html.Td(fmt(e.at, now)), html.Td(e.who), html.Td(e.action), html.Td(e.target or ""),
                     html.Td(json.dumps(e.detail, separators=(", ", ": "))[:160] if e.detail else ""), html.Td(e.result)],
                    className="" if e.ok else "table-danger") for e in entries]
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in ("When (UTC)", "Who", "What", "Target", "Detail",
                                                                "Result")])),
                       html.Tbody(rows or [html.Tr(html.Td("Nothing yet.", colSpan=6, className="text-muted"))])],
                      className="table table-sm mt-table mb-0")


# ---------------------------------------------------------------- remote actions


def action_options() -> list[dict]:
    return [{"label": label, "value": name} for name, (label, _fields) in ACTIONS.items()]


def confirm_text(action: str, charger_id: str, params: dict) -> html.Div:
    label = ACTIONS[action][0]
    shown = ", ".join(f"{k} {v}" for k, v in params.items() if v not in ("", None))
    risky = action in ("reset_hard", "reset_soft", "remote_stop", "inoperative", "firmware", "set_config", "unlock")
    return html.Div([
        html.P([f"Send {label} to ", html.Strong(charger_id), f" ({shown})" if shown else "", "?"]),
        html.P("A running session on this charger may be interrupted.", className="text-danger small mb-0")
        if risky else None,
    ])


def result_box(r: ActionResult, now: datetime) -> html.Div:
    tone = "success" if r.ok else "danger"
    answer = json.dumps(r.answer, indent=1, default=str) if r.answer else ""
    return html.Div([
        html.Div([html.Strong(f"{r.label} → {r.charger_id}: "), html.Span(r.summary, id="mt-result-summary")]),
        html.Div(f"answered {fmt(r.at, now)} UTC · written to the audit log", className="small text-muted"),
        html.Pre(answer, className="mt-result") if answer else None,
    ], className=f"alert alert-{tone} py-2 mb-0", id="mt-result-box",
        **{"data-ok": "1" if r.ok else "0", "data-action": r.action, "data-charger": r.charger_id})


def default_window_times(now: datetime) -> tuple[str, str]:
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return start.strftime(TIME_FMT), (start + timedelta(hours=2)).strftime(TIME_FMT)


def select(ident: str, options, value=None, **kw) -> dbc.Select:
    opts = [o if isinstance(o, dict) else {"label": o, "value": o} for o in options]
    return dbc.Select(id=ident, options=opts, value=value, size="sm", **kw)


def text(ident: str, placeholder: str = "", value: str = "", **kw) -> dbc.Input:
    return dbc.Input(id=ident, placeholder=placeholder, value=value, size="sm", **kw)


def datalist(ident: str, names: Sequence[str]) -> html.Datalist:
    return html.Datalist([html.Option(value=n) for n in names], id=ident)


STATUS_FILTER = [{"label": "Active (open + acknowledged)", "value": "active"}, {"label": "Open", "value": "open"},
                 {"label": "Acknowledged", "value": "acknowledged"}, {"label": "Resolved", "value": "resolved"},
                 {"label": "All", "value": "all"}]
ANY = "any"
SEVERITY_FILTER = [{"label": "Any severity", "value": ANY}] + [{"label": s, "value": s} for s in rules.SEVERITIES]
KIND_FILTER = [{"label": "Any kind", "value": ANY}] + [{"label": label, "value": k} for k, (label, _) in rules.KINDS.items()]
TICKET_STATUS_OPTIONS = [{"label": s, "value": s} for s in TICKET_STATUSES]


def tip(text_: str) -> html.Span:
    return html.Span(text_, className="small text-muted")


def store(ident: str, data=None) -> dcc.Store:
    return dcc.Store(id=ident, data=data)
