"""/power: live charging power against the site limit, the plan and the price; chargers that do not obey.

The figure is built once per page view (depot.web.power_data queries, layouts._power_figures draws). Every
2 seconds one callback sends a Patch that appends the live point to the figure (and, when a time bucket
completes, that bucket's value); it rebuilds the figure only when the 24 h / 7 d view or the grouping
changes, the chargers' grouping changes, or the figure is an hour old (to slide the window). What the
browser shows is described by the VIEW store (window, grouping, where the histories end, plan id), so
the callback needs no server state. All times UTC.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from depot.control.sitelimit import UNSET_TEXT
from depot.web import power_data as pdata
from depot.web.context import STORE_ERRORS, Services, services
from depot.web.floorplan_text import fmt_kw, fmt_time, fmt_when
from layouts import _power_figures as figs
from layouts import _site_parts as site_parts
from layouts._components import empty_state, error_message, kpi_card

dash.register_page(__name__, path="/power", name="Power", title="Power · Depot charging")
log = logging.getLogger(__name__)

# ---------------------------------------------------------------- ids
GRAPH, VIEW, TICK, NOTES, PANEL = "power-graph", "power-view", "power-tick", "power-notes", "power-health"
LIMIT, FLAGGED = "power-limit", "power-flagged-box"
WINDOW, GROUP = "power-window", "power-group"
CHARGING, CHARGING_SUB, CHARGING_CARD = "power-charging", "power-charging-sub", "power-charging-card"
HEADROOM, HEADROOM_SUB, HEADROOM_CARD = "power-headroom", "power-headroom-sub", "power-headroom-card"
BUILDING, BUILDING_SUB, PV, PV_SUB = "power-building", "power-building-sub", "power-pv", "power-pv-sub"
COMMANDED, COMMANDED_SUB = "power-commanded", "power-commanded-sub"
KPI_TEXTS = (CHARGING, CHARGING_SUB, HEADROOM, HEADROOM_SUB, BUILDING, BUILDING_SUB, PV, PV_SUB, COMMANDED,
             COMMANDED_SUB)

REFRESH_MS = 2000
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
WINDOW_TEXT = {"24h": "24 h", "7d": "7 days"}
AHEAD = timedelta(hours=24)  # the plan's side of the chart
REANCHOR = timedelta(hours=1)  # a figure older than this is rebuilt (its window slides)
GROUP_LABELS = {"auto": "Auto", "charger": "Charger", "lane": "Lane", "type": "AC/DC"}


# ---------------------------------------------------------------- operations


def build(svc: Services, window: str = "24h", group: str = "auto") -> tuple:
    """(figure, VIEW data, notes, live point) of a freshly built chart."""
    now = svc.clock()
    span = WINDOWS.get(window, WINDOWS["24h"])
    grouping = pdata.group_chargers(svc.store.list_chargers(), group)
    bucket = pdata.bucket_seconds(span)
    history = pdata.power_history(svc.store, grouping, since=now - span, until=now, bucket_s=bucket,
                                  fill_s=svc.settings.stale_after_s)
    point = pdata.live_point(svc.store, svc.settings, svc.runtime, grouping, now=now)
    plan = pdata.plan_series(svc.store.active_plan())
    prices = pdata.price_band(history.start, now + AHEAD, plan)
    fig = figs.power_figure(history, now=now, until=now + AHEAD, point=point, plan=plan, prices=prices,
                            uirevision=f"{window}-{group}")
    view = {"window": window, "group": group, "series": series_key(grouping), "bucket_s": bucket,
            "start": history.start.isoformat(), "hist_end": history.end.isoformat(), "tail_at": now.isoformat(),
            "plan_id": plan.plan_id if plan else None, "built": now.isoformat(),
            "empty": history.empty and not point.charging_kw}
    return fig, view, notes(grouping, view["empty"], plan, window), point


def tick(svc: Services, view: dict) -> dict:
    """One live update as {output name: value}: a Patch of the figure, or a new figure when it must be rebuilt."""
    now = svc.clock()
    grouping = pdata.group_chargers(svc.store.list_chargers(), view["group"])
    if (series_key(grouping) != view["series"] or now - _t(view["built"]) >= REANCHOR
            or now < _t(view["hist_end"])):
        fig, new_view, note, point = build(svc, view["window"], view["group"])
        return {"figure": fig, "view": new_view, "notes": note, "point": point}
    new_view = dict(view)
    point = pdata.live_point(svc.store, svc.settings, svc.runtime, grouping, now=now)
    hist_end, bucket = _t(view["hist_end"]), int(view["bucket_s"])
    appended = None
    if pdata.floor_time(now, bucket) > hist_end:  # buckets completed since the last tick
        appended = pdata.power_history(svc.store, grouping, since=hist_end, until=now, bucket_s=bucket,
                                       fill_s=svc.settings.stale_after_s)
        new_view["hist_end"] = appended.end.isoformat()
    plan_id = svc.store.active_plan_id()
    plan, prices = False, None
    if plan_id != view["plan_id"]:
        plan = pdata.plan_series(svc.store.active_plan())
        prices = pdata.price_band(_t(view["start"]), _t(view["built"]) + AHEAD, plan)
        new_view["plan_id"] = plan.plan_id if plan else None
    out: dict = {"figure": no_update, "view": new_view, "notes": no_update}
    moved = now > _t(view["tail_at"])  # a clock that stands still (tests) appends nothing
    if moved or appended is not None or plan is not False:
        out["figure"] = figs.live_patch(len(grouping.labels), point if moved else None, appended=appended,
                                        plan=plan, prices=prices)
        new_view["tail_at"] = max(now, _t(view["tail_at"])).isoformat()
    if view.get("error") or (view.get("empty") and point.charging_kw) or plan is not False:
        new_view["empty"] = bool(view.get("empty")) and not point.charging_kw
        new_view.pop("error", None)
        out["notes"] = notes(grouping, new_view["empty"], plan if plan is not False else _has_plan(view), view["window"])
    out["point"] = point
    return out


def series_key(grouping: pdata.Grouping) -> str:
    """Which chargers are drawn in which series, in a few bytes (the VIEW store travels with every tick)."""
    drawn = sorted((cid, grouping.labels[i]) for cid, i in grouping.of.items())
    return f"{len(grouping.labels)}:" + hashlib.sha1(repr(drawn).encode()).hexdigest()[:12]


def _has_plan(view: dict) -> bool:
    return view.get("plan_id") is not None


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------- rendering


def notes(grouping: pdata.Grouping, empty: bool, plan, window: str) -> list:
    """The messages above the chart: nothing measured yet, no plan, how chargers are grouped."""
    out = []
    if not grouping.labels and empty:
        out.append(empty_state("No power data yet", html.P([
            "No charger is registered and no site reading was stored. Chargers appear once they connect (or ",
            html.Code("depot chargers add"), "); the depot service (", html.Code("depot serve"),
            ") stores building and limit readings every few seconds."])))
    elif empty:
        out.append(_notice(f"No charging power measured in the last {WINDOW_TEXT.get(window, window)} yet: the "
                           "chart fills in as the chargers report."))
    if not plan:
        out.append(_notice("No plan yet: the next 24 h show the default prices only. The runtime plans as "
                           "soon as vehicles are plugged in or departures are entered on the Planner page."))
    if grouping.by != "charger" and grouping.labels:
        what = "lane" if grouping.by == "lane" else "current type"
        out.append(html.Div(f"{len(grouping.of)} chargers are drawn per {what} ({len(grouping.labels)} groups).",
                            className="small text-muted mb-1"))
    return out


def _notice(text: str, tone: str = "info") -> html.Div:
    return html.Div(text, className=f"alert alert-{tone} py-1 px-2 mb-1 small")


def kpi_texts(point: pdata.LivePoint | None, now: datetime) -> dict:
    """The header's numbers and the lines under them."""
    if point is None:
        return dict.fromkeys(KPI_TEXTS, "–")
    limit = point.limit_kw
    charging_sub = ("no site limit set: no cap" if point.limit is not None and point.limit.unset else
                    "no site limit known") if limit is None else (
        f"of {fmt_kw(limit)} site limit ({100 * point.charging_kw / limit:.0f} %)" if limit > 0 else
        "the site limit is 0 kW")
    head = point.headroom_kw
    if point.building_kw is not None:
        reading = building_sub = f"read {fmt_when(point.reading_at, now)}"
    else:
        reading = "no reading yet" if point.reading_at is None else f"last read {fmt_time(point.reading_at, now)}"
        stale = point.limit is not None and point.limit.stale
        building_sub = reading + (f"; {fmt_kw(point.limit.building_kw)} assumed" if stale else "")
    return {
        CHARGING: fmt_kw(point.charging_kw), CHARGING_SUB: charging_sub,
        HEADROOM: "–" if head is None else fmt_kw(head),
        HEADROOM_SUB: "–" if head is None else ("over the limit" if head < 0 else "site limit − charging"),
        BUILDING: fmt_kw(point.building_kw), BUILDING_SUB: building_sub,
        PV: fmt_kw(point.pv_kw), PV_SUB: reading,
        COMMANDED: fmt_kw(point.commanded_kw),
        COMMANDED_SUB: ("no enforcement service runs in this web process" if point.commanded_kw is None
                        else f"{point.commanded_n} charging profile{'s' if point.commanded_n != 1 else ''} accepted"),
    }


