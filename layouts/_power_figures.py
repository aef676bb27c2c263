"""PURE: power data → the /power figure and the small Patch that extends it live. No Dash callbacks, no
store, no clock: every input is a parameter (depot.web.power_data builds them).

One figure, two rows sharing a UTC time axis:
- top: charging power stacked per series (a charger, or a group of them), the site limit (red step),
  building load and PV (lines), the active plan's expected total and the limit it planned against (dashed,
  mostly in the future), and a vertical "now" line;
- bottom: the price band (a one-row heatmap: green cheap, red dear).

Every live series is two traces: its HISTORY (complete buckets, evenly spaced, drawn with x0/dx so only y
travels) and its TAIL (the live points of the bucket in progress, with explicit x). A live update is a
Patch that appends to tails and, when a bucket completes, appends its value to the histories and restarts
the tails: the figure is built once and every update carries a few numbers per series. Histories and tails
are two stacks ("power" and "live") that meet at the end of the last complete bucket: within a stack all
traces share their x, so nothing is interpolated or zero-filled and the hover shows only real points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import plotly.graph_objects as go
from dash import Patch
from plotly.subplots import make_subplots

from depot.web.power_data import LivePoint, PlanSeries, PowerHistory, PriceBand

# Tableau 20: dark/light pairs, so neighbouring bands of the stack stay apart
SERIES_COLOURS = ("#4e79a7", "#a0cbe8", "#f28e2b", "#ffbe7d", "#59a14f", "#8cd17d", "#b6992d", "#f1ce63",
                  "#499894", "#86bcb6", "#e15759", "#ff9d9a", "#79706e", "#bab0ac", "#d37295", "#fabfd2",
                  "#b07aa1", "#d4a6c8", "#9d7660", "#d7b5a6")
LIMIT_COLOUR = "#d33a3a"
PLAN_COLOUR = "#1f2933"
BUILDING_COLOUR = "#6b7785"
PV_COLOUR = "#e0a800"
PRICE_SCALE = [[0.0, "#3a9a6a"], [0.5, "#f1ce63"], [1.0, "#d33a3a"]]
MAIN_PX, PRICE_PX = 430, 30
HEIGHT_PX = MAIN_PX + PRICE_PX + 110  # with the margins and the time axis
NOW_SHAPE, NOW_LABEL = 0, 0  # the "now" line is layout.shapes[0], its label layout.annotations[0]


@dataclass(frozen=True)
class Traces:
    """Trace indices of a figure with `n` series (the live Patch addresses traces by index)."""

    n: int

    def hist(self, i: int) -> int:
        return i

    def tail(self, i: int) -> int:
        return self.n + i

    @property
    def building(self) -> int:
        return 2 * self.n

    @property
    def pv(self) -> int:
        return 2 * self.n + 2

    @property
    def limit(self) -> int:
        return 2 * self.n + 4

    @property
    def plan(self) -> int:
        return 2 * self.n + 6

    @property
    def plan_limit(self) -> int:
        return 2 * self.n + 7

    @property
    def price(self) -> int:
        return 2 * self.n + 8


def iso(t: datetime) -> str:
    """Plotly's date format, in UTC and without a zone (plotly.js ignores zones): "2026-11-21 18:00:00"."""
    return (t.astimezone(UTC) if t.tzinfo is not None else t).strftime("%Y-%m-%d %H:%M:%S")


def values(arr) -> list[float | None]:
    """kW to one decimal, unknown (NaN) as None (a gap)."""
    a = np.round(np.asarray(arr, dtype=float), 1)
    return [None if not np.isfinite(v) else float(v) for v in a]


def colour(i: int) -> str:
    return SERIES_COLOURS[i % len(SERIES_COLOURS)]


