"""The imperative shell's engine room: one asyncio loop in one thread that owns every charger connection.

`Runtime.start()` starts the thread; on it run the OCPP central system, the APScheduler jobs and, in the
demo, the simulated depot. Other threads (Dash callbacks, the CLI) never touch a socket: they hand a
coroutine to `submit()` / `run()`, which schedule it on the loop (`asyncio.run_coroutine_threadsafe`).
Charger events (boot, status, transaction start/stop …) reach listeners on the loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from depot import metrics
from depot.clock import Clock, utc_now
from depot.model import is_online
from depot.settings import Settings
from depot.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

Listener = Callable[[Any], None | Awaitable[None]]


class Runtime:
    def __init__(self, settings: Settings, store: Store, *, clock: Clock = utc_now):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.loop: asyncio.AbstractEventLoop | None = None
        self.central = None  # depot.ocpp.server.CentralSystem, once started
        self.simulator = None  # depot.sim.simulator.SimulatedDepot in the demo
        self.scheduler: AsyncIOScheduler | None = None
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._online: dict[str, bool] = {}
        from depot.control.replan import Replanner

        self.replanner = Replanner(store, settings, clock=clock)
        self._replan_reasons: list[str] = []
        self._replan_task: asyncio.Task | None = None
        self.plans_made = 0
        self.enforcer = None  # depot.control.enforcement.Enforcer, once started
        self._closing = False

    # ------------------------------------------------------------ life cycle (called from the main thread)

    def start(self, timeout: float = 60.0) -> None:
        if self._thread is not None:
            raise RuntimeError("runtime already started")
        self._thread = threading.Thread(target=self._thread_main, name="depot-loop", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"runtime did not start within {timeout} s")
        if self._startup_error is not None:
            self._thread.join(5)
            raise RuntimeError("runtime failed to start") from self._startup_error

    def stop(self, timeout: float = 20.0) -> None:
        if self._thread is None or self.loop is None:
            return
        if self._stopping is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("runtime thread did not stop within %s s", timeout)
        self._thread = None

    @property
    def ocpp_port(self) -> int:
        return self.central.port if self.central is not None else self.settings.ocpp_port

    # ------------------------------------------------------------ other threads hand work to the loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self.loop is None or self.loop.is_closed():
            coro.close()
            raise RuntimeError("the runtime is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (for web threads and the CLI)."""
        wait = timeout if timeout is not None else self.settings.response_timeout + 5
        return self.submit(coro).result(wait)

    def request_replan(self, reason: str) -> None:
        """Ask for a new plan soon (thread safe). Requests within the debounce window become one plan."""
        if self.loop is None or self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self._queue_replan, reason)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(event)` on the loop thread for every charger event."""
        self._listeners.append(listener)

    # ------------------------------------------------------------ on the loop thread

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - the outermost frame of the thread: report, then end
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            else:
                log.exception("runtime loop ended with an error")
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _main(self) -> None:
        from depot.ocpp.server import CentralSystem

        self._stopping = asyncio.Event()
        self.central = CentralSystem(self.store, self.settings, clock=self.clock, on_event=self._dispatch)
        await self.central.start()
        metrics.watch(connected=self.central.connected, leader=lambda: True)  # the all-in-one runs the controller
        self.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
        self._add_jobs(self.scheduler)
        self.scheduler.start()
        self.add_listener(self._replan_on_event)
        try:
            if self.settings.simulator:
                await self._start_simulator()
            self._say_site_limit()
            self._ready.set()
            await self._stopping.wait()
        finally:
            await self._shutdown()

    def _add_jobs(self, scheduler: AsyncIOScheduler) -> None:
        from depot.control.enforcement import Enforcer

        self.enforcer = Enforcer(self)
        self.enforcer.install()
        sweep = max(1.0, min(30.0, self._real(self.settings.heartbeat_interval) / 2))
        scheduler.add_job(self.offline_sweep, "interval", seconds=sweep, id="offline_sweep",
                          max_instances=1, coalesce=True)
        # a periodic re-plan catches what no event announces (time passing, a vehicle drawing less than planned)
        scheduler.add_job(self._periodic_replan, "interval", id="replan",
                          seconds=max(5.0, self._real(REPLAN_EVERY_S)), max_instances=1, coalesce=True)
        from depot.people.alert_watch import install as install_alerts

        install_alerts(self)  # alerts, notifications, maintenance windows
        # cost finished sessions into the ledger (reports also bring it up to date when they run)
        scheduler.add_job(self._update_ledger, "interval", id="ledger", max_instances=1, coalesce=True,
                          seconds=max(5.0, self._real(LEDGER_EVERY_S)))

    def _say_site_limit(self) -> None:
        """At start, when no grid connection limit is set: the banner's words (depot.control.sitelimit)."""
        from depot.control.sitelimit import UNSET_TEXT

        if not self.store.get_site().grid_set:
            log.warning(UNSET_TEXT)

    async def _update_ledger(self) -> None:
        from depot.costs import ledger

        try:
            await asyncio.get_running_loop().run_in_executor(None, lambda: ledger.update(self.store, now=self.clock()))
        except Exception:  # noqa: BLE001 - the outermost frame of a job: log with context, keep running
            log.exception("ledger update failed")

    def _real(self, clock_seconds: float) -> float:
        from depot.clock import real_seconds

        return real_seconds(self.clock, clock_seconds)

    async def _start_simulator(self) -> None:
        from depot.sim.demo import demo_depot, seed_store
        from depot.sim.simulator import SimulatedDepot

        chargers, vehicles = demo_depot(self.settings.chargers)
        had = {v.id for v in self.store.list_vehicles()}
        passwords = seed_store(self.store, chargers, vehicles, grid_kw=self.settings.grid_kw or None)  # profile 1
        roster = self.store.roster()
        if not roster:
            self.store.replace_roster(demo_roster(vehicles))
        elif new := [v for v in vehicles if v.id not in had]:  # a used database, a bigger demo: theirs too
            self.store.replace_roster(roster + demo_roster(new))
        from depot.costs import demo_tariff

        demo_tariff.seed_demo_tariff(self.store, now=self.clock())
        host = "127.0.0.1" if self.settings.ocpp_host in ("0.0.0.0", "", "::") else self.settings.ocpp_host
        self.simulator = SimulatedDepot(f"ws://{host}:{self.central.port}", chargers, vehicles, clock=self.clock,
                                        fault_rate=self.settings.sim_fault_rate, passwords=passwords)
        await self.simulator.start()
        log.info("simulated depot: %d chargers, %d vehicles", len(chargers), len(vehicles))

    async def _shutdown(self) -> None:
        self._closing = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.enforcer is not None:
            await self.enforcer.close()
        if self._replan_task is not None and not self._replan_task.done():
            self._replan_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replan_task
        if self.simulator is not None:
            try:
                await self.simulator.stop()
            except Exception:  # noqa: BLE001 - shutting down: log and go on closing the rest
                log.exception("simulator did not stop cleanly")
        if self.central is not None:
            await self.central.stop()

    # ------------------------------------------------------------ re-planning

    def _replan_on_event(self, event: Any) -> None:
        kind = getattr(event, "kind", "")
        detail = getattr(event, "detail", None) or {}
        if kind in REPLAN_EVENTS or (kind == "status" and detail.get("status") in REPLAN_STATUSES):
            self._queue_replan(f"{kind} {event.charger_id}")

    async def _periodic_replan(self) -> None:
        self._queue_replan("periodic")

    def _queue_replan(self, reason: str) -> None:
        if self._closing:
            return
        self._replan_reasons.append(reason)
        if self._replan_task is None or self._replan_task.done():
            self._replan_task = asyncio.ensure_future(self._replan_soon())

    async def _replan_soon(self) -> None:
        loop = asyncio.get_running_loop()
        while self._replan_reasons:
            await asyncio.sleep(REPLAN_DEBOUNCE_S)
            reasons, self._replan_reasons = self._replan_reasons, []
            reason = ", ".join(dict.fromkeys(reasons))
            try:
                # the solver is CPU work: run it in a worker thread so no OCPP message waits for it
                started = time.perf_counter()
                try:
                    outcome = await loop.run_in_executor(None, self.replanner.replan, reason)
                except Exception:
                    metrics.PLAN_SECONDS.labels("failed").observe(time.perf_counter() - started)
                    raise
                metrics.PLAN_SECONDS.labels("kept" if outcome.kept else "new").observe(time.perf_counter() - started)
                self.plans_made += 1
                self.replanner.health.succeeded(self.clock(), outcome.record)
                if outcome.kept:  # the plan in force still answers (depot.control.steady): nothing new to enforce
                    continue
                self._dispatch(PlanEvent(outcome.record.id if outcome.record else None, reason, self.clock()))
            except Exception as exc:  # noqa: BLE001 - the outermost frame of a job: log with context, keep running
                failure = self.replanner.health.failed(exc, self.clock())  # the last good plan stays in force
                if failure.attempts == 1:
                    log.exception("re-plan failed (%s); the plan in force stays", reason)
                else:
                    log.error("re-plan failed again (%d attempts since %s UTC): %s", failure.attempts,
                              f"{failure.since:%H:%M}", failure.reason)

    def _dispatch(self, event: Any) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(event)
                if asyncio.iscoroutine(result):
                    task = asyncio.ensure_future(result)
                    task.add_done_callback(_log_task_error)
            except Exception:  # noqa: BLE001 - one listener's bug must not stop the others or the handler
                log.exception("listener %r failed on %r", listener, event)

    async def offline_sweep(self) -> list[tuple[str, bool]]:
        """Notice chargers going offline (silent for 2 × heartbeat) or back online; tell the listeners."""
        now: datetime = self.clock()
        changes = []
        for charger in self.store.list_chargers():
            online = is_online(charger, now, self.settings.heartbeat_interval)
            if self._online.get(charger.id, online) != online:
                changes.append((charger.id, online))
                log.warning("charger %s is %s", charger.id, "back online" if online else "offline")
            self._online[charger.id] = online
        if changes:
            from depot.ocpp.server import ChargerEvent

            for charger_id, online in changes:
                self._dispatch(ChargerEvent(charger_id, "online" if online else "offline", now))
        return changes


def demo_roster(vehicles) -> list:
    """The demo's weekly roster: each simulated vehicle's evening arrival and morning departure, every day,
    to 90 % (every fifth vehicle a priority-2 early route to 95 %)."""
    from depot.planning.departures import RosterEntry

    out = []
    for i, v in enumerate(vehicles):
        urgent = i % 5 == 0
        for day in range(7):
            out.append(RosterEntry(v.id, day, v.arrival, v.departure, target_soc=95.0 if urgent else 90.0,
                                   priority=2 if urgent else 1))
    return out


REPLAN_EVENTS = {"tx_started", "tx_stopped", "fault", "disconnected", "offline", "online", "boot"}
REPLAN_STATUSES = {"Faulted", "Unavailable", "Available", "Charging", "SuspendedEV"}
REPLAN_DEBOUNCE_S = 0.5
REPLAN_EVERY_S = 300.0  # clock seconds
LEDGER_EVERY_S = 900.0  # clock seconds


@dataclass(frozen=True)
class PlanEvent:
    """A new plan became active."""

    plan_id: int | None
    reason: str
    at: datetime
    kind: str = "plan"
    charger_id: str = ""


def _log_task_error(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("listener task failed", exc_info=task.exception())
