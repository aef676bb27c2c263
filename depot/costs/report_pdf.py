"""The monthly energy cost report as a PDF a depot manager sends to finance (reportlab + matplotlib).

Page 1: the period's KPIs, what the cost is made of (energy, demand charge, fixed fees), the savings against
unmanaged charging, and energy and cost per day. Page 2: where the peak came from (power by weekday and hour,
the billing peaks) and the top vehicles. Then the tables: by the chosen grouping, by cost centre, by vehicle,
by charger and by day, with the accounting notes. Charts are drawn with matplotlib's object API (no pyplot,
no global state), so this runs in a web thread.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from depot.costs import reports
from depot.store import Store

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#6b7785")
NAVY = colors.HexColor("#1f3a5f")
LINE = colors.HexColor("#dde2e8")
PAPER = colors.HexColor("#f5f7f9")
GREEN = colors.HexColor("#2e8b57")
BLUE, AMBER, RED = "#2b6cc9", "#d0952a", "#d33a3a"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

# the columns of the PDF tables (a page is narrower than a spreadsheet)
PDF_COLUMNS = ("sessions", "energy_kwh", "energy_cost", "demand_cost", "cost", "avg_price", "peak_kw", "co2_kg",
               "savings")
SHORT = {"sessions": "Sessions", "energy_kwh": "kWh", "energy_cost": "Energy", "demand_cost": "Demand",
         "cost": "Cost", "avg_price": "{cur}/kWh", "peak_kw": "Peak kW", "co2_kg": "CO₂ kg", "savings": "Savings"}


def _fonts() -> tuple[str, str]:
    """DejaVu (€, ₂, –) when installed, else the built-in Helvetica."""
    try:
        if "DejaVu" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("DejaVu", str(FONT_DIR / "DejaVuSans.ttf")))
            pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(FONT_DIR / "DejaVuSans-Bold.ttf")))
        return "DejaVu", "DejaVu-Bold"
    except Exception:  # noqa: BLE001 - no TTF on this machine: the PDF still renders, with base fonts
        return "Helvetica", "Helvetica-Bold"


def money(v: float, cur: str, decimals: int = 0) -> str:
    sym = {"EUR": "€", "USD": "$", "GBP": "£"}.get(cur)
    v = round(float(v), decimals) + 0.0
    text = f"{abs(v):,.{decimals}f}"
    sign = "−" if v < 0 else ""
    return f"{sign}{sym}{text}" if sym else f"{sign}{text} {cur}"


def _num(v: float, decimals: int) -> str:
    v = round(float(v), decimals) + 0.0  # no "−0.00"
    return f"{v:,.{decimals}f}".replace("-", "−")


# ---------------------------------------------------------------- charts (matplotlib → PNG)


def _image(buf: io.BytesIO, width: float = 174 * mm) -> Image:
    """A PNG at `width`, its height from its own aspect ratio."""
    from reportlab.lib.utils import ImageReader

    w, h = ImageReader(buf).getSize()
    buf.seek(0)
    return Image(buf, width=width, height=width * h / w)


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
    im = ax.imshow(hm.to_numpy(), aspect="auto", cmap="Blues", interpolation="nearest")
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


# ---------------------------------------------------------------- flowables


class _Numbered(rl_canvas.Canvas):
    """Adds "page x of y" and the report's title to every page's footer."""

    footer = ""
    font = "Helvetica"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []

    def showPage(self):  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(self.font, 7)
            self.setFillColor(MUTED)
            self.drawString(18 * mm, 10 * mm, self.footer)
            self.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {self._pageNumber} of {total}")
            super().showPage()
        super().save()


def _kpi_grid(cells: Sequence[tuple[str, str, str]], font: str, bold: str) -> Table:
    label = ParagraphStyle("l", fontName=font, fontSize=7, textColor=MUTED, leading=9)
    value = ParagraphStyle("v", fontName=bold, fontSize=15, textColor=INK, leading=18)
    sub = ParagraphStyle("s", fontName=font, fontSize=7, textColor=MUTED, leading=9)
    boxes = [[Paragraph(lbl.upper(), label), Paragraph(val, value), Paragraph(s, sub)] for lbl, val, s in cells]
    rows = [boxes[i:i + 4] for i in range(0, len(boxes), 4)]
    t = Table(rows, colWidths=[43 * mm] * 4, hAlign="LEFT")
    t.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.5, LINE), ("INNERGRID", (0, 0), (-1, -1), 0.5, LINE),
                           ("BACKGROUND", (0, 0), (-1, -1), colors.white), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                           ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
    return t


def _table(report: reports.Report, font: str, bold: str, *, limit: int | None = None) -> Table:
    cur = report.data.currency
    decimals = {c: d for c, _, d in reports.COLUMNS}
    head = [reports.GROUPINGS[report.by], *[SHORT[c].format(cur=cur) for c in PDF_COLUMNS]]
    body = report.table.head(limit) if limit else report.table
    rows = [head]
    for r in body.to_dict("records"):
        rows.append([str(r["group"])[:28], *[_num(float(r[c]), decimals[c]) for c in PDF_COLUMNS]])
    if limit and len(report.table) > limit:
        rows.append([f"… {len(report.table) - limit} more (see the XLSX export)", *[""] * len(PDF_COLUMNS)])
    rows.append(["Total", *[_num(float(report.totals[c]), decimals[c]) for c in PDF_COLUMNS]])
    widths = [38 * mm, 15 * mm, 17 * mm, 17 * mm, 16 * mm, 17 * mm, 15 * mm, 15 * mm, 15 * mm, 17 * mm]
    t = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), font, 7), ("FONT", (0, 0), (-1, 0), bold, 7), ("FONT", (0, -1), (-1, -1), bold, 7),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white), ("BACKGROUND", (0, 0), (-1, 0), NAVY),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, PAPER]),
        ("LINEABOVE", (0, -1), (-1, -1), 0.8, INK), ("TOPPADDING", (0, 0), (-1, -1), 2.2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.2)]))
    return t


def render(main: reports.Report, extra: Sequence[reports.Report], *, generated_at: datetime,
           tariff_names: Sequence[str] = ()) -> bytes:
    """The PDF for `main` (whose data gives the KPIs and charts) and further groupings of the same range."""
    font, bold = _fonts()
    data, k, cur = main.data, main.totals, main.data.currency
    period = reports.period_label(data)
    h1 = ParagraphStyle("h1", fontName=bold, fontSize=20, leading=24, textColor=INK)
    h2 = ParagraphStyle("h2", fontName=bold, fontSize=12, leading=15, textColor=INK, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("b", fontName=font, fontSize=8.5, leading=11.5, textColor=INK)
    small = ParagraphStyle("s", fontName=font, fontSize=7, leading=9, textColor=MUTED)
    right = ParagraphStyle("r", parent=small, alignment=TA_RIGHT)
    zone = ZoneInfo(data.tz)
    peak_at = k["peak_at"].strftime("%d %b %H:%M") if k["peak_at"] is not None else "–"

    story: list = [
        Table([[Paragraph(f"Energy cost report<br/>{period}", h1),
                Paragraph(f"{data.site_name}<br/>generated {generated_at.astimezone(zone):%d %b %Y %H:%M} "
                          f"({data.tz})", right)]], colWidths=[110 * mm, 64 * mm],
              style=[("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("LINEBELOW", (0, 0), (-1, 0), 1.2, NAVY),
                     ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]),
        Spacer(1, 5 * mm),
        _kpi_grid([
            ("Total cost", money(k["total_cost"], cur), f"incl. {money(k['fixed_fees'], cur)} fixed fees"),
            ("Energy", f"{_num(k['energy_kwh'], 0)} kWh", f"{k['sessions']:,} sessions"),
            ("Average price", f"{money(k['avg_price'], cur, 3)}/kWh", "energy + demand charge"),
            ("Savings", money(k["savings"], cur), f"{k['savings_pct']:.1f} % vs unmanaged charging"),
            ("Peak", f"{_num(k['peak_kw'], 0)} kW", f"{peak_at} · unmanaged {_num(k['uc_peak_kw'], 0)} kW"),
            ("Demand charge", money(k["demand_cost"], cur), "on the month's highest 15-min power"),
            ("CO₂", f"{_num(k['co2_kg'] / 1000, 2)} t", f"{_num(k['co2_g_per_kwh'], 0)} g/kWh grid mix"),
            ("Utilisation", f"{k['utilisation_pct']:.1f} %", f"avg {k['avg_duration_h']:.1f} h plugged in, "
                                                            f"{_num(k['idle_h'], 0)} h idle"),
        ], font, bold),
        Spacer(1, 4 * mm),
        Paragraph("What the cost is made of", h2),
    ]
    breakdown = [
        ["", "Actual", "Unmanaged", "Saved"],
        ["Energy (each 15-min slot at its price)", money(k["energy_cost"], cur, 2),
         money(k["energy_cost"] + k["savings_energy"], cur, 2), money(k["savings_energy"], cur, 2)],
        ["Demand charge (share of the billing peaks)", money(k["demand_cost"], cur, 2),
         money(k["demand_cost"] + k["savings_demand"], cur, 2), money(k["savings_demand"], cur, 2)],
        ["Fixed fees", money(k["fixed_fees"], cur, 2), money(k["fixed_fees"], cur, 2), money(0.0, cur, 2)],
        ["Total", money(k["total_cost"], cur, 2), money(k["total_cost"] + k["savings"], cur, 2),
         money(k["savings"], cur, 2)],
        ["Billed to tenants and members", money(k["billed"], cur, 2), "", ""],
    ]
    story += [
        Table(breakdown, colWidths=[76 * mm, 32 * mm, 32 * mm, 32 * mm], hAlign="LEFT", style=[
            ("FONT", (0, 0), (-1, -1), font, 8), ("FONT", (0, 0), (-1, 0), bold, 8),
            ("FONT", (0, 4), (-1, 4), bold, 8), ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, INK), ("LINEABOVE", (0, 4), (-1, 4), 0.6, INK),
            ("TEXTCOLOR", (3, 1), (3, 4), GREEN), ("TEXTCOLOR", (0, 5), (-1, 5), MUTED)]),
        Paragraph("Unmanaged: the same sessions charged at full power from plug-in. "
                  + (f"Tariff: {', '.join(tariff_names)}." if tariff_names else "No tariff configured: "
                     "the built-in time-of-use default applies."), small),
        Paragraph("Energy and cost", h2),
        _image(chart_daily(reports.timeseries(data), cur)),
        PageBreak(),
        Paragraph("Where the peak came from", h2),
        Paragraph("Average charging power by weekday and hour of the day. The demand charge is billed on each "
                  "month's highest 15-minute average; the vehicles charging then share it by their power.", body),
        Spacer(1, 2 * mm),
        _image(chart_heatmap(reports.heatmap(data))),
    ]
    peaks = [["Month", "Peak kW", "Demand charge", "Unmanaged peak kW", "Unmanaged demand charge", "Fixed fee"]]
    for p in data.periods.to_dict("records"):
        peaks.append([p["month"], _num(float(p["peak_kw"]), 1), money(float(p["demand_charge"]), cur, 2),
                      _num(float(p["uc_peak_kw"]), 1), money(float(p["uc_demand_charge"]), cur, 2),
                      money(float(p["fixed_fee"]), cur, 2)])
    story.append(Table(peaks, hAlign="LEFT", colWidths=[20 * mm, 22 * mm, 30 * mm, 36 * mm, 44 * mm, 22 * mm], style=[
        ("FONT", (0, 0), (-1, -1), font, 7.5), ("FONT", (0, 0), (-1, 0), bold, 7.5),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("LINEBELOW", (0, 0), (-1, 0), 0.6, INK)]))
    by_vehicle = next((r for r in (main, *extra) if r.by == "vehicle"), None)
    if by_vehicle is not None and len(by_vehicle.table):
        story += [Paragraph("Top vehicles by cost", h2),
                  _image(chart_top(reports.top_vehicles(by_vehicle.table), cur))]
    story.append(PageBreak())
    seen = set()
    for r in (main, *extra):
        if r.by in seen:
            continue
        seen.add(r.by)
        title = Paragraph(f"By {reports.GROUPINGS[r.by].lower()}", h2)
        if r.table.empty:
            story += [title, Paragraph("No sessions in this period.", body)]
            continue
        story += [KeepTogether([title, _table(r, font, bold, limit=40 if r.by == "day" else 60)]), Spacer(1, 3 * mm)]
    story += [Paragraph("Notes", h2), *[Paragraph(n, small) for n in reports.NOTES],
              Paragraph("Amounts in " + cur + ". CO₂ from the grid's carbon intensity by hour of the day.", small)]

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=18 * mm, title=f"Energy cost report {period}", author=data.site_name)
    canvas_class = type("Canvas", (_Numbered,), {"footer": f"{data.site_name} · energy cost report {period}",
                                                 "font": font})
    doc.build(story, canvasmaker=canvas_class)
    return buf.getvalue()


def build_pdf(store: Store, start: datetime, end: datetime, by: str = "vehicle", *, now: datetime) -> bytes:
    """Bring the ledger up to date, then the PDF of [start, end) with `by` first and the usual tables."""
    from depot.costs import ledger

    ledger.update(store, now=now)
    data = reports.load(store, start, end)
    order = [by, *[b for b in ("cost-centre", "vehicle", "charger", "day") if b != by]]
    built = [reports.build_report(store, start, end, b, data=data) for b in order]
    names = [v.name for v in ledger.list_tariffs(store) if v.valid_from < end]
    return render(built[0], built[1:], generated_at=now, tariff_names=names[-2:])
