"""The simulated depot's OCPP clients against a central system over loopback.

First against a small test-only central system built here on the `ocpp` package (it records every request
and lets a test send any call), then against the real `depot.ocpp.server.CentralSystem`. No timed asserts:
`until()` polls a condition and only fails after a generous timeout; the simulator runs on a hand-moved
clock, so energy and SoC are exact."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime, time, timedelta

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from depot.model import ConnectorStatus, CurrentType, Protocol
from depot.sim.simulator import (
    SimChargerSpec,
    SimulatedDepot,
    SimVehicleSpec,
    bay_name,
    demo_depot,
    main,
    night_of,
    seed_store,
)

T0 = datetime(2026, 11, 21, 16, 30, tzinfo=UTC)


class ManualClock:
    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- a test-only central system


class _Recorder:
    csms: FakeCsms

    def record(self, action: str, payload: dict) -> None:
        self.csms.log.append((self.id, action, payload))


class _Fake16(_Recorder, Cp16):
    @on("BootNotification")
    def boot(self, **kw):
        self.record("BootNotification", kw)
        return r16.BootNotification(current_time=self.csms.clock().isoformat(), interval=self.csms.interval,
                                    status="Accepted")

    @on("Heartbeat")
    def heartbeat(self, **kw):
        self.record("Heartbeat", kw)
        return r16.Heartbeat(current_time=self.csms.clock().isoformat())

    @on("StatusNotification")
    def status(self, **kw):
        self.record("StatusNotification", kw)
        return r16.StatusNotification()

    @on("Authorize")
    def authorize(self, id_tag, **kw):
        self.record("Authorize", {"id_tag": id_tag, **kw})
        return r16.Authorize(id_tag_info={"status": "Blocked" if id_tag in self.csms.blocked else "Accepted"})

    @on("StartTransaction")
    def start_tx(self, **kw):
        self.record("StartTransaction", kw)
        return r16.StartTransaction(transaction_id=next(self.csms.tx_ids), id_tag_info={"status": "Accepted"})

    @on("StopTransaction")
    def stop_tx(self, **kw):
        self.record("StopTransaction", kw)
        return r16.StopTransaction(id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def meter(self, **kw):
        self.record("MeterValues", kw)
        return r16.MeterValues()


class _Fake201(_Recorder, Cp201):
    @on("BootNotification")
    def boot(self, **kw):
        self.record("BootNotification", kw)
        return r201.BootNotification(current_time=self.csms.clock().isoformat(), interval=self.csms.interval,
                                     status="Accepted")

    @on("Heartbeat")
    def heartbeat(self, **kw):
        self.record("Heartbeat", kw)
        return r201.Heartbeat(current_time=self.csms.clock().isoformat())

    @on("StatusNotification")
    def status(self, **kw):
        self.record("StatusNotification", kw)
        return r201.StatusNotification()

    @on("Authorize")
    def authorize(self, id_token, **kw):
        self.record("Authorize", {"id_token": id_token, **kw})
        ok = id_token["id_token"] not in self.csms.blocked
        return r201.Authorize(id_token_info={"status": "Accepted" if ok else "Blocked"})

    @on("TransactionEvent")
    def tx_event(self, **kw):
        self.record("TransactionEvent", kw)
        info = {"status": "Accepted"} if kw.get("id_token") else None
        return r201.TransactionEvent(id_token_info=info)

    @on("MeterValues")
    def meter(self, **kw):
        self.record("MeterValues", kw)
        return r201.MeterValues()

    @on("NotifyEvent")
    def notify_event(self, **kw):
        self.record("NotifyEvent", kw)
        return r201.NotifyEvent()


class FakeCsms:
    """Records every request; `await csms.call(charger_id, request)` sends one to a charger."""

    def __init__(self, clock, *, interval: int = 3600):
        self.clock = clock
        self.interval = interval
        self.log: list[tuple[str, str, dict]] = []
        self.cps: dict[str, Cp16 | Cp201] = {}
        self.blocked: set[str] = set()
        self.tx_ids = itertools.count(100)
        self.server = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self.server = await serve(self._handler, "127.0.0.1", port, subprotocols=["ocpp2.0.1", "ocpp1.6"])
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.cps.clear()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def _handler(self, ws) -> None:
        cid = ws.request.path.rstrip("/").split("/")[-1]
        cp = (_Fake16 if ws.subprotocol == "ocpp1.6" else _Fake201)(cid, ws, response_timeout=5)
        cp.csms = self
        self.cps[cid] = cp
        with contextlib.suppress(ConnectionClosed):
            await cp.start()

    async def call(self, charger_id: str, request):
        return await self.cps[charger_id].call(request, suppress=False)

    def messages(self, charger_id: str, action: str) -> list[dict]:
        return [p for cid, a, p in self.log if cid == charger_id and a == action]

    def statuses(self, charger_id: str, connector: int = 1) -> list[str]:
        out = []
        for p in self.messages(charger_id, "StatusNotification"):
            if p.get("connector_id") == connector:
                out.append(p.get("status") or p.get("connector_status"))
        return out


AC16 = SimChargerSpec("T-AC16", Protocol.OCPP16, CurrentType.AC, 22.0, 3, "A01")
DC16 = SimChargerSpec("T-DC16", Protocol.OCPP16, CurrentType.DC, 150.0, 3, "A02")
AC201 = SimChargerSpec("T-AC201", Protocol.OCPP201, CurrentType.AC, 22.0, 3, "A03")
DC201 = SimChargerSpec("T-DC201", Protocol.OCPP201, CurrentType.DC, 50.0, 3, "A04")
VAN = SimVehicleSpec("V1", "Van 1", 80.0, 22.0, 80.0, "TAG1", time(17), time(6), 20.0)
TRUCK = SimVehicleSpec("V2", "Truck 2", 300.0, 22.0, 150.0, "TAG2", time(17), time(6), 30.0)
VAN3 = SimVehicleSpec("V3", "Van 3", 60.0, 11.0, 50.0, "TAG3", time(17), time(6), 50.0)
VAN4 = SimVehicleSpec("V4", "Van 4", 60.0, 11.0, 50.0, "TAG4", time(17), time(6), 50.0)


def run_with_csms(test, chargers=(AC16, DC16, AC201, DC201), vehicles=(VAN, TRUCK, VAN3, VAN4), **kwargs):
    """Run `await test(csms, sim, clock)` with a fake central system and a connected simulated depot."""

    async def main_() -> None:
        clock = ManualClock()
        csms = FakeCsms(clock)
        await csms.start()
        sim = SimulatedDepot(csms.url, list(chargers), list(vehicles), clock=clock, fault_rate=0.0,
                             auto_schedule=False, tick_seconds=3600, **kwargs)
        await sim.start()
        try:
            await sim.wait_connected(10)
            await sim.settle()
            await test(csms, sim, clock)
        finally:
            await sim.stop()
            await csms.stop()

    asyncio.run(main_())


# ---------------------------------------------------------------- session life


def test_session_life_ocpp16():
    async def test(csms, sim, clock):
        ch = sim.charger("T-AC16")
        assert ch.connected and ch.status() == ConnectorStatus.AVAILABLE
        sim.plug_in("T-AC16", "V1", soc=20.0)
        await sim.settle()
        assert ch.status() == ConnectorStatus.CHARGING
        assert csms.statuses("T-AC16")[-3:] == ["Available", "Preparing", "Charging"]
        assert csms.messages("T-AC16", "Authorize")[0]["id_tag"] == "TAG1"
        start = csms.messages("T-AC16", "StartTransaction")[0]
        assert ch.transaction_id() == "100" and start["id_tag"] == "TAG1"
        assert ch.power_kw() == pytest.approx(22.0)

        clock.advance(3600)  # an hour at 22 kW on the hand-moved clock
        ch.send_meter_values()
        await sim.settle()
        mv = csms.messages("T-AC16", "MeterValues")[-1]
        assert mv["transaction_id"] == 100
        values = {s["measurand"]: s for s in mv["meter_value"][0]["sampled_value"]}
        assert float(values["Energy.Active.Import.Register"]["value"]) == pytest.approx(start["meter_start"] + 22_000,
                                                                                          abs=1)
        assert float(values["Power.Active.Import"]["value"]) == pytest.approx(22_000)
        assert float(values["Current.Import"]["value"]) == pytest.approx(31.9, abs=0.1)
        assert float(values["SoC"]["value"]) == pytest.approx(20 + 22 / 80 * 100, abs=0.1)
        assert values["SoC"]["unit"] == "Percent" and values["Energy.Active.Import.Register"]["unit"] == "Wh"
        assert mv["meter_value"][0]["timestamp"].startswith("2026-11-21T17:30:00")

        sim.unplug("T-AC16")
        await sim.settle()
        stop = csms.messages("T-AC16", "StopTransaction")[0]
        assert stop["transaction_id"] == 100 and stop["meter_stop"] - start["meter_start"] == pytest.approx(22_000, abs=1)
        assert csms.statuses("T-AC16")[-2:] == ["Finishing", "Available"]
        assert stop["timestamp"].endswith("+00:00")

    run_with_csms(test)


def test_session_life_ocpp201_and_full_battery():
    async def test(csms, sim, clock):
        ch = sim.charger("T-AC201")
        sim.plug_in("T-AC201", "V3", soc=50.0)
        await sim.settle()
        events = csms.messages("T-AC201", "TransactionEvent")
        assert [e["event_type"] for e in events] == ["Started", "Updated"]
        started, authorized = events
        tx = started["transaction_info"]["transaction_id"]
        assert isinstance(tx, str) and tx == ch.transaction_id()
        assert started["trigger_reason"] == "CablePluggedIn" and "id_token" not in started
        assert authorized["trigger_reason"] == "Authorized" and authorized["id_token"]["id_token"] == "TAG3"
        assert authorized["transaction_info"]["charging_state"] == "Charging"
        assert csms.statuses("T-AC201")[-2:] == ["Available", "Occupied"]
        assert ch.power_kw() == pytest.approx(11.0)  # the van's onboard charger

        clock.advance(5 * 3600)  # 50 → 80 % takes 1.6 h at 11 kW, the taper to 100 % 2.8 h more
        await sim.settle()
        assert ch.soc() == pytest.approx(100.0)
        assert ch.status() == ConnectorStatus.SUSPENDED_EV
        last = csms.messages("T-AC201", "TransactionEvent")[-1]
        assert last["transaction_info"]["charging_state"] == "SuspendedEV"

        ch.send_meter_values()
        await sim.settle()
        periodic = csms.messages("T-AC201", "TransactionEvent")[-1]
        assert periodic["event_type"] == "Updated" and periodic["meter_value"]
        energy = {s["measurand"]: s["value"] for s in periodic["meter_value"][0]["sampled_value"]}
        assert energy["Energy.Active.Import.Register"] - started["meter_value"][0]["sampled_value"][0]["value"] == \
            pytest.approx(30_000, abs=1)  # 50 % → 100 % of 60 kWh
        assert energy["SoC"] == 100.0

        sim.unplug("T-AC201")
        await sim.settle()
        ended = csms.messages("T-AC201", "TransactionEvent")[-1]
        assert ended["event_type"] == "Ended" and ended["transaction_info"]["transaction_id"] == tx
        assert ended["transaction_info"]["stopped_reason"] == "EVDisconnected"
        seqs = [e["seq_no"] for e in csms.messages("T-AC201", "TransactionEvent")]
        assert seqs == list(range(len(seqs)))
        assert csms.statuses("T-AC201")[-1] == "Available"

    run_with_csms(test)


def test_blocked_tag_does_not_charge():
    async def test(csms, sim, clock):
        csms.blocked.add("TAG1")
        sim.plug_in("T-AC16", "V1")
        await sim.settle()
        assert sim.charger("T-AC16").status() == ConnectorStatus.PREPARING
        assert sim.charger("T-AC16").power_kw() == 0.0
        assert csms.messages("T-AC16", "StartTransaction") == []

    run_with_csms(test)


# ---------------------------------------------------------------- profiles obeyed


def _profile16(pid, purpose, limit, unit="A", stack=0, **extra):
    return {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": unit, "startSchedule": T0.isoformat(),
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}, **extra}


def _profile201(pid, purpose, limit, unit="W", stack=0, **extra):
    return {"id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": pid, "chargingRateUnit": unit,
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}], **extra}


def test_profiles_obeyed_ocpp16():
    async def test(csms, sim, clock):
        ch = sim.charger("T-AC16")
        res = await csms.call("T-AC16", c16.GetConfiguration(key=["ChargingScheduleAllowedChargingRateUnit",
                                                                     "ChargingScheduleMaxPeriods", "Nope"]))
        assert {k["key"]: k["value"] for k in res.configuration_key} == {
            "ChargingScheduleAllowedChargingRateUnit": "Current", "ChargingScheduleMaxPeriods": "24"}
        assert res.unknown_key == ["Nope"]
        res = await csms.call("T-DC16", c16.GetConfiguration())
        keys = {k["key"]: k["value"] for k in res.configuration_key}
        assert keys["ChargingScheduleAllowedChargingRateUnit"] == "Power" and keys["ChargeProfileMaxStackLevel"] == "8"
        assert (await csms.call("T-AC16", c16.ChangeConfiguration(key="ChargingScheduleMaxPeriods", value="5"))
                ).status == "Rejected"
        assert (await csms.call("T-AC16", c16.ChangeConfiguration(key="MeterValueSampleInterval", value="30"))
                ).status == "Accepted"

        sim.plug_in("T-AC16", "V1", soc=20.0)
        await sim.settle()
        assert ch.power_kw() == pytest.approx(22.0)
        # a default profile for every connector: 16 A × 3 × 230 V
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=_profile16(
            1, "TxDefaultProfile", 16.0)))
        assert res.status == "Accepted"
        assert ch.power_kw() == pytest.approx(11.04)
        # a TxProfile for the running transaction replaces the default: 25 A
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=1, cs_charging_profiles=_profile16(
            2, "TxProfile", 25.0, transactionId=100)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(17.25)
        # the charger-wide cap wins over both: 10 A
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=_profile16(
            3, "ChargePointMaxProfile", 10.0)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(6.9)
        comp = await csms.call("T-AC16", c16.GetCompositeSchedule(connector_id=1, duration=3600))
        assert comp.status == "Accepted"
        assert comp.charging_schedule["charging_rate_unit"] == "A"
        assert comp.charging_schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 10.0}]
        # below 6 A nothing flows: SuspendedEVSE
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=1, cs_charging_profiles=_profile16(
            2, "TxProfile", 5.0, transactionId=100)))
        assert res.status == "Accepted"
        assert ch.power_kw() == 0.0 and ch.status() == ConnectorStatus.SUSPENDED_EVSE
        await sim.settle()
        assert csms.statuses("T-AC16")[-1] == "SuspendedEVSE"
        res = await csms.call("T-AC16", c16.ClearChargingProfile(id=3))
        assert res.status == "Accepted"
        res = await csms.call("T-AC16", c16.ClearChargingProfile(charging_profile_purpose="TxProfile"))
        assert res.status == "Accepted"
        assert ch.power_kw() == pytest.approx(11.04)  # back on the default
        await sim.settle()
        assert csms.statuses("T-AC16")[-1] == "Charging"
        assert (await csms.call("T-AC16", c16.ClearChargingProfile(id=99))).status == "Unknown"

        # what a strict charger refuses
        bad = [
            (1, _profile16(5, "TxProfile", 16.0, transactionId=999)),  # not the running transaction
            (1, _profile16(5, "ChargePointMaxProfile", 16.0)),  # max profile on a connector
            (0, _profile16(5, "TxDefaultProfile", 16000.0, unit="W")),  # AC takes amps only
            (0, _profile16(5, "TxDefaultProfile", 16.0, stack=9)),  # stack level > 8
        ]
        for connector, prof in bad:
            res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=connector, cs_charging_profiles=prof))
            assert res.status == "Rejected", prof
        sim.set_reject_profiles("T-AC16", True)
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=_profile16(
            1, "TxDefaultProfile", 8.0)))
        assert res.status == "Rejected" and ch.power_kw() == pytest.approx(11.04)
        assert [p.id for p in ch.profiles] == [1]

        # the energy follows the limits in force: one hour at 11.04 kW
        before = ch.energy_wh()
        clock.advance(3600)
        assert ch.energy_wh() - before == pytest.approx(11_040, abs=0.5)

    run_with_csms(test)


def test_profiles_obeyed_ocpp201_dc():
    async def test(csms, sim, clock):
        ch = sim.charger("T-DC201")
        res = await csms.call("T-DC201", c201.GetVariables(get_variable_data=[
            {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": n}}
            for n in ("RateUnit", "PeriodsPerSchedule", "ProfileStackLevel", "Nope")]))
        got = {r["variable"]["name"]: (r["attribute_status"], r.get("attribute_value")) for r in res.get_variable_result}
        assert got == {"RateUnit": ("Accepted", "W"), "PeriodsPerSchedule": ("Accepted", "24"),
                       "ProfileStackLevel": ("Accepted", "8"), "Nope": ("UnknownVariable", None)}
        res = await csms.call("T-DC201", c201.SetVariables(set_variable_data=[
            {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "RateUnit"}, "attribute_value": "A"},
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
             "attribute_value": "120"}]))
        assert [r["attribute_status"] for r in res.set_variable_result] == ["Rejected", "Accepted"]

        sim.plug_in("T-DC201", "V2", soc=30.0)
        await sim.settle()
        assert ch.power_kw() == pytest.approx(50.0)  # the charger's rating caps the truck's 150 kW
        tx = ch.transaction_id()
        res = await csms.call("T-DC201", c201.SetChargingProfile(evse_id=1, charging_profile=_profile201(
            7, "TxProfile", 20000.0, transactionId=tx)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(20.0)
        assert ch.limit_kw() == pytest.approx(20.0)
        # a higher stack level of the same purpose prevails
        res = await csms.call("T-DC201", c201.SetChargingProfile(evse_id=1, charging_profile=_profile201(
            8, "TxProfile", 30000.0, stack=2, transactionId=tx)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(30.0)
        res = await csms.call("T-DC201", c201.SetChargingProfile(evse_id=0, charging_profile=_profile201(
            9, "ChargingStationMaxProfile", 25000.0)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(25.0)
        comp = await csms.call("T-DC201", c201.GetCompositeSchedule(duration=600, evse_id=1))
        assert comp.status == "Accepted"
        assert comp.schedule["charging_rate_unit"] == "W"
        assert comp.schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 25000.0}]
        for prof in (_profile201(10, "TxDefaultProfile", 16.0, unit="A"),  # DC takes watts only
                     _profile201(10, "TxDefaultProfile", 1666.67)):  # one decimal at most
            res = await csms.call("T-DC201", c201.SetChargingProfile(evse_id=0, charging_profile=prof))
            assert res.status == "Rejected"
        res = await csms.call("T-DC201", c201.ClearChargingProfile(charging_profile_criteria={
            "charging_profile_purpose": "ChargingStationMaxProfile"}))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(30.0)

        # a TxProfile ends with its transaction
        sim.unplug("T-DC201")
        await sim.settle()
        assert [p.id for p in ch.profiles] == []

    run_with_csms(test)


def test_relative_profile_periods_follow_the_clock():
    async def test(csms, sim, clock):
        ch = sim.charger("T-AC201")
        sim.plug_in("T-AC201", "V4", soc=10.0)
        await sim.settle()
        prof = _profile201(1, "TxDefaultProfile", 0.0, unit="A")
        prof["chargingSchedule"][0]["chargingSchedulePeriod"] = [
            {"startPeriod": 0, "limit": 8.0}, {"startPeriod": 1800, "limit": 0.0}, {"startPeriod": 3600, "limit": 16.0}]
        res = await csms.call("T-AC201", c201.SetChargingProfile(evse_id=1, charging_profile=prof))
        assert res.status == "Accepted"
        start = ch.energy_wh()
        assert ch.power_kw() == pytest.approx(5.52)
        clock.advance(1800)
        assert ch.power_kw() == 0.0 and ch.status() == ConnectorStatus.SUSPENDED_EVSE
        clock.advance(1800)
        assert ch.power_kw() == pytest.approx(11.0)  # 16 A would be 11.04 kW: the van takes 11
        clock.advance(1800)
        assert ch.energy_wh() - start == pytest.approx(5520 / 2 + 0 + 11_000 / 2, abs=0.5)

    run_with_csms(test)


# ---------------------------------------------------------------- faults, commands, reconnects


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
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=_profile16(
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


# ---------------------------------------------------------------- the schedule, the demo depot, the store


def test_vehicles_arrive_in_the_evening_and_leave_in_the_morning():
    async def main_() -> None:
        clock = ManualClock(datetime(2026, 11, 21, 16, 59, tzinfo=UTC))
        chargers, vehicles = demo_depot(10, seed=3)
        sim = SimulatedDepot("ws://127.0.0.1:9/none", chargers, vehicles, clock=clock, fault_rate=0.0)
        sim.tick()
        assert sim.stats()["plugged"] == 0
        clock.now = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)  # everyone has arrived
        sim.tick()
        assert sim.stats()["plugged"] == len(vehicles) == 9
        for v in vehicles:
            ch = sim.charger(v.charger_id)
            assert ch.session().vehicle.id == v.id
            assert ch.status() == ConnectorStatus.CHARGING  # offline chargers authorize locally
        clock.now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # everyone has left
        sim.tick()
        assert sim.stats()["plugged"] == 0
        clock.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
        sim.tick()
        assert sim.stats()["plugged"] == 0
        clock.now = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)  # the next evening, again
        sim.tick()
        assert sim.stats()["plugged"] == 9
        await sim.stop()

    asyncio.run(main_())


def test_night_of():
    d = datetime(2026, 11, 21, tzinfo=UTC)
    assert night_of(d.replace(hour=18), time(17), time(6)) == d.date()
    assert night_of(d.replace(hour=3), time(17), time(6)) == (d - timedelta(days=1)).date()
    assert night_of(d.replace(hour=12), time(17), time(6)) is None
    assert night_of(d.replace(hour=12), time(9), time(14)) == d.date()


def test_demo_depot_is_deterministic_and_mixed():
    chargers, vehicles = demo_depot(40, seed=7)
    assert (chargers, vehicles) == demo_depot(40, seed=7)
    assert [c.bay for c in chargers[:2]] == ["A01", "A02"] and chargers[20].bay == "B01"
    assert bay_name(26 * 20) == "AA01"
    assert {c.protocol for c in chargers} == {Protocol.OCPP16, Protocol.OCPP201}
    assert {(c.current_type, c.max_kw) for c in chargers} == {
        (CurrentType.AC, 11.0), (CurrentType.AC, 22.0), (CurrentType.DC, 50.0), (CurrentType.DC, 150.0)}
    assert len(vehicles) == 36 and len({v.id_tag for v in vehicles}) == 36
    assert all(len(v.id_tag) <= 20 for v in vehicles)
    ids = {c.id for c in chargers}
    assert all(v.charger_id in ids for v in vehicles)
    assert len({v.charger_id for v in vehicles}) == len(vehicles)
    assert all(v.arrival > v.departure for v in vehicles)
    other, _ = demo_depot(3, prefix="SIM-")
    assert other[0].id == "SIM-CP-A01"


def test_seed_store_is_idempotent(store):
    chargers, vehicles = demo_depot(10)
    seed_store(store, chargers, vehicles)
    seed_store(store, chargers, vehicles)
    assert len(store.list_chargers()) == 10
    assert len(store.list_vehicles()) == 9
    assert {t.tag for t in store.list_tags()} == {v.id_tag for v in vehicles}
    assert store.get_site().grid_kw == pytest.approx(0.4 * sum(c.max_kw for c in chargers))
    c0 = store.get_charger(chargers[0].id)
    assert (c0.bay, c0.current_type, c0.max_kw, c0.phases) == ("A01", chargers[0].current_type, chargers[0].max_kw, 3)
    assert store.get_vehicle(vehicles[0].id).id_tag == vehicles[0].id_tag
    assert len(store.connectors(chargers[0].id)) == 1
    seed_store(store, chargers, vehicles, grid_kw=123.0)
    assert store.get_site().grid_kw == 123.0
    more, more_vehicles = demo_depot(12)
    seed_store(store, more, more_vehicles)
    assert len(store.list_chargers()) == 12 and store.get_site().grid_kw == 123.0


def test_main_rejects_bad_arguments(capsys):
    assert main(["--url", "ws://127.0.0.1:1", "--speed", "0"]) == 2


# ---------------------------------------------------------------- against the real central system


def test_against_the_real_central_system(store, settings):
    from depot.ocpp.server import CentralSystem

    chargers, vehicles = [AC16, DC201], [VAN, TRUCK]
    seed_store(store, chargers, vehicles)

    async def main_() -> None:
        clock = ManualClock()
        cs = CentralSystem(store, settings, clock=clock)
        await cs.start()
        sim = SimulatedDepot(f"ws://127.0.0.1:{cs.port}/ocpp", chargers, vehicles, clock=clock, fault_rate=0.0,
                             auto_schedule=False, tick_seconds=3600)
        await sim.start()
        try:
            await sim.wait_connected(10)
            await sim.settle()
            await until(lambda: store.get_charger("T-DC201").capabilities.rate_unit is not None
                        and store.get_charger("T-AC16").capabilities.rate_unit is not None, what="capabilities")
            ac, dc = store.get_charger("T-AC16"), store.get_charger("T-DC201")
            assert (ac.capabilities.rate_unit, ac.capabilities.max_periods, ac.capabilities.max_stack_level) == (
                "A", 24, 8)
            assert dc.capabilities.rate_unit == "W" and dc.protocol == Protocol.OCPP201

            sim.plug_in("T-AC16", "V1", soc=20.0)
            sim.plug_in("T-DC201", "V2", soc=30.0)
            await sim.settle()
            running = {t.charger_id: t for t in store.active_transactions()}
            assert running["T-AC16"].vehicle_id == "V1" and running["T-DC201"].vehicle_id == "V2"
            assert running["T-DC201"].charger_tx_id == sim.charger("T-DC201").transaction_id()
            assert str(running["T-AC16"].id) == sim.charger("T-AC16").transaction_id()
            assert {c.connector_id: c.status for c in store.connectors("T-AC16")}[1] == ConnectorStatus.CHARGING
            assert {c.connector_id: c.status for c in store.connectors("T-DC201")}[1] == ConnectorStatus.CHARGING

            # limits sent through the central system's one call path are obeyed
            await cs.set_charging_profile("T-AC16", 0, _profile16(1, "TxDefaultProfile", 16.0))
            await cs.set_charging_profile("T-DC201", 1, _profile201(
                2, "TxProfile", 20000.0, transactionId=running["T-DC201"].charger_tx_id))
            assert sim.charger("T-AC16").power_kw() == pytest.approx(11.04)
            assert sim.charger("T-DC201").power_kw() == pytest.approx(20.0)
            comp = await cs.get_composite_schedule("T-DC201", 1, 600)
            assert comp.schedule["charging_schedule_period"][0]["limit"] == 20000.0

            clock.advance(3600)
            for cid in ("T-AC16", "T-DC201"):
                sim.charger(cid).send_meter_values()
            await sim.settle()
            ac_sample = store.meter_samples(transaction_id=running["T-AC16"].id)[-1]
            assert ac_sample.energy_wh - running["T-AC16"].meter_start_wh == pytest.approx(11_040, abs=1)
            assert ac_sample.power_w == pytest.approx(11_040) and ac_sample.soc == pytest.approx(20 + 11.04 / 0.8,
                                                                                                 abs=0.1)
            dc_sample = store.meter_samples(transaction_id=running["T-DC201"].id)[-1]
            assert dc_sample.energy_wh - running["T-DC201"].meter_start_wh == pytest.approx(20_000, abs=1)

            sim.fault("T-AC16", "GroundFailure")
            await sim.settle()
            conn = {c.connector_id: c for c in store.connectors("T-AC16")}[1]
            assert conn.status == ConnectorStatus.FAULTED and conn.error_code == "GroundFailure"
            sim.clear_fault("T-AC16")
            await sim.settle()
            conn = {c.connector_id: c for c in store.connectors("T-AC16")}[1]
            assert conn.status == ConnectorStatus.CHARGING and conn.error_code is None

            sim.unplug("T-AC16")
            sim.unplug("T-DC201")
            await sim.settle()
            assert store.active_transactions() == []
            done = store.find_transaction("T-AC16", transaction_id=running["T-AC16"].id)
            assert done.meter_stop_wh - done.meter_start_wh == pytest.approx(11_040, abs=1)
            done = store.find_transaction("T-DC201", charger_tx_id=running["T-DC201"].charger_tx_id)
            assert done.meter_stop_wh - done.meter_start_wh == pytest.approx(20_000, abs=1)
            assert {c.connector_id: c.status for c in store.connectors("T-AC16")}[1] == ConnectorStatus.AVAILABLE
        finally:
            await sim.stop()
            await cs.stop()

    asyncio.run(main_())


def test_ocpp_bench_smoke():
    """The benchmark end to end at toy size: server process, client process, the store's rows checked."""
    import io

    from depot.bench.ocpp import run

    out = io.StringIO()
    code = run(4, seconds=1.0, interval=0.5, procs=1, grace=5.0, seed=1, out=out)
    text = out.getvalue()
    assert code == 0, text
    rows = {k.strip(): v.strip() for k, v in (line[1:].split("|", 1) for line in text.splitlines()
                                                if line.startswith("| "))}
    assert rows["connected"] == "4/4" and rows["lost (sent, never answered)"] == "0" and rows["errors"] == "0"
    assert rows["store: meter_samples"].endswith("(= MeterValues answered)")


def test_twin_connectors_share_the_charger_max_profile():
    twin = SimChargerSpec("T-TWIN", Protocol.OCPP16, CurrentType.AC, 22.0, 3, "A05", connectors=2)

    async def test(csms, sim, clock):
        ch = sim.charger("T-TWIN")
        assert sim.plug_in("T-TWIN", "V1", soc=20.0) == 1
        assert sim.plug_in("T-TWIN", "V3", soc=20.0) == 2
        await sim.settle()
        assert (ch.power_kw(1), ch.power_kw(2)) == (pytest.approx(22.0), pytest.approx(11.0))
        res = await csms.call("T-TWIN", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=_profile16(
            1, "ChargePointMaxProfile", 32.0)))
        assert res.status == "Accepted"
        assert ch.power_kw(1) == pytest.approx(11.04) and ch.power_kw(2) == pytest.approx(11.0)
        sim.unplug("T-TWIN", 2)  # the other connector now has the whole 32 A
        assert ch.power_kw(1) == pytest.approx(22.0)
        assert {p["connector_id"] for p in csms.messages("T-TWIN", "StatusNotification")} == {0, 1, 2}

    run_with_csms(test, chargers=[twin], vehicles=[VAN, VAN3])
