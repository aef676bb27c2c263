"""The planner's CSV upload in a real headless Chromium: a file shows what it would add, change and remove,
nothing is saved until Merge; Cancel forgets a file; the per-vehicle heat map shows its own time axis."""

from __future__ import annotations

from datetime import timedelta

import pytest

from depot.planning.departures import Departure
from tests.conftest import NOW
from tests.test_planner_page import seed

pytestmark = pytest.mark.browser


def test_upload_previews_then_merges_and_cancel_saves_nothing(dash_duo, configured_app, store, tmp_path):
    seed(store, vehicles=3)
    store.replace_departures([Departure("BUS-01", NOW + timedelta(hours=10), energy_kwh=40.0)], now=NOW)
    dash_duo.driver.set_window_size(1400, 1700)
    dash_duo.start_server(configured_app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/planner")
    dash_duo.wait_for_text_to_equal('#planner-grid .ag-row[row-index="0"] .ag-cell[col-id="vehicle"]', "BUS-01",
                                    timeout=10)
    assert not dash_duo.find_element("#planner-upload-box").is_displayed()

    only_bus02 = tmp_path / "only-bus02.csv"
    only_bus02.write_text("vehicle,departure,energy_kwh\nBUS-02,2026-11-22 05:00,60\n")
    dash_duo.find_element("#planner-upload input[type=file]").send_keys(str(only_bus02))
    dash_duo.wait_for_contains_text("#planner-upload-summary", "1 to add, 0 to change, 1 to remove if you replace",
                                    timeout=20)
    assert dash_duo.find_element("#planner-upload-box").is_displayed()
    assert [d.vehicle_id for d in store.departures(after=NOW)] == ["BUS-01"]  # nothing saved yet
    dash_duo.driver.save_screenshot("/tmp/planner-upload-preview.png")
    dash_duo.find_element("#planner-upload-merge").click()
    dash_duo.wait_for_contains_text("#planner-msg", "Merged only-bus02.csv: 1 added, 0 changed, 1 kept", timeout=20)
    assert sorted(d.vehicle_id for d in store.departures(after=NOW)) == ["BUS-01", "BUS-02"]
    dash_duo.wait_for_element('#planner-grid .ag-row[row-index="1"]', timeout=10)
    assert not dash_duo.find_element("#planner-upload-box").is_displayed()

    bus03 = tmp_path / "bus03.csv"
    bus03.write_text("vehicle,departure,target_soc\nBUS-03,2026-11-22 06:00,90\n")
    dash_duo.find_element("#planner-upload input[type=file]").send_keys(str(bus03))
    dash_duo.wait_for_contains_text("#planner-upload-summary", "2 to remove if you replace", timeout=20)
    dash_duo.find_element("#planner-upload-cancel").click()
    dash_duo.wait_for_contains_text("#planner-msg", "Upload cancelled: nothing was saved", timeout=20)
    assert sorted(d.vehicle_id for d in store.departures(after=NOW)) == ["BUS-01", "BUS-02"]

    dash_duo.find_element("#planner-preview").click()
    dash_duo.wait_for_element("#planner-graph .main-svg", timeout=30)
    # the heat map (subplot xy) has time ticks of its own, as the totals below it (x2y2) do
    dash_duo.wait_for_element("#planner-graph .subplot.xy .xaxislayer-above .xtick text", timeout=20)
    heat_ticks = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#planner-graph .subplot.xy .xaxislayer-above .xtick text'))"
        ".map(t => t.textContent)")
    assert heat_ticks and all(":" in t for t in heat_ticks), heat_ticks
    dash_duo.driver.save_screenshot("/tmp/planner-heatmap-axis.png")
    logs = dash_duo.get_logs()
    assert logs == [], [entry["message"][-300:] for entry in logs]
