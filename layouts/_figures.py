"""PURE: plans → plotly figures. No Dash, no store, no clock: every input is a parameter.

`plan_timeline` draws one planned charging plan as two panels sharing a UTC time range:
- a heatmap row per vehicle (colour = planned kW; grey outside its plugged-in window; a tick at its
  departure), readable with 40+ vehicles because each vehicle is one thin row, not a trace; it has its own
  time axis along its top, so a tall fleet is read without scrolling down to the totals;
- the site total as a filled step area against the site limit (red dashed step) with the energy price
  as a step line on a secondary axis.
The page module decides what to plan; this module only draws it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from depot.planning.planner import Plan, PlanningProblem

ROW_PX = 16  # height of one vehicle's row in the heatmap
TOTAL_PX = 230  # height of the site-total panel
MARGIN_PX = 70

BADGE_MARK = {"ready": "●", "at risk": "▲", "will miss": "✕"}
BADGE_COLOUR = {"ready": "#2e8b57", "at risk": "#d0952a", "will miss": "#d33a3a"}
POWER_SCALE = [[0.0, "#eef3fa"], [0.35, "#8fb3e3"], [1.0, "#163f86"]]
OUTSIDE_WINDOW = "#d9dde3"
LIMIT_COLOUR = "#d33a3a"
PRICE_COLOUR = "#b7791f"
TOTAL_COLOUR = "#2b6cc9"


def slot_times(problem: PlanningProblem) -> list[datetime]:
    """Start of every slot plus the end of the last one (len = slots + 1)."""
    step = timedelta(minutes=problem.slot_minutes)
    return [problem.start + k * step for k in range(problem.slots + 1)]


def vehicle_order(problem: PlanningProblem, badges: Mapping[str, str] | None = None) -> list[int]:
    """Indices of the problem's vehicles, top to bottom: earliest departure first, then id."""
    return sorted(range(len(problem.vehicles)),
                  key=lambda i: (problem.vehicles[i].departure, problem.vehicles[i].id))


def plan_timeline(problem: PlanningProblem, plan: Plan, *, badges: Mapping[str, str] | None = None,
                  now: datetime | None = None, title: str | None = None) -> go.Figure:
    """Planned power per vehicle (heatmap rows), site total against the limit, and the price."""
    badges = badges or {}
    times = slot_times(problem)
    step = timedelta(minutes=problem.slot_minutes)
    centres = [t + step / 2 for t in times[:-1]]
    by_id = {v.id: v for v in plan.vehicles}
    order = vehicle_order(problem, badges)
    n = len(order)

    heat_px = max(ROW_PX * n, 60) if n else 0
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.02 if n else 0.0,
        row_heights=[heat_px, TOTAL_PX] if n else [0.001, 1.0],
        specs=[[{}], [{"secondary_y": True}]],
    )

    if n:
        _add_vehicle_rows(fig, problem, by_id, order, badges, centres, times, heat_px)
    _add_totals(fig, problem, plan, times, now)
    _decorate(fig, n, times, now, heat_px, title)
    return fig


def _add_vehicle_rows(fig: go.Figure, problem: PlanningProblem, by_id, order: list[int], badges, centres,
                      times: list[datetime], heat_px: int) -> None:
    """The heatmap rows (one per vehicle, planned kW per slot) and each vehicle's departure mark."""
    n = len(order)
    z, labels, hover = _heat_rows(problem, by_id, order, badges)
    fig.add_trace(go.Heatmap(
        z=z, x=centres, y=labels, zmin=0.0, zmax=max(1.0, float(np.nanmax(z)) if np.isfinite(z).any() else 1.0),
        colorscale=POWER_SCALE, xgap=0, ygap=1, customdata=hover,
        hovertemplate="%{customdata}<extra></extra>", name="planned kW",
        colorbar={"title": {"text": "kW", "side": "right"}, "len": min(1.0, heat_px / (heat_px + TOTAL_PX)),
                  "y": 1.0, "yanchor": "top", "thickness": 12},
    ), row=1, col=1)
    deps = [problem.vehicles[i] for i in order]
    fig.add_trace(go.Scatter(
        x=[min(v.departure, times[-1]) for v in deps], y=labels, mode="markers", name="departure",
        marker={"symbol": "line-ns-open", "size": 12, "color": "#1f2933", "line": {"width": 2, "color": "#1f2933"}},
        hovertemplate="%{y}: departs %{x|%H:%M} UTC<extra></extra>", showlegend=False,
    ), row=1, col=1)
    fig.update_yaxes(range=[n - 0.5, -0.5], type="category", tickfont={"size": 11}, row=1, col=1,
                     showgrid=False, fixedrange=True)


