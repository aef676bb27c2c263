"""Issue 12 §2 live: the real runtime (central system, scheduler, enforcer, planner) on a SQLite file, with
simulated chargers (one OCPP 1.6 AC, one 2.0.1 DC) as real OCPP clients over loopback.

- a fresh install (no site row, no departures) charges at the chargers' maximum and never sends 0 A, and the
  log says why; a limit set with `depot site set` is enforced by the next pass and used by the next plan;
- a session nobody scheduled (an unknown id tag) gets power in its first profile, no more than the headroom the
  planned vehicle leaves; with a site default departure it is planned.
"""

from __future__ import annotations

import io
import logging
import time
from datetime import UTC, datetime, timedelta
from datetime import time as tod

import pytest

from depot.cli import main as depot_cli
from depot.clock import DemoClock
from depot.control.sitelimit import UNSET_TEXT
from depot.model import Charger, CurrentType, Protocol, Vehicle
from depot.planning.departures import Departure
from depot.runtime import Runtime
from depot.settings import Settings
from depot.sim.simulator import SimulatedDepot
from depot.sim.specs import SimChargerSpec, SimVehicleSpec
from depot.store import Store
from depot.store import enforcement as es
from tests.live_depot import wait_for

T0 = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # evening peak prices: a planner would wait for the night
AC = SimChargerSpec("AC-1", Protocol.OCPP16, CurrentType.AC, 22.0, 3, "A01")
DC = SimChargerSpec("DC-1", Protocol.OCPP201, CurrentType.DC, 50.0, 3, "A02")
VAN = SimVehicleSpec("VAN-1", "Van 1", 300.0, 22.0, 80.0, "TAG-VAN", tod(17), tod(6), 20.0)
GUEST = SimVehicleSpec("GUEST", "Guest", 80.0, 11.0, 80.0, "STRANGER", tod(17), tod(6), 30.0)  # tag unknown
AC_MAX_KW = 31 * 3 * 230 / 1000  # 22 kW in whole amps


@pytest.fixture
def fresh(db_url, caplog):
    """A fresh install: two chargers and one vehicle registered, no site row, no departures, no building."""
    caplog.set_level(logging.INFO)
    store = Store(db_url)
    store.migrate()
    passwords = {c.id: f"{c.id.lower()}-password-0123456789" for c in (AC, DC)}  # security profile 1
    for c in (AC, DC):
        store.add_charger(Charger(c.id, c.max_kw, c.current_type, c.phases, protocol=c.protocol, bay=c.bay))
    store.set_charger_passwords(passwords, now=T0)
    store.add_vehicle(Vehicle(VAN.id, VAN.name, VAN.battery_kwh, max_ac_kw=22.0, max_dc_kw=80.0, id_tag=VAN.id_tag))
    settings = Settings(database_url=db_url, ocpp_port=0, port=0, simulator=False, allow_any_tag=True,
                        tick_seconds=1.0, site_poll_seconds=0.3, heartbeat_interval=600, response_timeout=10,
                        stale_after_s=3600, obey_grace_s=3600)
    runtime = Runtime(settings, store, clock=DemoClock(T0, 20.0))
    runtime.start()
    sim = SimulatedDepot(f"ws://127.0.0.1:{runtime.ocpp_port}", (AC, DC), (VAN, GUEST), clock=runtime.clock,
                         fault_rate=0.0, auto_schedule=False, meter_interval=30, passwords=passwords)
    runtime.run(sim.start())
    runtime.run(sim.wait_connected(20))
    yield runtime, store, sim
    runtime.run(sim.stop())
    runtime.stop()
    store.dispose()


def on_loop(runtime, fn, *args):
    async def call():
        return fn(*args)

    return runtime.run(call())


def limits_of(payload) -> list[float]:
    """Every `limit` in a SetChargingProfile payload (each period of each schedule)."""
    if isinstance(payload, dict):
        return [v for k, v in payload.items() if k == "limit"] + [x for v in payload.values() for x in limits_of(v)]
    if isinstance(payload, list):
        return [x for v in payload for x in limits_of(v)]
    return []


def accepted_tx(store, charger_id: str) -> list[es.Command]:
    return [c for c in es.commands(store, charger_id=charger_id) if c.purpose == "TxProfile" and c.status == "Accepted"]