def limit_text(point: pdata.LivePoint | None) -> list:
    """The site limit in force and why (a stale building reading is called out in red)."""
    limit = point.limit if point else None
    if limit is None:
        return [html.Span("Site limit unknown: no grid connection is set (depot site set).", className="text-muted")]
    if limit.unset:  # no cap: say so in the banner's words, never "Site limit 0 kW" (or ∞)
        return [html.Strong("No site limit"), " · ", html.Span(UNSET_TEXT, className="text-danger fw-semibold")]
    source = {"enforcer": "as the enforcement service applies it",
              "computed": "computed here from the newest reading (no enforcement service in this web process)"}
    reason = limit.reason
    if reason == "measured":
        reason = f"measured: building {fmt_kw(limit.building_kw)}, PV {fmt_kw(limit.pv_kw)}"
    return [html.Strong(f"Site limit {fmt_kw(limit.limit_kw)}"), " · ",
            html.Span(reason, className="text-danger fw-semibold" if limit.stale else ""),
            html.Div(source.get(point.limit_source, ""), className="small text-muted")]


def flagged_table(flagged: list, bays: dict, now: datetime):
    """Every charger that rejects its profiles or draws above them: since when, and what it said."""
    if not flagged:
        return html.Div("All chargers obey their charging profiles.", className="text-success small mt-2")
    rows = [html.Tr([
        html.Td(h.charger_id, className="fw-semibold"), html.Td(bays.get(h.charger_id) or "–"),
        html.Td(html.Span(h.state, className="badge " + ("bg-danger" if h.state == "overdrawing"
                                                         else "bg-warning text-dark"))),
        html.Td(fmt_when(h.since, now)), html.Td(h.detail or "", className="small"),
    ]) for h in flagged]
    return dbc.Table([html.Thead(html.Tr([html.Th(t) for t in ("Charger", "Bay", "State", "Since", "Detail")])),
                      html.Tbody(rows)], size="sm", hover=True, className="mt-2 mb-0", id="power-flagged")


