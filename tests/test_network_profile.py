"""Raising a 2.0.1 station's security profile over OCPP (depot/ocpp/network_profile.py through
`charger_security.raise_profile`, use cases B09 + A05): the `ocpp` package's 2.0.1 client and the simulator over
loopback, and the Credentials card's button, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest
from ocpp.routing import on
from ocpp.v201 import call_result as r201
from ocpp.v201.enums import Action as A201

from depot.clock import utc_now
from depot.errors import ValidationError
from depot.model import Charger, Protocol
from depot.ocpp.charger_security import raise_profile
from depot.ocpp.network_profile import free_slot, parse_slots
from depot.people.users import audit_log
from tests.auth_helpers import client_as, prop
from tests.ocpp_clients import Client201, central, charger, eventually, run, with_passwords

pytestmark = pytest.mark.databases

PUBLIC = "wss://depot.example:9443/ocpp"
PRIORITY = ("OCPPCommCtrlr", "NetworkConfigurationPriority")


class Station201(Client201):
    """A 2.0.1 station with network connection profiles (B09): SetNetworkProfile, the priority variable and
    Reset, each answering what the test asks; it notes the profile the depot holds when each request comes."""

    network_answer = "Accepted"
    priority_answer = "Accepted"
    reset_answer = "Accepted"
    store = None  # the depot's store, to see when the profile changes there

    def __init__(self, cid, ws, **kw):
        super().__init__(cid, ws, **kw)
        self.variables[PRIORITY] = "1"
        self.profile_seen: dict[str, int] = {}

    def _seen(self, action: str) -> None:
        if self.store is not None:
            self.profile_seen[action] = self.store.charger_credentials(self.id).profile

    @on(A201.set_network_profile)
    def on_set_network_profile(self, configuration_slot, connection_data, **kw):
        self._got("SetNetworkProfile", {"configuration_slot": configuration_slot, "connection_data": connection_data})
        self._seen("SetNetworkProfile")
        return r201.SetNetworkProfile(status=self.network_answer)

    @on(A201.set_variables)
    def on_set_variables(self, set_variable_data, **kw):
        self._got("SetVariables", {"set_variable_data": set_variable_data})
        self._seen("SetVariables")
        return r201.SetVariables(set_variable_result=[
            {"attribute_status": self.priority_answer, "component": d["component"], "variable": d["variable"]}
            for d in set_variable_data])

    @on(A201.reset)
    def on_reset(self, type, **kw):
        self._got("Reset", {"type": type, **kw})
        self._seen("Reset")
        return r201.Reset(status=self.reset_answer)

    def sent(self, action: str) -> list[dict]:
        return [p for a, p in self.received if a == action]

    def priority_reads(self) -> int:
        return sum(1 for p in self.sent("GetVariables") for d in p["get_variable_data"]
                   if (d["component"]["name"], d["variable"]["name"]) == PRIORITY)


@pytest.fixture
def depot(store):
    store.add_charger(Charger("CS-2", 22.0))
    return with_passwords(store)


@pytest.fixture
def tls(settings, tmp_path):
    """The wss listener on an ephemeral port and the public URL of the depot."""
    import trustme

    leaf = trustme.CA().issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(tmp_path / "s.pem")
    leaf.private_key_pem.write_to_path(tmp_path / "s.key")
    return replace(settings, ocpp_tls_port=0, ocpp_tls_cert=str(tmp_path / "s.pem"),
                   ocpp_tls_key=str(tmp_path / "s.key"), ocpp_public_url=PUBLIC)


def steps(store, cid: str) -> list[str]:
    return [e.detail.get("step") for e in reversed(store.security_events(charger_id=cid, kind="profile"))]


async def connected(cs, cls=Station201, **answers):
    ctx = charger(cs, "CS-2", cls)
    cp = await ctx.__aenter__()
    for k, v in answers.items():
        setattr(cp, k, v)
    await eventually(lambda: "CS-2" in cs.connected())
    return ctx, cp


def test_slots():
    assert parse_slots("2,1") == [2, 1] and parse_slots("") == [] and parse_slots("a,1") == []
    assert free_slot([1]) == 2 and free_slot([3, 1]) == 4 and free_slot([]) == 1


def test_the_public_url_setting():
    import argparse

    from depot.errors import ConfigError
    from depot.settings import Settings, add_server_arguments

    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    s = Settings(database_url="sqlite://").with_args(parser.parse_args(["--ocpp-public-url", PUBLIC]))
    assert s.ocpp_public_url == PUBLIC and Settings(database_url="sqlite://").ocpp_public_url == ""
    env = Settings.from_env({"DEPOT_OCPP_PUBLIC_URL": PUBLIC, "DEPOT_DATABASE_URL": "sqlite://"})
    assert env.ocpp_public_url == PUBLIC
    with pytest.raises(ConfigError, match="ocpp_public_url"):
        Settings(database_url="sqlite://", ocpp_public_url="https://depot.example/ocpp")


def test_an_accepted_raise_keeps_profile_2_once_the_station_accepted_slot_and_priority(depot, tls):
    async def scenario():
        async with central(depot, tls) as (cs, _):
            ctx, cp = await connected(cs, store=depot)
            try:
                outcome = await raise_profile(cs, "CS-2", 2, by="test")
            finally:
                await ctx.__aexit__(None, None, None)
            return outcome, cp

    outcome, cp = run(scenario())
    assert outcome.ok and outcome.status == "Accepted", outcome
    assert "profile 2 (slot 2, priority 2,1)" in outcome.summary and "reconnects over wss now" in outcome.summary
    assert cp.priority_reads() == 1
    (network,) = cp.sent("SetNetworkProfile")
    assert network == {"configuration_slot": 2, "connection_data": {
        "ocpp_version": "OCPP20", "ocpp_transport": "JSON", "ocpp_csms_url": PUBLIC, "message_timeout": 30,
        "security_profile": 2, "ocpp_interface": "Wired0"}}  # the URL without the station's id: it appends it
    (variables,) = cp.sent("SetVariables")
    (d,) = variables["set_variable_data"]
    assert (d["component"]["name"], d["variable"]["name"], d["attribute_value"]) == (*PRIORITY, "2,1")
    assert cp.sent("Reset") == [{"type": "OnIdle"}]
    # the profile changed here only after both acceptances, and before the Reset
    assert cp.profile_seen == {"SetNetworkProfile": 1, "SetVariables": 1, "Reset": 2}
    assert depot.charger_credentials("CS-2").profile == 2
    assert steps(depot, "CS-2") == ["offered", "slot accepted", "accepted", "reset"]


def test_a_rejected_network_profile_changes_nothing(depot, tls):
    async def scenario():
        async with central(depot, tls) as (cs, _):
            ctx, cp = await connected(cs, network_answer="Rejected")
            try:
                return await raise_profile(cs, "CS-2", 2, by="test"), cp
            finally:
                await ctx.__aexit__(None, None, None)

    outcome, cp = run(scenario())
    assert not outcome.ok and outcome.status == "Rejected"
    assert outcome.summary == "SetNetworkProfile (slot 2): the station answered Rejected; profile 1 stays"
    assert cp.sent("SetVariables") == [] and cp.sent("Reset") == []
    assert depot.charger_credentials("CS-2").profile == 1
    assert steps(depot, "CS-2") == ["offered", "rejected"]


def test_a_rejected_priority_keeps_the_old_profile_and_sends_no_reset(depot, tls):
    async def scenario():
        async with central(depot, tls) as (cs, _):
            ctx, cp = await connected(cs, priority_answer="Rejected")
            try:
                return await raise_profile(cs, "CS-2", 2, by="test"), cp
            finally:
                await ctx.__aexit__(None, None, None)

    outcome, cp = run(scenario())
    assert not outcome.ok and outcome.status == "Rejected" and "profile 1 stays" in outcome.summary
    assert cp.sent("Reset") == [] and depot.charger_credentials("CS-2").profile == 1
    assert steps(depot, "CS-2") == ["offered", "slot accepted", "rejected"]


class NoPriority(Station201):
    def __init__(self, cid, ws, **kw):
        super().__init__(cid, ws, **kw)
        del self.variables[PRIORITY]  # answered UnknownVariable


def test_an_unreadable_priority_uses_slot_1_and_a_rejected_reset_still_keeps_the_profile(depot, tls):
    async def scenario():
        async with central(depot, tls) as (cs, _):
            ctx, cp = await connected(cs, NoPriority, reset_answer="Rejected")
            try:
                return await raise_profile(cs, "CS-2", 2, by="test"), cp
            finally:
                await ctx.__aexit__(None, None, None)

    outcome, cp = run(scenario())
    assert outcome.ok and "Reset OnIdle answered Rejected: it uses the new profile from its next restart" in \
        outcome.summary
    assert cp.sent("SetNetworkProfile")[0]["configuration_slot"] == 1
    assert cp.sent("SetVariables")[0]["set_variable_data"][0]["attribute_value"] == "1"
    assert depot.charger_credentials("CS-2").profile == 2


def test_refused_before_anything_is_sent(depot, tls):
    async def scenario(settings, profile, match):
        async with central(depot, settings) as (cs, _):
            ctx, cp = await connected(cs)
            try:
                with pytest.raises(ValidationError, match=match):
                    await raise_profile(cs, "CS-2", profile, by="test")
            finally:
                await ctx.__aexit__(None, None, None)
        assert cp.priority_reads() == 0 and cp.sent("SetNetworkProfile") == [] and cp.sent("Reset") == []

    run(scenario(replace(tls, ocpp_public_url=""), 2, r"set --ocpp-public-url \(DEPOT_OCPP_PUBLIC_URL\)"))
    run(scenario(replace(tls, ocpp_public_url="ws://depot.example:9000/ocpp"), 2, "needs a wss:// URL"))
    run(scenario(tls, 3, "profile 3 needs --ocpp-client-ca"))
    run(scenario(tls, 1, "only upwards"))  # not to the same profile, nor lower
    run(scenario(tls, 0, "only upwards"))
    assert depot.charger_credentials("CS-2").profile == 1 and steps(depot, "CS-2") == []


def test_raising_a_simulated_station(store, tls):
    from depot.sim.demo import demo_depot, seed_store
    from depot.sim.simulator import SimulatedDepot

    specs, _ = demo_depot(1, prefix="N-")
    specs = [replace(specs[0], protocol=Protocol.OCPP201)]
    passwords = seed_store(store, specs, [])
    cid = specs[0].id

    async def scenario():
        async with central(store, tls) as (cs, _):
            sim = SimulatedDepot(f"ws://127.0.0.1:{cs.port}/ocpp", specs, [], clock=utc_now, fault_rate=0.0,
                                 auto_schedule=False, passwords=passwords)
            await sim.start()
            try:
                await sim.wait_connected(15)
                first = await raise_profile(cs, cid, 2, by="test")
                network = dict(sim._chargers[cid].network_profiles)
            finally:
                await sim.stop()
            return first, network

    outcome, network = run(scenario())
    assert outcome.ok and outcome.status == "Accepted", outcome
    assert network["priority"] == "2,1" and network["slots"][2]["ocpp_csms_url"] == PUBLIC
    assert network["slots"][2]["security_profile"] == 2
    assert store.charger_credentials(cid).profile == 2


# ---------------------------------------------------------------- the Credentials card


class LoopRuntime:
    """What the page needs of the runtime: `central` and `run(coro, timeout)`, on a loop in its own thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.central = None

    def run(self, coro, timeout=None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout or 15)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


