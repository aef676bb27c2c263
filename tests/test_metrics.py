"""Prometheus `/metrics` (depot/metrics.py, depot/web/api.py): what a real charger's traffic, the store and the
profiles do to the numbers, and who may read them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ocpp.v16 import call
from prometheus_client.parser import text_string_to_metric_families

import app as depot_app
from depot import metrics
from depot.model import Charger, Protocol
from depot.web.context import Services
from tests.conftest import NOW
from tests.ocpp_clients import central, charger, run, with_passwords


def sample(name: str, **labels) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_chargers_calls_and_our_answers_are_counted_and_timed(store, settings):
    store.add_charger(Charger(id="CP-1", max_kw=22.0))
    with_passwords(store)
    boot_in = sample("depot_ocpp_messages_total", action="BootNotification", direction="in", kind="call")
    boot_out = sample("depot_ocpp_messages_total", action="BootNotification", direction="out", kind="result")
    timed = sample("depot_ocpp_call_seconds_count", action="Heartbeat", direction="in")
    invalid = sample("depot_ocpp_messages_total", action="unknown", direction="in", kind="invalid")
    commits = sample("depot_store_transaction_seconds_count")

    async def scenario():
        async with central(store, settings) as (cs, _events):
            metrics.watch(connected=cs.connected)
            async with charger(cs, "CP-1") as cp:
                await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="W22"))
                for _ in range(3):
                    await cp.call(call.Heartbeat())
                await cp._connection.send("this is not json")
                await cp.call(call.Heartbeat())  # after the bad frame's CALLERROR: still answered
                live = scraped(metrics.exposition().decode())
                assert live[("depot_chargers_connected", (("protocol", Protocol.OCPP16.value),))] == 1

    run(scenario())
    assert sample("depot_ocpp_messages_total", action="BootNotification", direction="in", kind="call") == boot_in + 1
    assert sample("depot_ocpp_messages_total", action="BootNotification", direction="out",
                  kind="result") == boot_out + 1
    assert sample("depot_ocpp_call_seconds_count", action="Heartbeat", direction="in") == timed + 4
    assert sample("depot_ocpp_call_seconds_sum", action="Heartbeat", direction="in") > 0
    assert sample("depot_ocpp_messages_total", action="unknown", direction="in", kind="invalid") == invalid + 1
    assert sample("depot_store_transaction_seconds_count") > commits


def test_hostile_action_names_cannot_grow_the_series_without_end():
    assert metrics.action_label("MeterValues") == "MeterValues"
    assert metrics.action_label("x" * 65) == "other" and metrics.action_label("Drop Table;") == "other"
    assert metrics.action_label(None) == "unknown"
    for i in range(metrics.MAX_ACTIONS + 10):
        metrics.action_label(f"Made{i}")
    assert metrics.action_label("YetAnotherOne") == "other"
    assert metrics.action_label("MeterValues") == "MeterValues"  # known ones keep their label


@pytest.fixture
def metrics_app(store, settings):
    def configure(token: str = ""):
        depot_app.configure(Services(replace(settings, metrics_token=token), store, lambda: NOW))
        return depot_app.server.test_client()

    previous = depot_app.server.extensions.get("depot")
    yield configure
    if previous is not None:
        depot_app.server.extensions["depot"] = previous


def test_metrics_answer_a_scraper_on_this_machine_without_signing_in(metrics_app):
    client = metrics_app()
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    names = {f.name for f in text_string_to_metric_families(r.get_data(as_text=True))}
    assert {"depot_ocpp_messages", "depot_ocpp_call_seconds", "depot_store_transaction_seconds", "depot_plan_seconds",
            "depot_charging_profiles", "depot_chargers_connected", "depot_controller_leader"} <= names


def test_a_stranger_gets_nothing_and_a_token_opens_them_to_any_address(metrics_app):
    client = metrics_app()
    far = {"REMOTE_ADDR": "192.0.2.7"}
    r = client.get("/metrics", environ_base=far)
    assert r.status_code == 403 and b"depot_" not in r.data
    client = metrics_app(token="s3cret-token-for-prometheus")
    assert client.get("/metrics", environ_base=far).status_code == 401
    assert client.get("/metrics").status_code == 401  # with a token, loopback needs it too
    assert client.get("/metrics", environ_base=far, headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.get("/metrics", environ_base=far, headers={"Authorization": "Bearer s3cret-token-for-prometheus"})
    assert r.status_code == 200 and b"depot_ocpp_messages_total" in r.data
