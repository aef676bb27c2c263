"""The power page in a real headless Chromium (dash[testing]): the chart, the health panel, live appends without
a redraw, and 200 chargers over a week. Screenshots go to /tmp (POWER_SHOTS overrides), never into the repo."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.actions.action_builder import ActionBuilder

import app as depot_app
from depot.model import MeterSample
from depot.planning.snapshot import default_prices
from depot.store import enforcement as es
from depot.web.context import Services
from tests.conftest import NOW
from tests.test_power_page import bulk_week

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("POWER_SHOTS", "/tmp"))
GD = "document.querySelector('#power-graph .js-plotly-plot')"


def shot(dash_duo, name: str) -> Path:
    path = SHOTS / f"power-{name}.png"
    dash_duo.driver.save_screenshot(str(path))
    return path


def moving_clock(settings, store, speed: float = 1.0, **changes):
    """Services whose clock starts at NOW and runs `speed` times real time; the building is read (as in the
    demo) so the site limit follows the readings."""
    t0 = time.monotonic()
    settings = replace(settings, site_limit_source="simulator", building_max_kw=100.0, **changes)
    depot_app.configure(Services(settings, store, lambda: NOW + timedelta(seconds=(time.monotonic() - t0) * speed)))


def night_plan(store, vehicles: int, kw: float) -> None:
    """A 24 h plan from NOW: every vehicle charges `kw` in the cheap night (22-06 h), staggered."""
    start, slots = NOW, 96
    problem = {"start": start.isoformat(), "slot_minutes": 15, "slots": slots,
               "site_limit_kw": [float(store.get_site().grid_kw - 60)] * slots,
               "price_per_kwh": list(default_prices(start, slots)), "vehicles": []}
    plan = {"status": "optimal", "vehicles": [
        {"id": f"V{v}", "power_kw": [kw if 16 + v % 8 <= k < 40 + v % 8 else 0.0 for k in range(slots)]}
        for v in range(vehicles)]}
    store.save_plan(created_at=NOW, reason="test", status="optimal", problem=problem, plan=plan)


def charging_now(store, chargers: list[str], kw: float) -> None:
    for cid in chargers:
        tx = store.start_transaction(cid, 1, None, started_at=NOW - timedelta(hours=1))
        store.add_meter_samples(cid, 1, [MeterSample(NOW, power_w=kw * 1000)], transaction_id=tx.id)


def wait_for(dash_duo, script: str, timeout: float = 10.0):
    """Poll a JS expression until it is truthy; return its value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = dash_duo.driver.execute_script(f"try {{ return {script}; }} catch (e) {{ return null; }}")
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {script}")


def test_chart_health_panel_and_live_appends_without_a_redraw(dash_duo, configured_app, store, settings):
    bulk_week(store, chargers=6, days=1, step_s=60, lanes=2, grid_kw=300.0)
    charging_now(store, ["CP-001", "CP-002"], 11.0)
    night_plan(store, 6, 18.0)
    es.set_health(store, "CP-001", "rejecting", now=NOW - timedelta(minutes=7),
                  detail="SetChargingProfile answered Rejected (TxProfile 11 kW)")
    es.add_reading(store, es.SiteReading(NOW, "simulator", 60.0, 0.0, 220.0, 22.0))
    moving_clock(settings, store)
    dash_duo.start_server(configured_app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/power")
    dash_duo.wait_for_text_to_equal("#power-charging", "22.0 kW", timeout=10)
    n = wait_for(dash_duo, f"{GD}.data.length")
    assert n == 2 * 6 + 9  # six chargers (history + tail), building, PV, limit (x2), plan, planned limit, price
    names = dash_duo.driver.execute_script(f"return {GD}.data.map(t => t.name)")
    assert names[:6] == ["CP-000", "CP-001", "CP-002", "CP-003", "CP-004", "CP-005"]
    assert {"site limit", "building load", "PV", "plan: expected total", "price"} <= set(names)
    panel = dash_duo.find_element("#power-health").text
    assert "CP-001" in panel and "rejecting" in panel and "SetChargingProfile answered Rejected" in panel
    assert "17:53:00 UTC" in panel
    assert dash_duo.find_element("#power-limit").text.startswith("Site limit 220 kW · measured: building 60.0 kW")
    assert dash_duo.get_logs() == [], "browser console errors"

    # live: the same plot (no remount, no Plotly.newPlot) grows its tails every 2 s; histories stay
    before = dash_duo.driver.execute_script(
        f"const gd = {GD}; gd.__probe = 'kept'; window.__plots = 0;"
        "gd.on('plotly_afterplot', () => window.__plots++);"
        "return {tail: gd.data[6].x.length, hist: gd.data[0].y.length};")
    time.sleep(4.6)
    after = dash_duo.driver.execute_script(
        f"const gd = {GD}; return {{probe: gd.__probe, tail: gd.data[6].x.length, hist: gd.data[0].y.length,"
        " plots: window.__plots}")
    assert after["probe"] == "kept" and after["tail"] >= before["tail"] + 2 and after["hist"] == before["hist"]
    assert after["plots"] >= 2  # it did draw the new points
    def responses():
        return dash_duo.driver.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes('_dash-update-component'))"
            ".map(e => e.encodedBodySize)")

    def after_figure(sizes):  # the responses since the last one that carried the whole figure
        big = [i for i, n in enumerate(sizes) if n > 20_000]
        return sizes[big[-1] + 1:] if big else []

    deadline = time.monotonic() + 20  # on a loaded machine the first ticks can come before the figure
    while len(after_figure(responses())) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    sizes = responses()
    live = after_figure(sizes)
    print(f"\nresponses (bytes): first {sizes[:2]}, live {live}")
    assert max(sizes) > 20_000 and len(live) >= 2 and max(live) < 5000  # the figure once, then small patches
    shot(dash_duo, "small")
    plot = dash_duo.find_element("#power-graph .js-plotly-plot")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", plot)
    box = dash_duo.driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", plot)
    mouse = ActionBuilder(dash_duo.driver)
    mouse.pointer_action.move_to_location(int(box["left"] + 300), int(box["top"] + 250))
    mouse.perform()
    hover = wait_for(dash_duo, "document.querySelector('#power-graph .hoverlayer').textContent")
    assert "CP-000" in hover and "kW" in hover and "site limit" in hover
    shot(dash_duo, "small-hover")
    dash_duo.driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    time.sleep(0.3)
    shot(dash_duo, "small-panel")


