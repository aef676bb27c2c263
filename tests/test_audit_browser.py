"""The plan-versus-actual page in a real headless Chromium: open it from the navigation, read why each vehicle
missed its departure, pick another day, download the CSV; and a dispatcher may open it, maintenance may not."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.keys import Keys

from depot.web.context import Services
from tests import audit_scenario as night
from tests.auth_helpers import login_as

pytestmark = pytest.mark.browser


@pytest.fixture
def night_app(configured_app, store, settings):
    night.build(store)
    configured_app.server.extensions["depot"] = Services(settings, store, lambda: night.AUDIT_NOW)
    return configured_app


def test_manager_reads_why_each_departure_was_missed(dash_duo, night_app):
    dash_duo.driver.set_window_size(1400, 1800)
    dash_duo.start_server(night_app)
    dash_duo.wait_for_element("#react-entry-point", timeout=15)
    dash_duo.find_element('a.nav-link[href="/audit"]').click()
    dash_duo.wait_for_element('#audit-grid .ag-row[row-id="BUS-04@05:30"]', timeout=30)
    dash_duo.wait_for_contains_text("#audit-kpi-missed", "8", timeout=10)
    assert len(dash_duo.find_elements("#audit-grid .ag-center-cols-container .ag-row")) == 10
    result = dash_duo.find_element('#audit-grid .ag-center-cols-container .ag-row[row-id="BUS-01@05:30"] '
                                   '.ag-cell[col-id="result"]')
    assert result.text == "ready"
    misses = dash_duo.find_element("#audit-misses")
    for _code, evidence in night.CAUSE.values():
        assert evidence in misses.text
    causes = [li.get_attribute("data-cause") for li in dash_duo.find_elements('.audit-miss[data-vehicle="BUS-06"] li')]
    assert causes == ["site_limit"]
    dash_duo.driver.save_screenshot("/tmp/audit-night.png")

    dash_duo.find_element("#audit-csv").click()  # the guarded download answers (its content is tested elsewhere)
    date_input = dash_duo.find_element("input#audit-date")
    date_input.send_keys(Keys.CONTROL, "a")
    date_input.send_keys("2026-11-23", Keys.ENTER, Keys.TAB)
    dash_duo.wait_for_contains_text("#audit-misses", "No departures entered for this day", timeout=20)
    logs = dash_duo.get_logs()
    assert logs == [], [entry["message"][-300:] for entry in logs]


def test_a_dispatcher_opens_it_and_maintenance_does_not_see_it(dash_duo, night_app, store, no_auto_login):
    dash_duo.start_server(night_app)
    login_as(dash_duo, store, "maintenance", next_path="/audit")
    dash_duo.wait_for_element("#no-access", timeout=15)
    assert not dash_duo.find_elements('a.nav-link[href="/audit"]')
    dash_duo.find_element("#hdr-user-menu")
    dash_duo.driver.delete_all_cookies()
    login_as(dash_duo, store, "dispatcher", next_path="/audit")
    dash_duo.wait_for_element('#audit-grid .ag-row[row-id="BUS-09@05:30"]', timeout=30)
    dash_duo.wait_for_contains_text("#audit-misses", "impossible: 140 kWh in 3 h at 22 kW max", timeout=10)
