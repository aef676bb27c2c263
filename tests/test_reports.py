"""Reports: every grouping adds up to the ledger, hand-computed figures (utilisation, peaks, heat map, fixed
fees), drill-down, exports read back equal to the table, the PDF renders, and `depot report` exit codes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from depot.cli import main as cli
from depot.costs import ledger, report_data, report_export, reports, tariff_store
from depot.costs.report_pdf import build_pdf
from tests.conftest import NOW
from tests.test_ledger import WED, charge, depot

SUMS = ("energy_kwh", "energy_cost", "demand_cost", "co2_kg", "billed_total", "uc_energy_cost", "uc_demand_cost")


@pytest.fixture
def seeded(store):
    """November: V1 and V2 share the evening peak on Wednesday 18th, V3 charges at night on the 19th."""
    depot(store)
    ledger.save_vehicle_groups(store, [tariff_store.VehicleGroups("V1", "CC-1", "Route 1", "Ops"),
                                       tariff_store.VehicleGroups("V2", "CC-1", "Route 2", "Ops"),
                                       tariff_store.VehicleGroups("V3", "CC-2", "Route 2", "Logistics")])
    charge(store, 1, WED.replace(hour=18), [22, 22, 22, 22])  # 18:00–19:00
    charge(store, 2, WED.replace(hour=18, minute=30), [11] * 6)  # 18:30–20:00
    charge(store, 3, WED.replace(day=19, hour=1), [11] * 4)  # Thursday 01:00–02:00
    ledger.update(store, now=NOW)
    return store


def ledger_sums(store) -> dict:
    S = ledger.SessionCostRow
    with store.session() as s:
        row = s.execute(select(func.count(), *[func.sum(getattr(S, c)) for c in SUMS])).one()
    return {"sessions": row[0], **dict(zip(SUMS, row[1:], strict=True))}


def november(store):
    return report_data.parse_range("2026-11-01", "2026-11-30", "UTC")


@pytest.mark.parametrize("by", list(report_data.GROUPINGS))
def test_every_grouping_adds_up_to_the_ledger(seeded, by):
    r = reports.build_report(seeded, *november(seeded), by)
    want = ledger_sums(seeded)
    assert r.table["sessions"].sum() == want["sessions"] == r.totals["sessions"] == 3
    for col in ("energy_kwh", "energy_cost", "demand_cost", "co2_kg"):
        assert r.table[col].sum() == pytest.approx(want[col]) and r.totals[col] == pytest.approx(want[col])
    assert r.table["cost"].sum() == pytest.approx(want["energy_cost"] + want["demand_cost"])
    assert r.table["uc_cost"].sum() == pytest.approx(want["uc_energy_cost"] + want["uc_demand_cost"])
    assert r.table["savings"].sum() == pytest.approx(r.totals["savings"])


def test_hand_computed_vehicle_rows(seeded):
    t = reports.build_report(seeded, *november(seeded), "vehicle").table.set_index("group")
    assert list(t.index) == ["V1", "V2", "V3"]  # by cost
    v1 = t.loc["V1"]
    assert v1["energy_kwh"] == pytest.approx(22.0)
    assert v1["energy_cost"] == pytest.approx(22 * 0.40) and v1["demand_cost"] == pytest.approx(220.0)
    assert v1["cost"] == pytest.approx(228.8) and v1["avg_price"] == pytest.approx(228.8 / 22)
    assert v1["peak_kw"] == pytest.approx(22.0) and t.loc["V2", "peak_kw"] == pytest.approx(11.0)
    assert t.loc["V3", "peak_kw"] == 0.0
    # 1 h plugged in of 3 connectors × 30 days × 24 h
    assert v1["utilisation_pct"] == pytest.approx(100 * 1 / (3 * 720))
    assert t.loc["V2", "avg_duration_h"] == pytest.approx(1.5)
    assert t.loc["V3", "energy_cost"] == pytest.approx(11 * 0.20)
    assert t.loc["V3", "co2_kg"] == pytest.approx(11 * 0.300)


def test_periods_sites_and_groups(seeded):
    start, end = november(seeded)
    day = reports.build_report(seeded, start, end, "day").table.set_index("group")
    assert list(day.index) == ["2026-11-18", "2026-11-19"]
    assert day.loc["2026-11-18", "peak_kw"] == pytest.approx(33.0)  # 18:30–19:00, V1 and V2
    assert day.loc["2026-11-19", "peak_kw"] == pytest.approx(11.0)
    assert day.loc["2026-11-18", "utilisation_pct"] == pytest.approx(100 * 2.5 / (3 * 24))
    week = reports.build_report(seeded, start, end, "week").table
    assert list(week["group"]) == ["2026-W47"]
    cc = reports.build_report(seeded, start, end, "cost-centre").table.set_index("group")
    assert cc.loc["CC-1", "sessions"] == 2 and cc.loc["CC-1", "peak_kw"] == pytest.approx(33.0)
    site = reports.build_report(seeded, start, end, "site").table
    assert list(site["group"]) == ["Depot"] and site.loc[0, "peak_kw"] == pytest.approx(33.0)
    charger = reports.build_report(seeded, start, end, "charger").table.set_index("group")
    assert charger.loc["CP-2", "utilisation_pct"] == pytest.approx(100 * 1.5 / 720)


def test_kpis_fixed_fees_heatmap_and_timeseries(seeded):
    start, end = november(seeded)
    k = reports.build_report(seeded, start, end, "vehicle").totals
    assert k["fixed_fees"] == pytest.approx(50.0) and k["total_cost"] == pytest.approx(k["cost"] + 50.0)
    assert k["peak_kw"] == pytest.approx(33.0) and k["peak_at"].strftime("%d %H:%M") == "18 18:30"
    one_day = report_data.load(seeded, *report_data.parse_range("2026-11-18", "2026-11-18", "UTC"))
    assert reports.fixed_fees(one_day) == pytest.approx(50.0 / 30)
    hm = reports.heatmap(one_day)
    assert hm.loc["Wed", 18] == pytest.approx(22 + 11 / 2)  # kWh in the hour over one Wednesday 18:00
    assert hm.loc["Wed", 19] == pytest.approx(11.0) and hm.loc["Thu", 1] == 0.0
    ts = reports.timeseries(report_data.load(seeded, start, end))
    assert len(ts) == 30 and ts["energy_kwh"].sum() == pytest.approx(22 + 16.5 + 11)
    assert ts.set_index("day").loc["2026-11-01", "energy_kwh"] == 0.0


def test_drill_down_lists_the_sessions_behind_a_number(seeded):
    r = reports.build_report(seeded, *november(seeded), "cost-centre")
    behind = reports.sessions_behind(seeded, r.data, "cost-centre", "CC-1")
    assert list(behind["vehicle_id"]) == ["V2", "V1"]  # newest first
    assert behind["cost"].sum() == pytest.approx(r.table.set_index("group").loc["CC-1", "cost"])
    assert len(reports.sessions_behind(seeded, r.data, "cost-centre", None)) == 3
    assert list(reports.sessions_behind(seeded, r.data, "day", "2026-11-19")["vehicle_id"]) == ["V3"]
    assert len(reports.sessions_behind(seeded, r.data, "week", "2026-W47")) == 3
    assert len(reports.sessions_behind(seeded, r.data, "route", "Route 2")) == 2
    assert reports.sessions_behind(seeded, r.data, "vehicle", "V1").loc[0, "started"] == "2026-11-18 18:00"


def test_csv_and_xlsx_read_back_equal_the_table(seeded):
    r = reports.build_report(seeded, *november(seeded), "vehicle")
    sheet = report_export.table_sheet(r)
    assert sheet.rows[-1][0] == "Total" and len(sheet.rows) == 4
    back = list(csv.reader(io.StringIO(report_export.to_csv(sheet))))
    assert back[0] == sheet.header
    assert back[1:] == [[str(v) for v in row] for row in sheet.rows]
    assert float(back[1][sheet.header.index("Cost (EUR)")]) == pytest.approx(228.8)
    wb = load_workbook(io.BytesIO(report_export.to_xlsx(sheet, title=r.title, notes=reports.NOTES)))
    ws = wb.active
    assert ws["A1"].value == r.title
    values = [list(row) for row in ws.iter_rows(min_row=2, max_row=2 + len(sheet.rows), values_only=True)]
    assert values[0] == sheet.header and values[1:] == sheet.rows
    sessions = report_export.sessions_sheet(reports.sessions_behind(seeded, r.data, "vehicle", None), "EUR")
    back = list(csv.reader(io.StringIO(report_export.to_csv(sessions))))
    assert len(back) == 4 and back[1][sessions.header.index("Vehicle")] == "V3"


def test_the_pdf_renders_with_its_numbers(seeded):
    start, end = november(seeded)
    pdf = build_pdf(seeded, start, end, "vehicle", now=NOW)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 3
    text = "\n".join(p.extract_text() for p in reader.pages)
    for needle in ("Energy cost report", "November 2026", "TOTAL COST", "What the cost is made of",
                   "Where the peak came from", "By vehicle", "By cost centre", "By charger", "By day", "V1", "CC-1",
                   "228.80", "page 1 of"):
        assert needle in text, needle
    assert reader.metadata.title == "Energy cost report November 2026"


def test_an_empty_range_still_reports(store):
    depot(store)
    start, end = report_data.parse_range("2026-10-01", "2026-10-31", "UTC")
    r = reports.build_report(store, start, end, "vehicle")
    assert r.table.empty and r.totals["sessions"] == 0 and r.totals["cost"] == 0.0
    assert report_export.table_sheet(r).rows == [["Total", *[0 if d == 0 else 0.0 for _, _, d in reports.COLUMNS]]]
    assert len(PdfReader(io.BytesIO(build_pdf(store, start, end, "day", now=NOW))).pages) >= 2


def run(*argv, db):
    out, err = io.StringIO(), io.StringIO()
    return cli([*argv, "--db", db], stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_cli_report_formats_and_exit_codes(seeded, db_url, tmp_path):
    code, out, err = run("report", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "cost-centre", db=db_url)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][0] == "Cost centre" and [r[0] for r in rows[1:]] == ["CC-1", "CC-2", "Total"]
    xlsx = tmp_path / "r.xlsx"
    code, out, _ = run("report", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "day", "--format", "xlsx",
                       "-o", str(xlsx), db=db_url)
    assert code == 0 and out.startswith(f"wrote {xlsx}")
    assert load_workbook(xlsx).active["A3"].value == "2026-11-18"
    pdf = tmp_path / "r.pdf"
    code, _, _ = run("report", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "charger", "--format", "pdf",
                     "-o", str(pdf), db=db_url)
    assert code == 0 and len(PdfReader(pdf).pages) >= 3
    code, _, err = run("report", "--from", "2026-11-31", "--to", "2026-11-30", db=db_url)
    assert code == 2 and err.startswith("error: --from: '2026-11-31' is not a date")
    code, _, err = run("report", "--from", "2026-11-30", "--to", "2026-11-01", db=db_url)
    assert code == 2 and "--to: 2026-11-01 is before --from 2026-11-30" in err
    code, _, err = run("report", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "colour", db=db_url)
    assert code == 2 and "--by: 'colour' is not one of" in err


def test_reports_cost_new_sessions_on_the_way(seeded):
    charge(seeded, 3, datetime(2026, 11, 20, 2, tzinfo=UTC), [11] * 4)  # not costed yet
    r = reports.build_report(seeded, *november(seeded), "vehicle", now=NOW)
    assert r.totals["sessions"] == 4


def test_benchmark_smoke(capsys):
    from depot.bench.reports import main as bench

    bench(["--chargers", "4", "--days", "12", "--repeats", "1"])
    out = capsys.readouterr().out
    for row in ("generate history", "ledger: cost every session", "monthly report by vehicle (Dec 2024)",
                "yearly report by month"):
        assert row in out, out


def test_heat_map_of_an_empty_range_is_an_empty_state(store):
    """No charging: no uniform block on a −0.5…0.5 scale, but the message (the page and the PDF chart)."""
    from depot.costs.report_charts import chart_heatmap
    from layouts import _reports_parts as parts

    depot(store)
    start, end = report_data.parse_range("2026-10-01", "2026-10-31", "UTC")
    hm = reports.heatmap(report_data.load(store, start, end))
    fig = parts.heatmap_figure(hm)
    assert not [t for t in fig.data if t.type == "heatmap"]
    assert [a.text for a in fig.layout.annotations] == ["No charging recorded in this period yet"]
    assert chart_heatmap(hm).getvalue()[:4] == b"\x89PNG"


def test_heat_map_with_charging_is_drawn(seeded):
    from layouts import _reports_parts as parts

    start, end = report_data.parse_range("2026-11-01", "2026-11-30", "UTC")
    fig = parts.heatmap_figure(reports.heatmap(report_data.load(store=seeded, start=start, end=end)))
    assert [t.type for t in fig.data] == ["heatmap"] and not fig.layout.annotations
