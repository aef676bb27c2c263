"""The monthly energy cost report as a PDF a depot manager sends to finance (reportlab).

Page 1: the period's KPIs, what the cost is made of (energy, demand charge, fixed fees), the savings against
unmanaged charging, and energy and cost per day. Page 2: where the peak came from (power by weekday and hour,
the billing peaks) and the top vehicles. Then the tables: by the chosen grouping, by cost centre, by vehicle,
by charger and by day, with the accounting notes. The charts come from `depot.costs.report_charts`
(matplotlib's object API: no pyplot, no global state), so this runs in a web thread.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

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

from depot.costs import ledger, report_data, reports, tariff_store
from depot.costs.report_charts import chart_daily, chart_heatmap, chart_top, money
from depot.costs.report_data import GROUPINGS, LedgerData
from depot.store import Store
from depot.text import count

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#6b7785")
NAVY = colors.HexColor("#1f3a5f")
LINE = colors.HexColor("#dde2e8")
PAPER = colors.HexColor("#f5f7f9")
GREEN = colors.HexColor("#2e8b57")
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


def _num(v: float, decimals: int) -> str:
    v = round(float(v), decimals) + 0.0  # no "−0.00"
    return f"{v:,.{decimals}f}".replace("-", "−")


# ---------------------------------------------------------------- flowables


def _image(buf: io.BytesIO, width: float = 174 * mm) -> Image:
    """A PNG at `width`, its height from its own aspect ratio."""
    from reportlab.lib.utils import ImageReader

    w, h = ImageReader(buf).getSize()
    buf.seek(0)
    return Image(buf, width=width, height=width * h / w)


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
    head = [GROUPINGS[report.by], *[SHORT[c].format(cur=cur) for c in PDF_COLUMNS]]
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


@dataclass(frozen=True)
class _Styles:
    font: str
    bold: str
    h1: ParagraphStyle
    h2: ParagraphStyle
    body: ParagraphStyle
    small: ParagraphStyle
    right: ParagraphStyle


def _styles(font: str, bold: str) -> _Styles:
    small = ParagraphStyle("s", fontName=font, fontSize=7, leading=9, textColor=MUTED)
    return _Styles(
        font, bold,
        h1=ParagraphStyle("h1", fontName=bold, fontSize=20, leading=24, textColor=INK),
        h2=ParagraphStyle("h2", fontName=bold, fontSize=12, leading=15, textColor=INK, spaceBefore=8, spaceAfter=4),
        body=ParagraphStyle("b", fontName=font, fontSize=8.5, leading=11.5, textColor=INK),
        small=small,
        right=ParagraphStyle("r", parent=small, alignment=TA_RIGHT))


def render(main: reports.Report, extra: Sequence[reports.Report], *, generated_at: datetime,
           tariff_names: Sequence[str] = ()) -> bytes:
    """The PDF for `main` (whose data gives the KPIs and charts) and further groupings of the same range."""
    font, bold = _fonts()
    st = _styles(font, bold)
    story: list = [*_headline(main, st, generated_at), *_cost_made_of(main, st, tariff_names),
                   *_peak_page(main, extra, st), *_group_tables(main, extra, st)]
    return _document(story, main.data, font)


def _headline(main: reports.Report, st: _Styles, generated_at: datetime) -> list:
    """Page 1's top: the title, the site and when, the KPI grid."""
    data, k, cur = main.data, main.totals, main.data.currency
    period = reports.period_label(data)
    zone = ZoneInfo(data.tz)
    peak_at = k["peak_at"].strftime("%d %b %H:%M") if k["peak_at"] is not None else "–"
    return [
        Table([[Paragraph(f"Energy cost report<br/>{period}", st.h1),
                Paragraph(f"{data.site_name}<br/>generated {generated_at.astimezone(zone):%d %b %Y %H:%M} "
                          f"({data.tz})", st.right)]], colWidths=[110 * mm, 64 * mm],
              style=[("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("LINEBELOW", (0, 0), (-1, 0), 1.2, NAVY),
                     ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]),
        Spacer(1, 5 * mm),
        _kpi_grid([
            ("Total cost", money(k["total_cost"], cur), f"incl. {money(k['fixed_fees'], cur)} fixed fees"),
            ("Energy", f"{_num(k['energy_kwh'], 0)} kWh", count(k['sessions'], 'session')),
            ("Average price", f"{money(k['avg_price'], cur, 3)}/kWh", "energy + demand charge"),
            ("Savings", money(k["savings"], cur), f"{k['savings_pct']:.1f} % vs unmanaged charging"),
            ("Peak", f"{_num(k['peak_kw'], 0)} kW", f"{peak_at} · unmanaged {_num(k['uc_peak_kw'], 0)} kW"),
            ("Demand charge", money(k["demand_cost"], cur), "on the month's highest 15-min power"),
            ("CO₂", f"{_num(k['co2_kg'] / 1000, 2)} t", f"{_num(k['co2_g_per_kwh'], 0)} g/kWh grid mix"),
            ("Utilisation", f"{k['utilisation_pct']:.1f} %", f"avg {k['avg_duration_h']:.1f} h plugged in, "
                                                            f"{_num(k['idle_h'], 0)} h idle"),
        ], st.font, st.bold),
        Spacer(1, 4 * mm),
    ]


def _cost_made_of(main: reports.Report, st: _Styles, tariff_names: Sequence[str]) -> list:
    """Page 1's rest: energy, demand charge and fixed fees against unmanaged charging; energy and cost by period."""
    k, cur = main.totals, main.data.currency
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
    return [
        Paragraph("What the cost is made of", st.h2),
        Table(breakdown, colWidths=[76 * mm, 32 * mm, 32 * mm, 32 * mm], hAlign="LEFT", style=[
            ("FONT", (0, 0), (-1, -1), st.font, 8), ("FONT", (0, 0), (-1, 0), st.bold, 8),
            ("FONT", (0, 4), (-1, 4), st.bold, 8), ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, INK), ("LINEABOVE", (0, 4), (-1, 4), 0.6, INK),
            ("TEXTCOLOR", (3, 1), (3, 4), GREEN), ("TEXTCOLOR", (0, 5), (-1, 5), MUTED)]),
        Paragraph("Unmanaged: the same sessions charged at full power from plug-in. "
                  + (f"Tariff: {', '.join(tariff_names)}." if tariff_names else "No tariff configured: "
                     "the built-in time-of-use default applies."), st.small),
        Paragraph("Energy and cost", st.h2),
        _image(chart_daily(reports.timeseries(main.data), cur)),
    ]