ACT = "..mt-cr-msg.children...mt-cr-secret.children...mt-cr-secret.is_open...mt-version.data.."
SHOW = "..mt-cr-status.children...mt-cr-profile.value...mt-cr-rotate-button.disabled...mt-cr-raise-button.disabled.."
BUTTONS = ("mt-cr-raise", "mt-cr-set-profile", "mt-cr-generate", "mt-cr-rotate")


def test_the_cards_raise_button_works_for_a_201_station(depot, tls):
    import app as depot_app
    from depot.web.context import Services

    runtime, holder = LoopRuntime(), {}

    async def start():
        ctx = central(depot, tls)
        cs, _ = await ctx.__aenter__()
        station = charger(cs, "CS-2", Station201)
        cp = await station.__aenter__()
        await eventually(lambda: "CS-2" in cs.connected())
        holder.update(ctx=ctx, station=station, cp=cp)
        return cs

    async def stop():
        await holder["station"].__aexit__(None, None, None)
        await holder["ctx"].__aexit__(None, None, None)

    previous = depot_app.server.extensions.get("depot")
    try:
        runtime.central = runtime.run(start())
        depot_app.configure(Services(tls, depot, utc_now, runtime))
        manager = client_as(depot_app.app, depot, "manager")
        shown = manager.callback(SHOW, [prop("mt-charger", "value", "CS-2"), prop("mt-version", "data", 0)])
        assert shown.get_json()["response"]["mt-cr-raise-button"]["disabled"] is False  # no "1.6 only"
        r = manager.callback(ACT, [prop(b, "submit_n_clicks", 1 if b == BUTTONS[0] else None) for b in BUTTONS],
                             [prop("mt-charger", "value", "CS-2"), prop("mt-cr-profile", "value", "2"),
                              prop("mt-version", "data", 0)])
        assert r.status_code == 200 and b"raise profile: Accepted: profile 2 (slot 2, priority 2,1)" in r.data
        assert depot.charger_credentials("CS-2").profile == 2
        assert holder["cp"].sent("Reset") == [{"type": "OnIdle"}]
        entry = audit_log(depot, target="charger:CS-2")[0]
        assert entry.action == "charger.raise_profile" and entry.ok and entry.result.startswith("Accepted")
    finally:
        if holder:
            runtime.run(stop())
        runtime.close()
        if previous is not None:
            depot_app.server.extensions["depot"] = previous
        else:
            depot_app.server.extensions.pop("depot", None)
