"""The central system as a server: handshakes, the one outbound call path, and surviving bad input.

Real peers over loopback (the `ocpp` package's ChargePoints and a raw websocket client sending hand-written
frames) against a CentralSystem on an ephemeral port and a real SQLite file or PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v16 import call
from ocpp.v201 import call as call201
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from depot.errors import CallFailed, ChargerOffline, ValidationError
from depot.model import Capabilities, Charger, MeterSample, Protocol
from depot.ocpp.server import CentralSystem, charger_id_from_path
from depot.ocpp.values import parse_meter_values, parse_time
from tests.ocpp_clients import (
    Client16,
    Client201,
    central,
    charger,
    eventually,
    reply_to,
    run,
    url,
    with_passwords,
)

T0 = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)


@pytest.fixture
def chargers(store):
    store.add_charger(Charger("CP-1", 22.0), connectors=2)
    store.add_charger(Charger("CP-2", 22.0))
    store.add_charger(Charger("CS-1", 22.0))
    return with_passwords(store)


# ---------------------------------------------------------------- handshake


def test_charger_id_is_the_last_path_segment():
    assert charger_id_from_path("/ocpp/CP-1") == "CP-1"
    assert charger_id_from_path("/ocpp/CP%201/") == "CP 1"
    assert charger_id_from_path("/a/b/CS-9?token=x") == "CS-9"
    assert charger_id_from_path("/") == ""


def test_unknown_charger_is_refused_at_the_handshake(chargers, settings):
    async def scenario():
        async with central(chargers, settings) as (cs, events):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url(cs, "GHOST"), subprotocols=["ocpp1.6"]):
                    pass
            assert refused.value.response.status_code == 401  # as for a wrong password: the id is not told
            with pytest.raises(InvalidStatus) as no_id:
                async with connect(f"ws://127.0.0.1:{cs.port}/", subprotocols=["ocpp1.6"]):
                    pass
            assert no_id.value.response.status_code == 404
            assert cs.connected() == {} and events == []
        assert chargers.get_charger("GHOST") is None

    run(scenario())


def test_commissioning_mode_records_an_unknown_charger(chargers, settings):
    async def scenario():
        async with central(chargers, settings, accept_unknown_chargers=True) as (cs, events):
            async with charger(cs, "NEW-7", Client201) as cp:
                await asyncio.sleep(0.1)
                assert cs.connected() == {} and chargers.get_charger("NEW-7") is None  # a row only at its boot
                boot = await cp.call(call201.BootNotification(
                    charging_station={"model": "X1", "vendor_name": "Newco"}, reason="PowerUp"))
                assert boot.status == "Accepted"
                assert cs.connected() == {"NEW-7": Protocol.OCPP201}
                new = chargers.get_charger("NEW-7")
                assert new is not None and not new.commissioned and new.protocol is Protocol.OCPP201
                assert new.vendor == "Newco"
            assert [e.kind for e in events][:2] == ["connected", "boot"]

    run(scenario())


def test_a_handshake_without_a_supported_subprotocol_is_refused(chargers, settings):
    async def scenario():
        async with central(chargers, settings) as (cs, events):
            for offered in (["ocpp1.5"], None):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(url(cs, "CP-1"), subprotocols=offered):
                        pass
                assert refused.value.response.status_code == 400
            assert cs.connected() == {} and events == []
            async with connect(url(cs, "CP-1"), subprotocols=["ocpp1.6", "ocpp2.0.1"]) as ws:
                assert ws.subprotocol == "ocpp2.0.1"  # both offered: 2.0.1 wins
                await eventually(lambda: cs.connected() == {"CP-1": Protocol.OCPP201})

    run(scenario())


def test_disconnect_reconnect_and_stop_emit_events(chargers, settings):
    async def scenario():
        cs = CentralSystem(chargers, settings, on_event=events.append)
        await cs.start()
        async with connect(url(cs, "CP-1"), subprotocols=["ocpp1.6"]) as first:
            await eventually(lambda: "CP-1" in cs.connected())
            async with connect(url(cs, "CP-1"), subprotocols=["ocpp1.6"]) as second:
                await asyncio.wait_for(first.wait_closed(), 3)  # the newer connection wins
                assert cs.connected() == {"CP-1": Protocol.OCPP16}
                assert [e.kind for e in events] == ["connected", "connected"]
                await second.close()
                await eventually(lambda: cs.connected() == {})
        assert [e.kind for e in events] == ["connected", "connected", "disconnected"]
        async with connect(url(cs, "CP-2"), subprotocols=["ocpp1.6"]) as third:
            await eventually(lambda: "CP-2" in cs.connected())
            await cs.stop()
            assert third.close_code == 1001
        assert events[-1].kind == "disconnected" and events[-1].charger_id == "CP-2"
        assert all(e.at.tzinfo is not None for e in events)

    events = []
    run(scenario())


# ---------------------------------------------------------------- the one outbound call path


def test_calls_map_offline_callerror_and_invalid_requests_to_depot_errors(chargers, settings):
    async def scenario():
        async with central(chargers, settings) as (cs, _), charger(cs, "CP-1") as cp:
            with pytest.raises(ChargerOffline):
                await cs.reset("NOPE", hard=True)
            with pytest.raises(ChargerOffline):
                await cs.call("CP-2", call.Heartbeat())  # known but not connected
            with pytest.raises(CallFailed, match="InternalError"):
                await cs.change_configuration("CP-1", "HeartbeatInterval", "30")  # its handler raises
            with pytest.raises(CallFailed, match="NotImplemented"):
                await cs.unlock_connector("CP-1", 1)  # no handler on that charger
            with pytest.raises(CallFailed, match="only available over ocpp2.0.1"):
                await cs.get_variables("CP-1", [("SmartChargingCtrlr", "RateUnit")])
            bad = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                   "chargingProfileKind": "Relative",
                   "chargingSchedule": {"chargingRateUnit": "A",
                                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.67}]}}
            with pytest.raises(ValidationError, match="SetChargingProfile"):
                await cs.set_charging_profile("CP-1", 1, bad)  # two decimals: ours to fix, never sent
            assert "SetChargingProfile" not in [a for a, _ in cp.received]
            cs.flush_journal()  # the raw log is written in batches
            errors = chargers.recent_events("CP-1", action="ChangeConfiguration")
            assert [(e.direction, e.kind) for e in errors] == [("in", "error"), ("out", "call")]
            assert json.loads(errors[0].payload)["errorCode"] == "InternalError"
            assert (await cs.reset("CP-1", hard=False)).status == "Accepted"  # still usable

    run(scenario())


def test_a_late_reply_never_answers_the_next_call(chargers, settings):
    async def scenario():
        async with central(chargers, settings, response_timeout=0.4) as (cs, _), charger(cs, "CP-1") as cp:
            cp.answer_delay = 0.7
            with pytest.raises(CallFailed, match="no answer within 0.4 s"):
                await cs.reset("CP-1", hard=True)
            config = await cs.get_configuration("CP-1", ["ChargeProfileMaxStackLevel"])  # queued behind the late Reset
            assert config.configuration_key == [{"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "8"}]
            cs.flush_journal()
            late = chargers.recent_events("CP-1", action="Reset")
            assert [(e.direction, e.kind) for e in late] == [("in", "result"), ("out", "call")]

    run(scenario())


def test_a_call_ends_with_charger_offline_when_the_connection_drops(chargers, settings):
    async def scenario():
        async with central(chargers, settings, response_timeout=10) as (cs, _), charger(cs, "CP-1") as cp:
            cp.answer_delay = 5
            pending = asyncio.create_task(cs.reset("CP-1", hard=True))
            await eventually(lambda: cp.received)
            started = asyncio.get_running_loop().time()
            await cp._connection.close()
            with pytest.raises(ChargerOffline):
                await pending
            assert asyncio.get_running_loop().time() - started < 2  # not the 10 s response timeout

    run(scenario())


def test_capabilities_are_not_required_from_a_charger_that_cannot_answer(chargers, settings):
    class Bare(V16ChargePoint):  # answers every request from the central system with NotImplemented
        pass

    async def scenario():
        async with central(chargers, settings) as (cs, _), charger(cs, "CP-1", Bare) as cp:
            boot = await cp.call(call.BootNotification(charge_point_vendor="Old", charge_point_model="Box"))
            assert boot.status == "Accepted"
            answers = await eventually(
                lambda: [e for e in chargers.recent_events("CP-1", action="GetConfiguration") if e.direction == "in"],
                what="GetConfiguration answered")
            assert [e.kind for e in answers] == ["error"]
            assert json.loads(answers[0].payload)["errorCode"] == "NotImplemented"
            assert chargers.get_charger("CP-1").capabilities == Capabilities()
            assert (await cp.call(call.Heartbeat())).current_time

    run(scenario())


# ---------------------------------------------------------------- bad input never hurts the server


def _frames_16():
    return [
        ("this is not json", "-1", "FormationViolation"),
        ('{"not": "an array"}', "-1", "ProtocolError"),
        ('[2, "short"]', "short", "ProtocolError"),
        ('[2, "u0", 42, {}]', "u0", "ProtocolError"),  # an action that is not a string
        ('[2, "u1", "FlyToTheMoon", {}]', "u1", "NotImplemented"),
        ('[2, "u2", "RemoteStartTransaction", {"idTag": "X"}]', "u2", "NotSupported"),  # ours to send, not theirs
        ('[2, "u3", "BootNotification", {"chargePointVendor": "Acme"}]', "u3", "OccurenceConstraintViolation"),
        ('[2, "u4", "Heartbeat", {"extra": 1}]', "u4", "FormationViolation"),
        ('[2, "u5", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}]',
         "u5", "TypeConstraintViolation"),
        ('[2, "u6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Exploded"}]',
         "u6", "PropertyConstraintViolation"),
        ('[2, "u7", "Authorize", {"idTag": "T"}]', "u7", "InternalError"),  # the store blows up
    ]


def _frames_201():
    return [
        ("{oops", "-1", "RpcFrameworkError"),
        ('[7, "x", "Heartbeat", {}]', "x", "MessageTypeNotSupported"),
        ('[2, "u0", ["Heartbeat"], {}]', "u0", "RpcFrameworkError"),
        ('[2, "u1", "FlyToTheMoon", {}]', "u1", "NotImplemented"),
        ('[2, "u2", "BootNotification", {"reason": "PowerUp"}]', "u2", "OccurrenceConstraintViolation"),
        ('[2, "u3", "Heartbeat", {"extra": 1}]', "u3", "FormatViolation"),
        ('[2, "u4", "StatusNotification", {"timestamp": "2026-11-21T18:00:00Z", "connectorStatus": "Available",'
         ' "evseId": "1", "connectorId": 1}]', "u4", "TypeConstraintViolation"),
        ('[2, "u5", "Authorize", {"idToken": {"idToken": "T", "type": "ISO14443"}}]', "u5", "InternalError"),
    ]


@pytest.mark.parametrize("protocol, frames", [("ocpp1.6", _frames_16()), ("ocpp2.0.1", _frames_201())],
                         ids=["1.6", "2.0.1"])
def test_bad_frames_get_the_right_callerror_and_the_connection_survives(chargers, settings, caplog, protocol,
                                                                         frames):
    def broken_tag_lookup(tag, now):
        raise RuntimeError("database on fire")

    async def scenario():
        async with central(chargers, settings) as (cs, _), charger(cs, "CP-2") as other:
            async with connect(url(cs, "CP-1"), subprotocols=[protocol]) as ws:
                chargers.tag_status = broken_tag_lookup
                for frame, unique_id, code in frames:
                    await ws.send(frame)
                    answer = await reply_to(ws, unique_id)
                    assert answer[0] == 4 and answer[2] == code, (frame, answer)
                    assert isinstance(answer[3], str) and isinstance(answer[4], dict)
                await ws.send('[3, "nobody-asked", {}]')  # a stray result: ignored, never answered
                await ws.send('[2, "ok", "Heartbeat", {}]')
                answer = await reply_to(ws, "ok")
                assert answer[0] == 3 and datetime.fromisoformat(answer[2]["currentTime"]).tzinfo is not None
                assert (await other.call(call.Heartbeat())).current_time  # another charger never noticed
                assert cs.connected() == {"CP-1": Protocol(protocol), "CP-2": Protocol.OCPP16}
        logged = chargers.recent_events("CP-1", limit=100)
        unparsable = 3 if protocol == "ocpp1.6" else 2  # the frames `unpack` refuses, logged as they came
        assert sum(e.kind == "invalid" for e in logged) == unparsable
        assert chargers.get_charger("CP-1").last_seen is not None

    with caplog.at_level(logging.ERROR, logger="depot.ocpp"):
        run(scenario())
    assert any("CP-1" in r.getMessage() and "Authorize" in r.getMessage() for r in caplog.records)


def test_a_failing_event_listener_does_not_break_the_handler(chargers, settings):
    def listener(event):
        raise RuntimeError("listener bug")

    async def scenario():
        cs = CentralSystem(chargers, settings, on_event=listener)
        await cs.start()
        try:
            async with connect(url(cs, "CP-1"), subprotocols=["ocpp1.6"]) as ws:
                cp = Client16("CP-1", ws)
                task = asyncio.create_task(cp.start())
                boot = await cp.call(call.BootNotification(charge_point_vendor="A", charge_point_model="B"))
                assert boot.status == "Accepted"
                task.cancel()
        finally:
            await cs.stop()

    run(scenario())


# ---------------------------------------------------------------- pure parsing


def test_meter_values_of_both_versions_become_samples():
    fallback = T0
    v16 = [{"timestamp": "2026-11-21T18:05:00Z", "sampled_value": [
        {"value": "2.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
        {"value": "3.7", "measurand": "Power.Active.Import", "phase": "L1-N", "unit": "kW"},
        {"value": "3.6", "measurand": "Power.Active.Import", "phase": "L2-N", "unit": "kW"},
        {"value": "15.5", "measurand": "Current.Import", "phase": "L1"},
        {"value": "16.0", "measurand": "Current.Import", "phase": "L2"},
        {"value": "0.4", "measurand": "Current.Import", "phase": "N"},
        {"value": "230", "measurand": "Voltage"},
        {"value": "61", "measurand": "SoC", "location": "EV", "unit": "Percent"}]},
        {"timestamp": "2026-11-21T18:10:00", "sampled_value": [{"value": "2600"}]},  # naive: UTC
        {"timestamp": "garbage", "sampled_value": [{"value": "n/a"}, {"value": "5", "unit": "MWh"}]},
    ]
    assert parse_meter_values(v16, fallback) == [
        MeterSample(T0 + timedelta(minutes=5), 2500.0, 7300.0, 16.0, 61.0),
        MeterSample(T0 + timedelta(minutes=10), 2600.0),
    ]
    v201 = [{"timestamp": "2026-11-21T19:00:00+01:00", "sampled_value": [
        {"value": 7.4, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W", "multiplier": 3}},
        {"value": 12000, "measurand": "Energy.Active.Import.Register", "location": "Inlet"},
        {"value": 11900, "measurand": "Energy.Active.Import.Register", "location": "Outlet"},
        {"value": 32, "measurand": "Current.Import"}]}]
    assert parse_meter_values(v201, fallback) == [MeterSample(T0, 11900.0, 7400.0, 32.0, None)]
    assert parse_time(None, fallback) is fallback and parse_time("2026-11-21T18:00:00Z", T0) == T0
