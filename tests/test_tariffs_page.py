"""The /tariffs page: its operations and callbacks as plain functions inside a request, and the page in Chromium."""

from __future__ import annotations

import socket

import pytest

from depot.costs import demo_tariff, ledger, tariff_store
from layouts import tariffs as page
from tests.conftest import NOW
from tests.test_ledger import WED, charge, depot


@pytest.fixture
def ctx(configured_app):
    with configured_app.server.test_request_context():
        yield configured_app


FORM = {"name": "Supplier 2026", "valid_from": "2026-11-01", "timezone": "UTC", "currency": "EUR",
        "demand_charge_per_kw": "10", "fixed_fee_per_month": "50", "holidays": "", "carbon_g_per_kwh": ""}
PERIODS = [{"days": "all", "season": "all", "start": "00:00", "end": "17:00", "price": 0.2},
           {"days": "all", "season": "all", "start": "17:00", "end": "24:00", "price": 0.4}]


def values(form: dict) -> list:
    return [form[f] for f in page.FIELDS]


def test_saving_a_version_validates_names_fields_and_recomputes_the_ledger(ctx, store):
    depot(store, tariff=None)
    tx = charge(store, 1, WED.replace(hour=18), [22] * 4)
    ledger.update(store, now=NOW)
    bad = [{**PERIODS[0], "end": "16:00"}, {**PERIODS[1], "price": -0.4}]
    msg, *_ = page.on_save(1, page.NEW, bad, [], *values(FORM))
    text = str(msg.to_plotly_json())
    assert "Nothing was saved: 1 problem." in text
    assert "periods line 2, price: -0.4 per kWh is negative" in text
    assert "periods: no price for weekday 16:00–17:00 (a gap)" not in text  # coverage waits for valid lines
    assert tariff_store.list_tariffs(store) == []

    msg, options, value, _ = page.on_save(1, page.NEW, PERIODS, [], *values(FORM))
    assert "Saved 'Supplier 2026'. Ledger recomputed: 1 sessions costed (2026-11)" in str(msg.to_plotly_json())
    assert options[0]["label"] == "Supplier 2026 · from 2026-11-01" and value == options[0]["value"]
    with store.session() as s:
        assert s.get(ledger.SessionCostRow, tx).energy_cost == pytest.approx(22 * 0.4)
    form, periods, seasons = page.version_form(page.services(), value)
    assert form["name"] == "Supplier 2026" and periods[1]["price"] == 0.4 and seasons == []
    msg, options, value, _ = page.on_delete(1, value)
    assert value == page.NEW and tariff_store.list_tariffs(store) == []


def test_billing_groups_and_vehicles(ctx, store):
    depot(store, tariff=None)
    rows = [{"group": "Tenant", "kind": "tenant", "per_kwh": 0.39, "idle_fee_per_minute": 0.1,
             "idle_grace_minutes": 60, "free": False},
            {"group": "", "kind": "tenant", "per_kwh": -1}]
    assert "line 2, group: is required" in str(page.on_rates_save(1, rows).to_plotly_json())
    assert "Saved 1 billing group" in str(page.on_rates_save(1, rows[:1]).to_plotly_json())
    groups = [{"vehicle_id": "V1", "cost_centre": "CC-1", "route": "R1", "department": "", "billing_group": "Tenant"}]
    assert "Saved 3 vehicles" in str(page.on_groups_save(1, groups).to_plotly_json())
    assert tariff_store.vehicle_groups(store)[0] == tariff_store.VehicleGroups("V1", "CC-1", "R1", None, "Tenant")
    bad = [{"vehicle_id": "V2", "billing_group": "Nope"}]
    assert "line 1, billing_group: unknown billing group 'Nope'" in str(page.on_groups_save(1, bad).to_plotly_json())


@pytest.mark.browser
def test_manager_edits_a_price_and_sees_the_error_then_saves(dash_duo, configured_app, store):
    depot(store)
    demo_tariff.seed_demo_tariff(store, now=NOW)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dash_duo.driver.set_window_size(1400, 1900)
    dash_duo.start_server(configured_app, port=port)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/tariffs")
    dash_duo.wait_for_element('#tf-periods .ag-row[row-index="0"]', timeout=20)
    name = dash_duo.find_element("#tf-name")
    name.clear()
    name.send_keys("Test tariff v2")
    dash_duo.find_element("#tf-valid-from").clear()
    dash_duo.find_element("#tf-valid-from").send_keys("2026-13-01")
    dash_duo.find_element("#tf-save").click()
    dash_duo.wait_for_contains_text("#tf-msg", "valid_from: '2026-13-01' is not a date (YYYY-MM-DD)", timeout=20)
    dash_duo.driver.save_screenshot("/tmp/tariffs-error.png")
    dash_duo.find_element("#tf-valid-from").clear()
    dash_duo.find_element("#tf-valid-from").send_keys("2026-12-01")
    dash_duo.find_element("#tf-save").click()
    dash_duo.wait_for_contains_text("#tf-msg", "Saved 'Test tariff v2'", timeout=30)
    assert [v.name for v in tariff_store.list_tariffs(store)][-1] == "Test tariff v2"
    dash_duo.driver.save_screenshot("/tmp/tariffs-saved.png")
    logs = [e for e in dash_duo.get_logs() if "favicon" not in e["message"]]
    assert logs == [], [e["message"][-300:] for e in logs]
