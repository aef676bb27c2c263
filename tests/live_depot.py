"""A running depot for the people-and-maintenance tests: the real runtime (central system, scheduler, alert
jobs) with four simulated chargers (CP-A01 and CP-A02 speak OCPP 1.6, CP-A03 and CP-A04 2.0.1) on a fast
demo clock that starts at noon, before any vehicle arrives."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from depot.clock import DemoClock
from depot.runtime import Runtime
from depot.settings import Settings
from depot.store import Store

V16, V201 = ("CP-A01", "CP-A02"), ("CP-A03", "CP-A04")
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def wait_for(predicate, timeout: float = 30.0, step: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"{what} not met within {timeout} s")


def on_loop(runtime: Runtime, fn, *args):
    """Run a plain function on the runtime's loop thread (the simulator is not thread safe) and return its value."""

    async def call():
        return fn(*args)

    return runtime.run(call())


def running_depot(db_url):
    """Yields (runtime, store); use as `yield from running_depot(db_url)` in a test module's fixture."""
    settings = Settings(database_url=db_url, ocpp_port=0, port=0, simulator=True, chargers=4, sim_speed=240,
                        sim_fault_rate=0.0, heartbeat_interval=600, response_timeout=10)
    store = Store(db_url)
    store.migrate()
    runtime = Runtime(settings, store, clock=DemoClock(NOON, settings.sim_speed))
    runtime.start()
    wait_for(lambda: len(runtime.central.connected()) == 4, what="4 chargers connected")
    yield runtime, store
    runtime.stop()
    store.dispose()
