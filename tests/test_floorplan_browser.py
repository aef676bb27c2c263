"""The floor plan in a real headless Chromium (dash[testing]): live colours, the detail panel, 200 chargers.

Screenshots go to /tmp (FLOORPLAN_SHOTS overrides), never into the repository.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from depot.model import Charger, ConnectorStatus, CurrentType, EventRecord, MeterSample, Protocol, Vehicle
from tests.conftest import NOW
from tests.test_floorplan import seed_depot

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("FLOORPLAN_SHOTS", "/tmp"))
S = ConnectorStatus


def bay(cid: str) -> str:
    return "[id='" + json.dumps({"id": cid, "type": "fp-bay"}, separators=(",", ":")) + "']"


def start(dash_duo, app) -> None:
    """Start on a free port: dash's default (58050, 58051 …) may belong to another test run on this machine,
    and then the browser silently talks to that server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dash_duo.start_server(app, port=port)


def shot(dash_duo, name: str) -> Path:
    path = SHOTS / f"floorplan-{name}.png"
    dash_duo.driver.save_screenshot(str(path))
    return path


def small_depot(store):
    """Six chargers in two lanes and one new charger without a bay; one of them charging Bus 7."""
    store.set_site("Test depot", 100.0)
    for cid, bay_name, kw, dc in [("CP-001", "A01", 22, False), ("CP-002", "A02", 22, False),
                                  ("CP-003", "A03", 11, False), ("CP-004", "B01", 50, True),
                                  ("CP-005", "B02", 150, True), ("CP-006", "B04", 22, False)]:
        store.add_charger(Charger(cid, kw, CurrentType.DC if dc else CurrentType.AC, bay=bay_name))
        store.record_boot(cid, protocol=Protocol.OCPP16, now=NOW, vendor="ABB", model="Terra AC", firmware="1.8.2")
        store.set_connector_status(cid, 1, S.AVAILABLE, now=NOW)
    store.record_boot("NEW-01", protocol=Protocol.OCPP201, now=NOW, vendor="Kempower")  # commissioning mode
    store.set_connector_status("NEW-01", 1, S.AVAILABLE, now=NOW)
    store.add_vehicle(Vehicle("BUS-7", "Bus 7", 300.0, id_tag="TAG7"))
    store.set_connector_status("CP-004", 1, S.CHARGING, now=NOW)
    tx = store.start_transaction("CP-004", 1, "TAG7", started_at=NOW.replace(hour=17), meter_start_wh=5000.0)
    store.add_meter_samples("CP-004", 1, [MeterSample(NOW, energy_wh=47_500.0, power_w=46_200.0, soc=58.0)],
                            transaction_id=tx.id)
    for action, direction, kind, payload in [
        ("BootNotification", "in", "call", {"chargePointVendor": "ABB", "chargePointModel": "Terra AC"}),
        ("BootNotification", "out", "result", {"status": "Accepted", "interval": 60}),
        ("StatusNotification", "in", "call", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}),
    ]:
        store.log_event(EventRecord(NOW, "CP-002", direction, kind, action, json.dumps(payload)))


