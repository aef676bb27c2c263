"""A plan that holds steady (issue 12 §3), the whole loop: the runtime with the simulated depot over loopback and
a building meter whose reading wiggles by 0.1 kW. Routine re-plans with meter ticks and the wiggle make no new
plan and send no profile; a dispatcher's edit and a grid connection cut make a new plan, and the cut sends
profiles (reductions first, within the new limit)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from depot.bench.steady import WigglingMeter, counts
from depot.clock import DemoClock
from depot.runtime import Runtime
from depot.settings import Settings
from depot.store import Store
from tests.live_depot import wait_for


@pytest.fixture
def depot(db_url):
    meter = WigglingMeter()
    settings = Settings(database_url=db_url, ocpp_port=0, port=0, simulator=True, chargers=6, sim_speed=30,
                        sim_fault_rate=0.0, tick_seconds=1.0, site_poll_seconds=0.3, grid_kw=150.0).for_demo()
    from dataclasses import replace

    settings = replace(settings, site_limit_source=meter.url)
    store = Store(db_url)
    store.migrate()
    runtime = Runtime(settings, store, clock=DemoClock(datetime(2026, 11, 20, 22, 0, tzinfo=UTC), settings.sim_speed))
    runtime.start()
    yield runtime, store, meter
    runtime.stop()
    store.dispose()
    meter.close()


def _settled(runtime, store, quiet_s: float = 3.0, timeout: float = 90.0) -> None:
    """Every session under a profile, and no new plan for `quiet_s` (the arrivals' plans are behind us)."""
    wait_for(lambda: runtime.simulator is not None and store.active_plan() is not None
             and len(runtime.enforcer.commanded) >= 3, timeout=60)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = store.active_plan_id()
        time.sleep(quiet_s)
        if store.active_plan_id() == before:
            return
    raise AssertionError("the depot did not settle")


def test_routine_replans_with_meter_ticks_and_a_wiggle_make_no_plan_and_send_nothing(depot):
    runtime, store, meter = depot
    _settled(runtime, store)
    meter.wiggle = True  # 0 / 0.1 kW on alternate polls from now on
    steady = runtime.replanner.steady
    before, answered = counts(store), steady.skipped + steady.kept
    for _ in range(4):  # the periodic re-plan, four times, 1 s apart (30 s of demo time: meter values arrive)
        runtime.request_replan("periodic")
        time.sleep(1.0)
    wait_for(lambda: steady.skipped + steady.kept >= answered + 4, timeout=20)
    after = counts(store)
    assert after.last_plan_id == before.last_plan_id and after.plans == before.plans, (
        store.active_plan().reason, steady.why)
    assert after.tx_profiles == before.tx_profiles, "a profile went out although nothing changed"
    assert runtime.enforcer.passes > 0 and runtime.enforcer.last_pass.sent == 0


def test_a_dispatcher_edit_and_a_grid_cut_make_a_new_plan_and_the_cut_sends_profiles(depot):
    runtime, store, _ = depot
    _settled(runtime, store)
    first = store.active_plan_id()
    runtime.request_replan("departures edited")  # always re-plans, even with the same inputs
    wait_for(lambda: store.active_plan_id() != first, timeout=20)
    plan = store.active_plan()
    assert "departures edited" in plan.reason
    enforcer = runtime.enforcer
    before = counts(store)
    seen = len(enforcer.history)
    site = store.get_site()
    new_grid = round(sum(enforcer.commanded.values()) / 2, 1)
    store.set_site(site.name, new_grid, site.safety_margin_kw)
    cut = wait_for(lambda: next((p for p in list(enforcer.history)[seen:] if p.sent and p.site_limit_kw <= new_grid),
                                None), timeout=20)
    assert cut.steps[0].startswith("reduce") and cut.commanded_kw <= cut.site_limit_kw + 1e-6
    wait_for(lambda: store.active_plan_id() != plan.id, timeout=30)  # the limit moved: a plan made for it
    assert counts(store).tx_profiles > before.tx_profiles
