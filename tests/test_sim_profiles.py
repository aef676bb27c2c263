"""The simulated chargers obey the charging profiles a (test-only) central system sets, in OCPP 1.6 and 2.0.1:
stacking, purposes, composite schedules, what a strict charger refuses, relative periods on the clock, and a
charger-wide max profile shared by twin connectors."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from depot.model import ConnectorStatus, CurrentType, Protocol
from depot.sim.specs import SimChargerSpec
from tests.fake_csms import VAN, VAN3, profile16, profile201, run_with_csms


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
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=profile16(
            1, "TxDefaultProfile", 16.0)))
        assert res.status == "Accepted"
        assert ch.power_kw() == pytest.approx(11.04)
        # a TxProfile for the running transaction replaces the default: 25 A
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile16(
            2, "TxProfile", 25.0, transactionId=100)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(17.25)
        # the charger-wide cap wins over both: 10 A
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=profile16(
            3, "ChargePointMaxProfile", 10.0)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(6.9)
        comp = await csms.call("T-AC16", c16.GetCompositeSchedule(connector_id=1, duration=3600))
        assert comp.status == "Accepted"
        assert comp.charging_schedule["charging_rate_unit"] == "A"
        assert comp.charging_schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 10.0}]
        # below 6 A nothing flows: SuspendedEVSE
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile16(
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
            (1, profile16(5, "TxProfile", 16.0, transactionId=999)),  # not the running transaction
            (1, profile16(5, "ChargePointMaxProfile", 16.0)),  # max profile on a connector
            (0, profile16(5, "TxDefaultProfile", 16000.0, unit="W")),  # AC takes amps only
            (0, profile16(5, "TxDefaultProfile", 16.0, stack=9)),  # stack level > 8
        ]
        for connector, prof in bad:
            res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=connector, cs_charging_profiles=prof))
            assert res.status == "Rejected", prof
        sim.set_reject_profiles("T-AC16", True)
        res = await csms.call("T-AC16", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=profile16(
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
        res = await csms.call("T-DC201", c201.SetChargingProfile(evse_id=1, charging_profile=profile201(
            7, "TxProfile", 20000.0, transactionId=tx)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(20.0)
        assert ch.limit_kw() == pytest.approx(20.0)
        # a higher stack level of the same purpose prevails
        res = await csms.call("T-DC201", c201.SetChargingProfile(evse_id=1, charging_profile=profile201(
            8, "TxProfile", 30000.0, stack=2, transactionId=tx)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(30.0)
        res = await csms.call("T-DC201", c201.SetChargingProfile(evse_id=0, charging_profile=profile201(
            9, "ChargingStationMaxProfile", 25000.0)))
        assert res.status == "Accepted" and ch.power_kw() == pytest.approx(25.0)
        comp = await csms.call("T-DC201", c201.GetCompositeSchedule(duration=600, evse_id=1))
        assert comp.status == "Accepted"
        assert comp.schedule["charging_rate_unit"] == "W"
        assert comp.schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 25000.0}]
        for prof in (profile201(10, "TxDefaultProfile", 16.0, unit="A"),  # DC takes watts only
                     profile201(10, "TxDefaultProfile", 1666.67)):  # one decimal at most
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
        prof = profile201(1, "TxDefaultProfile", 0.0, unit="A")
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


def test_twin_connectors_share_the_charger_max_profile():
    twin = SimChargerSpec("T-TWIN", Protocol.OCPP16, CurrentType.AC, 22.0, 3, "A05", connectors=2)

    async def test(csms, sim, clock):
        ch = sim.charger("T-TWIN")
        assert sim.plug_in("T-TWIN", "V1", soc=20.0) == 1
        assert sim.plug_in("T-TWIN", "V3", soc=20.0) == 2
        await sim.settle()
        assert (ch.power_kw(1), ch.power_kw(2)) == (pytest.approx(22.0), pytest.approx(11.0))
        res = await csms.call("T-TWIN", c16.SetChargingProfile(connector_id=0, cs_charging_profiles=profile16(
            1, "ChargePointMaxProfile", 32.0)))
        assert res.status == "Accepted"
        assert ch.power_kw(1) == pytest.approx(11.04) and ch.power_kw(2) == pytest.approx(11.0)
        sim.unplug("T-TWIN", 2)  # the other connector now has the whole 32 A
        assert ch.power_kw(1) == pytest.approx(22.0)
        assert {p["connector_id"] for p in csms.messages("T-TWIN", "StatusNotification")} == {0, 1, 2}

    run_with_csms(test, chargers=[twin], vehicles=[VAN, VAN3])
