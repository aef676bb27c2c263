"""The energy cost report's charts as PNG: energy and cost per period, power by weekday and hour, top vehicles.

Drawn with matplotlib's object API (no pyplot, no global state), so this runs in a web thread;
`depot.costs.report_pdf` places them on its pages. Also `money`, the amounts as the report prints them.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BLUE, AMBER, RED = "#2b6cc9", "#d0952a", "#d33a3a"


def money(v: float, cur: str, decimals: int = 0) -> str:
    sym = {"EUR": "€", "USD": "$", "GBP": "£"}.get(cur)
    v = round(float(v), decimals) + 0.0
    text = f"{abs(v):,.{decimals}f}"
    sign = "−" if v < 0 else ""
    return f"{sign}{sym}{text}" if sym else f"{sign}{text} {cur}"


def _png(fig: Figure) -> io.BytesIO:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=160, bbox_inches="tight")
    buf.seek(0)
    return buf


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color("#c5ccd4")
    ax.spines["bottom"].set_color("#c5ccd4")
    ax.tick_params(colors="#4a5561", labelsize=7)
    ax.grid(axis="y", color="#e6e9ee", linewidth=0.6)
    ax.set_axisbelow(True)


def chart_daily(ts, currency: str) -> io.BytesIO:
    """Energy per period (bars) and its cost against unmanaged charging (lines). Per day the lines show the
    energy cost only: the month's demand charge falls on the day of its peak and would dwarf the rest."""
    daily = ts.columns[0] == "day"
    cost = ts["energy_cost"] if daily else ts["cost"]
    unmanaged = (ts["energy_cost"] + ts["savings_energy"]) if daily else ts["cost"] + ts["savings"]
    fig = Figure(figsize=(7.2, 2.6))
    ax = fig.add_subplot()
    x = np.arange(len(ts))
    ax.bar(x, ts["energy_kwh"], color=BLUE, alpha=0.85, width=0.75, label="Energy (kWh)")
    ax.set_ylabel("kWh", fontsize=7, color="#4a5561")
    _style(ax)
    ax2 = ax.twinx()
    what = "energy cost" if daily else "cost"
    ax2.plot(x, cost, color=AMBER, marker="o", markersize=2.5, linewidth=1.4, label=f"{what.capitalize()} ({currency})")
    ax2.plot(x, unmanaged, color="#7b8794", linestyle="--", linewidth=1.0, label=f"Unmanaged {what} ({currency})")
    ax2.set_ylabel(currency, fontsize=7, color="#4a5561")
    ax2.tick_params(colors="#4a5561", labelsize=7)
    ax2.spines["top"].set_visible(False)
    keys = [str(k) for k in ts.iloc[:, 0]]
    labels = [k[8:].lstrip("0") for k in keys] if daily else keys
    step = 1 if len(labels) <= 16 else 2 if len(labels) <= 40 else max(1, len(labels) // 16)
    ax.set_xticks(x[::step], labels[::step])
    if daily and keys:
        ax.set_xlabel(f"day of {keys[0][:7]}" if keys[0][:7] == keys[-1][:7] else "day", fontsize=7, color="#4a5561")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=6.5, frameon=False, loc="upper left", ncol=3)
    ax.set_ylim(0, max(1.0, float(ts["energy_kwh"].max()) * 1.3))
    ax2.set_ylim(0, max(1.0, float(max(cost.max(), unmanaged.max())) * 1.3))
    return _png(fig)


def chart_heatmap(hm) -> io.BytesIO:
    fig = Figure(figsize=(7.2, 2.3))
    ax = fig.add_subplot()
    if hm.empty or not (hm.to_numpy(dtype=float) > 0).any():
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No charging recorded in this period yet", ha="center", va="center", fontsize=9,
                color="#7b8794", transform=ax.transAxes)
        return _png(fig)
    im = ax.imshow(hm.to_numpy(), aspect="auto", cmap="Blues", vmin=0, interpolation="nearest")
    ax.set_yticks(range(7), list(hm.index))
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.tick_params(labelsize=7, colors="#4a5561", length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel("hour of the day (local)", fontsize=7, color="#4a5561")
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    cb.ax.tick_params(labelsize=6)
    cb.set_label("average kW", fontsize=7)
    return _png(fig)


def chart_top(top, currency: str) -> io.BytesIO:
    fig = Figure(figsize=(7.2, 0.35 * max(len(top), 3) + 0.5))
    ax = fig.add_subplot()
    top = top.iloc[::-1]
    ax.barh(top["group"].astype(str), top["cost"], color=BLUE, alpha=0.85, height=0.6)
    for y, v in enumerate(top["cost"]):
        ax.text(v, y, "  " + money(float(v), currency), va="center", fontsize=6.5, color="#4a5561")
    _style(ax)
    ax.grid(axis="x", color="#e6e9ee", linewidth=0.6)
    ax.grid(axis="y", visible=False)
    ax.set_xlim(0, max(1.0, float(top["cost"].max()) * 1.18))
    ax.set_xlabel(f"cost ({currency})", fontsize=7, color="#4a5561")
    return _png(fig)