def _peak_page(main: reports.Report, extra: Sequence[reports.Report], st: _Styles) -> list:
    """Page 2: power by weekday and hour, the billing peaks per month, the top vehicles."""
    data, cur = main.data, main.data.currency
    story: list = [
        PageBreak(),
        Paragraph("Where the peak came from", st.h2),
        Paragraph("Average charging power by weekday and hour of the day. The demand charge is billed on each "
                  "month's highest 15-minute average; the vehicles charging then share it by their power.", st.body),
        Spacer(1, 2 * mm),
        _image(chart_heatmap(reports.heatmap(data))),
    ]
    peaks = [["Month", "Peak kW", "Demand charge", "Unmanaged peak kW", "Unmanaged demand charge", "Fixed fee"]]
    for p in data.periods.to_dict("records"):
        peaks.append([p["month"], _num(float(p["peak_kw"]), 1), money(float(p["demand_charge"]), cur, 2),
                      _num(float(p["uc_peak_kw"]), 1), money(float(p["uc_demand_charge"]), cur, 2),
                      money(float(p["fixed_fee"]), cur, 2)])
    story.append(Table(peaks, hAlign="LEFT", colWidths=[20 * mm, 22 * mm, 30 * mm, 36 * mm, 44 * mm, 22 * mm], style=[
        ("FONT", (0, 0), (-1, -1), st.font, 7.5), ("FONT", (0, 0), (-1, 0), st.bold, 7.5),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"), ("LINEBELOW", (0, 0), (-1, 0), 0.6, INK)]))
    by_vehicle = next((r for r in (main, *extra) if r.by == "vehicle"), None)
    if by_vehicle is not None and len(by_vehicle.table):
        story += [Paragraph("Top vehicles by cost", st.h2),
                  _image(chart_top(reports.top_vehicles(by_vehicle.table), cur))]
    return story


def _group_tables(main: reports.Report, extra: Sequence[reports.Report], st: _Styles) -> list:
    """The tables, one per grouping (each once), then the accounting notes."""
    story: list = [PageBreak()]
    seen = set()
    for r in (main, *extra):
        if r.by in seen:
            continue
        seen.add(r.by)
        title = Paragraph(f"By {GROUPINGS[r.by].lower()}", st.h2)
        if r.table.empty:
            story += [title, Paragraph("No sessions in this period.", st.body)]
            continue
        story += [KeepTogether([title, _table(r, st.font, st.bold, limit=40 if r.by == "day" else 60)]),
                  Spacer(1, 3 * mm)]
    story += [Paragraph("Notes", st.h2), *[Paragraph(n, st.small) for n in reports.NOTES],
              Paragraph("Amounts in " + main.data.currency + ". CO₂ from the grid's carbon intensity by hour of the "
                        "day.", st.small)]
    return story


def _document(story: list, data: LedgerData, font: str) -> bytes:
    """Lay the story out on A4 with the page footer."""
    period = reports.period_label(data)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=18 * mm, title=f"Energy cost report {period}", author=data.site_name)
    canvas_class = type("Canvas", (_Numbered,), {"footer": f"{data.site_name} · energy cost report {period}",
                                                 "font": font})
    doc.build(story, canvasmaker=canvas_class)
    return buf.getvalue()


def build_pdf(store: Store, start: datetime, end: datetime, by: str = "vehicle", *, now: datetime) -> bytes:
    """Bring the ledger up to date, then the PDF of [start, end) with `by` first and the usual tables."""
    ledger.update(store, now=now)
    data = report_data.load(store, start, end)
    order = [by, *[b for b in ("cost-centre", "vehicle", "charger", "day") if b != by]]
    built = [reports.build_report(store, start, end, b, data=data) for b in order]
    names = [v.name for v in tariff_store.list_tariffs(store) if v.valid_from < end]
    return render(built[0], built[1:], generated_at=now, tariff_names=names[-2:])
