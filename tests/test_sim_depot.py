"""The simulated depot as a whole: the vehicles' evening-to-morning schedule, the demo layout and its seed,
`depot simulate`'s arguments, the simulator against the real `depot.ocpp.server.CentralSystem`, and the OCPP
benchmark at toy size."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest

from depot.model import ConnectorStatus, CurrentType, Protocol
from depot.sim.demo import bay_name, demo_depot, seed_store
from depot.sim.simulator import SimulatedDepot, main, night_of
from tests.fake_csms import AC16, DC201, TRUCK, VAN, ManualClock, profile16, profile201, until


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
    passwords = seed_store(store, chargers, vehicles)  # security profile 1, real passwords

    async def main_() -> None:
        clock = ManualClock()
        cs = CentralSystem(store, settings, clock=clock)
        await cs.start()
        sim = SimulatedDepot(f"ws://127.0.0.1:{cs.port}/ocpp", chargers, vehicles, clock=clock, fault_rate=0.0,
                             auto_schedule=False, tick_seconds=3600, passwords=passwords)
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
            await cs.set_charging_profile("T-AC16", 0, profile16(1, "TxDefaultProfile", 16.0))
            await cs.set_charging_profile("T-DC201", 1, profile201(
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


def test_the_demo_sizes_the_site_for_the_depot_it_simulates_unless_a_person_set_it(store, caplog):
    small, small_vehicles = demo_depot(20)
    seed_store(store, small, small_vehicles)
    site = store.get_site()
    assert site.grid_by_demo and site.grid_kw == pytest.approx(0.4 * sum(c.max_kw for c in small), abs=0.05)
    big, big_vehicles = demo_depot(200)
    with caplog.at_level("INFO", logger="depot.sim.demo"):
        seed_store(store, big, big_vehicles)  # the same database, a bigger demo: sized again, and said so
    assert store.get_site().grid_kw == pytest.approx(0.4 * sum(c.max_kw for c in big), abs=0.05)
    assert "sized by the demo for its 200 chargers" in caplog.text and f"it was {site.grid_kw:g} kW" in caplog.text
    store.set_site(site.name, 900.0, 10.0)  # a person's limit (the Site page, `depot site --grid-kw`)
    assert not store.get_site().grid_by_demo
    caplog.clear()
    with caplog.at_level("INFO", logger="depot.sim.demo"):
        seed_store(store, small, small_vehicles)
    assert store.get_site().grid_kw == 900.0 and "kept: it was set on purpose" in caplog.text


def test_changing_only_the_margin_keeps_the_demo_sizing(store):
    chargers, vehicles = demo_depot(10)
    seed_store(store, chargers, vehicles)
    site = store.get_site()
    store.set_site(site.name, site.grid_kw, 5.0)
    assert store.get_site().grid_by_demo
