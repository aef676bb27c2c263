"""A clean browser console on every page for every role, in a real headless Chromium (dash[testing]).

Each role signs in once and opens every page (and the maintenance tabs); the console must show no error and
no warning from the app or AG Grid, and no failed resource (a page a role may not see included). Chromium's
own favicon noise is the only thing ignored.

dash[testing] asks Chromium for SEVERE browser logs only, so a script added before each document copies every
`console.warn` / `console.error` into `window.__consoleLog`, read before leaving the page.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from depot.people import alerts
from depot.people.users import ROLES
from depot.web.auth import PAGE_ROLES
from tests.auth_helpers import login_as
from tests.conftest import NOW
from tests.test_planner_page import seed

pytestmark = pytest.mark.browser

PAGES = tuple(PAGE_ROLES)
MAINTENANCE_TABS = ("Chargers", "Tickets", "Maintenance windows", "Audit log", "Alerts")
HOOK = """
window.__consoleLog = [];
for (const level of ['warn', 'error']) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    try { window.__consoleLog.push(level + ': ' + args.map(a => (a && a.stack) || String(a)).join(' ')); }
    catch (e) { /* never break the page */ }
    original(...args);
  };
}
"""


def _noise(message: str) -> bool:
    return "favicon" in message


def _entries(dash_duo) -> list[str]:
    driver = dash_duo.driver
    found = [f"{e['level']}: {e['message']}" for e in driver.get_log("browser")
             if e["level"] in ("SEVERE", "WARNING") and not _noise(e["message"])]
    hooked = driver.execute_script("const seen = window.__consoleLog || []; window.__consoleLog = []; return seen")
    return found + [m for m in hooked if not _noise(m)]


def _settle(dash_duo, seconds: float = 0.8) -> None:
    """Wait until Dash has no callback in flight, then a little longer for grids to lay out."""
    deadline = time.monotonic() + 15
    time.sleep(0.3)
    while time.monotonic() < deadline:
        busy = dash_duo.driver.find_elements(By.CSS_SELECTOR, "[data-dash-is-loading='true']")
        if not busy:
            break
        time.sleep(0.2)
    time.sleep(seconds)


def _visit(dash_duo, path: str, role: str) -> list[str]:
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + path)
    dash_duo.wait_for_element("#react-entry-point", timeout=15)
    _settle(dash_duo)
    problems = [f"{role} {path}: {m}" for m in _entries(dash_duo)]
    if path == "/maintenance" and role in PAGE_ROLES[path]:
        for tab in MAINTENANCE_TABS:
            dash_duo.driver.find_element(By.XPATH, f"//a[contains(@class, 'nav-link')][normalize-space()='{tab}']").click()
            _settle(dash_duo, 0.5)
            problems += [f"{role} {path}#{tab}: {m}" for m in _entries(dash_duo)]
    return problems


def _seed(store) -> None:
    seed(store)
    alerts.raise_alert(store, "charger faulted", charger_id="DC-01", severity="critical",
                       message="Connector 1 reports GroundFailure", now=NOW)


def test_every_page_every_role_has_a_clean_console(dash_duo, no_auto_login, configured_app, store):
    _seed(store)
    dash_duo.driver.set_window_size(1440, 1000)
    dash_duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
    dash_duo.start_server(configured_app)
    problems: list[str] = []
    for role in ROLES:
        dash_duo.driver.delete_all_cookies()
        login_as(dash_duo, store, role)
        dash_duo.driver.get_log("browser")  # the sign-in pages are not under test here
        for path in PAGES:
            problems += _visit(dash_duo, path, role)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ["manager", "dispatcher"])
def test_a_clean_console_at_200_chargers(dash_duo, no_auto_login, configured_app, store, role):
    """The same at depot scale: 200 chargers, 150 of them charging, every page the role may open."""
    seed(store, vehicles=200, plugged=150, grid_kw=4000.0)
    dash_duo.driver.set_window_size(1440, 1000)
    dash_duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
    dash_duo.start_server(configured_app)
    login_as(dash_duo, store, role)
    dash_duo.driver.get_log("browser")
    problems: list[str] = []
    for path in (p for p in PAGES if role in PAGE_ROLES[p]):
        problems += _visit(dash_duo, path, role)
    assert not problems, "\n".join(problems)