def test_live_plan_status_change_and_detail_panel(dash_duo, configured_app, store):
    small_depot(store)
    start(dash_duo, configured_app)
    dash_duo.wait_for_text_to_equal(bay("CP-004") + " .fp-vehicle", "Bus 7", timeout=10)
    assert "st-charging" in dash_duo.find_element(bay("CP-004")).get_attribute("class")
    assert dash_duo.find_element(bay("CP-004") + " .fp-metrics").text == "46.2 kW · 42 kWh"
    assert dash_duo.find_element(bay("CP-004") + " .fp-kind").text == "DC 50"
    assert dash_duo.find_element(bay("CP-002") + " .fp-status").text == "Available"
    assert "is-new" in dash_duo.find_element(bay("NEW-01")).get_attribute("class")
    lanes = [e.text for e in dash_duo.find_elements(".fp-lane-title")]
    assert lanes == ["Lane A", "Lane B", "Unplaced"]
    assert [e.text for e in dash_duo.find_elements(".fp-bay-empty")] == ["B03"]
    dash_duo.wait_for_text_to_equal("#fp-online", "7 / 7", timeout=5)
    assert dash_duo.find_element("#fp-power").text == "46 / 100 kW"
    shot(dash_duo, "small")

    # the store changes: the bay turns red in place within one refresh (no reload, no new DOM node)
    tile = dash_duo.find_element(bay("CP-002"))
    store.set_connector_status("CP-002", 1, S.FAULTED, now=NOW, error_code="GroundFailure")
    t0 = time.monotonic()
    dash_duo.wait_for_contains_class(bay("CP-002"), "st-faulted", timeout=5)
    dash_duo.wait_for_text_to_equal(bay("CP-002") + " .fp-status", "Faulted", timeout=3)
    assert dash_duo.find_element(bay("CP-002") + " .fp-vehicle").text == "GroundFailure"
    assert time.monotonic() - t0 < 4.5
    try:
        assert "st-faulted" in tile.get_attribute("class")  # the same element: painted, not remounted
    except StaleElementReferenceException:  # pragma: no cover - the failure this test exists for
        pytest.fail("the bay was re-created instead of updated")
    dash_duo.wait_for_text_to_equal("#fp-faulted", "1", timeout=3)

    # the grid limit drops under the load: the site power turns amber above 90 %, red above 100 %
    store.set_site("Test depot", 50.0)
    dash_duo.wait_for_contains_class("#fp-power-card", "level-high", timeout=5)
    assert dash_duo.find_element("#fp-power").text == "46 / 50 kW"
    store.set_site("Test depot", 40.0)
    dash_duo.wait_for_contains_class("#fp-power-card", "level-over", timeout=5)
    assert "above it" in dash_duo.find_element("#fp-power-sub").text
    shot(dash_duo, "over-limit")
    store.set_site("Test depot", 100.0)

    # click: the detail panel opens on that charger and stays open across refreshes
    tile.click()
    dash_duo.wait_for_contains_text(".fp-panel .offcanvas-title", "CP-002", timeout=5)
    panel = dash_duo.find_element(".fp-panel")
    dash_duo.wait_for_contains_text(".fp-panel .fp-msgs", "StatusNotification", timeout=5)
    msgs = [e.text for e in dash_duo.find_elements(".fp-panel .fp-msg-action")]
    assert msgs[0] == "StatusNotification" and "BootNotification result" in msgs
    assert "GroundFailure" in panel.text and "ABB" in panel.text and "Terra AC" in panel.text
    assert "is-selected" in dash_duo.find_element(bay("CP-002")).get_attribute("class")
    time.sleep(2.5)
    assert "show" in dash_duo.find_element(".fp-panel").get_attribute("class")
    assert "CP-002" in dash_duo.find_element(".fp-panel .offcanvas-title").text
    shot(dash_duo, "detail")

    # another charger while the panel is open; its session shows
    dash_duo.find_element(bay("CP-004")).click()
    dash_duo.wait_for_contains_text(".fp-panel .offcanvas-title", "CP-004", timeout=5)
    dash_duo.wait_for_contains_text(".fp-panel", "Bus 7", timeout=5)
    assert "TAG7" in dash_duo.find_element(".fp-panel").text
    assert dash_duo.get_logs() == [] or all(e["level"] != "SEVERE" for e in dash_duo.get_logs())


def test_two_hundred_chargers_filter_and_no_horizontal_scroll(dash_duo, configured_app, store):
    ids = seed_depot(store, 200)
    start(dash_duo, configured_app)
    dash_duo.wait_for_element(bay(ids[-1]), timeout=15)
    assert len(dash_duo.find_elements(".fp-bay")) == 200
    dash_duo.wait_for_text_to_equal("#fp-updated", "updated 18:00:00 UTC", timeout=5)
    width = dash_duo.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scroll at {width[1]} px: content is {width[0]} px wide"
    shot(dash_duo, "200")
    dash_duo.driver.execute_script("window.scrollTo({top: document.body.scrollHeight, behavior: 'instant'})")
    shot(dash_duo, "200-bottom")
    dash_duo.driver.execute_script("window.scrollTo({top: 0, behavior: 'instant'})")

    # legend chip: only the faulted ones; the count on the chip matches
    chip = dash_duo.find_element("[id='" + json.dumps({"status": "Faulted", "type": "fp-chip"},
                                                      separators=(",", ":")) + "']")
    count = int(chip.find_element(By.CSS_SELECTOR, ".fp-count").text)
    assert count > 0
    chip.click()
    dash_duo.wait_for_contains_class("[id='" + json.dumps({"status": "Faulted", "type": "fp-chip"},
                                                          separators=(",", ":")) + "']", "is-active", timeout=5)
    deadline = time.monotonic() + 5
    while len(dash_duo.find_elements(".fp-bay")) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    tiles = dash_duo.find_elements(".fp-bay")
    assert len(tiles) == count and all("st-faulted" in t.get_attribute("class") for t in tiles)
    shot(dash_duo, "200-faulted")
    chip.click()

    # search by vehicle
    dash_duo.wait_for_element(bay(ids[0]), timeout=5)
    search = dash_duo.find_element("#fp-search")
    vehicle = dash_duo.driver.execute_script(
        "return [...document.querySelectorAll('.fp-vehicle')].map(e => e.textContent).find(t => /^Bus \\d{3}$/.test(t))")  # unique: no bus has four digits
    search.send_keys(vehicle)
    deadline = time.monotonic() + 5
    while len(dash_duo.find_elements(".fp-bay")) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [e.text for e in dash_duo.find_elements(".fp-vehicle")] == [vehicle]


def test_empty_depot_explains_what_to_do(dash_duo, configured_app):
    start(dash_duo, configured_app)
    dash_duo.wait_for_contains_text(".empty-state", "No chargers yet", timeout=10)
    assert "depot chargers add CP-001 --max-kw 22 --bay A01" in dash_duo.find_element(".empty-state").text
    shot(dash_duo, "empty")