def health(svc: Services, point, now: datetime) -> dict:
    """{"limit": …, "flagged": …} and a short key of each, so a tick re-sends only what changed."""
    flagged = pdata.flagged_chargers(svc.store)
    bays = {c.id: c.bay for c in svc.store.list_chargers()} if flagged else {}
    parts = {"limit": limit_text(point), "flagged": flagged_table(flagged, bays, now)}
    return {name: (part, hashlib.sha1(repr(part).encode()).hexdigest()[:12]) for name, part in parts.items()}


# ---------------------------------------------------------------- layout


def _radio(id_: str, options: dict, value: str) -> dbc.RadioItems:
    return dbc.RadioItems(id=id_, options=[{"label": v, "value": k} for k, v in options.items()], value=value,
                          className="btn-group btn-group-sm", inputClassName="btn-check",
                          labelClassName="btn btn-outline-secondary", labelCheckedClassName="active")


def layout(**_):
    svc = services()
    now = svc.clock()
    try:
        fig, view, note, point = build(svc)
        shown = health(svc, point, now)
        view.update({name: key for name, (_, key) in shown.items()})
    except Exception as exc:  # the outermost boundary of this request: log it, show it, never a blank page
        log_failure(exc)
        fig, view, point, shown = {"data": [], "layout": {}}, None, None, {"limit": ([], ""), "flagged": ([], "")}
        note = [failure(exc, now)]
    texts = kpi_texts(point, now)
    kpis = html.Div([
        kpi_card("Charging now", texts[CHARGING], texts[CHARGING_SUB], value_id=CHARGING, sub_id=CHARGING_SUB,
                 card_id=CHARGING_CARD),
        kpi_card("Headroom", texts[HEADROOM], texts[HEADROOM_SUB], value_id=HEADROOM, sub_id=HEADROOM_SUB,
                 card_id=HEADROOM_CARD, class_name=_tone(point)),
        kpi_card("Building", texts[BUILDING], texts[BUILDING_SUB], value_id=BUILDING, sub_id=BUILDING_SUB),
        kpi_card("PV", texts[PV], texts[PV_SUB], value_id=PV, sub_id=PV_SUB),
        kpi_card("Commanded", texts[COMMANDED], texts[COMMANDED_SUB], value_id=COMMANDED, sub_id=COMMANDED_SUB),
    ], className="fp-header")
    return html.Div([
        html.Div([html.H2("Power", className="mb-0 me-3"),
                  html.Span("Charging power against the site limit, the plan and the price. All times UTC.",
                            className="text-muted")], className="d-flex align-items-baseline flex-wrap mb-2"),
        kpis,
        html.Div([_radio(WINDOW, {"24h": "24 h", "7d": "7 d"}, "24h"),
                  html.Span("Group by", className="small text-muted ms-3 me-1"),
                  _radio(GROUP, GROUP_LABELS, "auto")], className="d-flex align-items-center flex-wrap gap-1 mb-2"),
        html.Div(note, id=NOTES),
        html.Div(dcc.Graph(id=GRAPH, figure=fig, config={"displaylogo": False, "responsive": True},
                           style={"height": f"{figs.HEIGHT_PX}px"}), className="card card-body p-1 mb-3"),
        html.Div([html.H5("Enforcement", className="mb-2"), html.Div(shown["limit"][0], id=LIMIT),
                  html.Div(shown["flagged"][0], id=FLAGGED)], id=PANEL, className="card card-body mb-3"),
        _site_card(svc),
        dcc.Store(id=VIEW, data=view),
        dcc.Interval(id=TICK, interval=REFRESH_MS),
    ], id="power-page")