def test_completed_buckets_join_the_history_and_the_tail_restarts(dash_duo, configured_app, store, settings):
    bulk_week(store, chargers=6, days=1, step_s=60, lanes=2, grid_kw=300.0)
    moving_clock(settings, store, speed=60.0)  # a 2-minute bucket completes every 2 real seconds
    dash_duo.start_server(configured_app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/power")
    wait_for(dash_duo, f"{GD}.data.length")
    before = dash_duo.driver.execute_script(f"const gd = {GD}; gd.__probe = 'kept'; return gd.data[0].y.length")
    time.sleep(6.5)
    after = dash_duo.driver.execute_script(
        f"const gd = {GD}; return {{probe: gd.__probe, hist: gd.data[0].y.length, tail: gd.data[6].x.length,"
        " building: gd.data[12].y.length}")
    assert after["probe"] == "kept" and after["hist"] >= before + 2 and after["tail"] <= 2
    assert after["building"] == after["hist"]  # every history grows by the same buckets
    assert dash_duo.get_logs() == []


def test_an_empty_depot_says_what_to_do(dash_duo, configured_app):
    dash_duo.start_server(configured_app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/power")
    dash_duo.wait_for_contains_text("#power-notes", "No power data yet", timeout=10)
    assert "No plan yet" in dash_duo.find_element("#power-notes").text
    assert "All chargers obey" in dash_duo.find_element("#power-health").text
    wait_for(dash_duo, f"{GD}.data.length")  # the chart is there, with the prices, ready to fill
    assert dash_duo.get_logs() == []
    shot(dash_duo, "empty")


def test_200_chargers_a_week_in_lanes_24h_and_7d(dash_duo, configured_app, store, settings):
    bulk_week(store, chargers=200, days=7, step_s=900, lanes=10)
    charging_now(store, [f"CP-{i:03d}" for i in range(0, 200, 7)], 11.0)
    night_plan(store, 120, 11.0)
    es.set_health(store, "CP-017", "overdrawing", now=NOW - timedelta(minutes=2), detail="draws 26.1 kW, limit 11.0 kW")
    es.set_health(store, "CP-101", "rejecting", now=NOW - timedelta(hours=3), detail="Rejected: unknown transaction")
    moving_clock(settings, store, stale_after_s=30.0)  # the last building reading (17:59) is stale: worst case
    dash_duo.start_server(configured_app)
    t0 = time.monotonic()
    dash_duo.wait_for_page(f"{dash_duo.server_url}/power")
    names = wait_for(dash_duo, f"{GD}.data.length > 20 && {GD}.data.map(t => t.name)", timeout=20)
    shown = time.monotonic() - t0
    assert names[:10] == [f"Lane {c}" for c in "ABCDEFGHIJ"]
    assert "10 groups" in dash_duo.find_element("#power-notes").text
    rows = dash_duo.find_elements("#power-flagged tbody tr")
    assert [r.text.split()[0] for r in rows] == ["CP-101", "CP-017"]
    limit = dash_duo.find_element("#power-limit").text
    assert "building load unknown (reading" in limit and "s old): assumed its maximum 100 kW" in limit
    assert dash_duo.find_element("#power-building").text == "–"
    assert dash_duo.find_element("#power-building-sub").text == "last read 17:59:00 UTC; 100 kW assumed"
    # hovering the plot answers quickly even with 10 lanes × 720 points
    t1 = time.monotonic()
    dash_duo.driver.execute_script(f"Plotly.Fx.hover({GD}, {{xval: '2026-11-21 02:00:00'}}, 'xy')")
    hover_s = time.monotonic() - t1
    time.sleep(0.3)
    shot(dash_duo, "200-24h")

    dash_duo.find_element("label[for='_dbcprivate_radioitems_power-window_input_7d']").click()
    wait_for(dash_duo, f"{GD}.data[0].dx === 900000", timeout=20)
    redraw = dash_duo.driver.execute_script(
        f"const gd = {GD}; const t = performance.now(); return Plotly.redraw(gd).then(() => performance.now() - t)")
    time.sleep(0.5)
    shot(dash_duo, "200-7d")
    dash_duo.driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    time.sleep(0.3)
    shot(dash_duo, "200-panel")
    time.sleep(2.5)  # a tick of the rebuilt week
    sizes = dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('_dash-update-component'))"
        ".map(e => e.encodedBodySize)")
    print(f"\n200 chargers: page with chart in {shown:.2f} s, hover {hover_s * 1000:.0f} ms, "
          f"7-day redraw {redraw:.0f} ms, responses (bytes) {sizes}")
    assert sizes[-1] < 5000 and max(sizes) > 50_000  # the figure when it is built, then patches
    assert redraw < 2000
    assert dash_duo.get_logs() == []
