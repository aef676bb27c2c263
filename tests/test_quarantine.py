"""Values that pass the schema but are impossible, sent by real `ocpp` clients over loopback (issue 11 §2): each
is answered with the normal CALLRESULT, kept in the quarantine table, never in meter_samples, a session's
ledger values or a bill, and raises the charger's data-quality alert. Also: a stored year-9999 sample cannot
stop the demo from starting."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call, call_result
from ocpp.v201 import call as call201
from sqlalchemy import text

from depot.clock import DemoClock, demo_clock_start, utc_now
from depot.costs import ledger
from depot.model import Charger, MeterSample, Protocol, Vehicle
from depot.people import alert_rules as rules
from depot.people.alert_watch import AlertWatcher
from depot.people.alerts import list_alerts
from depot.store import TransactionRow
from tests.ocpp_clients import T0, Client201, at, central, charger, run, with_passwords

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)


@pytest.fixture
def depot(store):
    for cid, connectors in (("CP-1", 2), ("CP-2", 1), ("CS-1", 2)):
        store.add_charger(Charger(cid, 22.0), connectors=connectors)
    store.add_vehicle(Vehicle("V1", "Van 1", 75.0, id_tag="TAG-1"))
    return with_passwords(store)


def energy16(minutes: float, value: str, *, stamp: str | None = None, measurand: str | None = None) -> dict:
    sv = {"value": value} if measurand is None else {"value": value, "measurand": measurand}
    return {"timestamp": stamp or at(minutes), "sampledValue": [sv]}


def energy201(minutes: float, value: float, *, stamp: str | None = None) -> dict:
    return {"timestamp": stamp or at(minutes), "sampled_value": [
        {"value": value, "measurand": "Energy.Active.Import.Register"}]}


def event201(kind: str, seq: int, minutes: float, tx_id: str, meter_value=None, *, stamp: str | None = None, **kw):
    return call201.TransactionEvent(event_type=kind, timestamp=stamp or at(minutes), trigger_reason="MeterValuePeriodic",
                                    seq_no=seq, transaction_info={"transaction_id": tx_id}, meter_value=meter_value,
                                    **kw)


def quarantined(store, cid: str) -> list[tuple[str, str, str]]:
    return [(q.action, q.field, q.value) for q in reversed(store.quarantined(cid, limit=500))]


def stored_energies(store) -> list[float]:
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT energy_wh FROM meter_samples WHERE energy_wh IS NOT NULL"))]


def ledger_values(store, tx_id: int) -> tuple:
    """What the ledger, the plan and the floor plan read of a session."""
    with store.session() as s:
        r = s.get(TransactionRow, tx_id)
        return r.meter_start_wh, r.meter_stop_wh, r.last_energy_wh, r.last_sample_at, r.started_at, r.stopped_at


def data_quality_alerts(store, settings, events) -> dict[str, int]:
    """Feed the events to the alert watcher as the runtime does: {charger: occurrences} of data-quality alerts."""
    watcher = AlertWatcher(store, settings, utc_now)
    for e in events:
        watcher.on_event(e)
    return {a.charger_id: a.count for a in list_alerts(store, kind=rules.DATA_QUALITY)}


def billed_kwh(store, tx_id: int) -> float:
    ledger.update(store, now=utc_now())
    with store.session() as s:
        row = s.get(ledger.SessionCostRow, tx_id)
        return 0.0 if row is None else row.energy_kwh


def test_impossible_energy_is_quarantined_and_never_billed_16(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, events), charger(cs, "CP-1") as cp:
            tx_id = (await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000,
                                                         timestamp=at(0)))).transaction_id
            answer = await cp.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[
                energy16(1, "-5000"), energy16(2, "-1e308"), energy16(3, "1e308"), energy16(4, "1e309"),
                energy16(5, "2000"), energy16(6, "999999"), energy16(6.5, "1500"),
                energy16(7, "900", measurand="SoC"), energy16(7, "1e7", measurand="Power.Active.Import")]))
            assert isinstance(answer, call_result.MeterValues)  # a normal CALLRESULT, no CALLERROR
            assert [s.energy_wh for s in store.meter_samples(transaction_id=tx_id)] == [2000.0]
            await cp.call(call.StopTransaction(meter_stop=2500, timestamp=at(8), transaction_id=tx_id))
        return tx_id, events

    tx_id, events = run(scenario())
    assert [(f, v) for _, f, v in quarantined(store, "CP-1")] == [
        ("energy_wh", "1e309"), ("energy_wh", "-5000"), ("energy_wh", "-1e+308"), ("energy_wh", "1e+308"),
        ("energy_wh", "999999"), ("energy_wh", "1500"), ("soc", "900"), ("power_w", "1e+07")]
    assert stored_energies(store) == [2000.0]
    start, stop, last, *_ = ledger_values(store, tx_id)
    assert (start, stop, last) == (1000.0, 2500.0, 2000.0)
    assert data_quality_alerts(store, settings, events) == {"CP-1": 1}
    assert billed_kwh(store, tx_id) == pytest.approx(1.5)  # only the good energy: 1000 → 2000 → 2500 Wh


def test_an_impossible_meter_start_takes_the_first_good_reading(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, events), charger(cs, "CP-1") as cp:
            started = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=-1_000_000_000,
                                                          timestamp=at(0)))
            assert started.transaction_id > 0 and started.id_tag_info["status"] == "Accepted"  # it is charging
            tx_id = started.transaction_id
            assert ledger_values(store, tx_id)[:3] == (0.0, None, None)  # unknown: nothing metered yet
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[
                energy16(5, "50000"), energy16(10, "51000")]))
            await cp.call(call.StopTransaction(meter_stop=52000, timestamp=at(15), transaction_id=tx_id))
        return tx_id, events

    tx_id, events = run(scenario())
    assert quarantined(store, "CP-1") == [("StartTransaction", "meter_start", "-1e+09")]
    assert ledger_values(store, tx_id)[:3] == (50000.0, 52000.0, 51000.0)
    assert data_quality_alerts(store, settings, events) == {"CP-1": 1}
    assert billed_kwh(store, tx_id) == pytest.approx(2.0)


def test_an_impossible_meter_stop_closes_at_the_last_good_register(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, events), charger(cs, "CP-1") as cp:
            jump = (await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000,
                                                        timestamp=at(0)))).transaction_id
            await cp.call(call.StopTransaction(meter_stop=500000, timestamp=at(1), transaction_id=jump))
            back = (await cp.call(call.StartTransaction(connector_id=2, id_tag="TAG-X", meter_start=8000,
                                                        timestamp=at(2)))).transaction_id
            await cp.call(call.MeterValues(connector_id=2, transaction_id=back, meter_value=[energy16(10, "9000")]))
            await cp.call(call.StopTransaction(meter_stop=7000, timestamp=at(12), transaction_id=back,
                                               transaction_data=[energy16(11, "-3")]))
        return jump, back, events

    jump, back, events = run(scenario())
    assert quarantined(store, "CP-1") == [("StopTransaction", "meter_stop", "500000"),
                                          ("StopTransaction", "energy_wh", "-3"),
                                          ("StopTransaction", "meter_stop", "7000")]
    assert ledger_values(store, jump)[:2] == (1000.0, 1000.0) and ledger_values(store, back)[:2] == (8000.0, 9000.0)
    assert data_quality_alerts(store, settings, events) == {"CP-1": 2}  # folded: one alert, two occurrences
    assert billed_kwh(store, jump) == 0.0 and billed_kwh(store, back) == pytest.approx(1.0)


def test_connector_ids_above_the_cap_make_no_connector_row(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, events), charger(cs, "CP-1") as cp, \
                charger(cs, "CS-1", Client201) as cp2:
            await cp.call(call.StatusNotification(connector_id=99, error_code="NoError", status="Available"))
            await cp.call(call.MeterValues(connector_id=99, meter_value=[energy16(1, "100")]))
            await cp2.call(call201.StatusNotification(timestamp=at(1), connector_status="Available", evse_id=99,
                                                      connector_id=1))
            await cp2.call(call201.MeterValues(evse_id=99, meter_value=[energy201(1, 100)]))
            await cp2.call(event201("Started", 0, 2, "t-99", [energy201(2, 100)], evse={"id": 99, "connector_id": 1}))
        return events

    events = run(scenario())
    assert [c.connector_id for c in store.connectors("CP-1")] == [1, 2]
    assert [c.connector_id for c in store.connectors("CS-1")] == [1, 2]
    assert quarantined(store, "CP-1") == [("StatusNotification", "connector_id", "99"),
                                          ("MeterValues", "connector_id", "99")]
    assert quarantined(store, "CS-1") == [("StatusNotification", "evse_id", "99"), ("MeterValues", "evse_id", "99"),
                                          ("TransactionEvent", "evse_id", "99")]
    assert stored_energies(store) == [] and store.find_transaction("CS-1", charger_tx_id="t-99") is None
    assert data_quality_alerts(store, settings, events) == {"CP-1": 2, "CS-1": 3}


def test_impossible_timestamps_are_replaced_by_the_receive_time(depot, settings):
    store = depot
    old, future = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"

    async def scenario():
        async with central(store, settings) as (cs, events), charger(cs, "CP-1") as cp, \
                charger(cs, "CS-1", Client201) as cp2:
            before = utc_now()
            tx_id = (await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000,
                                                         timestamp=future))).transaction_id
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[
                energy16(0, "1100", stamp=old), energy16(0, "1200", stamp="yesterday")]))
            await cp.call(call.StopTransaction(meter_stop=1300, timestamp=future, transaction_id=tx_id))
            await cp2.call(call201.StatusNotification(timestamp=old, connector_status="Available", evse_id=1,
                                                      connector_id=1))
            await cp2.call(event201("Started", 0, 0, "t-1", [energy201(0, 500, stamp=future)], stamp=old,
                                    evse={"id": 1, "connector_id": 1}))
            return tx_id, before, utc_now(), events

    tx_id, before, after, events = run(scenario())
    *_, last_at, started, stopped = ledger_values(store, tx_id)
    assert all(before <= t <= after for t in (last_at, started, stopped))
    assert all(before <= s.at <= after for s in store.meter_samples(transaction_id=tx_id))
    assert [s.energy_wh for s in store.meter_samples(transaction_id=tx_id)] == [1100.0, 1200.0]
    assert [(a, v) for a, _, v in quarantined(store, "CP-1")] == [
        ("StartTransaction", future), ("MeterValues", old), ("MeterValues", "yesterday"), ("StopTransaction", future)]
    assert all(q.reason.startswith("timestamp replaced") for q in store.quarantined(limit=100))
    t201 = store.find_transaction("CS-1", charger_tx_id="t-1")
    assert before <= t201.started_at <= after and t201.meter_start_wh == 500.0
    assert [(a, v) for a, _, v in quarantined(store, "CS-1")] == [
        ("StatusNotification", old), ("TransactionEvent", old), ("TransactionEvent", future)]
    assert store.latest_timestamp() <= after + timedelta(seconds=1)
    assert data_quality_alerts(store, settings, events) == {"CP-1": 3, "CS-1": 2}


def test_a_backlog_beyond_the_limit_is_replaced_but_a_queued_hour_is_kept(depot, settings):
    store = depot
    now = utc_now()
    week_old, hour_old = (now - timedelta(days=8)).isoformat(), (now - timedelta(hours=1)).isoformat()

    async def scenario():
        async with central(store, settings, max_backlog_s=7 * 86400.0) as (cs, _), charger(cs, "CP-1") as cp:
            tx_id = (await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000,
                                                         timestamp=hour_old))).transaction_id
            await cp.call(call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=[
                energy16(0, "1100", stamp=week_old)]))
            return tx_id

    tx_id = run(scenario())
    assert store.find_transaction("CP-1", transaction_id=tx_id).started_at == datetime.fromisoformat(hour_old)
    assert [(a, v) for a, _, v in quarantined(store, "CP-1")] == [("MeterValues", week_old)]
    assert store.meter_samples(transaction_id=tx_id)[0].at >= now


def test_meter_values_for_another_chargers_transaction_are_not_booked(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, events), charger(cs, "CP-1") as cp1, charger(cs, "CP-2") as cp2:
            own = (await cp1.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000,
                                                        timestamp=at(0)))).transaction_id
            other = (await cp2.call(call.StartTransaction(connector_id=1, id_tag="TAG-X", meter_start=5000,
                                                          timestamp=at(0)))).transaction_id
            await cp1.call(call.MeterValues(connector_id=1, transaction_id=other, meter_value=[energy16(1, "5100")]))
            await cp1.call(call.MeterValues(connector_id=1, transaction_id=424242, meter_value=[energy16(2, "1100")]))
            return own, other, events

    own, other, events = run(scenario())
    assert store.meter_samples(transaction_id=own) == [] and store.meter_samples(transaction_id=other) == []
    assert quarantined(store, "CP-1") == [("MeterValues", "transaction_id", str(other)),
                                          ("MeterValues", "transaction_id", "424242")]
    assert data_quality_alerts(store, settings, events) == {"CP-1": 2}


def test_a_new_start_never_closes_the_open_session_before_its_start(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, _), charger(cs, "CP-1") as cp:
            first = (await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000,
                                                         timestamp=at(10)))).transaction_id
            await cp.call(call.MeterValues(connector_id=1, transaction_id=first, meter_value=[energy16(12, "1500")]))
            second = (await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-X", meter_start=900,
                                                          timestamp=at(5)))).transaction_id  # starts earlier
            return first, second

    first, second = run(scenario())
    closed = store.find_transaction("CP-1", transaction_id=first)
    assert closed.started_at == T0 + timedelta(minutes=10) and closed.stopped_at == T0 + timedelta(minutes=12)
    assert closed.stopped_at >= closed.started_at and store.find_transaction("CP-1", transaction_id=second).active


def test_a_201_session_meters_only_its_possible_values(depot, settings):
    store = depot

    async def scenario():
        async with central(store, settings) as (cs, events), charger(cs, "CS-1", Client201) as cp:
            await cp.call(event201("Started", 0, 0, "t-9", [energy201(0, -5000)], evse={"id": 1, "connector_id": 1}))
            await cp.call(event201("Updated", 1, 5, "t-9", [energy201(5, 10_000), energy201(6, 1e308)]))
            await cp.call(call201.MeterValues(evse_id=1, meter_value=[energy201(7, 999_999), energy201(8, 10_500)]))
            await cp.call(event201("Ended", 2, 10, "t-9", [energy201(10, -1e308)]))
        return events

    events = run(scenario())
    tx = store.find_transaction("CS-1", charger_tx_id="t-9")
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.active) == (10_000.0, 10_500.0, False)
    assert [s.energy_wh for s in store.meter_samples(transaction_id=tx.id)] == [10_000.0, 10_500.0]
    assert [v for _, _, v in quarantined(store, "CS-1")] == ["-5000", "1e+308", "999999", "-1e+308"]
    assert data_quality_alerts(store, settings, events) == {"CS-1": 4}
    assert billed_kwh(store, tx.id) == pytest.approx(0.5)


def test_a_stored_year_9999_sample_cannot_stop_the_demo_from_starting(store, settings):
    from depot.runtime import Runtime

    store.add_charger(Charger("CP-1", 22.0))
    tx = store.start_transaction("CP-1", 1, None, started_at=T0)
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    store.add_meter_samples("CP-1", 1, [MeterSample(T0 + timedelta(minutes=5), 500.0), MeterSample(far, 9e9)],
                            transaction_id=tx.id)
    store.record_boot("CP-1", protocol=Protocol.OCPP16, now=T0 + timedelta(minutes=6), vendor="x", model="y", serial=None,
                      firmware=None, heartbeat_interval=60)
    now = utc_now()
    latest = store.latest_timestamp()
    assert latest is not None and latest < now  # the year 9999 is not the newest time this database has seen
    assert demo_clock_start(far, now) <= now + timedelta(days=1)  # nor can it reach the clock another way
    clock = DemoClock(demo_clock_start(latest, now), 60.0)
    assert math.isfinite(clock().timestamp())
    runtime = Runtime(settings, store, clock=clock)
    runtime.start()
    try:
        assert runtime.ocpp_port > 0 and clock() < far
    finally:
        runtime.stop()
    # nor does the stored last sample make a reconciled session stop in the year 9999
    (closed,) = store.close_sessions([tx.id], stopped_at=T0 + timedelta(minutes=10), reason="closed: test", now=now)
    assert closed.stopped_at == T0 + timedelta(minutes=10)


def test_the_maintenance_page_shows_the_chargers_latest_quarantined_values(store):
    from depot.people import maintenance
    from layouts import _maintenance_parts as ui

    store.add_charger(Charger("CP-1", 22.0))
    for i, value in enumerate(("-5000", "9999-12-31T23:59:59Z")):
        store.add_quarantine("CP-1", received_at=T0 + timedelta(minutes=i), action="MeterValues", excerpt="{}",
                             rejects=[("energy_wh" if i == 0 else "timestamp", value, f"reason {i}")])
    store.add_quarantine("CP-2", received_at=T0, action="MeterValues", rejects=[("soc", "900", "other charger")])
    rows = maintenance.quarantined(store, "CP-1")
    assert [(q.field, q.value) for q in rows] == [("timestamp", "9999-12-31T23:59:59Z"), ("energy_wh", "-5000")]
    page = str(ui.quarantine_table(rows, T0 + timedelta(hours=1)).to_plotly_json())
    assert "-5000" in page and "9999-12-31T23:59:59Z" in page and "reason 0" in page and "other charger" not in page
    assert "Nothing quarantined" in str(ui.quarantine_table([], T0).to_plotly_json())