def _site_card(svc: Services):
    """The Site card (grid connection, margin, default departure): layouts/_site_parts.py."""
    try:
        return site_parts.card(svc)
    except STORE_ERRORS as exc:  # the chart's own message says why; the card just stays away
        log_failure(exc)
        return None


def _tone(point) -> str:
    return "tone-bad" if point is not None and point.headroom_kw is not None and point.headroom_kw < 0 else ""


def log_failure(exc: Exception) -> None:
    if isinstance(exc, STORE_ERRORS):
        log.error("power page: cannot read the store: %s", exc)
    else:
        log.exception("power page: could not draw the power data")


def failure(exc: Exception, now: datetime) -> html.Div:
    """What the user reads instead of a traceback: the database is unreachable, or the data could not be drawn."""
    reason = getattr(exc, "orig", None) or exc
    detail = f"{type(reason).__name__}: {str(reason).splitlines()[0] if str(reason) else 'no detail'}"
    retry = f"Tried at {fmt_time(now, now)}; the page retries every {REFRESH_MS // 1000} s."
    if isinstance(exc, STORE_ERRORS):
        return error_message("The depot database cannot be read right now.", detail, retry)
    return error_message("The power data could not be drawn.", detail, retry + " The server log has the details.")


# ---------------------------------------------------------------- the one callback


OUTPUTS = {"figure": Output(GRAPH, "figure"), "view": Output(VIEW, "data"), "notes": Output(NOTES, "children"),
           "limit": Output(LIMIT, "children"), "flagged": Output(FLAGGED, "children"), "headroom_class": Output(HEADROOM_CARD, "className"),
           **{k: Output(k, "children") for k in KPI_TEXTS}}


def refresh(n_intervals, window, group, view):
    """Rebuild on a new view or grouping (or without one), else a live Patch; the header and panel every tick."""
    svc = services()
    now = svc.clock()
    out = dict.fromkeys(OUTPUTS, no_update)
    try:
        if not view or view.get("window") != window or view.get("group") != group:
            fig, new_view, note, point = build(svc, window or "24h", group or "auto")
            out.update(figure=fig, view=new_view, notes=note)
        else:
            result = tick(svc, view)
            point = result.pop("point")
            out.update(result)
            new_view = out["view"]
        shown = health(svc, point, now)
    except Exception as exc:  # the outermost boundary of this request: the chart stays, a message says why
        if not (view or {}).get("error"):  # once per failing streak, not every 2 seconds
            log_failure(exc)
        out["notes"] = [failure(exc, now)]
        if view:
            out["view"] = {**view, "error": True}
        return out
    for name, (part, key) in shown.items():
        if key != (view or {}).get(name):
            out[name] = part
        new_view[name] = key
    out.update(kpi_texts(point, now))
    out["headroom_class"] = f"kpi {_tone(point)}".strip()
    return out


# One callback for ticks and view changes: Dash drops the answer of a call that a newer one superseded, so a
# tick's Patch never lands on a figure rebuilt meanwhile. The interval pauses while a call runs, so a slow
# rebuild (a week of a big depot on a busy machine) is not superseded by the next tick again and again.
callback(output=OUTPUTS, inputs={"n_intervals": Input(TICK, "n_intervals"), "window": Input(WINDOW, "value"),
                                 "group": Input(GROUP, "value")},
         state={"view": State(VIEW, "data")}, prevent_initial_call=True,
         running=[(Output(TICK, "disabled"), True, False)])(refresh)
