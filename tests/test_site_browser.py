"""Issue 12 §2 in a real headless Chromium: a fresh install shows the "no grid connection limit" banner; a
manager follows its link to the power page's Site card, saves a limit, and the banner is gone, on this page
and the next."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from depot.control.sitelimit import UNSET_TEXT

pytestmark = pytest.mark.browser


def gone(dash_duo, selector: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while dash_duo.driver.find_elements(By.CSS_SELECTOR, selector):
        if time.monotonic() > end:
            raise AssertionError(f"{selector} still shown")
        time.sleep(0.1)


def click(dash_duo, selector: str) -> None:
    """Scrolled into view and clicked (by script: the power page's chart may still move the page under us)."""
    element = dash_duo.find_element(selector)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click()", element)


def test_the_banner_leads_to_the_site_card_and_goes_once_a_limit_is_saved(dash_duo, configured_app, store):
    dash_duo.start_server(configured_app)
    # the words of the log and `depot site show` (the command in <code>)
    dash_duo.wait_for_text_to_equal("#site-unset", UNSET_TEXT.replace("`", ""), timeout=15)
    time.sleep(0.5)  # the shell's first navigation refresh redraws the banner once
    click(dash_duo, "#site-unset a.alert-link")
    dash_duo.wait_for_element("#site-card", timeout=15)
    dash_duo.wait_for_contains_text("#power-limit", "No site limit", timeout=10)
    grid = dash_duo.find_element("#site-grid")
    grid.send_keys("150")
    margin = dash_duo.find_element("#site-margin")
    margin.clear()
    margin.send_keys("200")
    click(dash_duo, "#site-save")
    dash_duo.wait_for_contains_text("#site-msg", "Not saved: safety margin", timeout=10)
    assert dash_duo.find_element("#site-unset") and not store.get_site().grid_set
    margin.clear()
    margin.send_keys("10")
    click(dash_duo, "#site-save")
    dash_duo.wait_for_contains_text("#site-msg", "Saved: site Depot: grid 150 kW, margin 10 kW", timeout=10)
    gone(dash_duo, "#site-unset")
    assert (store.get_site().grid_kw, store.get_site().safety_margin_kw) == (150.0, 10.0)
    dash_duo.find_element("a.nav-link[href='/']").click()  # another page: still no banner
    gone(dash_duo, "#power-page", timeout=15)
    time.sleep(0.5)  # the navigation's banner refresh
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#site-unset")
    assert dash_duo.get_logs() == [], "browser console errors"
