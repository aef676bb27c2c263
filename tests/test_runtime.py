"""The runtime as `make run` starts it: central system, scheduler and simulated depot on one loop thread,
talking real OCPP over loopback to a real SQLite file."""

from datetime import UTC, datetime

import pytest

from depot.clock import DemoClock
from depot.runtime import Runtime
from depot.settings import Settings
from depot.store import Store
from tests.live_depot import wait_for


@pytest.fixture
def running(db_url):
    settings = Settings(database_url=db_url, ocpp_port=0, port=0, simulator=True, chargers=6, sim_speed=120,
                        sim_fault_rate=0.0).for_demo()
    store = Store(db_url)
    store.migrate()
    clock = DemoClock(datetime(2026, 11, 20, 17, 0, tzinfo=UTC), settings.sim_speed)
    runtime = Runtime(settings, store, clock=clock)
    runtime.start()
    yield runtime, store
    runtime.stop()
    store.dispose()


def test_demo_depot_connects_charges_and_plans(running):
    runtime, store = running
    assert runtime.ocpp_port > 0
    wait_for(lambda: len(runtime.central.connected()) == 6)
    assert len(store.list_chargers()) == 6 and store.roster()
    wait_for(lambda: store.active_transactions(), timeout=60)
    # the first plans come at the chargers' boots, before any vehicle is known; wait for one with vehicles
    plan = wait_for(lambda: (p := store.active_plan()) is not None and p.plan["vehicles"] and p, timeout=60)
    assert plan.plan["status"] in ("optimal", "feasible", "partial")
    assert any(v["energy_kwh"] > 0 for v in plan.plan["vehicles"])
    # a request from another thread (the dispatcher saving departures) becomes a new plan version
    runtime.request_replan("departures edited")
    wait_for(lambda: any("departures edited" in p.reason for p in store.plan_history(limit=10)))


def test_submit_runs_coroutines_on_the_loop_and_stop_is_clean(running):
    runtime, store = running
    wait_for(lambda: len(runtime.central.connected()) == 6)
    charger_id = sorted(runtime.central.connected())[0]
    caps = runtime.run(runtime.central.read_capabilities(charger_id))
    assert caps is not None and caps.max_periods
    runtime.stop()
    assert runtime.loop.is_closed()
    with pytest.raises(RuntimeError):
        runtime.run(runtime.central.read_capabilities(charger_id))
