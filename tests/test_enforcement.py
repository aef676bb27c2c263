"""Enforcement against the simulated depot over loopback: profiles obeyed, a site-limit drop reduces every
charger within one tick, a charger that rejects profiles is flagged, and the defaults hold without us."""

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from depot.clock import DemoClock
from depot.runtime import Runtime
from depot.settings import Settings
from depot.store import Store
from depot.store import enforcement as es
from tests.live_depot import wait_for


@pytest.fixture
def depot(db_url):
    settings = Settings(database_url=db_url, ocpp_port=0, port=0, simulator=True, chargers=6, sim_speed=30,
                        sim_fault_rate=0.0, tick_seconds=1.0, site_poll_seconds=0.3, grid_kw=150.0).for_demo()
    settings = replace(settings, site_limit_source="")  # no building: the site limit is exactly the grid
    store = Store(db_url)
    store.migrate()
    runtime = Runtime(settings, store, clock=DemoClock(datetime(2026, 11, 20, 22, 0, tzinfo=UTC), settings.sim_speed))
    runtime.start()
    yield runtime, store
    runtime.stop()
    store.dispose()


def charging(runtime):
    return [(c, 1) for c in runtime.simulator.chargers if c.session(1) is not None and c.transaction_id(1)]


def _since(history, seen) -> list:
    """The passes after `seen` (None: all)."""
    passes = list(history)
    return passes[passes.index(seen) + 1:] if seen in passes else passes


def test_profiles_follow_the_plan_and_a_limit_drop_reduces_every_charger_within_one_tick(depot):
    runtime, store = depot
    enforcer = runtime.enforcer
    wait_for(lambda: len(charging(runtime)) >= 3, timeout=60)
    wait_for(lambda: store.active_plan() is not None and len(enforcer.commanded) >= 3, timeout=60)
    # every charger got its default and its station max after boot
    cmds = es.commands(store)
    assert {c.purpose for c in cmds} >= {"TxDefaultProfile", "TxProfile"}
    assert {"ChargePointMaxProfile", "ChargingStationMaxProfile"} & {c.purpose for c in cmds}
    limit = enforcer.current_limit(runtime.clock())
    assert sum(enforcer.commanded.values()) <= limit.limit_kw + 1e-6
    # what the simulated chargers obey, now and at every coming slot boundary, fits the site limit
    for minutes in (0, 16, 31, 61, 121):
        at = runtime.clock() + timedelta(minutes=minutes)
        obeyed = sum(sim.limit_kw(conn, now=at) for sim, conn in charging(runtime))
        assert obeyed <= limit.limit_kw + 0.5, (minutes, obeyed)

    # the grid connection drops to a third: the site poll notices and one pass brings every charger under it
    site = store.get_site()
    seen = enforcer.history[-1] if enforcer.history else None  # the history keeps 50: count from this pass
    store.set_site(site.name, round(sum(enforcer.commanded.values()) / 2, 1), 0.0)
    new_limit = enforcer.current_limit(runtime.clock()).limit_kw
    started = time.monotonic()
    drop = wait_for(lambda: next((p for p in _since(enforcer.history, seen)
                                  if abs(p.site_limit_kw - new_limit) < 0.05), None), timeout=10, step=0.05)
    assert time.monotonic() - started <= settings_tick(runtime) + 1.0  # within one tick (plus the poll)
    assert drop.commanded_kw <= new_limit + 1e-6
    # it had to cut, and it cut first (the first pass at the new limit may find a session that just ended
    # already took it under: then a pass that sent anything is the one that cut)
    cut = wait_for(lambda: next((p for p in _since(enforcer.history, seen)
                                 if abs(p.site_limit_kw - new_limit) < 0.05 and p.sent), None), timeout=10)
    assert cut.steps[0].startswith("reduce") and cut.commanded_kw <= new_limit + 1e-6
    sims = {s.id: s for s in runtime.simulator.chargers}
    total = sum(sims[cid].limit_kw(conn) for (cid, conn) in enforcer.commanded)
    assert total <= new_limit + 0.5 * len(enforcer.commanded)


def test_a_charger_that_rejects_profiles_is_flagged_and_not_trusted(depot):
    runtime, store = depot
    enforcer = runtime.enforcer
    wait_for(lambda: len(enforcer.commanded) >= 2, timeout=60)
    refusers = [sim for sim, _ in charging(runtime)]  # every charger with a session refuses from now on
    for sim in refusers:
        runtime.run(_call(sim.set_reject_profiles, True))
    site = store.get_site()

    def flagged():
        return [cid for cid, h in es.health(store).items() if h.state == "rejecting"]

    # alternate between pausing everyone and the full connection: every change asks each charger for a new
    # limit, and each refuses (vehicles come and go meanwhile, so no single charger is relied on)
    for i in range(12):
        store.set_site(site.name, 1.0 if i % 2 == 0 else site.grid_kw, 0.0)
        runtime.run(enforcer.tick(reason=f"test {i}"))
        if flagged():
            break
    assert flagged(), ([p.steps for p in list(enforcer.history)[-4:]], enforcer.trust.rejects)
    victim = flagged()[0]
    assert victim in {sim.id for sim in refusers}
    health = es.health(store)[victim]
    assert "in a row" in health.detail  # not after the first refusal: that one can be a race
    assert sum(c.status == "Rejected" for c in es.commands(store, charger_id=victim)) >= 2
    # untrusted: its draw is reserved off the others, and the next pass sends it nothing
    sent_before = len(es.commands(store, charger_id=victim))
    store.set_site(site.name, 2.0, 0.0)
    runtime.run(enforcer.tick(reason="test again"))
    assert len(es.commands(store, charger_id=victim)) == sent_before


def test_defaults_hold_when_the_server_stops(depot):
    runtime, store = depot
    enforcer = runtime.enforcer
    wait_for(lambda: len(enforcer.defaults) == 6, timeout=60)
    shares = dict(enforcer.defaults)
    assert sum(shares.values()) <= store.get_site().grid_kw  # the shares alone fit the site
    runtime.run(runtime.central.stop())
    sims = {s.id: s for s in runtime.simulator.chargers}
    wait_for(lambda: not any(s.connected for s in sims.values()), timeout=30)
    # a vehicle that plugs in while we are gone charges at no more than its charger's default share
    free = next(s for s in sims.values() if s.session(1) is not None)
    vehicle = runtime.run(_call(free.unplug, 1))
    conn = runtime.run(_call(free.plug_in, vehicle, 30.0))
    later = runtime.clock() + timedelta(minutes=1)
    assert free.limit_kw(conn, now=later) <= shares[free.id] + 0.5


def settings_tick(runtime) -> float:
    return runtime.settings.tick_seconds


async def _call(fn, *args):
    return fn(*args)