def power_figure(history: PowerHistory, *, now: datetime, until: datetime, point: LivePoint | None = None,
                 plan: PlanSeries | None = None, prices: PriceBand | None = None, uirevision: str = "power") -> go.Figure:
    """The whole figure: histories up to `history.end`, one live point, the plan and prices up to `until`."""
    tr = Traces(len(history.labels))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[MAIN_PX, PRICE_PX])
    x0 = iso(history.start + timedelta(seconds=history.bucket_s / 2))  # a bucket's value sits at its middle
    dx = history.bucket_s * 1000  # ms on a date axis
    tail_x = tail_times(history.end, point)
    for i, label in enumerate(history.labels):
        hover = f"{label}: %{{y:.1f}} kW<extra></extra>"
        common = {"stackgroup": "power", "mode": "lines", "line": {"width": 0.5, "color": colour(i)},
                  "fillcolor": colour(i), "legendgroup": label, "name": label, "hovertemplate": hover}
        fig.add_trace(go.Scatter(x0=x0, dx=dx, y=values(history.power_kw[i]), **common), row=1, col=1)
    for i, label in enumerate(history.labels):
        fig.add_trace(go.Scatter(x=tail_x, y=[round(point.series_kw[i], 1)] * len(tail_x), showlegend=False,
                                 **{"stackgroup": "live", "mode": "lines", "line": {"width": 0.5, "color": colour(i)},
                                    "fillcolor": colour(i), "legendgroup": label, "name": label,
                                    "hovertemplate": f"{label}: %{{y:.1f}} kW (live)<extra></extra>"}), row=1, col=1)
    for name, arr, now_value, style in (
        ("building load", history.building_kw, point.building_kw if point else None,
         {"color": BUILDING_COLOUR, "width": 1.5}),
        ("PV", history.pv_kw, point.pv_kw if point else None, {"color": PV_COLOUR, "width": 1.5}),
        ("site limit", history.limit_kw, point.limit_kw if point else None,
         {"color": LIMIT_COLOUR, "width": 2, "shape": "hv"}),
    ):
        hover = f"{name}: %{{y:.1f}} kW<extra></extra>"
        fig.add_trace(go.Scatter(x0=x0, dx=dx, y=values(arr), mode="lines", line=style, name=name, legendgroup=name,
                                 hovertemplate=hover, connectgaps=False), row=1, col=1)
        fig.add_trace(go.Scatter(x=tail_x, y=[None if now_value is None else round(now_value, 1)] * len(tail_x),
                                 mode="lines", line=style, name=name, legendgroup=name, showlegend=False,
                                 hovertemplate=hover), row=1, col=1)
    px, py, lx, ly = plan_xy(plan)
    fig.add_trace(go.Scatter(x=px, y=py, mode="lines", name="plan: expected total",
                             line={"color": PLAN_COLOUR, "width": 2, "dash": "dash", "shape": "hv"},
                             hovertemplate="plan: %{y:.1f} kW<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", name="site limit (planned)",
                             line={"color": LIMIT_COLOUR, "width": 1.5, "dash": "dot", "shape": "hv"},
                             hovertemplate="planned limit: %{y:.1f} kW<extra></extra>"), row=1, col=1)
    fig.add_trace(price_trace(prices), row=2, col=1)
    assert len(fig.data) == tr.price + 1

    _axes_and_layout(fig, history.start, now, until, uirevision)
    return fig


def _axes_and_layout(fig: go.Figure, start: datetime, now: datetime, until: datetime, uirevision: str) -> None:
    """Axes, legend, size and the now line of the power figure."""
    fig.update_xaxes(range=[iso(start), iso(until)], row=1, col=1, showticklabels=False, showgrid=True,
                     gridcolor="#eef1f4", hoverformat="%a %d %b %H:%M UTC")
    fig.update_xaxes(range=[iso(start), iso(until)], row=2, col=1, tickformat="%H:%M\n%a %d %b",
                     title_text="UTC", title_standoff=4, title_font={"size": 11, "color": "#6b7785"})
    fig.update_yaxes(title_text="kW", row=1, col=1, rangemode="tozero", gridcolor="#eef1f4", zeroline=False)
    fig.update_yaxes(row=2, col=1, showticklabels=False, showgrid=False, fixedrange=True, tickvals=[0],
                     ticktext=["price"], title_text="price", title_font={"size": 10, "color": "#6b7785"})
    fig.update_layout(
        height=HEIGHT_PX,
        margin={"l": 10, "r": 10, "t": 28, "b": 10},
        plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
        hovermode="x unified", hoverlabel={"namelength": -1},
        # on the right, top to bottom as drawn: the lines, then the stack from its top band down
        legend={"orientation": "v", "x": 1.01, "y": 1.0, "yanchor": "top", "font": {"size": 11},
                "traceorder": "reversed", "tracegroupgap": 0},
        uirevision=uirevision,
        shapes=[now_shape(now)],
        annotations=[{"x": iso(now), "y": 1.0, "xref": "x", "yref": "paper", "text": "now", "showarrow": False,
                      "yanchor": "bottom", "font": {"size": 10, "color": PLAN_COLOUR}}],
    )


