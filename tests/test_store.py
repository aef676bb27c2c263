"""The store on a real SQLite file and on PostgreSQL: schema migrations, domain values out, aware UTC, threads
sharing a database."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from depot.errors import NotFound, ValidationError
from depot.model import (
    Capabilities,
    Charger,
    ConnectorStatus,
    CurrentType,
    EventRecord,
    MeterSample,
    Protocol,
    TagStatus,
    Vehicle,
)
from depot.store import Store

NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)


def test_migrate_creates_every_table_in_wal_mode_and_is_idempotent(store, db_url):
    store.migrate()
    names = set(inspect(store.engine).get_table_names())
    assert {"site", "chargers", "connectors", "vehicles", "id_tags", "transactions", "meter_samples",
            "events", "alembic_version"} <= names
    with store.engine.connect() as conn:
        heads = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
        if store.engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    from alembic.script import ScriptDirectory

    from depot.store import MIGRATIONS
    assert heads == set(ScriptDirectory(str(MIGRATIONS)).get_heads())  # every branch at its newest revision


def test_charger_lifecycle_and_validation(store):
    store.add_charger(Charger("CP-1", 22.0, bay="A01"), connectors=2)
    store.add_charger(Charger("DC-1", 150.0, current_type=CurrentType.DC, bay="B01"))
    with pytest.raises(ValidationError, match="already exists"):
        store.add_charger(Charger("CP-1", 11.0))
    with pytest.raises(ValidationError, match="max_kw"):
        store.add_charger(Charger("CP-X", 0.0))
    with pytest.raises(ValidationError, match="id"):
        store.add_charger(Charger("a/b", 11.0))
    assert [c.id for c in store.list_chargers()] == ["CP-1", "DC-1"]
    assert [c.connector_id for c in store.connectors("CP-1")] == [1, 2]
    store.remove_charger("DC-1")
    assert store.get_charger("DC-1") is None
    with pytest.raises(NotFound):
        store.remove_charger("DC-1")


def test_boot_records_identity_and_unknown_chargers_are_uncommissioned(store):
    store.add_charger(Charger("CP-1", 22.0))
    ch = store.record_boot("CP-1", protocol=Protocol.OCPP201, now=NOW, vendor="ABB", model="Terra",
                           firmware="1.2.3", heartbeat_interval=300)
    assert (ch.vendor, ch.protocol, ch.last_boot, ch.heartbeat_interval, ch.commissioned) == (
        "ABB", Protocol.OCPP201, NOW, 300, True)
    assert ch.last_boot.tzinfo is not None
    new = store.register_unknown("NEW-9", Protocol.OCPP16, NOW)
    assert not new.commissioned and store.get_charger("NEW-9") is not None
    store.set_capabilities("CP-1", Capabilities("A", 24, 8))
    assert store.get_charger("CP-1").capabilities == Capabilities("A", 24, 8)


def test_naive_timestamps_are_refused(store):
    store.add_charger(Charger("CP-1", 22.0))
    with pytest.raises(Exception, match="timezone-aware"):
        store.touch("CP-1", datetime(2026, 11, 21, 18, 0))


def test_tags(store):
    store.add_vehicle(Vehicle("BUS-1", "Bus 1", 300.0, id_tag="TAG-1"))
    store.add_tag("TAG-2")
    assert store.tag_status("TAG-1", NOW) == TagStatus.ACCEPTED
    assert store.tag_status("UNKNOWN", NOW) == TagStatus.INVALID
    store.block_tag("TAG-2")
    assert store.tag_status("TAG-2", NOW) == TagStatus.BLOCKED
    with pytest.raises(NotFound):
        store.add_tag("TAG-3", "NO-SUCH-VEHICLE")
    assert [(t.tag, t.vehicle_id, t.blocked) for t in store.list_tags()] == [
        ("TAG-1", "BUS-1", False), ("TAG-2", None, True)]


def test_transaction_life_with_samples_feeds_the_floor_plan(store):
    store.set_site("Depot North", 400.0)
    store.add_charger(Charger("CP-1", 22.0, bay="A01"))
    store.add_vehicle(Vehicle("BUS-1", "Bus 1", 300.0, id_tag="TAG-1"))
    store.record_boot("CP-1", protocol=Protocol.OCPP16, now=NOW)
    tx = store.start_transaction("CP-1", 1, "TAG-1", started_at=NOW, meter_start_wh=10_000)
    assert tx.vehicle_id == "BUS-1" and tx.active
    store.set_connector_status("CP-1", 1, ConnectorStatus.CHARGING, now=NOW)
    later = NOW + timedelta(minutes=10)
    store.add_meter_samples("CP-1", 1, [MeterSample(later, 13_500, 21_000, 30.4, 55.0),
                                        MeterSample(NOW + timedelta(minutes=5), 11_000, 20_000)],
                            transaction_id=tx.id)
    store.touch("CP-1", later)  # the OCPP server touches last_seen on every message
    views, summary = store.floor_snapshot(later)
    (view,) = views
    conn = view.connectors[0]
    assert (view.status, conn.vehicle_name, conn.power_kw, conn.soc, conn.session_kwh) == (
        ConnectorStatus.CHARGING, "Bus 1", 21.0, 55.0, 3.5)  # the newest sample wins, not the last sent
    assert (summary.chargers_online, summary.charging_now, summary.site_power_kw, summary.grid_kw) == (1, 1, 21.0, 400.0)
    stopped = store.stop_transaction("CP-1", stopped_at=later, transaction_id=tx.id, reason="EVDisconnected")
    assert (stopped.meter_stop_wh, stopped.stop_reason) == (13_500, "EVDisconnected")
    assert store.active_transactions() == []
    assert len(store.meter_samples(transaction_id=tx.id)) == 2


def test_charger_tx_id_start_is_idempotent(store):
    store.add_charger(Charger("CP-2", 22.0))
    a = store.start_transaction("CP-2", 1, None, started_at=NOW, charger_tx_id="abc")
    b = store.start_transaction("CP-2", 1, None, started_at=NOW, charger_tx_id="abc")
    assert a.id == b.id
    assert store.find_transaction("CP-2", charger_tx_id="abc").id == a.id
    assert store.find_transaction("OTHER", transaction_id=a.id) is None


def test_offline_after_two_missed_heartbeats(store):
    store.add_charger(Charger("CP-1", 22.0, heartbeat_interval=60))
    store.record_boot("CP-1", protocol=Protocol.OCPP16, now=NOW)
    views, _ = store.floor_snapshot(NOW + timedelta(seconds=119))
    assert views[0].online
    views, summary = store.floor_snapshot(NOW + timedelta(seconds=121))
    assert not views[0].online and views[0].status == ConnectorStatus.OFFLINE and summary.chargers_online == 0


def test_event_log_and_detail(store):
    store.add_charger(Charger("CP-1", 22.0))
    store.record_boot("CP-1", protocol=Protocol.OCPP16, now=NOW)
    for i in range(20):
        store.log_event(EventRecord(NOW + timedelta(seconds=i), "CP-1", "in", "call", "Heartbeat", "{}"))
    store.log_event(EventRecord(NOW, "CP-1", "in", "call", "StatusNotification",
                                '{"connectorId":1,"status":"Faulted","errorCode":"GroundFailure"}'))
    detail = store.charger_detail("CP-1", NOW, messages=5)
    assert len(detail.messages) == 5 and detail.messages[0].action == "StatusNotification"
    assert [e.action for e in detail.errors] == ["StatusNotification"]
    with pytest.raises(NotFound):
        store.charger_detail("NOPE", NOW)
    assert store.latest_timestamp() == NOW + timedelta(seconds=19)


def test_two_threads_share_one_sqlite_file(db_url):
    """The OCPP loop thread writes while web threads read: WAL plus a busy timeout, no 'database is locked'."""
    a, b = Store(db_url), Store(db_url)
    a.migrate()
    a.add_charger(Charger("CP-1", 22.0))
    tx = a.start_transaction("CP-1", 1, None, started_at=NOW)
    errors = []

    def writer():
        try:
            for i in range(200):
                a.add_meter_samples("CP-1", 1, [MeterSample(NOW + timedelta(seconds=i), float(i))],
                                    transaction_id=tx.id)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    def reader():
        try:
            for _ in range(200):
                b.floor_snapshot(NOW)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert b.count("meter_samples") == 200


def test_departures_are_replaced_atomically_and_past_ones_kept(store):
    from depot.planning.departures import Departure

    store.add_vehicle(Vehicle("BUS-1", "Bus 1", 300.0))
    past = Departure("BUS-1", NOW - timedelta(hours=2), energy_kwh=10.0)
    store.replace_departures([past], now=NOW - timedelta(days=1))
    saved = store.replace_departures([Departure("BUS-1", NOW + timedelta(hours=12), energy_kwh=100.0, priority=2)],
                                     now=NOW)
    assert saved[0].id is not None and saved[0].priority == 2
    assert [d.energy_kwh for d in store.departures()] == [10.0, 100.0]
    assert [d.energy_kwh for d in store.departures(after=NOW)] == [100.0]
    with pytest.raises(IntegrityError):  # an unknown vehicle breaks the foreign key: nothing of the batch is saved
        store.replace_departures([Departure("BUS-1", NOW + timedelta(hours=3), energy_kwh=1.0),
                                  Departure("GHOST", NOW + timedelta(hours=4), energy_kwh=1.0)], now=NOW)
    assert [d.energy_kwh for d in store.departures(after=NOW)] == [100.0]


def test_roster_round_trip(store):
    from datetime import time

    from depot.planning.departures import RosterEntry

    store.add_vehicle(Vehicle("BUS-1", "Bus 1", 300.0))
    store.replace_roster([RosterEntry("BUS-1", 4, time(17, 30), time(5, 15), target_soc=95.0)])
    (entry,) = store.roster()
    assert (entry.weekday, entry.arrival, entry.departure, entry.target_soc) == (4, time(17, 30), time(5, 15), 95.0)


def test_plans_are_versioned(store):
    first = store.save_plan(created_at=NOW, reason="arrival BUS-1", status="optimal", problem={"a": 1},
                            plan={"status": "optimal"})
    second = store.save_plan(created_at=NOW + timedelta(minutes=5), reason="departure edited", status="partial",
                             problem={"a": 2}, plan={"status": "partial"})
    assert store.active_plan().id == second.id == store.active_plan_id()
    assert store.active_plan(at=NOW + timedelta(minutes=1)).id == first.id
    assert store.active_plan(at=NOW - timedelta(minutes=1)) is None
    assert [p.reason for p in store.plan_history()] == ["departure edited", "arrival BUS-1"]
    assert store.plan_history()[1].superseded_at == NOW + timedelta(minutes=5)


def test_a_fault_of_the_whole_charger_shows_on_every_connector(store):
    store.add_charger(Charger("CP-2", 22.0), connectors=2)
    store.record_boot("CP-2", protocol=Protocol.OCPP16, now=NOW)
    store.set_connector_status("CP-2", 1, ConnectorStatus.AVAILABLE, now=NOW)
    store.set_connector_status("CP-2", 0, ConnectorStatus.FAULTED, now=NOW, error_code="PowerSwitchFailure")
    (view,), _ = store.floor_snapshot(NOW)
    assert view.status == ConnectorStatus.FAULTED
    assert {(c.connector_id, c.status, c.error_code) for c in view.connectors} == {
        (1, ConnectorStatus.FAULTED, "PowerSwitchFailure"), (2, ConnectorStatus.FAULTED, "PowerSwitchFailure")}


def test_a_connector_suspended_after_its_last_reading_draws_nothing(store):
    store.add_charger(Charger("CP-1", 22.0))
    store.record_boot("CP-1", protocol=Protocol.OCPP16, now=NOW)
    tx = store.start_transaction("CP-1", 1, None, started_at=NOW)
    store.add_meter_samples("CP-1", 1, [MeterSample(NOW, 1000.0, 10_350.0)], transaction_id=tx.id)
    store.set_connector_status("CP-1", 1, ConnectorStatus.CHARGING, now=NOW)
    (view,), summary = store.floor_snapshot(NOW)
    assert view.connectors[0].power_kw == 10.35 and summary.site_power_kw == 10.35
    store.set_connector_status("CP-1", 1, ConnectorStatus.SUSPENDED_EVSE, now=NOW + timedelta(seconds=30))
    (view,), summary = store.floor_snapshot(NOW + timedelta(seconds=30))
    assert view.connectors[0].power_kw == 0.0 and summary.site_power_kw == 0.0
    # a reading taken after the suspension is believed again
    store.add_meter_samples("CP-1", 1, [MeterSample(NOW + timedelta(seconds=40), 1000.0, 200.0)],
                            transaction_id=tx.id)
    (view,), _ = store.floor_snapshot(NOW + timedelta(seconds=40))
    assert view.connectors[0].power_kw == 0.2


def test_the_ids_of_the_growing_tables_count_past_32_bits(store):
    """Raw frames, meter samples and charging commands pass 2**31 rows in the life of a large depot, where
    PostgreSQL's INTEGER (and its SERIAL sequence) would stop: their ids are 64-bit on every database."""
    from depot.store import enforcement as es

    big = 2**31 + 10
    store.add_charger(Charger("CP-1", 22.0))
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO events (id, at, charger_id, direction, kind, payload) "
                          "VALUES (:id, :at, 'CP-1', 'in', 'call', '{}')"), {"id": big, "at": NOW.replace(tzinfo=None)})
        conn.execute(text("INSERT INTO meter_samples (id, charger_id, connector_id, at) VALUES (:id, 'CP-1', 1, :at)"),
                     {"id": big, "at": NOW.replace(tzinfo=None)})
        conn.execute(text("INSERT INTO charging_commands (id, at, charger_id, connector_id, purpose, profile_id, "
                          "limit_kw, payload, status) VALUES (:id, :at, 'CP-1', 1, 'TxProfile', 1, 1.0, '{}', 'Pending')"),
                     {"id": big, "at": NOW.replace(tzinfo=None)})
        if store.engine.dialect.name == "postgresql":  # the sequences go on from there (SQLite: max(rowid) + 1)
            for table in ("events", "meter_samples", "charging_commands"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {big})"))
    store.log_event(EventRecord(NOW, "CP-1", "in", "call", "Heartbeat", "{}"))
    store.write_journal([EventRecord(NOW, "CP-1", "out", "result", "Heartbeat", "{}")], {"CP-1": NOW})
    store.add_meter_samples("CP-1", 1, [MeterSample(NOW, 1.0)])
    command = es.record_command(store, at=NOW, charger_id="CP-1", connector_id=1, purpose="TxProfile",
                                profile_id=2, limit_kw=2.0, payload={})
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT max(id) FROM events")).scalar() == big + 2
        assert conn.execute(text("SELECT max(id) FROM meter_samples")).scalar() == big + 1
    assert command == big + 1


