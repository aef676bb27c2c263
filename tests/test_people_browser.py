"""Sign-in and the maintenance page in a real headless Chromium (dash[testing]), with simulated chargers.

Screenshots go to /tmp (PEOPLE_SHOTS overrides), never into the repository.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

import app as depot_app
from depot.people import alerts
from depot.people.users import audit_log
from depot.web.context import Services
from tests.auth_helpers import login_as
from tests.conftest import NOW
from tests.live_depot import V16, V201, on_loop, running_depot, wait_for

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("PEOPLE_SHOTS", "/tmp"))


def shot(dash_duo, name: str) -> Path:
    path = SHOTS / f"people-{name}.png"
    dash_duo.driver.save_screenshot(str(path))
    return path


@pytest.fixture
def restore_services():
    previous = depot_app.server.extensions.get("depot")
    yield
    if previous is not None:
        depot_app.server.extensions["depot"] = previous
    else:
        depot_app.server.extensions.pop("depot", None)


def test_sign_in_page_demo_users_roles_and_sign_out(dash_duo, no_auto_login, store, settings, restore_services):
    depot_app.configure(Services(replace(settings, simulator=True), store, lambda: NOW))  # the demo: its users
    dash_duo.driver.set_window_size(1300, 900)
    dash_duo.start_server(depot_app.app)  # anonymous: sent to the sign-in page
    dash_duo.wait_for_element("#login-form", timeout=15)
    assert "/login" in dash_duo.driver.current_url
    dash_duo.wait_for_contains_text("#login-demo", "maintenance-demo")
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#hdr-user-menu")
    shot(dash_duo, "login")

    dash_duo.find_element("#login-user").send_keys("maintenance")
    dash_duo.find_element("#login-password").send_keys("not-the-password")
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_contains_text("#login-error", "Wrong user name or password", timeout=15)
    shot(dash_duo, "login-error")

    password = dash_duo.find_element("#login-password")
    password.send_keys("maintenance-demo")
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#hdr-user-menu", timeout=15)
    nav = dash_duo.find_element(".navbar").text
    assert "Maintenance" in nav and "Planner" not in nav and "Alerts" in nav  # the UI hides what the role cannot do
    dash_duo.driver.get(f"{dash_duo.server_url}/planner")
    dash_duo.wait_for_element("#no-access", timeout=15)
    shot(dash_duo, "no-access")

    dash_duo.find_element("#hdr-user-menu button").click()
    dash_duo.wait_for_element("#hdr-logout").click()
    dash_duo.wait_for_element("#login-form", timeout=15)
    dash_duo.driver.get(f"{dash_duo.server_url}/maintenance")
    dash_duo.wait_for_element("#login-form", timeout=15)
    assert "next=%2Fmaintenance" in dash_duo.driver.current_url


@pytest.fixture
def live(db_url):
    yield from running_depot(db_url)


def _row(dash_duo, grid: str, row_id: int):
    return dash_duo.wait_for_element(f'#{grid} .ag-center-cols-container .ag-row[row-id="{row_id}"] .ag-cell',
                                     timeout=20)


def _tab(dash_duo, label: str) -> None:
    dash_duo.driver.find_element(By.XPATH, f"//ul[contains(@class,'nav-tabs')]//a[normalize-space()='{label}']").click()


def _send(dash_duo, action: str, **fields) -> str:
    Select(dash_duo.find_element("#mt-r-action")).select_by_value(action)
    for ident, value in fields.items():
        box = dash_duo.find_element(f"#mt-r-{ident}")
        box.clear()
        box.send_keys(value)
    dash_duo.find_element("#mt-r-send").click()
    WebDriverWait(dash_duo.driver, 10).until(EC.element_to_be_clickable((By.ID, "mt-confirm-ok"))).click()
    return dash_duo.wait_for_element(f'#mt-result-box[data-action="{action}"] #mt-result-summary', timeout=30).text


def test_maintenance_page_alerts_remote_actions_and_windows(dash_duo, no_auto_login, live, restore_services):
    runtime, store = live
    depot_app.configure(Services(runtime.settings, store, runtime.clock, runtime))
    fault_on = V16[0]
    wait_for(lambda: store.connectors(fault_on), what="statuses")
    on_loop(runtime, runtime.simulator.charger(fault_on).fault, "GroundFailure", 1)
    fault = wait_for(lambda: [a for a in alerts.list_alerts(store) if a.charger_id == fault_on], what="alert")[0]
    # an alert another module raised (not one the sweep or the planner would clear by themselves)
    late = alerts.raise_alert(store, "vehicle damaged", vehicle_id="EV-002", severity="warning",
                              message="EV-002: charging flap broken, reported by the driver", now=runtime.clock())

    dash_duo.driver.set_window_size(1400, 1100)
    dash_duo.start_server(depot_app.app, navigate=False)
    login_as(dash_duo, store, "maintenance", next_path="/maintenance")
    dash_duo.wait_for_element("#maintenance-page", timeout=20)
    _row(dash_duo, "mt-alert-grid", fault.id)
    assert int(dash_duo.find_element("#hdr-alert-badge").text) >= 2
    shot(dash_duo, "maintenance-alerts")

    _row(dash_duo, "mt-alert-grid", fault.id).click()
    dash_duo.wait_for_element(f'#mt-alert-detail-list[data-alert="{fault.id}"]', timeout=10)
    dash_duo.find_element("#mt-a-note").send_keys("on my way with a spare RCD")
    dash_duo.find_element("#mt-a-ack").click()
    dash_duo.wait_for_contains_text("#mt-a-msg", "acknowledged by test-maintenance", timeout=10)
    assert alerts.get_alert(store, fault.id).status == "acknowledged"

    _row(dash_duo, "mt-alert-grid", late.id).click()
    dash_duo.wait_for_element(f'#mt-alert-detail-list[data-alert="{late.id}"]', timeout=10)
    dash_duo.find_element("#mt-a-resolve").click()
    dash_duo.wait_for_contains_text("#mt-a-msg", "Nothing changed", timeout=10)  # a person resolves with a note
    dash_duo.find_element("#mt-a-note").send_keys("route swapped to a charged van")
    dash_duo.find_element("#mt-a-resolve").click()
    dash_duo.wait_for_contains_text("#mt-a-msg", "resolved by test-maintenance", timeout=10)
    assert alerts.get_alert(store, late.id).resolve_note == "route swapped to a charged van"

    on_loop(runtime, runtime.simulator.charger(fault_on).clear_fault, 1)  # the charger recovers: resolved by itself
    wait_for(lambda: alerts.get_alert(store, fault.id).status == "resolved", what="auto-resolved")

    _tab(dash_duo, "Chargers")
    Select(dash_duo.find_element("#mt-charger")).select_by_value(V201[0])
    dash_duo.wait_for_element(f'#mt-health-body[data-charger="{V201[0]}"]', timeout=20)
    summary = _send(dash_duo, "get_config", key="OCPPCommCtrlr/HeartbeatInterval")
    assert summary.startswith("HeartbeatInterval: Accepted = ")
    dash_duo.wait_for_contains_text("#mt-history-table", "get config", timeout=20)
    shot(dash_duo, "maintenance-remote-201")
    Select(dash_duo.find_element("#mt-charger")).select_by_value(V16[1])
    dash_duo.wait_for_element(f'#mt-health-body[data-charger="{V16[1]}"]', timeout=20)
    assert _send(dash_duo, "trigger_status", connector="1") == "Accepted"
    assert not _send(dash_duo, "firmware", url="https://fw.example.org/1.1.bin").startswith("error:")
    dash_duo.wait_for_element('#mt-result-box[data-ok="1"]')  # accepted: the charger reports the stages
    shot(dash_duo, "maintenance-remote-16")
    actions = [e.action for e in audit_log(store, who="test-maintenance")]
    assert {"charger.get_config", "charger.trigger_status", "charger.firmware", "alert.acknowledge",
            "alert.resolve"} <= set(actions)

    _tab(dash_duo, "Maintenance windows")
    Select(dash_duo.find_element("#mt-w-charger")).select_by_value(V201[1])
    dash_duo.find_element("#mt-w-reason").send_keys("replace the cable")
    dash_duo.find_element("#mt-w-add").click()
    dash_duo.wait_for_contains_text("#mt-w-msg", f"{V201[1]} out of service", timeout=10)
    wait_for(lambda: store.connectors(V201[1])[0].status.value == "Unavailable", what="charger unavailable")
    dash_duo.wait_for_contains_text("#mt-w-grid", "Accepted", timeout=20)
    shot(dash_duo, "maintenance-windows")
    _tab(dash_duo, "Audit log")
    dash_duo.wait_for_contains_text("#mt-audit", "window.add", timeout=10)
    shot(dash_duo, "maintenance-audit")
