"""The simulated chargers under faults and the central system's commands, in OCPP 1.6 and 2.0.1: faults and
their recovery (by hand and random), remote start/stop, availability, unlock, trigger, reset, and a server
that goes away while the chargers keep obeying their profiles."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from depot.model import ConnectorStatus
from depot.sim.simulator import SimulatedDepot
from tests.fake_csms import DC16, TRUCK, FakeCsms, ManualClock, profile16, run_with_csms, until


def test_fault_and_recovery_both_versions():
    async def test(csms, sim, clock):
        sim.plug_in("T-AC16", "V1", soc=20.0)
        sim.plug_in("T-AC201", "V3", soc=20.0)
        await sim.settle()
        sim.fault("T-AC16", "OverCurrentFailure")
        sim.fault("T-AC201", "GroundFailure")
        await sim.settle()
        for cid in ("T-AC16", "T-AC201"):
            assert sim.charger(cid).status() == ConnectorStatus.FAULTED
            assert sim.charger(cid).power_kw() == 0.0
        fault16 = csms.messages("T-AC16", "StatusNotification")[-1]
        assert fault16["status"] == "Faulted" and fault16["error_code"] == "OverCurrentFailure"
        assert csms.statuses("T-AC201")[-1] == "Faulted"
        event = csms.messages("T-AC201", "NotifyEvent")[-1]["event_data"][0]
        assert event["tech_code"] == "GroundFailure" and event["actual_value"] == "true"
        before = sim.charger("T-AC16").energy_wh()
        clock.advance(600)
        assert sim.charger("T-AC16").energy_wh() == before  # no energy while faulted

        sim.clear_fault("T-AC16")
        sim.clear_fault("T-AC201")
        await sim.settle()
        assert csms.statuses("T-AC16")[-1] == "Charging"
        assert csms.messages("T-AC16", "StatusNotification")[-1]["error_code"] == "NoError"
        assert csms.statuses("T-AC201")[-1] == "Occupied"
        assert csms.messages("T-AC201", "NotifyEvent")[-1]["event_data"][0]["cleared"] is True
        assert sim.charger("T-AC201").power_kw() == pytest.approx(11.0)

    run_with_csms(test)


def test_random_faults_recover_by_themselves():
    async def test(csms, sim, clock):
        ch = sim.charger("T-DC16")
        sim.plug_in("T-DC16", "V2", soc=20.0)
        await sim.settle()
        fault_at = ch.session().fault_at
        assert fault_at is not None  # fault_rate 1: every session faults once
        clock.now = fault_at
        await sim.settle()
        assert ch.status() == ConnectorStatus.FAULTED
        code = csms.messages("T-DC16", "StatusNotification")[-1]["error_code"]
        assert code in ("GroundFailure", "OverCurrentFailure", "EVCommunicationError")
        clock.advance(3600)  # recovery comes within 45 minutes
        await sim.settle()
        assert ch.status() == ConnectorStatus.CHARGING
        assert csms.statuses("T-DC16")[-2:] == ["Faulted", "Charging"]

    async def main_() -> None:
        clock = ManualClock()
        csms = FakeCsms(clock)
        await csms.start()
        sim = SimulatedDepot(csms.url, [DC16], [TRUCK], clock=clock, fault_rate=1.0, auto_schedule=False,
                             tick_seconds=3600)
        await sim.start()
        try:
            await sim.wait_connected(10)
            await test(csms, sim, clock)
        finally:
            await sim.stop()
            await csms.stop()

    asyncio.run(main_())


def test_remote_start_stop_both_versions():
    async def test(csms, sim, clock):
        csms.blocked.update({"TAG1", "TAG3"})  # local authorization fails: the vehicles wait
        sim.plug_in("T-AC16", "V1")
        sim.plug_in("T-AC201", "V3")
        await sim.settle()
        assert sim.charger("T-AC16").status() == ConnectorStatus.PREPARING
        res = await csms.call("T-AC16", c16.RemoteStartTransaction(id_tag="OPERATOR", connector_id=1))
        assert res.status == "Accepted"
        await sim.settle()
        assert sim.charger("T-AC16").status() == ConnectorStatus.CHARGING
        assert csms.messages("T-AC16", "StartTransaction")[-1]["id_tag"] == "OPERATOR"
        res = await csms.call("T-AC201", c201.RequestStartTransaction(
            id_token={"id_token": "OPERATOR", "type": "Central"}, remote_start_id=42, evse_id=1))
        assert res.status == "Accepted" and res.transaction_id == sim.charger("T-AC201").transaction_id()
        await sim.settle()
        assert sim.charger("T-AC201").status() == ConnectorStatus.CHARGING
        ev = csms.messages("T-AC201", "TransactionEvent")[-1]
        assert ev["trigger_reason"] == "RemoteStart" and ev["transaction_info"]["remote_start_id"] == 42

        assert (await csms.call("T-AC16", c16.RemoteStopTransaction(transaction_id=12345))).status == "Rejected"
        res = await csms.call("T-AC16", c16.RemoteStopTransaction(transaction_id=100))
        assert res.status == "Accepted"
        res = await csms.call("T-AC201", c201.RequestStopTransaction(transaction_id=res_tx(sim)))
        assert res.status == "Accepted"
        await sim.settle()
        assert csms.messages("T-AC16", "StopTransaction")[-1]["reason"] == "Remote"
        assert csms.statuses("T-AC16")[-1] == "Finishing"
        ended = csms.messages("T-AC201", "TransactionEvent")[-1]
        assert ended["event_type"] == "Ended" and ended["transaction_info"]["stopped_reason"] == "Remote"
        assert sim.charger("T-AC201").power_kw() == 0.0

    def res_tx(sim):
        return sim.charger("T-AC201").transaction_id()

    run_with_csms(test)


def test_commands_availability_unlock_trigger_reset():
    async def test(csms, sim, clock):
        res = await csms.call("T-AC16", c16.ChangeAvailability(connector_id=0, type="Inoperative"))
        assert res.status == "Accepted"
        await sim.settle()
        assert csms.statuses("T-AC16")[-1] == "Unavailable"
        res = await csms.call("T-AC16", c16.ChangeAvailability(connector_id=0, type="Operative"))
        await sim.settle()
        assert csms.statuses("T-AC16")[-1] == "Available"

        sim.plug_in("T-AC201", "V3")
        await sim.settle()
        res = await csms.call("T-AC201", c201.ChangeAvailability(operational_status="Inoperative",
                                                                 evse={"id": 1}))
        assert res.status == "Scheduled"  # after the running transaction
        res = await csms.call("T-AC201", c201.UnlockConnector(evse_id=1, connector_id=1))
        assert res.status == "OngoingAuthorizedTransaction"
        sim.unplug("T-AC201")
        await sim.settle()
        assert csms.statuses("T-AC201")[-1] == "Unavailable"
        events = len(csms.messages("T-AC201", "TransactionEvent"))
        sim.plug_in("T-AC201", "V3")  # nothing starts on an inoperative connector …
        await sim.settle()
        assert sim.charger("T-AC201").status() == ConnectorStatus.UNAVAILABLE
        assert len(csms.messages("T-AC201", "TransactionEvent")) == events
        res = await csms.call("T-AC201", c201.ChangeAvailability(operational_status="Operative"))
        await sim.settle()  # … until it is operative again
        assert res.status == "Accepted" and sim.charger("T-AC201").status() == ConnectorStatus.CHARGING
        assert csms.statuses("T-AC201")[-1] == "Occupied"

        sim.plug_in("T-AC16", "V1")
        await sim.settle()
        res = await csms.call("T-AC16", c16.UnlockConnector(connector_id=1))
        assert res.status == "Unlocked"
        await sim.settle()
        assert csms.messages("T-AC16", "StopTransaction")[-1]["reason"] == "UnlockCommand"

        n = len(csms.messages("T-DC16", "StatusNotification"))
        res = await csms.call("T-DC16", c16.TriggerMessage(requested_message="StatusNotification", connector_id=1))
        assert res.status == "Accepted"
        await until(lambda: len(csms.messages("T-DC16", "StatusNotification")) > n, what="triggered status")
        res = await csms.call("T-DC201", c201.TriggerMessage(requested_message="Heartbeat"))
        assert res.status == "Accepted"
        await until(lambda: csms.messages("T-DC201", "Heartbeat"), what="triggered heartbeat")

        boots = len(csms.messages("T-DC201", "BootNotification"))
        res = await csms.call("T-DC201", c201.Reset(type="Immediate"))
        assert res.status == "Accepted"
        await until(lambda: len(csms.messages("T-DC201", "BootNotification")) > boots, what="reboot")
        assert csms.messages("T-DC201", "BootNotification")[-1]["reason"] == "RemoteReset"
        await sim.wait_connected(10)

    run_with_csms(test)


def test_reset_stops_the_session_and_it_resumes_after_the_reboot():
    async def test(csms, sim, clock):
        ch = sim.charger("T-AC16")
        sim.plug_in("T-AC16", "V1", soc=30.0)
        await sim.settle()
        first = ch.transaction_id()
        boots = len(csms.messages("T-AC16", "BootNotification"))
        res = await csms.call("T-AC16", c16.Reset(type="Soft"))
        assert res.status == "Accepted"
        await until(lambda: len(csms.messages("T-AC16", "BootNotification")) > boots, what="reboot")
        await sim.wait_connected(10)
        await until(lambda: ch.transaction_id() not in (None, first), what="a new transaction")
        await sim.settle()
        stop = csms.messages("T-AC16", "StopTransaction")[-1]
        assert stop["reason"] == "SoftReset" and stop["transaction_id"] == int(first)
        assert ch.status() == ConnectorStatus.CHARGING and ch.soc() == pytest.approx(30.0)
        assert csms.statuses("T-AC16")[-1] == "Charging"

    run_with_csms(test)


def test_reconnects_and_keeps_obeying_profiles_while_the_server_is_away():
    async def test(csms, sim, clock):
        ch = sim.charger("T-AC16")
        sim.plug_in("T-AC16", "V1", soc=10.0)
        await sim.settle()
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=profile16(
            1, "TxDefaultProfile", 10.0)))
        assert res.status == "Accepted"
        port = csms.port
        await csms.stop()
        await until(lambda: not ch.connected, what="disconnect")
        before = ch.energy_wh()
        clock.advance(3600)
        assert ch.energy_wh() - before == pytest.approx(6900, abs=0.5)  # still 10 A × 3 × 230 V
        sim.unplug("T-AC16")  # the session ends while offline: StopTransaction waits in the outbox
        sim.plug_in("T-AC16", "V1", soc=50.0)  # a new one starts offline (LocalAuthorizeOffline)
        assert ch.status() == ConnectorStatus.CHARGING and ch.power_kw() == pytest.approx(6.9)
        sim.plug_in("T-AC201", "V3", soc=50.0)
        offline_tx = sim.charger("T-AC201").transaction_id()
        stops = len(csms.messages("T-AC16", "StopTransaction"))
        await csms.start(port)
        await sim.wait_connected(20)
        await sim.settle()
        started, authorized = csms.messages("T-AC201", "TransactionEvent")[-2:]
        assert started["transaction_info"]["transaction_id"] == offline_tx and started["offline"] is True
        assert authorized["id_token"]["id_token"] == "TAG3" and authorized["offline"] is True
        assert len(csms.messages("T-AC16", "StopTransaction")) == stops + 1
        assert csms.messages("T-AC16", "StartTransaction")[-1]["meter_start"] == round(before + 6900)
        assert ch.transaction_id() is not None
        assert csms.statuses("T-AC16")[-1] == "Charging"

    run_with_csms(test)
