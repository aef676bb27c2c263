"""Issue 12 §3b, as a new user found it: the demo stopped and started again on the same database with another
size. The product (the runtime with the simulated depot, real OCPP over loopback, one SQLite file) runs with 6
chargers, plans, stops; it starts again on the same file with 10 chargers, where vehicle EV-003 is assigned to
another charger and its old one, CP-A04, stays free. Before the fix every re-plan then failed ("vehicle ids must
be unique") and CP-A04 kept showing EV-003's session."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from depot.clock import DemoClock
from depot.model import ConnectorStatus
from depot.planning.json_format import parse_problem
from depot.runtime import Runtime
from depot.settings import Settings
from depot.sim.demo import demo_depot
from depot.store import Store
from tests.live_depot import wait_for

EVENING = datetime(2026, 11, 20, 19, 50, tzinfo=UTC)  # every demo vehicle has arrived: all plug in at once
SPEED = 120


def start(db_url: str, chargers: int, at: datetime) -> tuple[Runtime, Store]:
    settings = Settings(database_url=db_url, ocpp_port=0, port=0, simulator=True, chargers=chargers,
                        sim_speed=SPEED, sim_fault_rate=0.0).for_demo()
    store = Store(db_url)
    store.migrate()
    runtime = Runtime(settings, store, clock=DemoClock(at, SPEED))
    runtime.start()
    return runtime, store


def stop(runtime: Runtime, store: Store) -> None:
    runtime.stop()
    store.dispose()


def plugged_in(store: Store, n_chargers: int) -> bool:
    """Every vehicle of that demo has an open session on its own charger."""
    _, vehicles = demo_depot(n_chargers)
    where = {(t.vehicle_id, t.charger_id) for t in store.open_sessions()}
    return all((v.id, v.charger_id) in where for v in vehicles)


def plan_with(store: Store, vehicle_ids: set[str]):
    p = store.active_plan()
    return p if p is not None and vehicle_ids <= {v["id"] for v in p.problem["vehicles"]} else None


def test_a_restart_on_a_used_database_with_another_demo_size_never_breaks_planning(db_url, caplog):
    small, _ = demo_depot(6)[1], None
    assert [(v.id, v.charger_id) for v in small if v.id == "EV-003"] == [("EV-003", "CP-A04")]
    big = demo_depot(10)[1]
    assert [v.charger_id for v in big if v.id == "EV-003"] == ["CP-A03"]
    assert "CP-A04" not in {v.charger_id for v in big}  # in the bigger depot nobody plugs in there

    runtime, store = start(db_url, 6, EVENING)
    try:
        wait_for(lambda: plugged_in(store, 6), timeout=60, what="the small demo's vehicles plugged in")
        wait_for(lambda: plan_with(store, {v.id for v in small}), timeout=60, what="a plan with every vehicle")
    finally:
        stop(runtime, store)

    store = Store(db_url)
    stale = [t for t in store.open_sessions() if t.vehicle_id == "EV-003"]
    assert [t.charger_id for t in stale] == ["CP-A04"]  # stopping leaves the sessions open, as a power cut would
    restart_at = store.latest_timestamp() + timedelta(minutes=1)
    store.dispose()
    first_plan_id = Store(db_url).active_plan().id

    with caplog.at_level(logging.WARNING):
        runtime, store = start(db_url, 10, restart_at)
        try:
            wait_for(lambda: len(runtime.central.connected()) == 10, timeout=60, what="10 chargers connected")
            wait_for(lambda: plugged_in(store, 10), timeout=60, what="the bigger demo's vehicles plugged in")
            plan = wait_for(lambda: plan_with(store, {v.id for v in big}), timeout=60,
                            what="a plan with every vehicle of the bigger depot")
            made = runtime.plans_made
            runtime.request_replan("after the restart")
            wait_for(lambda: runtime.plans_made > made, timeout=30, what="one more re-plan")
            health = runtime.replanner.health
            views, _ = store.floor_snapshot(runtime.clock(), default_heartbeat=runtime.settings.heartbeat_interval)
            closed = store.find_transaction("CP-A04", transaction_id=stale[0].id)
            open_now = store.open_sessions()
            last_repairs = health.repairs
            plans = [p for p in store.plan_history(limit=200) if p.id > first_plan_id]
        finally:
            stop(runtime, store)

    # re-plans succeed, and what the planner got was consistent
    assert health.failure is None and plan.id > first_plan_id
    assert "re-plan failed" not in caplog.text and "vehicle ids must be unique" not in caplog.text
    for p in plans:
        ids = [v.id for v in parse_problem(p.problem).vehicles]  # the problem's own checks pass
        assert len(ids) == len(set(ids)), p.id
    assert [r.text for r in last_repairs if r.kind in ("duplicate vehicle", "idle connector")] == []
    # EV-003's session on CP-A04 was closed when CP-A04 reported Available after the restart
    assert (closed.active, closed.stop_reason) == (False, "closed: connector reported Available after restart")
    # no open session is shown on a connector that reports Available, and no vehicle is on two connectors
    shown = [(v.charger.id, c.connector_id, c.status) for v in views for c in v.connectors if c.vehicle_id]
    assert shown and all(status is not ConnectorStatus.AVAILABLE for *_, status in shown), shown
    assert ("CP-A04", 1) not in {(cid, conn) for cid, conn, _ in shown}
    vehicles = [t.vehicle_id for t in open_now if t.vehicle_id]
    assert len(vehicles) == len(set(vehicles)), sorted(vehicles)


@pytest.fixture(autouse=True)
def _quiet_frames():
    logging.getLogger("depot.ocpp.frames").setLevel(logging.WARNING)
    yield
