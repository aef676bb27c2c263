"""Sessions are reconciled with what the chargers report after a restart of either side (depot/ocpp/reconcile.py):
real `ocpp` 1.6 and 2.0.1 clients over loopback, a central system restarted on the same store between their
connections, and every assertion made on what the store holds once the answer came back."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from ocpp.v16 import call
from ocpp.v201 import call as call201

from depot.model import Charger, Vehicle
from depot.ocpp.reconcile import Reconciling
from depot.store.sessions import inferred_stop
from tests.ocpp_clients import T0, Client201, at, central, charger, eventually, run, with_passwords

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)
AFTER_RESTART = "closed: connector reported Available after restart"


@pytest.fixture
def depot(store):
    store.add_charger(Charger("CP-1", 22.0), connectors=2)
    store.add_charger(Charger("CS-2", 22.0))
    store.add_vehicle(Vehicle("V1", "Van 1", 75.0, id_tag="TAG-1"))
    store.add_vehicle(Vehicle("V2", "Van 2", 75.0, id_tag="TAG-2"))
    store.add_tag("CARD")  # a shared depot card: it names no vehicle
    return with_passwords(store)


BOOT16 = call.BootNotification(charge_point_vendor="Acme", charge_point_model="W22")
BOOT201 = call201.BootNotification(charging_station={"model": "Terra", "vendor_name": "Acme"}, reason="PowerUp")


def status16(connector: int, status: str):
    return call.StatusNotification(connector_id=connector, error_code="NoError", status=status)


def status201(status: str, evse: int = 1):
    return call201.StatusNotification(timestamp=at(60), connector_status=status, evse_id=evse, connector_id=1)


def tx_event(event_type: str, seq: int, minutes: float, info: dict, **extra):
    return call201.TransactionEvent(event_type=event_type, timestamp=at(minutes), trigger_reason="CablePluggedIn",
                                    seq_no=seq, transaction_info=info, **extra)


async def start16(cp, connector: int, tag: str, minutes: float = 0, wh: int = 1000) -> int:
    res = await cp.call(call.StartTransaction(connector_id=connector, id_tag=tag, meter_start=wh,
                                              timestamp=at(minutes)))
    await cp.call(status16(connector, "Charging"))
    return res.transaction_id


def test_available_after_a_restart_closes_the_stale_session_and_a_late_stop_corrects_it(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, _), charger(cs, "CP-1") as cp:
            await cp.call(BOOT16)
            tx_id = await start16(cp, 1, "TAG-1")
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[
                {"timestamp": at(30), "sampledValue": [{"value": "3000"}]}]))
        # both sides restart: the charger forgot its transaction and says its connectors are free
        async with central(store, settings) as (cs, events), charger(cs, "CP-1") as cp:
            await cp.call(BOOT16)
            await cp.call(status16(0, "Available"))
            await cp.call(status16(2, "Available"))
            assert store.find_transaction("CP-1", transaction_id=tx_id).active  # connector 0 and 2 say nothing of it
            await cp.call(status16(1, "Available"))
            tx = store.find_transaction("CP-1", transaction_id=tx_id)  # closed before the answer came back
            assert (tx.active, tx.stop_reason, tx.meter_stop_wh) == (False, AFTER_RESTART, 3000.0)
            assert inferred_stop(tx) and store.open_sessions(charger_id="CP-1") == []
            stopped = [e for e in events if e.kind == "tx_stopped"]
            assert [(e.connector_id, e.detail["reason"], e.detail["inferred"]) for e in stopped] == [
                (1, AFTER_RESTART, True)]
            # the charger's own StopTransaction, delivered late, is the truth: it corrects the inferred stop
            await cp.call(call.StopTransaction(meter_stop=3400, timestamp=at(40), transaction_id=tx_id,
                                               reason="EVDisconnected"))
            tx = store.find_transaction("CP-1", transaction_id=tx_id)
            assert (tx.stopped_at, tx.meter_stop_wh, tx.stop_reason) == (T0 + timedelta(minutes=40), 3400.0,
                                                                         "EVDisconnected")

    run(scenario())


def test_finishing_and_a_new_transaction_close_what_is_open_on_the_connector(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, _), charger(cs, "CP-1") as cp:
            await cp.call(BOOT16)
            first = await start16(cp, 1, "TAG-1")
            await cp.call(status16(1, "Finishing"))  # some chargers say so before their StopTransaction
            tx = store.find_transaction("CP-1", transaction_id=first)
            assert (tx.active, tx.stop_reason) == (False, "closed: connector reported Finishing")
            await cp.call(call.StopTransaction(meter_stop=2000, timestamp=at(20), transaction_id=first, reason="Local"))
            assert store.find_transaction("CP-1", transaction_id=first).stop_reason == "Local"

            second = await start16(cp, 2, "TAG-1", minutes=30)
            third = await start16(cp, 2, "TAG-2", minutes=40)  # the StopTransaction of `second` never came
            tx = store.find_transaction("CP-1", transaction_id=second)
            assert (tx.active, tx.stop_reason, tx.stopped_at) == (False, "closed: new transaction on the connector",
                                                                  T0 + timedelta(minutes=40))
            assert [t.id for t in store.open_sessions(charger_id="CP-1")] == [third]

    run(scenario())


def test_a_vehicle_is_on_one_connector_at_a_time(depot, settings, caplog):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, _):
            async with charger(cs, "CP-1") as cp:
                await cp.call(BOOT16)
                on_cp1 = await start16(cp, 1, "TAG-1")
                card = await start16(cp, 2, "CARD")
                async with charger(cs, "CS-2", Client201) as cs2:
                    await cs2.call(BOOT201)
                    # CP-1 is connected and still reports Charging for V1: that session is not closed on a hunch
                    await cs2.call(tx_event("Started", 0, 10, {"transaction_id": "t-1", "charging_state": "Charging"},
                                            evse={"id": 1, "connector_id": 1},
                                            id_token={"id_token": "TAG-1", "type": "ISO14443"}))
                    assert store.find_transaction("CP-1", transaction_id=on_cp1).active
                    assert "are both open; kept" in caplog.text
                    await cs2.call(tx_event("Ended", 1, 12, {"transaction_id": "t-1", "stopped_reason": "Local"}))
            # CP-1 went away without a word: V1's next session elsewhere closes the one it left there
            async with charger(cs, "CS-2", Client201) as cs2:
                await cs2.call(tx_event("Started", 2, 20, {"transaction_id": "t-2"}, evse={"id": 1, "connector_id": 1}))
                assert store.find_transaction("CP-1", transaction_id=on_cp1).active  # no token yet: no vehicle
                await cs2.call(tx_event("Updated", 3, 21, {"transaction_id": "t-2", "charging_state": "Charging"},
                                        id_token={"id_token": "TAG-1", "type": "ISO14443"}))
                tx = store.find_transaction("CP-1", transaction_id=on_cp1)
                assert (tx.active, tx.stop_reason) == (False, "closed: vehicle now on CS-2/1")
                assert [t.charger_id for t in store.open_sessions(vehicle_id="V1")] == ["CS-2"]
                # the depot card names no vehicle: on two connectors at once is nothing to repair
                await cs2.call(tx_event("Ended", 4, 22, {"transaction_id": "t-2"}))
                await cs2.call(tx_event("Started", 5, 23, {"transaction_id": "t-3"}, evse={"id": 1, "connector_id": 1},
                                        id_token={"id_token": "CARD", "type": "ISO14443"}))
                assert store.find_transaction("CP-1", transaction_id=card).active

    with caplog.at_level(logging.WARNING, logger="depot.ocpp"):
        run(scenario())


def test_after_a_boot_silent_connectors_are_asked_and_one_still_charging_keeps_its_session(depot, settings,
                                                                                              monkeypatch):
    store = depot
    monkeypatch.setattr(Reconciling, "VERIFY_AFTER_BOOT_S", 0.2)

    async def scenario():
        async with central(store, settings) as (cs, _), charger(cs, "CP-1") as cp:
            await cp.call(BOOT16)
            running = await start16(cp, 1, "TAG-1")
            stale = await start16(cp, 2, "TAG-2")
        async with central(store, settings) as (cs, _), charger(cs, "CP-1") as cp:
            await cp.call(BOOT16)  # and not a word about its connectors
            asked = await eventually(lambda: (ks := sorted(k["connector_id"] for a, k in cp.received
                                                           if a == "TriggerMessage")) == [1, 2] and ks,
                                     what="both connectors asked for their status")
            assert asked == [1, 2]
            await cp.call(status16(1, "Charging"))  # what it answers: one still charges …
            await cp.call(status16(2, "Available"))  # … the other is free
            assert store.find_transaction("CP-1", transaction_id=running).active
            assert store.find_transaction("CP-1", transaction_id=stale).stop_reason == AFTER_RESTART

    run(scenario())


def test_201_available_after_restart_closes_and_a_late_ended_corrects_it(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, _), charger(cs, "CS-2", Client201) as cp:
            await cp.call(BOOT201)
            await cp.call(tx_event("Started", 0, 0, {"transaction_id": "t-9", "charging_state": "Charging"},
                                   evse={"id": 1, "connector_id": 1}, id_token={"id_token": "TAG-2", "type": "ISO14443"},
                                   meter_value=[{"timestamp": at(0), "sampled_value": [{"value": 500}]}]))
        async with central(store, settings) as (cs, events), charger(cs, "CS-2", Client201) as cp:
            await cp.call(BOOT201)
            await cp.call(status201("Occupied"))  # occupied, transaction still open: nothing to close
            assert store.find_transaction("CS-2", charger_tx_id="t-9").active
            await cp.call(status201("Available"))
            tx = store.find_transaction("CS-2", charger_tx_id="t-9")
            assert (tx.active, tx.stop_reason) == (False, "closed: connector reported Available")
            assert any(e.kind == "tx_stopped" and e.detail.get("inferred") for e in events)
            await cp.call(tx_event("Ended", 7, 50, {"transaction_id": "t-9", "stopped_reason": "EVDisconnected"},
                                   meter_value=[{"timestamp": at(50), "sampled_value": [{"value": 4500}]}]))
            tx = store.find_transaction("CS-2", charger_tx_id="t-9")
            assert (tx.stop_reason, tx.meter_stop_wh, tx.stopped_at) == ("EVDisconnected", 4500.0,
                                                                         T0 + timedelta(minutes=50))

    run(scenario())


def test_201_a_transaction_id_used_again_after_a_restart_is_a_new_session(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, _), charger(cs, "CS-2", Client201) as cp:
            await cp.call(BOOT201)
            started = tx_event("Started", 0, 0, {"transaction_id": "1", "charging_state": "Charging"},
                               evse={"id": 1, "connector_id": 1}, id_token={"id_token": "TAG-2", "type": "ISO14443"})
            await cp.call(started)
            await cp.call(started)  # a resend (our answer was lost): the same session
            assert len(store.open_sessions(charger_id="CS-2")) == 1
            old = store.find_transaction("CS-2", charger_tx_id="1")
        async with central(store, settings) as (cs, _), charger(cs, "CS-2", Client201) as cp:
            await cp.call(BOOT201)  # the station restarted and counts its transaction ids from 1 again
            await cp.call(tx_event("Started", 0, 90, {"transaction_id": "1", "charging_state": "Charging"},
                                   evse={"id": 1, "connector_id": 1},
                                   id_token={"id_token": "TAG-1", "type": "ISO14443"}))
            closed = store.find_transaction("CS-2", transaction_id=old.id)
            assert (closed.active, closed.stop_reason) == (False, "closed: its transaction id was used again")
            new = store.find_transaction("CS-2", charger_tx_id="1")
            assert (new.id != old.id, new.vehicle_id, new.started_at) == (True, "V1", T0 + timedelta(minutes=90))

    run(scenario())


def test_a_corrected_inferred_stop_is_costed_again(depot):
    from depot.store.tables_costs import SessionCostRow

    store = depot
    tx = store.start_transaction("CP-1", 1, "TAG-1", started_at=T0, meter_start_wh=0.0)
    with pytest.raises(ValueError):
        store.close_sessions([tx.id], stopped_at=T0 + timedelta(hours=1), reason="Local")  # not an inference
    (closed,) = store.close_sessions([tx.id], stopped_at=T0 + timedelta(hours=1), reason="closed: test")
    assert store.close_sessions([tx.id], stopped_at=T0, reason="closed: again") == []  # closed already
    with store.session() as s:  # the ledger costed it with the inferred stop
        zeros = {c.name: 0.0 for c in SessionCostRow.__table__.columns if c.type.python_type is float}
        s.add(SessionCostRow(**zeros, transaction_id=tx.id, charger_id="CP-1", connector_id=1, vehicle_id="V1",
                             started_at=T0, stopped_at=closed.stopped_at, local_day="2026-11-21",
                             charging_ended_at=closed.stopped_at, computed_at=closed.stopped_at))
    fixed = store.stop_transaction("CP-1", transaction_id=tx.id, stopped_at=T0 + timedelta(hours=2),
                                   meter_stop_wh=9000.0, reason="EVDisconnected")
    assert (fixed.stop_reason, fixed.meter_stop_wh) == ("EVDisconnected", 9000.0)
    with store.session() as s:
        assert s.get(SessionCostRow, tx.id) is None  # the ledger's next update costs it again
    again = store.stop_transaction("CP-1", transaction_id=tx.id, stopped_at=T0, reason="Local")
    assert again.stop_reason == "EVDisconnected"  # a stop from the charger is never overwritten
