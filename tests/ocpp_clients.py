"""Real OCPP peers for the central-system tests: the `ocpp` package's own ChargePoint classes over websockets,
plus a raw websocket client for hand-written frames. Each client answers what a charger answers and keeps the
requests it received in `received` (action, snake_case payload).

Chargers authenticate as real ones do (security profile 1, HTTP Basic): `with_passwords(store)` gives the
chargers of a test their password (`PASSWORD`), and `url(cs, id)` carries it in the URL's user info, which
websockets sends as the Authorization header; `url(cs, id, password=None)` connects without credentials."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from ocpp.routing import on
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v16 import call_result as r16
from ocpp.v16.enums import Action as A16
from ocpp.v201 import ChargePoint as V201ChargePoint
from ocpp.v201 import call_result as r201
from ocpp.v201.enums import Action as A201
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from depot.ocpp.server import CentralSystem, ChargerEvent
from depot.settings import Settings
from depot.store import Store

T0 = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
PASSWORD = "test-password-0123456789"  # every test charger's password (profile 1)
_KEEP = object()


def at(minutes: float) -> str:
    """An ISO timestamp `minutes` after T0 (what a charger puts in its messages)."""
    return (T0 + timedelta(minutes=minutes)).isoformat()


def run(coro):
    """Run one test scenario on a fresh loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, 20))


def iso(t: datetime) -> str:
    return t.isoformat()


