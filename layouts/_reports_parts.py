"""Pieces of the /reports page: KPI cards, the group and session grids, and the charts (pure: report values in,
components and plotly figures out; no store, no clock). The page loader skips this file (leading "_")."""

from __future__ import annotations

import dash_ag_grid as dag
import pandas as pd
import plotly.graph_objects as go
from dash import html

from depot.costs import report_data, reports
from depot.text import count
from layouts._components import kpi_card

BLUE, AMBER, GREY, GREEN = "#2b6cc9", "#d0952a", "#7b8794", "#2e8b57"
SYMBOL = {"EUR": "€", "USD": "$", "GBP": "£"}


def money(v: float, cur: str, decimals: int = 0) -> str:
    v = round(float(v), decimals) + 0.0
    sym = SYMBOL.get(cur)
    text = f"{abs(v):,.{decimals}f}"
    return ("−" if v < 0 else "") + (f"{sym}{text}" if sym else f"{text} {cur}")


def energy(kwh: float) -> str:
    return f"{kwh / 1000:,.1f} MWh" if kwh >= 10_000 else f"{kwh:,.0f} kWh"


def kpi_row(k: dict, cur: str) -> html.Div:
    peak_at = k["peak_at"].strftime("%d %b %H:%M") if k["peak_at"] is not None else "no charging"
    cards = [
        kpi_card("Total cost", money(k["total_cost"], cur), f"incl. {money(k['fixed_fees'], cur)} fixed fees",
                 card_id="rep-kpi-cost"),
        kpi_card("Energy", energy(k["energy_kwh"]), count(k['sessions'], 'session'), card_id="rep-kpi-energy"),
        kpi_card("Average price", f"{money(k['avg_price'], cur, 3)}/kWh", "energy + demand charge"),
        kpi_card("Peak", f"{k['peak_kw']:,.0f} kW", f"{peak_at} · demand charge {money(k['demand_cost'], cur)}"),
        kpi_card("Savings", money(k["savings"], cur), f"{k['savings_pct']:.1f} % vs unmanaged charging",
                 class_name="tone-good" if k["savings"] > 0 else "", card_id="rep-kpi-savings"),
        kpi_card("CO₂", f"{k['co2_kg'] / 1000:,.2f} t", f"{k['co2_g_per_kwh']:,.0f} g/kWh"),
        kpi_card("Utilisation", f"{k['utilisation_pct']:.1f} %", f"avg {k['avg_duration_h']:.1f} h plugged in"),
        kpi_card("Idle", f"{k['idle_h']:,.0f} h", f"billed {money(k['billed'], cur)}"),
    ]
    return html.Div(cards, className="rep-kpis", style={"display": "grid", "gap": ".6rem",
                                                        "gridTemplateColumns": "repeat(auto-fit, minmax(150px, 1fr))"})


def _fmt(decimals: int) -> dict:
    return {"function": f"params.value == null ? '' : d3.format(',.{decimals}f')(params.value)"}


def column_defs(by: str, cur: str) -> list[dict]:
    cols = [{"field": "group", "headerName": report_data.GROUPINGS[by], "pinned": "left", "minWidth": 150,
             "cellClass": "fw-semibold", "sortable": True}]
    tips = {"peak_kw": "periods and site: highest 15-min average; vehicles, chargers, groups: their power in the "
                       "billing peak", "savings": "unmanaged cost (full power from plug-in) minus cost",
            "utilisation_pct": "plugged-in hours / connector hours"}
    for key, header, decimals in reports.COLUMNS:
        cols.append({"field": key, "headerName": header.format(cur=cur), "type": "rightAligned",
                     "valueFormatter": _fmt(decimals), "minWidth": 110, "sortable": True,
                     "headerTooltip": tips.get(key, header.format(cur=cur))})
    return cols


def group_grid(grid_id: str) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, rowData=[], columnDefs=[], getRowId="params.data.group",
        defaultColDef={"resizable": True, "suppressMovable": True, "wrapHeaderText": True, "autoHeaderHeight": True},
        dashGridOptions={"rowHeight": 32, "animateRows": False, "tooltipShowDelay": 300,
                         "rowClass": "rep-row", "localeText": {"noRowsToShow": "No sessions in this period"}},
        style={"height": "420px"}, className="ag-theme-alpine",
    )


def grid_style(rows: int) -> dict:
    """Tall enough for every row up to about fifteen (header, rows, the pinned Total, the scroll bar)."""
    return {"height": f"{min(560, 74 + 32 * (max(rows, 1) + 1) + 16)}px"}