def test_a_charger_id_longer_than_its_column_is_refused_on_every_database(store):
    with pytest.raises(ValidationError, match="64"):
        store.add_charger(Charger("C" * 65, 22.0))
    store.add_charger(Charger("C" * 64, 22.0))
    assert store.get_charger("C" * 64) is not None


def test_the_power_pages_buckets_are_the_same_on_every_database(store):
    """depot.web.power_buckets aggregates in the database: text bounds on SQLite, EXTRACT(epoch) elsewhere."""
    import numpy as np

    from depot.store import enforcement as es
    from depot.web.power_buckets import charger_power, reading_series

    store.add_charger(Charger("CP-1", 22.0), connectors=2)
    store.add_charger(Charger("CP-2", 22.0))
    t0 = NOW + timedelta(seconds=10)
    for conn, offsets in ((1, ((0, 6000.0), (30, 8000.0), (60, 5000.0))), (2, ((10, 3000.0),)), (0, ((0, 99e3),))):
        store.add_meter_samples("CP-1", conn, [MeterSample(t0 + timedelta(seconds=s), None, w) for s, w in offsets])
    store.add_meter_samples("CP-2", 1, [MeterSample(NOW - timedelta(seconds=1), None, 1000.0)])  # the bucket before
    for s, building, pv, limit in ((5, 50.0, 10.0, 100.0), (30, 70.0, None, 90.0), (65, 60.0, None, None)):
        es.add_reading(store, es.SiteReading(NOW + timedelta(seconds=s), "test", building, pv, limit))
    first = int(NOW.timestamp()) // 60
    power = charger_power(store, {"CP-1": 0, "CP-2": 1}, 2, first, first + 4, 60, 0)
    assert power.tolist() == [[10.0, 5.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0]]  # connector 1 held one bucket; 0 left out
    building, pv, limit = reading_series(store, first, first + 3, 60)
    assert building[:2].tolist() == [60.0, 60.0] and np.isnan(building[2])  # means; unknown after
    assert np.isnan(pv[1:]).all() and pv[0] == 10.0
    assert limit[0] == 90.0 and np.isnan(limit[1:]).all()


def test_a_site_the_old_demo_sized_is_marked_as_the_demos_by_the_migration(store):
    """Migration 0011 on a database of before: a limit of exactly 40 % of the DepotSim chargers is the demo's."""
    from alembic import command
    from alembic.config import Config

    from depot.store import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))

    def run(fn, target):
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            fn(cfg, target)

    for i, kw in enumerate([22.0, 50.0, 150.0]):
        store.add_charger(Charger(id=f"CP-{i}", max_kw=kw, vendor="DepotSim"))
    for limit, expected in [(88.8, True), (300.0, False)]:
        run(command.downgrade, "0011_site_grid_by_demo@-1")
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM site"))
            conn.execute(text("INSERT INTO site (id, name, grid_kw, safety_margin_kw) VALUES (1, 'Demo', :kw, 0)"),
                         {"kw": limit})
        run(command.upgrade, "heads")
        assert store.get_site().grid_by_demo is expected, limit