def tail_times(start: datetime, point: LivePoint | None) -> list[str]:
    """A tail starts as a flat segment from the end of the histories to the live point (one point would not
    draw a line), so the bucket in progress is visible from its first tick."""
    if point is None:
        return []
    return [iso(start), iso(point.at)] if point.at > start else [iso(point.at)]


def now_shape(now: datetime) -> dict:
    return {"type": "line", "xref": "x", "yref": "paper", "x0": iso(now), "x1": iso(now), "y0": 0, "y1": 1,
            "line": {"color": PLAN_COLOUR, "width": 1}}


def plan_xy(plan: PlanSeries | None) -> tuple[list, list, list, list]:
    """Step lines of the plan's total and planned limit: slot starts plus the end (the last value repeated)."""
    if plan is None or not len(plan.total_kw):
        return [], [], [], []
    times = [iso(plan.start + timedelta(seconds=plan.slot_s * k)) for k in range(len(plan.total_kw) + 1)]
    total = values(plan.total_kw)
    limit = values(plan.limit_kw)
    return times, total + total[-1:], times, limit + limit[-1:]


def price_trace(prices: PriceBand | None) -> go.Heatmap:
    if prices is None or not len(prices.prices):
        return go.Heatmap(z=[[]], showscale=False, name="price")
    p = np.asarray(prices.prices, dtype=float)
    lo, hi = float(np.nanmin(p)), float(np.nanmax(p))
    return go.Heatmap(
        z=[[round(float(v), 4) for v in p]], x0=iso(prices.start + timedelta(seconds=prices.slot_s / 2)),
        dx=prices.slot_s * 1000, y=[0], zmin=lo, zmax=hi if hi > lo else lo + 0.01, colorscale=PRICE_SCALE,
        showscale=False, name="price", xgap=0, hovertemplate="price %{z:.3f} per kWh<extra></extra>")


# ---------------------------------------------------------------- live updates (Patch)


def live_patch(n: int, point: LivePoint | None, *, appended: PowerHistory | None = None,
               plan: PlanSeries | None | bool = False, prices: PriceBand | None = None) -> Patch:
    """What a 2-second tick sends: the live point appended to every tail (or the tails restarted at it when
    `appended` brings completed buckets to the histories) and the now line moved to it; when `plan` is not
    False, the plan's lines (cleared for None) and the price band replaced."""
    tr = Traces(n)
    patch = Patch()
    if appended is not None and appended.buckets:
        for i in range(n):
            patch["data"][tr.hist(i)]["y"].extend(values(appended.power_kw[i]))
        for index, arr in ((tr.building, appended.building_kw), (tr.pv, appended.pv_kw),
                           (tr.limit, appended.limit_kw)):
            patch["data"][index]["y"].extend(values(arr))
    if point is not None:
        restart = appended is not None and appended.buckets > 0
        x = iso(point.at)
        fresh = tail_times(appended.end, point) if restart else [x]
        tails = [(tr.tail(i), point.series_kw[i]) for i in range(n)]
        tails += [(tr.building + 1, point.building_kw), (tr.pv + 1, point.pv_kw), (tr.limit + 1, point.limit_kw)]
        for index, value in tails:
            y = None if value is None else round(float(value), 1)
            if restart:
                patch["data"][index]["x"] = fresh
                patch["data"][index]["y"] = [y] * len(fresh)
            else:
                patch["data"][index]["x"].append(x)
                patch["data"][index]["y"].append(y)
        patch["layout"]["shapes"][NOW_SHAPE]["x0"] = x
        patch["layout"]["shapes"][NOW_SHAPE]["x1"] = x
        patch["layout"]["annotations"][NOW_LABEL]["x"] = x
    if plan is not False:
        px, py, lx, ly = plan_xy(plan or None)
        patch["data"][tr.plan]["x"], patch["data"][tr.plan]["y"] = px, py
        patch["data"][tr.plan_limit]["x"], patch["data"][tr.plan_limit]["y"] = lx, ly
        if prices is not None:
            heat = price_trace(prices)
            for key in ("z", "x0", "dx", "zmin", "zmax"):
                patch["data"][tr.price][key] = heat[key]
    return patch
