"""The simulated chargers' sessions against a test-only central system (`tests.fake_csms`): a vehicle's
session from plug-in to unplug in OCPP 1.6 and 2.0.1, a full battery, a blocked tag. The simulator runs on a
hand-moved clock, so energy and SoC are exact."""

from __future__ import annotations

import pytest

from depot.model import ConnectorStatus
from tests.fake_csms import run_with_csms


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
