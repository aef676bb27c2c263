"""OCPP 2.0.1 end to end: a real `ocpp` 2.0.1 client lives a whole session (TransactionEvent Started /
Updated / Ended, the idToken arriving late, numeric meter values with multipliers) and answers the central
system's requests. Assertions read the store once each answer came back."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from ocpp.v201 import call
from sqlalchemy import text

from depot.errors import CallFailed, ProfileRejected
from depot.model import Capabilities, Charger, ConnectorStatus, MeterSample, Protocol, Vehicle
from tests.ocpp_clients import T0, Client201, at, central, charger, eventually, run, with_passwords

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)


@pytest.fixture
def depot(store):
    store.add_charger(Charger("CS-1", 22.0), connectors=2)
    store.add_vehicle(Vehicle("V1", "Van 1", 75.0, id_tag="TAG-1"))
    return with_passwords(store)


def _status(store, evse_id):
    return next(c.status for c in store.connectors("CS-1") if c.connector_id == evse_id)


def _event(event_type, seq, minutes, trigger, info, **extra):
    return call.TransactionEvent(event_type=event_type, timestamp=at(minutes), trigger_reason=trigger, seq_no=seq,
                                 transaction_info=info, **extra)


def _energy(wh, minutes, context="Sample.Periodic"):
    return [{"timestamp": at(minutes), "sampled_value": [
        {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context}]}]


def test_a_whole_201_session_is_stored_before_each_answer(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, events), charger(cs, "CS-1", Client201) as cp:
            boot = await cp.call(call.BootNotification(
                charging_station={"model": "Terra", "vendor_name": "Acme", "serial_number": "S-9",
                                  "firmware_version": "2.1"}, reason="PowerUp"))
            assert boot.status == "Accepted" and boot.interval == settings.heartbeat_interval
            assert datetime.fromisoformat(boot.current_time).tzinfo is not None
            ch = store.get_charger("CS-1")
            assert (ch.vendor, ch.model, ch.serial, ch.firmware, ch.protocol) == (
                "Acme", "Terra", "S-9", "2.1", Protocol.OCPP201)
            await eventually(lambda: store.get_charger("CS-1").capabilities == Capabilities("A,W", 20, 4),
                             what="capabilities read after boot")
            asked = cp.received[0][1]["get_variable_data"]
            assert [(d["component"]["name"], d["variable"]["name"]) for d in asked] == [
                ("SmartChargingCtrlr", "RateUnit"), ("SmartChargingCtrlr", "PeriodsPerSchedule"),
                ("SmartChargingCtrlr", "ProfileStackLevel")]

            await cp.call(call.StatusNotification(timestamp=at(0), connector_status="Available", evse_id=1,
                                                  connector_id=1))
            assert _status(store, 1) is ConnectorStatus.AVAILABLE
            await cp.call(call.StatusNotification(timestamp=at(1), connector_status="Occupied", evse_id=1,
                                                  connector_id=1))
            assert _status(store, 1) is ConnectorStatus.PREPARING  # occupied, no transaction yet

            ok = await cp.call(call.Authorize(id_token={"id_token": "TAG-1", "type": "ISO14443"}))
            assert ok.id_token_info["status"] == "Accepted"
            nope = await cp.call(call.Authorize(id_token={"id_token": "WHO", "type": "ISO14443"}))
            assert nope.id_token_info["status"] == "Invalid"

            started = await cp.call(_event("Started", 0, 1, "CablePluggedIn",
                                           {"transaction_id": "tx-abc", "charging_state": "EVConnected"},
                                           evse={"id": 1, "connector_id": 1},
                                           meter_value=_energy(1000, 1, "Transaction.Begin")))
            assert started.id_token_info is None  # no idToken yet: nothing to answer about
            tx = store.find_transaction("CS-1", charger_tx_id="tx-abc")
            assert (tx.connector_id, tx.id_tag, tx.started_at, tx.meter_start_wh) == (1, None, T0 + timedelta(
                minutes=1), 1000.0)

            authorized = await cp.call(_event("Updated", 1, 2, "Authorized",
                                              {"transaction_id": "tx-abc", "charging_state": "Charging"},
                                              id_token={"id_token": "TAG-1", "type": "ISO14443"}))
            assert authorized.id_token_info["status"] == "Accepted"
            tx = store.find_transaction("CS-1", charger_tx_id="tx-abc")
            assert (tx.id_tag, tx.vehicle_id) == ("TAG-1", "V1")
            assert _status(store, 1) is ConnectorStatus.CHARGING
            await cp.call(call.StatusNotification(timestamp=at(2), connector_status="Occupied", evse_id=1,
                                                  connector_id=1))
            assert _status(store, 1) is ConnectorStatus.CHARGING  # occupied with a transaction

            await cp.call(_event("Updated", 2, 10, "MeterValuePeriodic", {"transaction_id": "tx-abc"}, meter_value=[
                {"timestamp": at(10), "sampled_value": [
                    {"value": 2.5, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "kWh"}},
                    {"value": 7.4, "measurand": "Power.Active.Import",
                     "unit_of_measure": {"unit": "W", "multiplier": 3}},
                    {"value": 32, "measurand": "Current.Import", "phase": "L1"},
                    {"value": 55, "measurand": "SoC", "location": "EV"}]}]))
            await cp.call(call.MeterValues(evse_id=1, meter_value=_energy(2800, 12)))
            assert store.meter_samples(transaction_id=tx.id) == [
                MeterSample(T0 + timedelta(minutes=1), 1000.0),
                MeterSample(T0 + timedelta(minutes=10), 2500.0, 7400.0, 32.0, 55.0),
                MeterSample(T0 + timedelta(minutes=12), 2800.0)]

            ended = await cp.call(_event("Ended", 3, 30, "RemoteStop",
                                         {"transaction_id": "tx-abc", "stopped_reason": "Remote",
                                          "charging_state": "EVConnected"},
                                         meter_value=_energy(3000, 30, "Transaction.End")))
            assert ended.id_token_info is None
            tx = store.find_transaction("CS-1", charger_tx_id="tx-abc")
            assert (tx.stopped_at, tx.meter_stop_wh, tx.stop_reason) == (T0 + timedelta(minutes=30), 3000.0,
                                                                         "Remote")
            assert _status(store, 1) is ConnectorStatus.FINISHING  # still plugged in
            await cp.call(call.StatusNotification(timestamp=at(31), connector_status="Available", evse_id=1,
                                                  connector_id=1))
            assert _status(store, 1) is ConnectorStatus.AVAILABLE

            # an Ended whose Started was lost (charger reconnected in between) still opens and closes it
            await cp.call(_event("Ended", 9, 40, "EVDeparted", {"transaction_id": "tx-lost"},
                                 evse={"id": 2, "connector_id": 1}, meter_value=_energy(500, 40)))
            lost = store.find_transaction("CS-1", charger_tx_id="tx-lost")
            assert (lost.connector_id, lost.stop_reason, lost.active) == (2, "Local", False)

            await cp.call(call.StatusNotification(timestamp=at(41), connector_status="Faulted", evse_id=2,
                                                  connector_id=1))
            assert _status(store, 2) is ConnectorStatus.FAULTED
            await cp.call(call.FirmwareStatusNotification(status="Installed"))
            await cp.call(call.LogStatusNotification(status="Uploaded", request_id=3))
            with store.engine.connect() as conn:
                assert conn.execute(text("SELECT firmware_status, diagnostics_status FROM chargers "
                                         "WHERE id = 'CS-1'")).one() == ("Installed", "Uploaded")
            await cp.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=at(42)))
            await cp.call(call.NotifyEvent(generated_at=at(42), seq_no=0, event_data=[{
                "event_id": 1, "timestamp": at(42), "trigger": "Alerting", "actual_value": "true",
                "event_notification_type": "HardWiredNotification",
                "component": {"name": "EVSE"}, "variable": {"name": "Problem"}}]))
            await cp.call(call.NotifyReport(request_id=1, generated_at=at(42), seq_no=0))
            await cp.call(call.NotifyChargingLimit(charging_limit={"charging_limit_source": "EMS"}, evse_id=1))
            await cp.call(call.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
            transfer = await cp.call(call.DataTransfer(vendor_id="acme"))
            assert transfer.status == "UnknownVendorId"
        return events

    events = run(scenario())
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["connected", "boot"] and kinds[-1] == "disconnected"
    assert kinds.count("tx_started") == 2 and kinds.count("tx_stopped") == 2
    first_stop = next(e for e in events if e.kind == "tx_stopped")
    assert (first_stop.detail["charger_tx_id"], first_stop.detail["energy_wh"]) == ("tx-abc", 2000.0)
    assert [e.connector_id for e in events if e.kind == "fault"] == [2]
    assert any(e.kind == "meter" and e.detail["power_w"] == 7400.0 for e in events)

    log = store.recent_events("CS-1", limit=200)
    assert {"NotifyEvent", "NotifyReport", "SecurityEventNotification", "NotifyChargingLimit"} <= {
        e.action for e in log if (e.direction, e.kind) == ("in", "call")}
    calls_in = sorted(e.action for e in log if (e.direction, e.kind) == ("in", "call"))
    assert calls_in == sorted(e.action for e in log if (e.direction, e.kind) == ("out", "result"))


def test_201_requests_reach_the_charger(depot, settings):
    store = depot
    profile = {"id": 5, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute",
               "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "startSchedule": T0.isoformat(),
                                     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}]}]}

    async def scenario():
        async with central(store, settings) as (cs, _), charger(cs, "CS-1", Client201) as cp:
            def last(action):
                return [kw for a, kw in cp.received if a == action][-1]

            assert (await cs.remote_start("CS-1", 1, "TAG-1")).status == "Accepted"
            sent = last("RequestStartTransaction")
            assert sent["id_token"] == {"id_token": "TAG-1", "type": "Central"} and sent["evse_id"] == 1
            assert isinstance(sent["remote_start_id"], int)
            tx = store.start_transaction("CS-1", 1, "TAG-1", started_at=T0, charger_tx_id="tx-9")
            assert (await cs.remote_stop("CS-1", tx)).status == "Accepted"
            assert last("RequestStopTransaction") == {"transaction_id": "tx-9"}

            assert (await cs.set_charging_profile("CS-1", 1, profile)).status == "Accepted"
            sent = last("SetChargingProfile")
            assert sent["evse_id"] == 1 and sent["charging_profile"]["charging_schedule"][0][
                "charging_schedule_period"] == [{"start_period": 0, "limit": 11000.0}]
            cp.profile_status = "Rejected"
            with pytest.raises(ProfileRejected, match="charging profile 5 answered Rejected"):
                await cs.set_charging_profile("CS-1", 1, profile)

            schedule = await cs.get_composite_schedule("CS-1", 1, 3600, unit="W")
            assert schedule.status == "Accepted" and schedule.schedule["evse_id"] == 1
            assert last("GetCompositeSchedule") == {"duration": 3600, "evse_id": 1, "charging_rate_unit": "W"}
            await cs.clear_charging_profile("CS-1", connector_id=1, purpose="TxDefaultProfile")
            assert last("ClearChargingProfile") == {"charging_profile_criteria": {
                "evse_id": 1, "charging_profile_purpose": "TxDefaultProfile"}}

            await cs.reset("CS-1", hard=False)
            assert last("Reset") == {"type": "OnIdle"}
            await cs.change_availability("CS-1", 1, operative=False)
            assert last("ChangeAvailability") == {"operational_status": "Inoperative", "evse": {"id": 1}}
            await cs.trigger_message("CS-1", "StatusNotification", 1)
            assert last("TriggerMessage") == {"requested_message": "StatusNotification",
                                              "evse": {"id": 1, "connector_id": 1}}

            got = await cs.get_variables("CS-1", [("SmartChargingCtrlr", "PeriodsPerSchedule"), ("X", "Y")])
            assert [(r["attribute_status"], r.get("attribute_value")) for r in got.get_variable_result] == [
                ("Accepted", "20"), ("UnknownVariable", None)]
            done = await cs.set_variables("CS-1", [("OCPPCommCtrlr", "HeartbeatInterval", "30")])
            assert done.set_variable_result[0]["attribute_status"] == "Accepted"
            assert last("SetVariables")["set_variable_data"][0]["attribute_value"] == "30"

            with pytest.raises(CallFailed, match="only available over ocpp1.6"):
                await cs.get_configuration("CS-1")
            with pytest.raises(CallFailed, match="UnlockConnector failed: NotImplemented"):
                await cs.unlock_connector("CS-1", 1)  # this station has no handler: it answers CALLERROR
            assert (await cs.reset("CS-1", hard=True)).status == "Accepted"  # and stays usable
            assert last("Reset") == {"type": "Immediate"}

    run(scenario())


def test_a_201_station_missing_a_variable_keeps_the_rest(depot, settings):
    async def scenario():
        async with central(depot, settings) as (cs, _), charger(cs, "CS-1", Client201) as cp:
            del cp.variables[("SmartChargingCtrlr", "ProfileStackLevel")]
            cp.variables[("SmartChargingCtrlr", "RateUnit")] = "A"
            await cp.call(call.BootNotification(charging_station={"model": "M", "vendor_name": "V"},
                                                reason="PowerUp"))
            await eventually(lambda: depot.get_charger("CS-1").capabilities.rate_unit)
            assert depot.get_charger("CS-1").capabilities == Capabilities("A", 20, None)

    run(scenario())