def _add_totals(fig: go.Figure, problem: PlanningProblem, plan: Plan, times: list[datetime],
                now: datetime | None) -> None:
    """The lower panel: planned site total against the site limit, and the price on its own axis."""
    total = plan.power_matrix().sum(axis=0) if plan.vehicles else np.zeros(problem.slots)
    limit = problem.site_limits()
    prices = problem.prices()
    fig.add_trace(go.Scatter(x=times, y=_step(total), mode="lines", line_shape="hv", fill="tozeroy",
                             line={"color": TOTAL_COLOUR, "width": 1.5}, fillcolor="rgba(43,108,201,0.25)",
                             name="planned total (kW)", hovertemplate="%{x|%H:%M} UTC: %{y:.0f} kW<extra>total</extra>"),
                  row=2, col=1, secondary_y=False)
    fig.add_trace(go.Scatter(x=times, y=_step(limit), mode="lines", line_shape="hv",
                             line={"color": LIMIT_COLOUR, "width": 2, "dash": "dash"}, name="site limit (kW)",
                             hovertemplate="%{x|%H:%M} UTC: limit %{y:.0f} kW<extra></extra>"),
                  row=2, col=1, secondary_y=False)
    fig.add_trace(go.Scatter(x=times, y=_step(prices), mode="lines", line_shape="hv",
                             line={"color": PRICE_COLOUR, "width": 1.5, "dash": "dot"}, name="price per kWh",
                             hovertemplate="%{x|%H:%M} UTC: %{y:.3f} per kWh<extra>price</extra>"),
                  row=2, col=1, secondary_y=True)

    top = max(float(limit.max(initial=0.0)), float(total.max(initial=0.0)), 1.0) * 1.12
    fig.update_yaxes(title_text="kW", range=[0, top], row=2, col=1, secondary_y=False, fixedrange=True)
    fig.update_yaxes(title_text="price", range=[0, max(float(prices.max(initial=0.0)), 0.01) * 1.6], row=2, col=1,
                     secondary_y=True, showgrid=False, fixedrange=True, tickfont={"color": PRICE_COLOUR}, tickformat=".2f",
                     nticks=4,
                     title_font={"color": PRICE_COLOUR})
    shown = [times[0], _shown_until(problem, times, now)]
    fig.update_xaxes(range=shown, tickformat="%H:%M\n%a %d", row=2, col=1)
    # the heat map's own time axis, along its top (same range: zooming one zooms both)
    fig.update_xaxes(range=shown, row=1, col=1, showticklabels=bool(problem.vehicles), side="top",
                     tickformat="%H:%M", ticks="outside", ticklen=3, tickfont={"size": 10})


def _decorate(fig: go.Figure, n: int, times: list[datetime], now: datetime | None, heat_px: int,
              title: str | None) -> None:
    """The now line, the empty note, the size, margins, legend and backgrounds."""
    if now is not None and times[0] <= now <= times[-1]:
        fig.add_vline(x=now, line={"color": "#1f2933", "width": 1})
        fig.add_annotation(x=now, y=1.0, yref="paper", text="now", showarrow=False, yanchor="bottom",
                           yshift=18 if n else 0, font={"size": 10})
    if not n:
        fig.add_annotation(text="No vehicles in this plan", x=0.5, y=0.95, xref="paper", yref="paper",
                           showarrow=False, font={"size": 13, "color": "#6b7785"})

    fig.update_layout(
        height=MARGIN_PX + heat_px + TOTAL_PX + 40 + (24 if n else 0),
        margin={"l": 10, "r": 10, "t": (36 if title else 24) + (24 if n else 0), "b": 44},
        title={"text": title, "x": 0.0, "font": {"size": 14}} if title else None,
        plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
        legend={"orientation": "h", "x": 0.0, "y": 0.0, "yref": "container", "yanchor": "bottom",
                "font": {"size": 11}},
        hovermode="closest", uirevision="planner",
    )
    if n:
        fig.update_layout({"yaxis": {"showgrid": False}})
        # plot background shows through outside each vehicle's window (NaN cells)
        fig.update_layout(plot_bgcolor=OUTSIDE_WINDOW)
        fig.update_yaxes(gridcolor="#eef1f4", row=2, col=1, secondary_y=False)
        fig.update_layout(shapes=[{"type": "rect", "xref": "x2 domain", "yref": "y2 domain", "x0": 0, "x1": 1,
                                   "y0": 0, "y1": 1, "fillcolor": "#ffffff", "line": {"width": 0}, "layer": "below"}])


def _shown_until(problem: PlanningProblem, times: list[datetime], now: datetime | None) -> datetime:
    """The x axis ends an hour after the last departure (the rest of the horizon is empty); zoom out for more."""
    if not problem.vehicles:
        return times[-1]
    last = max(max(v.departure for v in problem.vehicles), now or times[0], times[0] + timedelta(hours=6))
    end = last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2 if last.minute else 1)
    return min(end, times[-1])


def empty_figure(message: str) -> go.Figure:
    """A blank figure carrying a message (for places that must hold a figure)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 14, "color": "#6b7785"})
    fig.update_layout(height=160, xaxis={"visible": False}, yaxis={"visible": False}, plot_bgcolor="#ffffff",
                      paper_bgcolor="#ffffff", margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def _heat_rows(problem: PlanningProblem, by_id, order: Sequence[int], badges: Mapping[str, str]):
    """z (vehicles × slots, NaN outside the window), y labels, and hover texts."""
    slots = problem.slots
    step = timedelta(minutes=problem.slot_minutes)
    z = np.full((len(order), slots), np.nan)
    hover = np.empty((len(order), slots), dtype=object)
    labels = []
    for row, i in enumerate(order):
        need = problem.vehicles[i]
        vp = by_id.get(need.id)
        first, end = problem.window(need)
        power = np.asarray(vp.power_kw if vp is not None else [0.0] * slots, dtype=float)
        z[row, first:end] = power[first:end]
        badge = badges.get(need.id)
        labels.append(f"{need.id} {BADGE_MARK[badge]}" if badge in BADGE_MARK else need.id)
        for k in range(slots):
            t = problem.start + k * step
            where = (f"{power[k]:.1f} kW" if first <= k < end else "not plugged in")
            hover[row, k] = f"{need.id} · {t:%H:%M}–{t + step:%H:%M} UTC · {where}"
    return z, labels, hover


def _step(values: np.ndarray) -> list[float]:
    """Values per slot for an `hv` step line over slot_times (the last value repeated at the end)."""
    vals = [float(v) for v in values]
    return vals + vals[-1:] if vals else []