class Client16(V16ChargePoint):
    """An OCPP 1.6 charger with the smart-charging keys of a typical AC wallbox."""

    def __init__(self, cid, ws, **kw):
        super().__init__(cid, ws, response_timeout=5)
        self.received: list[tuple[str, dict]] = []
        self.config = {"ChargingScheduleAllowedChargingRateUnit": "Current",
                       "ChargingScheduleMaxPeriods": "24", "ChargeProfileMaxStackLevel": "8"}
        self.profile_status = "Accepted"
        self.answer_delay = 0.0

    def _got(self, action: str, kwargs: dict) -> None:
        self.received.append((action, kwargs))

    @on(A16.get_configuration)
    def on_get_configuration(self, key=None, **kw):
        self._got("GetConfiguration", {"key": key})
        known = [{"key": k, "readonly": True, "value": v} for k, v in self.config.items() if not key or k in key]
        unknown = [k for k in key or () if k not in self.config]
        return r16.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(A16.remote_start_transaction)
    def on_remote_start_transaction(self, **kw):
        self._got("RemoteStartTransaction", kw)
        return r16.RemoteStartTransaction(status="Accepted")

    @on(A16.remote_stop_transaction)
    def on_remote_stop_transaction(self, **kw):
        self._got("RemoteStopTransaction", kw)
        return r16.RemoteStopTransaction(status="Accepted")

    @on(A16.set_charging_profile)
    def on_set_charging_profile(self, **kw):
        self._got("SetChargingProfile", kw)
        return r16.SetChargingProfile(status=self.profile_status)

    @on(A16.clear_charging_profile)
    def on_clear_charging_profile(self, **kw):
        self._got("ClearChargingProfile", kw)
        return r16.ClearChargingProfile(status="Accepted")

    @on(A16.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, **kw):
        self._got("GetCompositeSchedule", {"connector_id": connector_id, "duration": duration, **kw})
        return r16.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=iso(T0),
            charging_schedule={"duration": duration, "chargingRateUnit": "A",
                               "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]})

    @on(A16.reset)
    async def on_reset(self, **kw):
        self._got("Reset", kw)
        await asyncio.sleep(self.answer_delay)  # a slow charger: holds its receive loop like real firmware
        return r16.Reset(status="Accepted")

    @on(A16.change_availability)
    def on_change_availability(self, **kw):
        self._got("ChangeAvailability", kw)
        return r16.ChangeAvailability(status="Accepted")

    @on(A16.trigger_message)
    def on_trigger_message(self, **kw):
        self._got("TriggerMessage", kw)
        return r16.TriggerMessage(status="Accepted")

    @on(A16.change_configuration)
    def on_change_configuration(self, **kw):
        raise RuntimeError("this charger's configuration store is broken")  # answered InternalError


class Client201(V201ChargePoint):
    """An OCPP 2.0.1 charging station with a SmartChargingCtrlr."""

    def __init__(self, cid, ws, **kw):
        super().__init__(cid, ws, response_timeout=5)
        self.received: list[tuple[str, dict]] = []
        self.variables = {("SmartChargingCtrlr", "RateUnit"): "A,W",
                          ("SmartChargingCtrlr", "PeriodsPerSchedule"): "20",
                          ("SmartChargingCtrlr", "ProfileStackLevel"): "4"}
        self.profile_status = "Accepted"

    def _got(self, action: str, kwargs: dict) -> None:
        self.received.append((action, kwargs))

    @on(A201.get_variables)
    def on_get_variables(self, get_variable_data, **kw):
        self._got("GetVariables", {"get_variable_data": get_variable_data})
        results = []
        for d in get_variable_data:
            key = (d["component"]["name"], d["variable"]["name"])
            value = self.variables.get(key)
            result = {"attribute_status": "Accepted" if value is not None else "UnknownVariable",
                      "component": d["component"], "variable": d["variable"]}
            if value is not None:
                result["attribute_value"] = value
            results.append(result)
        return r201.GetVariables(get_variable_result=results)

    @on(A201.set_variables)
    def on_set_variables(self, set_variable_data, **kw):
        self._got("SetVariables", {"set_variable_data": set_variable_data})
        return r201.SetVariables(set_variable_result=[
            {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
            for d in set_variable_data])

    @on(A201.request_start_transaction)
    def on_request_start_transaction(self, **kw):
        self._got("RequestStartTransaction", kw)
        return r201.RequestStartTransaction(status="Accepted")

    @on(A201.request_stop_transaction)
    def on_request_stop_transaction(self, **kw):
        self._got("RequestStopTransaction", kw)
        return r201.RequestStopTransaction(status="Accepted")

    @on(A201.set_charging_profile)
    def on_set_charging_profile(self, **kw):
        self._got("SetChargingProfile", kw)
        return r201.SetChargingProfile(status=self.profile_status)

    @on(A201.clear_charging_profile)
    def on_clear_charging_profile(self, **kw):
        self._got("ClearChargingProfile", kw)
        return r201.ClearChargingProfile(status="Accepted")

    @on(A201.get_composite_schedule)
    def on_get_composite_schedule(self, duration, evse_id, **kw):
        self._got("GetCompositeSchedule", {"duration": duration, "evse_id": evse_id, **kw})
        return r201.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": evse_id, "duration": duration, "schedule_start": iso(T0), "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": 11000.0}]})

    @on(A201.reset)
    def on_reset(self, **kw):
        self._got("Reset", kw)
        return r201.Reset(status="Accepted")

    @on(A201.change_availability)
    def on_change_availability(self, **kw):
        self._got("ChangeAvailability", kw)
        return r201.ChangeAvailability(status="Accepted")

    @on(A201.trigger_message)
    def on_trigger_message(self, **kw):
        self._got("TriggerMessage", kw)
        return r201.TriggerMessage(status="Accepted")


# ---------------------------------------------------------------- harness


@contextlib.asynccontextmanager
async def central(store: Store, settings: Settings, **overrides) -> AsyncIterator[tuple[CentralSystem, list]]:
    """A started CentralSystem on an ephemeral port and the list its events are appended to."""
    events: list[ChargerEvent] = []
    cs = CentralSystem(store, replace(settings, ocpp_port=0, **overrides), on_event=events.append)
    await cs.start()
    try:
        yield cs, events
    finally:
        await cs.stop()


def with_passwords(store: Store, *charger_ids: str, password: str = PASSWORD, profile: int = 1) -> Store:
    """Give these chargers (default: every charger in the store) `password` and `profile`."""
    for cid in charger_ids or [c.id for c in store.list_chargers()]:
        store.set_charger_password(cid, password, now=T0)
        store.set_security_profile(cid, profile, now=T0)
    return store


def url(cs: CentralSystem, charger_id: str, password: str | None = PASSWORD, *, tls: bool = False,
        user: object = _KEEP) -> str:
    """The charger's OCPP URL with HTTP Basic credentials (user = the charger id unless `user` is given);
    `password=None`: no credentials; `tls`: the wss listener."""
    name = charger_id if user is _KEEP else user
    auth = f"{quote(str(name), safe='')}:{quote(password, safe='')}@" if password is not None else ""
    scheme, port = ("wss", cs.tls_port) if tls else ("ws", cs.port)
    return f"{scheme}://{auth}127.0.0.1:{port}/ocpp/{quote(charger_id, safe='')}"


@contextlib.asynccontextmanager
async def charger(cs: CentralSystem, charger_id: str, cls=Client16, protocol: str | None = None, *,
                  password: str | None = PASSWORD, **connect_kwargs):
    """A running `ocpp` client of class `cls` connected to `cs` (with `password`; `connect_kwargs` go to
    websockets' `connect`, e.g. `ssl=` for the wss listener with `tls=True`)."""
    protocol = protocol or ("ocpp2.0.1" if issubclass(cls, V201ChargePoint) else "ocpp1.6")
    tls = connect_kwargs.pop("tls", False)
    async with connect(url(cs, charger_id, password, tls=tls), subprotocols=[protocol], **connect_kwargs) as ws:
        cp = cls(charger_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task


async def eventually(predicate: Callable[[], object], timeout: float = 3.0, what: str = "condition"):
    """Poll `predicate` until it is truthy (the server persists asynchronously from the client's view)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.02)


async def reply_to(ws: ClientConnection, unique_id: str, timeout: float = 3.0) -> list:
    """The next frame answering `unique_id` (skipping CALLs the server sends meanwhile)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame[0] in (3, 4) and frame[1] == unique_id:
            return frame
