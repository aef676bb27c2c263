"""The plan-versus-actual page's callbacks as plain functions, and the `depot audit` command."""

from __future__ import annotations

import io

import pytest
from dash.exceptions import PreventUpdate

from depot.cli import build_parser, main
from depot.web.context import Services
from layouts import audit as page
from tests import audit_scenario as night
from tests.test_planner_page import text


@pytest.fixture
def ctx(configured_app, store, settings):
    night.build(store)
    configured_app.server.extensions["depot"] = Services(settings, store, lambda: night.AUDIT_NOW)
    with configured_app.server.test_request_context():
        yield configured_app


def test_the_page_opens_on_today_and_explains_every_miss(ctx):
    layout = page.layout()
    assert "Plan vs actual" in text(layout)
    picker = next(n for n in _walk(layout) if getattr(n, "id", None) == page.DATE)
    assert picker.date == "2026-11-22"
    msg, kpis, rows, style, misses, day = page.on_date("2026-11-22")
    assert msg is None and day == "2026-11-22" and style == {"height": f"{10 * 32 + 52}px"}
    assert "10" in text(kpis) and "Missed" in text(kpis)
    by = {r["vehicle"]: r for r in rows}
    assert len(rows) == 10 and by["BUS-01"]["result"] == "ready" and by["BUS-10"]["result"] == "still to come"
    assert by["BUS-04"]["causes"] == "charger faulted" and by["BUS-09"]["short"] == pytest.approx(74.0)
    out = text(misses)
    assert "Why 8 departures were missed" in out
    for _code, evidence in night.CAUSE.values():
        assert evidence in out


def test_another_day_and_a_bad_day(ctx):
    _, kpis, rows, _, misses, _ = page.on_date("2026-11-25T00:00:00")
    assert rows == [] and "No departures entered for this day" in text(misses)
    msg, kpis, rows, _, misses, day = page.on_date("not a day")
    assert "Cannot audit that day" in text(msg) and day is None and rows == []
    with pytest.raises(PreventUpdate):
        page.on_date(None)


def test_a_failure_is_a_message_not_a_traceback(ctx, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(page, "audit", boom)
    msg, *_ = page.on_date("2026-11-22")
    assert "Could not compare the plan" in text(msg) and "database on fire" in text(msg)


def test_the_csv_download(ctx):
    sent = page.on_download(1, "2026-11-22")
    assert sent["filename"] == "plan-vs-actual-2026-11-22.csv"
    assert sent["content"].splitlines()[0].startswith("vehicle,departure,source,result")
    assert len(sent["content"].splitlines()) == 11
    with pytest.raises(PreventUpdate):
        page.on_download(1, None)


def _walk(node):
    yield node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children] if children is not None else []:
        if hasattr(child, "to_plotly_json"):
            yield from _walk(child)


# ---------------------------------------------------------------- depot audit


def run(*argv, db):
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--db", db], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_command_prints_the_table_and_the_causes(db_url, store, tmp_path):
    night.build(store)
    code, out, err = run("audit", "--date", "2026-11-22", db=db_url)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("Plan vs actual, Sun 2026-11-22 (UTC): 10 departures, 1 ready, ")
    assert lines[2].split() == ["vehicle", "departs", "source", "result", "needed", "kWh", "planned", "first",
                                "planned", "last", "delivered", "kWh"]
    bus01 = next(line for line in lines if line.startswith("BUS-01"))
    assert bus01.split()[:5] == ["BUS-01", "05:30", "one-off", "ready", "60.0"]
    assert "BUS-09 05:30: 66.0 of 140.0 kWh" in out
    assert "  1. impossible from the start: impossible: 140 kWh in 3 h at 22 kW max (66 kWh at most)" in out
    for _code, evidence in night.CAUSE.values():
        assert evidence in out
    target = tmp_path / "night.csv"
    code, out2, _ = run("audit", "--date", "2026-11-22", "--csv", str(target), db=db_url)
    assert code == 0 and out2.startswith(out) and f"CSV written to {target} (10 departures)" in out2
    assert target.read_text().splitlines()[0].startswith("vehicle,departure")
    code, csv_out, _ = run("audit", "--date", "2026-11-22", "--csv", "-", db=db_url)
    assert code == 0 and csv_out == target.read_text()


def test_the_command_exit_codes(db_url, store):
    code, out, err = run("audit", "--date", "22.11.2026", db=db_url)
    assert code == 2 and out == "" and err.strip() == "error: --date: '22.11.2026' is not a day (use YYYY-MM-DD)"
    code, out, _ = run("audit", "--date", "2026-11-22", db=db_url)
    assert code == 0 and "0 departures" in out and "(no departures entered for this day)" in out
    with pytest.raises(SystemExit) as info:
        run("audit", db=db_url)  # --date is required: argparse's usage error
    assert info.value.code == 2


def test_other_commands_print_what_they_printed(db_url):
    assert run("chargers", "list", db=db_url)[1] == "(none)\n"
    assert "audit" in build_parser().format_help()
