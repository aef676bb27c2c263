"""The fail-safe defaults after boot or connect (issue 11): built for the protocol of the connection they go
out on, even when a charger id switches between 1.6 and 2.0.1; retried when they fail, alerted when they
still fail, and never a task that dies silently. Real OCPP clients over loopback against the real runtime."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from ocpp.routing import on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v16.enums import Action as A16
from ocpp.v201 import call as c201

from depot.model import Charger
from depot.people import alert_rules as rules
from depot.people import alerts
from depot.runtime import Runtime
from depot.settings import Settings
from depot.store import Store
from depot.store import enforcement as es
from tests.ocpp_clients import Client16, Client201, charger, eventually, with_passwords

CID = "CP-SWITCH"


@contextlib.contextmanager
def running(db_url: str, store: Store, *, retry_delays=(0.05, 0.1, 0.2)):
    settings = Settings(database_url=db_url, ocpp_port=0, port=0, simulator=False, tick_seconds=60.0)
    runtime = Runtime(settings, store)
    runtime.start()
    runtime.enforcer.failsafe.retry_delays = retry_delays
    try:
        yield runtime
    finally:
        runtime.stop()


@pytest.fixture
def depot_store(store):
    store.set_site("test depot", 44.0, 0.0)
    store.add_charger(Charger(CID, 22.0))
    return with_passwords(store)


async def boot(cp) -> None:
    if isinstance(cp, Client16):
        await cp.call(c16.BootNotification(charge_point_vendor="Acme", charge_point_model="Dual"))
    else:
        await cp.call(c201.BootNotification(charging_station={"model": "Dual", "vendor_name": "Acme"},
                                            reason="PowerUp"))


def profiles(cp, purpose: str) -> list[dict]:
    """The charging profiles of `purpose` this client received (snake_case, as the ocpp package hands them)."""
    out = []
    for action, kw in cp.received:
        if action != "SetChargingProfile":
            continue
        profile = kw.get("cs_charging_profiles") or kw.get("charging_profile")
        if profile["charging_profile_purpose"] == purpose:
            out.append(profile)
    return out


def shaped_for(profile: dict, cls) -> bool:
    """1.6: chargingProfileId and one schedule; 2.0.1: id and a list of schedules."""
    if cls is Client16:
        return "charging_profile_id" in profile and isinstance(profile["charging_schedule"], dict)
    return "id" in profile and isinstance(profile["charging_schedule"], list)


def settled(store: Store, cls) -> bool:
    """Both defaults were answered Accepted for a connection of `cls`."""
    station = "ChargePointMaxProfile" if cls is Client16 else "ChargingStationMaxProfile"
    return all(es.last_accepted(store, CID, purpose) is not None for purpose in ("TxDefaultProfile", station))


def no_task_died(caplog) -> bool:
    return not [r for r in caplog.records if "exception was never retrieved" in r.getMessage()
                or "fail-safe task" in r.getMessage()]


@pytest.mark.parametrize("restart", [False, True], ids=["same-server", "server-restarted"])
@pytest.mark.parametrize("first, second", [(Client16, Client201), (Client201, Client16)], ids=["16-to-201", "201-to-16"])
def test_failsafe_is_built_for_the_protocol_of_the_connection_it_goes_out_on(db_url, depot_store, caplog, first,
                                                                              second, restart):
    """The trigger of the issue: the charger id reconnects speaking the other version, without a
    BootNotification, so the store still names the old protocol (and, after a restart, nothing is cached)."""
    store = depot_store
    caplog.set_level(logging.INFO)
    with contextlib.ExitStack() as stack:
        runtime = stack.enter_context(running(db_url, store))

        async def scenario():
            nonlocal runtime
            async with charger(runtime.central, CID, first) as cp:
                await boot(cp)
                await eventually(lambda: settled(store, first) and not runtime.enforcer.failsafe.busy(CID), 5,
                                 "the first connection's defaults")
                assert all(shaped_for(p, first) for p in cp_profiles(cp))
            await eventually(lambda: CID not in runtime.central.connected(), 5, "disconnect")
            if restart:
                stack.close()
                runtime = stack.enter_context(running(db_url, store))
            async with charger(runtime.central, CID, second) as cp:
                tx_default = await eventually(lambda: profiles(cp, "TxDefaultProfile"), 5, "the default, again")
                assert shaped_for(tx_default[0], second), tx_default
                assert all(shaped_for(p, second) for p in cp_profiles(cp))
                # and then it boots: the defaults are sent again (a boot may lose them), still in its shape
                await boot(cp)
                await eventually(lambda: len(profiles(cp, "TxDefaultProfile")) >= 2, 5, "the default after boot")
                await asyncio.sleep(0.3)
                assert all(shaped_for(p, second) for p in cp_profiles(cp))

        asyncio.run(asyncio.wait_for(scenario(), 30))
    commands = es.commands(store, charger_id=CID)
    assert commands and {c.status for c in commands} == {"Accepted"}, [(c.purpose, c.status, c.detail) for c in commands]
    purposes = {c.purpose for c in commands}
    assert purposes == {"TxDefaultProfile", "ChargePointMaxProfile", "ChargingStationMaxProfile"}
    assert no_task_died(caplog)
    assert not alerts.list_alerts(store, kind=rules.FAILSAFE_FAILED)


def cp_profiles(cp) -> list[dict]:
    return [p for purpose in ("TxDefaultProfile", "ChargePointMaxProfile", "ChargingStationMaxProfile")
            for p in profiles(cp, purpose)]


class Flaky16(Client16):
    """Answers its first `failures` SetChargingProfile with a CALLERROR (its handler raises), then accepts."""

    failures = 2

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = 0

    @on(A16.set_charging_profile)
    def on_set_charging_profile(self, **kw):
        self._got("SetChargingProfile", kw)
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("profile store busy")
        return r16.SetChargingProfile(status="Accepted")


def test_a_failed_failsafe_is_retried_until_it_goes_in(db_url, depot_store, caplog):
    store = depot_store
    caplog.set_level(logging.INFO)
    with running(db_url, store) as runtime:

        async def scenario():
            async with charger(runtime.central, CID, Flaky16) as cp:
                await eventually(lambda: CID in runtime.enforcer.defaults, 10, "the default accepted")
                await eventually(lambda: any(c.purpose == "ChargePointMaxProfile" and c.status == "Accepted"
                                             for c in es.commands(store, charger_id=CID)), 10, "station max")
                return cp.calls

        calls = asyncio.run(asyncio.wait_for(scenario(), 30))
    statuses = [c.status for c in reversed(es.commands(store, charger_id=CID)) if c.purpose == "TxDefaultProfile"]
    assert statuses[0] == "Failed" and statuses[-1] == "Accepted" and calls >= 3
    assert "fail-safe not in force (attempt 1 of 4)" in caplog.text and CID in caplog.text
    assert not alerts.list_alerts(store, kind=rules.FAILSAFE_FAILED)  # it went in: nothing to alert
    assert no_task_died(caplog)


def test_a_failsafe_that_still_fails_is_alerted_and_the_alert_clears_when_it_goes_in(db_url, depot_store, caplog):
    store = depot_store
    with running(db_url, store) as runtime:

        async def refused():
            async with charger(runtime.central, CID, Client201) as cp:
                cp.profile_status = "Rejected"
                return await eventually(lambda: alerts.list_alerts(store, kind=rules.FAILSAFE_FAILED), 10, "alert")

        raised = asyncio.run(asyncio.wait_for(refused(), 30))
        alert = raised[0]
        assert alert.charger_id == CID and alert.severity == rules.CRITICAL
        assert "not installed after 4 attempts" in alert.message and "rejected" in alert.message
        tries = [c for c in es.commands(store, charger_id=CID) if c.purpose == "TxDefaultProfile"]
        assert len(tries) >= 4 and {c.status for c in tries} == {"Rejected"}
        assert "fail-safe not in force (attempt 4 of 4)" in caplog.text

        async def accepted():  # the charger is fixed and comes back: the defaults go in, the alert resolves
            async with charger(runtime.central, CID, Client201) as cp:
                await boot(cp)
                await eventually(lambda: not alerts.list_alerts(store, kind=rules.FAILSAFE_FAILED), 10, "resolved")
                assert profiles(cp, "TxDefaultProfile")

        asyncio.run(asyncio.wait_for(accepted(), 30))
    assert alerts.get_alert(store, alert.id).status == alerts.RESOLVED
    assert no_task_died(caplog)


def test_an_unexpected_error_is_logged_with_context_and_retried(db_url, depot_store, caplog):
    store = depot_store
    with running(db_url, store) as runtime:
        sender = runtime.enforcer.sender
        original = sender.apply_defaults
        raised = []

        async def once_broken(charger_id, *, force=False):
            if not raised:
                raised.append(charger_id)
                raise RuntimeError("database is locked")
            return await original(charger_id, force=force)

        sender.apply_defaults = once_broken

        async def scenario():
            async with charger(runtime.central, CID, Client16) as cp:
                await eventually(lambda: profiles(cp, "TxDefaultProfile"), 10, "the default after the error")

        asyncio.run(asyncio.wait_for(scenario(), 30))
    assert raised == [CID]
    failed = [r for r in caplog.records if "fail-safe defaults raised" in r.getMessage()]
    assert failed and CID in failed[0].getMessage() and "ocpp1.6" in failed[0].getMessage() and failed[0].exc_info
    assert no_task_died(caplog)