def test_a_fresh_install_charges_at_full_power_until_a_limit_is_set(fresh, caplog, db_url):
    runtime, store, sim = fresh
    enforcer = runtime.enforcer
    assert not store.get_site().grid_set
    said = [r for r in caplog.get_records("setup") if r.name == "depot.runtime" and r.getMessage() == UNSET_TEXT]
    assert said and said[0].levelno == logging.WARNING  # the log says it at start, in the banner's words
    on_loop(runtime, sim.plug_in, "AC-1", "VAN-1", 30.0)  # a known vehicle, no departure entered
    on_loop(runtime, sim.plug_in, "DC-1", "GUEST", 30.0)  # an id tag nobody knows
    wait_for(lambda: accepted_tx(store, "AC-1") and accepted_tx(store, "DC-1"), timeout=30, what="both profiled")
    wait_for(lambda: sim.charger("AC-1").power_kw(1) > 20 and sim.charger("DC-1").power_kw(1) > 45, timeout=20,
             what="both charging at full power")
    assert enforcer.limit.unset
    assert sim.charger("AC-1").limit_kw(1) == pytest.approx(AC_MAX_KW, abs=0.01)
    assert sim.charger("DC-1").limit_kw(1) == pytest.approx(50.0, abs=0.01)
    defaults = {c.charger_id: c.limit_kw for c in es.commands(store) if c.purpose == "TxDefaultProfile"}
    assert defaults == {"AC-1": pytest.approx(AC_MAX_KW), "DC-1": 50.0}  # fail-safe: their own maximum, not 0 A
    sent = es.commands(store)
    assert sent and all(c.limit_kw > 0 for c in sent), [(c.purpose, c.limit_kw) for c in sent]
    assert all(v > 0 for c in sent for v in limits_of(c.payload)), "a 0 A (or 0 W) period was sent"
    plan = wait_for(lambda: store.active_plan(), timeout=20)
    assert min(plan.problem["site_limit_kw"]) > 0  # the planner is not capped at zero either

    # the manager sets the grid connection from the command line (another process): the next pass obeys it
    seen = len(enforcer.history)
    out = io.StringIO()
    assert depot_cli(["site", "set", "--grid-kw", "30", "--db", db_url], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue() == "site Depot: grid 30 kW, margin 0 kW\n"
    started = time.monotonic()
    capped = wait_for(lambda: next((p for p in list(enforcer.history)[seen:] if p.site_limit_kw == 30.0), None),
                      timeout=10, step=0.05, what="a pass under the new limit")
    assert time.monotonic() - started <= runtime.settings.tick_seconds + 2.0
    assert capped.commanded_kw <= 30.0 + 1e-6 and capped.sent and capped.steps[0].startswith("reduce")
    wait_for(lambda: sum(sim.charger(c).limit_kw(1) for c in ("AC-1", "DC-1")) <= 30.0 + 1e-6, timeout=10,
             what="the chargers under 30 kW")
    # and the plan: the next one is made for it (asked for by the change, unless one was under way already)
    wait_for(lambda: set(store.active_plan().problem["site_limit_kw"]) == {30.0}, timeout=20,
             what="a plan made for the new limit")


def test_an_unscheduled_session_charges_at_once_on_the_headroom_and_a_default_departure_plans_it(fresh):
    runtime, store, sim = fresh
    enforcer = runtime.enforcer
    store.set_site("Depot", 40.0, 0.0)
    now = runtime.clock()
    # the van must leave in 2 h with 200 kWh: the plan gives it its full 22 kW (whole amps) now
    store.replace_departures([Departure("VAN-1", now + timedelta(hours=2), energy_kwh=200.0)], now=now)
    on_loop(runtime, sim.plug_in, "AC-1", "VAN-1", 20.0)
    wait_for(lambda: (p := store.active_plan()) and any(v["id"] == "VAN-1" for v in p.plan["vehicles"])
             and enforcer.commanded.get(("AC-1", 1), 0) > 20, timeout=30, what="the van planned and profiled")
    planned_van = enforcer.commanded[("AC-1", 1)]
    assert planned_van == pytest.approx(AC_MAX_KW, abs=0.01)

    on_loop(runtime, sim.plug_in, "DC-1", "GUEST", 30.0)  # nobody knows when it must leave
    first = wait_for(lambda: (c := accepted_tx(store, "DC-1")) and c[-1], timeout=30, what="the guest's profile")
    headroom = 40.0 - planned_van
    assert 0 < first.limit_kw <= headroom + 1e-6  # power in its first profile, never the van's
    assert first.limit_kw == pytest.approx(headroom, abs=0.15)  # 18.6 kW: all of the headroom, DC in 0.1 kW
    assert enforcer.commanded[("AC-1", 1)] == pytest.approx(planned_van)  # the van kept its planned power
    assert all(p.commanded_kw <= 40.0 + 1e-6 for p in enforcer.history)
    wait_for(lambda: sim.charger("DC-1").power_kw(1) > 15, timeout=20, what="the guest charging")
    profiles = accepted_tx(store, "DC-1")
    assert all(c.limit_kw <= headroom + 1e-6 for c in profiles)
    assert all(w / 1000 <= headroom + 1e-6 for c in profiles for w in limits_of(c.payload))  # DC profiles in W

    # a site default departure: such vehicles are planned as if they leave then
    store.set_default_departure(tod(6, 0))
    runtime.request_replan("default departure changed")
    record = wait_for(lambda: (p := store.active_plan()) and any(v["id"] == "DC-1/1" for v in p.problem["vehicles"])
                      and p, timeout=20, what="a plan with the default departure")
    guest = next(v for v in record.problem["vehicles"] if v["id"] == "DC-1/1")
    assert datetime.fromisoformat(guest["departure"]) == datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    assert any(v["id"] == "DC-1/1" for v in record.plan["vehicles"])
