"""A test-only central system for the simulator's tests, built on the `ocpp` package: it records every request
and lets a test send any call. Plus a hand-moved clock, `until()` (polls a condition, fails only after a
generous timeout: no timed asserts), the test chargers and vehicles, and the profiles the tests send."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime, time, timedelta

from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as r201
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from depot.model import CurrentType, Protocol
from depot.sim.simulator import SimulatedDepot
from depot.sim.specs import SimChargerSpec, SimVehicleSpec

T0 = datetime(2026, 11, 21, 16, 30, tzinfo=UTC)


class ManualClock:
    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)


class _Recorder:
    csms: FakeCsms

    def record(self, action: str, payload: dict) -> None:
        self.csms.log.append((self.id, action, payload))


class _Fake16(_Recorder, Cp16):
    @on("BootNotification")
    def boot(self, **kw):
        self.record("BootNotification", kw)
        return r16.BootNotification(current_time=self.csms.clock().isoformat(), interval=self.csms.interval,
                                    status="Accepted")

    @on("Heartbeat")
    def heartbeat(self, **kw):
        self.record("Heartbeat", kw)
        return r16.Heartbeat(current_time=self.csms.clock().isoformat())

    @on("StatusNotification")
    def status(self, **kw):
        self.record("StatusNotification", kw)
        return r16.StatusNotification()

    @on("Authorize")
    def authorize(self, id_tag, **kw):
        self.record("Authorize", {"id_tag": id_tag, **kw})
        return r16.Authorize(id_tag_info={"status": "Blocked" if id_tag in self.csms.blocked else "Accepted"})

    @on("StartTransaction")
    def start_tx(self, **kw):
        self.record("StartTransaction", kw)
        return r16.StartTransaction(transaction_id=next(self.csms.tx_ids), id_tag_info={"status": "Accepted"})

    @on("StopTransaction")
    def stop_tx(self, **kw):
        self.record("StopTransaction", kw)
        return r16.StopTransaction(id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def meter(self, **kw):
        self.record("MeterValues", kw)
        return r16.MeterValues()


class _Fake201(_Recorder, Cp201):
    @on("BootNotification")
    def boot(self, **kw):
        self.record("BootNotification", kw)
        return r201.BootNotification(current_time=self.csms.clock().isoformat(), interval=self.csms.interval,
                                     status="Accepted")

    @on("Heartbeat")
    def heartbeat(self, **kw):
        self.record("Heartbeat", kw)
        return r201.Heartbeat(current_time=self.csms.clock().isoformat())

    @on("StatusNotification")
    def status(self, **kw):
        self.record("StatusNotification", kw)
        return r201.StatusNotification()

    @on("Authorize")
    def authorize(self, id_token, **kw):
        self.record("Authorize", {"id_token": id_token, **kw})
        ok = id_token["id_token"] not in self.csms.blocked
        return r201.Authorize(id_token_info={"status": "Accepted" if ok else "Blocked"})

    @on("TransactionEvent")
    def tx_event(self, **kw):
        self.record("TransactionEvent", kw)
        info = {"status": "Accepted"} if kw.get("id_token") else None
        return r201.TransactionEvent(id_token_info=info)

    @on("MeterValues")
    def meter(self, **kw):
        self.record("MeterValues", kw)
        return r201.MeterValues()

    @on("NotifyEvent")
    def notify_event(self, **kw):
        self.record("NotifyEvent", kw)
        return r201.NotifyEvent()


class FakeCsms:
    """Records every request; `await csms.call(charger_id, request)` sends one to a charger."""

    def __init__(self, clock, *, interval: int = 3600):
        self.clock = clock
        self.interval = interval
        self.log: list[tuple[str, str, dict]] = []
        self.cps: dict[str, Cp16 | Cp201] = {}
        self.blocked: set[str] = set()
        self.tx_ids = itertools.count(100)
        self.server = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self.server = await serve(self._handler, "127.0.0.1", port, subprotocols=["ocpp2.0.1", "ocpp1.6"])
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.cps.clear()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def _handler(self, ws) -> None:
        cid = ws.request.path.rstrip("/").split("/")[-1]
        cp = (_Fake16 if ws.subprotocol == "ocpp1.6" else _Fake201)(cid, ws, response_timeout=5)
        cp.csms = self
        self.cps[cid] = cp
        with contextlib.suppress(ConnectionClosed):
            await cp.start()

    async def call(self, charger_id: str, request):
        return await self.cps[charger_id].call(request, suppress=False)

    def messages(self, charger_id: str, action: str) -> list[dict]:
        return [p for cid, a, p in self.log if cid == charger_id and a == action]

    def statuses(self, charger_id: str, connector: int = 1) -> list[str]:
        out = []
        for p in self.messages(charger_id, "StatusNotification"):
            if p.get("connector_id") == connector:
                out.append(p.get("status") or p.get("connector_status"))
        return out


AC16 = SimChargerSpec("T-AC16", Protocol.OCPP16, CurrentType.AC, 22.0, 3, "A01")
DC16 = SimChargerSpec("T-DC16", Protocol.OCPP16, CurrentType.DC, 150.0, 3, "A02")
AC201 = SimChargerSpec("T-AC201", Protocol.OCPP201, CurrentType.AC, 22.0, 3, "A03")
DC201 = SimChargerSpec("T-DC201", Protocol.OCPP201, CurrentType.DC, 50.0, 3, "A04")
VAN = SimVehicleSpec("V1", "Van 1", 80.0, 22.0, 80.0, "TAG1", time(17), time(6), 20.0)
TRUCK = SimVehicleSpec("V2", "Truck 2", 300.0, 22.0, 150.0, "TAG2", time(17), time(6), 30.0)
VAN3 = SimVehicleSpec("V3", "Van 3", 60.0, 11.0, 50.0, "TAG3", time(17), time(6), 50.0)
VAN4 = SimVehicleSpec("V4", "Van 4", 60.0, 11.0, 50.0, "TAG4", time(17), time(6), 50.0)


def run_with_csms(test, chargers=(AC16, DC16, AC201, DC201), vehicles=(VAN, TRUCK, VAN3, VAN4), **kwargs):
    """Run `await test(csms, sim, clock)` with a fake central system and a connected simulated depot."""

    async def main_() -> None:
        clock = ManualClock()
        csms = FakeCsms(clock)
        await csms.start()
        sim = SimulatedDepot(csms.url, list(chargers), list(vehicles), clock=clock, fault_rate=0.0,
                             auto_schedule=False, tick_seconds=3600, **kwargs)
        await sim.start()
        try:
            await sim.wait_connected(10)
            await sim.settle()
            await test(csms, sim, clock)
        finally:
            await sim.stop()
            await csms.stop()

    asyncio.run(main_())


def profile16(pid, purpose, limit, unit="A", stack=0, **extra):
    return {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": unit, "startSchedule": T0.isoformat(),
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}, **extra}


def profile201(pid, purpose, limit, unit="W", stack=0, **extra):
    return {"id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": pid, "chargingRateUnit": unit,
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}], **extra}
