"""The re-plan banner in a real headless Chromium: it appears on the floor plan and the planner while re-plans
fail, within one refresh and without a reload, and goes when a re-plan succeeds; the planner shows the plan's
age throughout. Screenshots go to /tmp (FLOORPLAN_SHOTS overrides), never into the repository."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from depot.control.replan import ReplanHealth, Replanner
from depot.web.context import Services
from tests.conftest import NOW
from tests.test_floorplan_browser import small_depot, start
from tests.test_planner_page import seed

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("FLOORPLAN_SHOTS", "/tmp"))
FAILING = "#replan-banner-floor-failing"


def test_the_banner_comes_and_goes_with_the_replan_failure(dash_duo, configured_app, store, settings):
    small_depot(store)
    seed(store, vehicles=1, plugged=0)
    record = Replanner(store, settings, clock=lambda: NOW.replace(hour=17)).replan("periodic").record
    health = ReplanHealth()
    runtime = SimpleNamespace(replanner=SimpleNamespace(health=health), ocpp_port=9000,
                              request_replan=lambda reason: None)
    configured_app.server.extensions["depot"] = Services(settings, store, lambda: NOW, runtime)
    start(dash_duo, configured_app)
    dash_duo.wait_for_element("#fp-online", timeout=10)
    assert not dash_duo.find_elements(FAILING)

    health.failed(ValueError("vehicle ids must be unique"), NOW)  # the runtime's worker thread records it
    dash_duo.wait_for_contains_text(FAILING, "Re-planning is failing since 18:00 UTC (1 attempt)", timeout=8)
    assert dash_duo.find_element(FAILING).text == (
        "Re-planning is failing since 18:00 UTC (1 attempt): ValueError: vehicle ids must be unique. "
        f"The plan in force is #{record.id} from 17:00 UTC (1 h 00 min old).")
    dash_duo.driver.save_screenshot(str(SHOTS / "replan-failing-floor.png"))

    dash_duo.wait_for_page(f"{dash_duo.server_url}/planner")
    dash_duo.wait_for_contains_text("#replan-banner-planner-failing", "Re-planning is failing", timeout=10)
    dash_duo.driver.save_screenshot(str(SHOTS / "replan-failing-planner.png"))
    health.succeeded(NOW, record)
    dash_duo.wait_for_contains_text("#replan-banner-planner-age", f"The plan in force is #{record.id}", timeout=8)
    assert not dash_duo.find_elements("#replan-banner-planner-failing")
    assert all(e["level"] != "SEVERE" for e in dash_duo.get_logs())