def session_grid(grid_id: str, frame: pd.DataFrame, cur: str) -> dag.AgGrid:
    cols = []
    for key, header, decimals in reports.SESSION_COLUMNS:
        col = {"field": key, "headerName": header.format(cur=cur), "minWidth": 100, "sortable": True}
        if decimals is not None and key != "transaction_id":
            col.update(type="rightAligned", valueFormatter=_fmt(decimals))
        cols.append(col)
    rows = frame.to_dict("records")
    return dag.AgGrid(id=grid_id, rowData=rows, columnDefs=cols,
                      defaultColDef={"resizable": True, "wrapHeaderText": True, "autoHeaderHeight": True},
                      dashGridOptions={"rowHeight": 30, "animateRows": False},
                      style={"height": f"{min(380, 60 + 30 * max(len(rows), 2))}px"})


def _layout(fig: go.Figure, height: int, **kw) -> go.Figure:
    fig.update_layout(**{"height": height, "margin": {"l": 50, "r": 50, "t": 30, "b": 40}, "plot_bgcolor": "white",
                         "paper_bgcolor": "white", "font": {"size": 12}, "hovermode": "x unified",
                         "legend": {"orientation": "h", "y": 1.12, "x": 0}, **kw})
    fig.update_xaxes(showgrid=False, linecolor="#c5ccd4")
    fig.update_yaxes(gridcolor="#e6e9ee", zeroline=False)
    return fig


def energy_cost_figure(ts: pd.DataFrame, cur: str) -> go.Figure:
    """Energy (bars) and cost against unmanaged (lines); per day the energy cost (the month's demand charge
    falls on its peak day and is in the table and the KPIs)."""
    daily = ts.columns[0] == "day"
    x = ts.iloc[:, 0].astype(str)
    cost = ts["energy_cost"] if daily else ts["cost"]
    unmanaged = ts["energy_cost"] + ts["savings_energy"] if daily else ts["cost"] + ts["savings"]
    what = "Energy cost" if daily else "Cost"
    fig = go.Figure()
    fig.add_bar(x=x, y=ts["energy_kwh"], name="Energy (kWh)", marker_color=BLUE, opacity=0.85,
                hovertemplate="%{y:,.0f} kWh")
    fig.add_scatter(x=x, y=cost, name=f"{what} ({cur})", yaxis="y2", mode="lines+markers",
                    line={"color": AMBER, "width": 2}, hovertemplate="%{y:,.2f}")
    fig.add_scatter(x=x, y=unmanaged, name=f"Unmanaged {what.lower()} ({cur})", yaxis="y2", mode="lines",
                    line={"color": GREY, "dash": "dash", "width": 1.5}, hovertemplate="%{y:,.2f}")
    return _layout(fig, 320, yaxis={"title": "kWh", "rangemode": "tozero"},
                   yaxis2={"title": cur, "overlaying": "y", "side": "right", "rangemode": "tozero",
                           "showgrid": False})


HEAT_EMPTY = "No charging recorded in this period yet"


def heatmap_figure(hm: pd.DataFrame) -> go.Figure:
    """Average kW by weekday (rows) and hour (columns); with no charging at all, the empty state instead of a
    uniform block on a meaningless colour scale."""
    if hm.empty or not (hm.to_numpy(dtype=float) > 0).any():
        fig = _layout(go.Figure(), 280, hovermode=False)
        fig.add_annotation(text=HEAT_EMPTY, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                           font={"size": 14, "color": GREY})
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return fig
    fig = go.Figure(go.Heatmap(z=hm.to_numpy(), x=[f"{h:02d}" for h in hm.columns], y=list(hm.index),
                               colorscale="Blues", zmin=0, colorbar={"title": {"text": "avg kW"}, "thickness": 12},
                               hovertemplate="%{y} %{x}:00 · %{z:,.1f} kW<extra></extra>", xgap=1, ygap=1))
    fig = _layout(fig, 280, hovermode="closest")
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(title="hour of the day (local)")
    return fig


def top_figure(top: pd.DataFrame, cur: str) -> go.Figure:
    top = top.iloc[::-1]
    fig = go.Figure(go.Bar(x=top["cost"], y=top["group"].astype(str), orientation="h", marker_color=BLUE,
                           opacity=0.85, text=[money(v, cur) for v in top["cost"]], textposition="outside",
                           hovertemplate="%{y}: %{x:,.2f}<extra></extra>", cliponaxis=False))
    fig = _layout(fig, 320, hovermode="closest")
    fig.update_layout(margin={"l": 80, "r": 60, "t": 10, "b": 40})
    fig.update_xaxes(title=f"cost ({cur})", gridcolor="#e6e9ee", showgrid=True)
    fig.update_yaxes(showgrid=False)
    if top.empty:
        fig.add_annotation(text="no sessions in this range", showarrow=False, x=0.5, y=0.5, xref="paper",
                           yref="paper", font={"color": GREY})
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return fig


def card(title: str, body, *, extra=None, class_name: str = "") -> html.Div:
    head = [html.H5(title, className="mb-0 me-auto")] + ([extra] if extra is not None else [])
    return html.Div([html.Div(head, className="d-flex align-items-center gap-2 mb-2"), body],
                    className=f"card card-body mb-3 {class_name}".strip())
