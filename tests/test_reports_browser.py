"""The reports page in a real headless Chromium: seeded sessions, change the grouping, see the table, drill down."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from depot.bench.reports import generate
from depot.costs import demo_tariff
from tests.conftest import NOW

pytestmark = pytest.mark.browser


def seed(store) -> None:
    """20 chargers and vehicles, managed overnight sessions from 1 October to this morning, the demo tariff."""
    store.set_site("North depot", 300.0)
    generate(store, 20, 51, start=datetime(2026, 10, 1, tzinfo=UTC))
    demo_tariff.seed_demo_tariff(store, now=NOW)


def free_port() -> int:
    """Other test runs on this machine may hold dash's default port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose(dash_duo, dropdown: str, label: str) -> None:
    dash_duo.driver.execute_script(f"document.getElementById('{dropdown}').scrollIntoView({{block: 'center', behavior: 'instant'}})")
    dash_duo.select_dcc_dropdown(f"#{dropdown}", value=label)


def test_manager_groups_drills_down_and_downloads(dash_duo, configured_app, store):
    seed(store)
    dash_duo.driver.set_window_size(1400, 1800)
    dash_duo.start_server(configured_app, port=free_port())
    dash_duo.wait_for_page(f"{dash_duo.server_url}/reports")
    dash_duo.wait_for_element('#rep-grid .ag-row[row-id="EV-001"]', timeout=30)
    dash_duo.wait_for_contains_text("#rep-kpi-energy", "Wh", timeout=10)
    dash_duo.wait_for_contains_text("#rep-table-title", "Energy cost by vehicle", timeout=10)
    dash_duo.wait_for_element("#rep-heat .main-svg")
    dash_duo.driver.save_screenshot("/tmp/reports-by-vehicle.png")

    choose(dash_duo, "rep-by", "by cost centre")
    dash_duo.wait_for_element('#rep-grid .ag-row[row-id="CC-4100 Urban"]', timeout=30)
    dash_duo.wait_for_contains_text("#rep-table-title", "Energy cost by cost centre")
    rows = dash_duo.find_elements("#rep-grid .ag-center-cols-container .ag-row")
    assert len(rows) == 3
    dash_duo.find_element('#rep-grid .ag-pinned-left-cols-container .ag-row[row-id="CC-4100 Urban"] .ag-cell').click()
    dash_duo.wait_for_contains_text("#rep-drill", "Sessions behind cost centre CC-4100 Urban", timeout=30)
    dash_duo.wait_for_element("#rep-drill-grid .ag-row", timeout=10)
    shown = dash_duo.find_element("#rep-drill h5").text
    sessions = int(shown.split(": ")[1].split(" ")[0])
    sessions_in_row = dash_duo.find_element(
        '#rep-grid .ag-center-cols-container .ag-row[row-id="CC-4100 Urban"] .ag-cell[col-id="sessions"]').text
    assert sessions == int(sessions_in_row.replace(",", ""))
    dash_duo.driver.execute_script("document.getElementById('rep-drill').scrollIntoView({behavior: 'instant'})")
    dash_duo.driver.save_screenshot("/tmp/reports-drill-down.png")

    choose(dash_duo, "rep-by", "by day")
    dash_duo.wait_for_element('#rep-grid .ag-row[row-id="2026-11-01"]', timeout=30)
    assert dash_duo.find_element("#rep-drill").text == ""
    dash_duo.find_element("#rep-last-month").click()
    dash_duo.wait_for_element('#rep-grid .ag-row[row-id="2026-10-01"]', timeout=30)
    dash_duo.wait_for_contains_text("#rep-table-title", "Energy cost by day, October 2026 · 31 rows")
    dash_duo.driver.execute_script("window.scrollTo({top: 0, behavior: 'instant'})")
    dash_duo.driver.save_screenshot("/tmp/reports-october-by-day.png")
    logs = [e for e in dash_duo.get_logs() if "favicon" not in e["message"]]
    assert logs == [], [e["message"][-300:] for e in logs]


def test_empty_depot_says_where_data_comes_from(dash_duo, configured_app, store):
    dash_duo.start_server(configured_app, port=free_port())
    dash_duo.wait_for_page(f"{dash_duo.server_url}/reports")
    dash_duo.wait_for_contains_text("#rep-msg", "No finished charging sessions in this range", timeout=20)
    dash_duo.driver.save_screenshot("/tmp/reports-empty.png")
