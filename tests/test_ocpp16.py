"""OCPP 1.6J end to end: a real `ocpp` 1.6 client lives a whole session against the central system, and the
central system's requests reach it. Every assertion reads what the store holds once the answer came back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from ocpp.v16 import call
from sqlalchemy import text

from depot.errors import CallFailed, ProfileRejected
from depot.model import Capabilities, Charger, ConnectorStatus, MeterSample, Protocol, Vehicle
from tests.ocpp_clients import T0, at, central, charger, eventually, run, with_passwords

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)


@pytest.fixture
def depot(store):
    store.add_charger(Charger("CP-1", 22.0), connectors=2)
    store.add_vehicle(Vehicle("V1", "Van 1", 75.0, id_tag="TAG-1"))
    store.add_tag("TAG-BLOCKED")
    store.block_tag("TAG-BLOCKED")
    return with_passwords(store)


def _status_of(store, connector_id):
    return next(c for c in store.connectors("CP-1") if c.connector_id == connector_id)


def _charger_field(store, name):
    with store.engine.connect() as conn:
        return conn.execute(text(f"SELECT {name} FROM chargers WHERE id = 'CP-1'")).scalar()


def test_a_whole_16_session_is_stored_before_each_answer(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, events), charger(cs, "CP-1") as cp:
            boot = await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="W22",
                                                       charge_point_serial_number="SN-1", firmware_version="1.0"))
            assert boot.status == "Accepted" and boot.interval == settings.heartbeat_interval
            assert datetime.fromisoformat(boot.current_time).tzinfo is not None
            ch = store.get_charger("CP-1")
            assert (ch.vendor, ch.model, ch.serial, ch.firmware, ch.protocol) == (
                "Acme", "W22", "SN-1", "1.0", Protocol.OCPP16)
            assert ch.last_boot is not None and ch.heartbeat_interval == settings.heartbeat_interval
            await eventually(lambda: store.get_charger("CP-1").capabilities == Capabilities("A", 24, 8),
                             what="capabilities read after boot")
            assert cp.received[0] == ("GetConfiguration", {"key": [
                "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods", "ChargeProfileMaxStackLevel"]})

            assert datetime.fromisoformat((await cp.call(call.Heartbeat())).current_time).tzinfo is not None
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
            assert _status_of(store, 1).status is ConnectorStatus.PREPARING

            assert (await cp.call(call.Authorize(id_tag="TAG-1"))).id_tag_info["status"] == "Accepted"
            assert (await cp.call(call.Authorize(id_tag="WHO"))).id_tag_info["status"] == "Invalid"
            assert (await cp.call(call.Authorize(id_tag="TAG-BLOCKED"))).id_tag_info["status"] == "Blocked"

            start = call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=at(0))
            started = await cp.call(start)
            assert started.id_tag_info["status"] == "Accepted"
            tx = store.find_transaction("CP-1", transaction_id=started.transaction_id)
            assert (tx.connector_id, tx.id_tag, tx.vehicle_id, tx.started_at, tx.meter_start_wh) == (
                1, "TAG-1", "V1", T0, 1000.0)
            assert (await cp.call(start)).transaction_id == tx.id  # a resent start is the same transaction
            assert len(store.active_transactions()) == 1

            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx.id, meter_value=[
                {"timestamp": at(5), "sampledValue": [
                    {"value": "2.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                    {"value": "11.0", "measurand": "Power.Active.Import", "unit": "kW"},
                    {"value": "16.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                    {"value": "15.9", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
                    {"value": "42", "measurand": "SoC", "location": "EV", "unit": "Percent"}]},
                {"timestamp": at(10), "sampledValue": [{"value": "3300"}]}]))  # default measurand, Wh
            assert store.meter_samples(transaction_id=tx.id) == [
                MeterSample(T0 + timedelta(minutes=5), 2500.0, 11000.0, 16.1, 42.0),
                MeterSample(T0 + timedelta(minutes=10), 3300.0)]
            await cp.call(call.MeterValues(connector_id=1, meter_value=[  # no transactionId: the running one
                {"timestamp": at(12), "sampledValue": [{"value": "3400", "context": "Sample.Periodic"}]}]))
            assert store.meter_samples(transaction_id=tx.id)[-1].energy_wh == 3400.0

            stopped = await cp.call(call.StopTransaction(
                meter_stop=4000, timestamp=at(20), transaction_id=tx.id, reason="EVDisconnected", id_tag="TAG-1",
                transaction_data=[{"timestamp": at(19), "sampledValue": [{"value": "3990"}]}]))
            assert stopped.id_tag_info["status"] == "Accepted"
            tx = store.find_transaction("CP-1", transaction_id=tx.id)
            assert (tx.stopped_at, tx.meter_stop_wh, tx.stop_reason) == (T0 + timedelta(minutes=20), 4000.0,
                                                                         "EVDisconnected")
            assert store.meter_samples(transaction_id=tx.id)[-1].energy_wh == 3990.0
            assert store.active_transactions() == []

            await cp.call(call.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted",
                                                  vendor_error_code="E42", info="RCD tripped"))
            faulted = _status_of(store, 2)
            assert (faulted.status, faulted.error_code, faulted.vendor_error_code, faulted.info) == (
                ConnectorStatus.FAULTED, "GroundFailure", "E42", "RCD tripped")

            await cp.call(call.FirmwareStatusNotification(status="Installed"))
            await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
            assert (_charger_field(store, "firmware_status"), _charger_field(store, "diagnostics_status")) == (
                "Installed", "Uploaded")
            assert (await cp.call(call.DataTransfer(vendor_id="acme", data="x"))).status == "UnknownVendorId"
            assert (await cp.call(call.DataTransfer(vendor_id="depot", message_id="hello"))).status == "Accepted"
        return events

    events = run(scenario())
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["connected", "boot"] and kinds[-1] == "disconnected"
    assert kinds.count("tx_started") == 2 and kinds.count("tx_stopped") == 1  # the resent start was told again
    assert [e.detail["status"] for e in events if e.kind == "status"] == ["Preparing", "Charging", "Faulted"]
    fault = next(e for e in events if e.kind == "fault")
    assert (fault.connector_id, fault.detail["error_code"]) == (2, "GroundFailure")
    meter = next(e for e in events if e.kind == "meter")
    assert (meter.connector_id, meter.detail["energy_wh"], meter.detail["samples"]) == (1, 3300.0, 2)
    stop = next(e for e in events if e.kind == "tx_stopped")
    assert stop.detail["energy_wh"] == 3000.0

    log = store.recent_events("CP-1", limit=200)
    calls_in = [e.action for e in log if (e.direction, e.kind) == ("in", "call")]
    results_out = [e.action for e in log if (e.direction, e.kind) == ("out", "result")]
    assert sorted(calls_in) == sorted(results_out) and len(calls_in) == 17  # every call answered and logged
    boot_in = next(e for e in log if e.action == "BootNotification" and e.direction == "in")
    assert json.loads(boot_in.payload)["chargePointVendor"] == "Acme"
    assert store.get_charger("CP-1").last_seen >= store.get_charger("CP-1").last_boot


def test_16_requests_reach_the_charger(depot, settings):
    store = depot
    profile = {"chargingProfileId": 7, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute",
               "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": T0.isoformat(),
                                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0},
                                                               {"startPeriod": 3600, "limit": 6.5}]}}

    async def scenario():
        async with central(store, settings) as (cs, _), charger(cs, "CP-1") as cp:
            def last(action):
                return [kw for a, kw in cp.received if a == action][-1]

            assert (await cs.remote_start("CP-1", 1, "TAG-1")).status == "Accepted"
            assert last("RemoteStartTransaction") == {"id_tag": "TAG-1", "connector_id": 1}
            tx = store.start_transaction("CP-1", 1, "TAG-1", started_at=T0)
            assert (await cs.remote_stop("CP-1", tx)).status == "Accepted"
            assert last("RemoteStopTransaction") == {"transaction_id": tx.id}

            assert (await cs.set_charging_profile("CP-1", 1, profile)).status == "Accepted"
            sent = last("SetChargingProfile")
            assert sent["connector_id"] == 1 and sent["cs_charging_profiles"]["charging_profile_id"] == 7
            assert [p["limit"] for p in sent["cs_charging_profiles"]["charging_schedule"]
                    ["charging_schedule_period"]] == [16.0, 6.5]
            cp.profile_status = "Rejected"
            with pytest.raises(ProfileRejected) as rejected:
                await cs.set_charging_profile("CP-1", 1, profile)
            assert (rejected.value.profile_id, rejected.value.status) == (7, "Rejected")

            schedule = await cs.get_composite_schedule("CP-1", 1, 3600, unit="A")
            assert schedule.status == "Accepted" and schedule.connector_id == 1
            limit = schedule.charging_schedule["charging_schedule_period"][0]["limit"]
            assert limit == 16.0 and type(limit) is float  # not the package's Decimal
            assert last("GetCompositeSchedule") == {"connector_id": 1, "duration": 3600, "charging_rate_unit": "A"}
            assert (await cs.clear_charging_profile("CP-1", profile_id=7)).status == "Accepted"
            assert last("ClearChargingProfile") == {"id": 7}

            assert (await cs.reset("CP-1", hard=True)).status == "Accepted"
            assert last("Reset") == {"type": "Hard"}
            assert (await cs.change_availability("CP-1", 0, operative=False)).status == "Accepted"
            assert last("ChangeAvailability") == {"connector_id": 0, "type": "Inoperative"}
            assert (await cs.trigger_message("CP-1", "StatusNotification", 2)).status == "Accepted"
            assert last("TriggerMessage") == {"requested_message": "StatusNotification", "connector_id": 2}
            config = await cs.get_configuration("CP-1", ["ChargingScheduleMaxPeriods", "Nope"])
            assert config.configuration_key == [{"key": "ChargingScheduleMaxPeriods", "readonly": True,
                                                 "value": "24"}]
            assert config.unknown_key == ["Nope"]
            with pytest.raises(CallFailed, match="ChangeConfiguration failed: InternalError"):
                await cs.change_configuration("CP-1", "HeartbeatInterval", "30")
            caps = await cs.read_capabilities("CP-1")
            assert caps == Capabilities("A", 24, 8) == store.get_charger("CP-1").capabilities

        outbound = [e for e in store.recent_events("CP-1", limit=100) if (e.direction, e.kind) == ("out", "call")]
        assert len(outbound) == 12 and all(e.action for e in outbound)

    run(scenario())


def test_a_16_charger_that_lacks_the_keys_is_stored_as_unknown(depot, settings):
    async def scenario():
        async with central(depot, settings) as (cs, _), charger(cs, "CP-1") as cp:
            cp.config = {"ChargingScheduleAllowedChargingRateUnit": "Current,Power"}
            await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="W22"))
            await eventually(lambda: depot.get_charger("CP-1").capabilities.rate_unit)
            assert depot.get_charger("CP-1").capabilities == Capabilities("A,W", None, None)

    run(scenario())
