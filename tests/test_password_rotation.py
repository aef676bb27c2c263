"""Password rotation and profile raising over OCPP, the chargers' SecurityEventNotification, and the
Credentials card of the maintenance page (depot/ocpp/charger_security.py, depot/store/security.py, the
simulator's take_password, layouts/_maintenance_credentials.py): real `ocpp` clients and simulated chargers
over loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from ocpp.routing import on
from ocpp.v16 import call
from ocpp.v16 import call_result as r16
from ocpp.v16.enums import Action as A16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as r201
from ocpp.v201.enums import Action as A201
from websockets.exceptions import InvalidStatus

from depot.clock import utc_now
from depot.errors import ChargerOffline, ValidationError
from depot.model import Charger, Protocol
from depot.ocpp import charger_security
from depot.ocpp.charger_security import raise_profile, rotate_password
from depot.ocpp.security import AddressLimiter
from depot.people import maintenance
from depot.people.users import audit_log
from depot.store.security import password_matches, wire_secret
from tests.auth_helpers import client_as, prop
from tests.ocpp_clients import (
    PASSWORD,
    T0,
    Client16,
    Client201,
    at,
    central,
    charger,
    eventually,
    run,
    with_passwords,
)

pytestmark = pytest.mark.databases


class Rotating16(Client16):
    """A 1.6 charger with the security whitepaper's AuthorizationKey and SecurityProfile keys."""

    answer = "Accepted"
    drop = False  # close the connection instead of answering

    @on(A16.change_configuration)
    async def on_change_configuration(self, key, value, **kw):
        self._got("ChangeConfiguration", {"key": key, "value": value})
        if self.drop:
            await self._connection.close()
            await asyncio.sleep(1)
        return r16.ChangeConfiguration(status=self.answer)


class Rotating201(Client201):
    """A 2.0.1 station with SecurityCtrlr.BasicAuthPassword."""

    answer = "Accepted"
    drop = False

    @on(A201.set_variables)
    async def on_set_variables(self, set_variable_data, **kw):
        self._got("SetVariables", {"set_variable_data": set_variable_data})
        if self.drop:
            await self._connection.close()
            await asyncio.sleep(1)
        return r201.SetVariables(set_variable_result=[
            {"attribute_status": self.answer, "component": d["component"], "variable": d["variable"]}
            for d in set_variable_data])


@pytest.fixture
def depot(store):
    store.add_charger(Charger("CP-1", 22.0))
    store.add_charger(Charger("CS-2", 22.0))
    return with_passwords(store)


def sent_password(cp) -> str:
    action, payload = cp.received[-1]
    if action == "ChangeConfiguration":
        assert payload["key"] == "AuthorizationKey"
        return payload["value"]
    (d,) = payload["set_variable_data"]
    assert (d["component"]["name"], d["variable"]["name"]) == ("SecurityCtrlr", "BasicAuthPassword")
    return d["attribute_value"]


async def admitted(cs, cid: str, password: str, cls) -> bool:
    """Does a handshake with `password` get in (and its BootNotification answered)?"""
    try:
        async with charger(cs, cid, cls, password=password) as cp:
            boot = call.BootNotification(charge_point_vendor="A", charge_point_model="B") if cls is Rotating16 else \
                call201.BootNotification(charging_station={"model": "B", "vendor_name": "A"}, reason="PowerUp")
            return (await cp.call(boot)).status == "Accepted"
    except InvalidStatus as exc:
        assert exc.response.status_code == 401
        return False


def matches(store, cid: str, password: str) -> bool:
    return password_matches(store.charger_credentials(cid).password_hash, wire_secret(password.encode()))


def steps(store, cid: str) -> list[str]:
    return [e.detail.get("step") for e in reversed(store.security_events(charger_id=cid, kind="rotation"))]


PEERS = [("CP-1", Rotating16), ("CS-2", Rotating201)]


# ---------------------------------------------------------------- rotation with `ocpp` clients


@pytest.mark.parametrize(("cid", "cls"), PEERS, ids=["1.6", "2.0.1"])
def test_accepted_rotation_takes_effect_when_the_charger_reconnects_with_the_new_password(depot, settings, cid, cls):
    async def scenario():
        async with central(depot, settings) as (cs, _):
            cs.guard.limiter = AddressLimiter(burst=1000)
            async with charger(cs, cid, cls) as cp:
                await eventually(lambda: cid in cs.connected())
                outcome = await rotate_password(cs, cid, by="test")
                new = sent_password(cp)
            assert outcome.ok and outcome.status == "Accepted" and len(new) == 40
            creds = depot.charger_credentials(cid)
            assert creds.pending_state == "accepted" and matches(depot, cid, PASSWORD)  # the old one still rules
            assert await admitted(cs, cid, PASSWORD, cls)  # the old one works while the rotation is pending
            assert depot.charger_credentials(cid).has_pending
            assert await admitted(cs, cid, new, cls)  # the new one: promoted
            creds = depot.charger_credentials(cid)
            assert not creds.has_pending and matches(depot, cid, new) and not matches(depot, cid, PASSWORD)
            assert not await admitted(cs, cid, PASSWORD, cls)  # the old one is gone
            assert await admitted(cs, cid, new, cls)
        assert steps(depot, cid) == ["offered", "accepted", "promoted"]

    run(scenario())


@pytest.mark.parametrize(("cid", "cls"), PEERS, ids=["1.6", "2.0.1"])
def test_a_charger_that_drops_mid_rotation_is_never_locked_out(depot, settings, cid, cls):
    async def scenario():
        async with central(depot, settings) as (cs, _):
            cs.guard.limiter = AddressLimiter(burst=1000)
            async with charger(cs, cid, cls) as cp:
                cp.drop = True
                await eventually(lambda: cid in cs.connected())
                outcome = await rotate_password(cs, cid, by="test")
                new = sent_password(cp)
            assert not outcome.ok and outcome.status == "no answer"
            assert depot.charger_credentials(cid).pending_state == "unconfirmed"
            assert await admitted(cs, cid, PASSWORD, cls)  # it had not taken it: the old one still works
            assert depot.charger_credentials(cid).has_pending and matches(depot, cid, PASSWORD)
            assert await admitted(cs, cid, new, cls)  # … or it had: the new one works too, and then alone
            assert matches(depot, cid, new) and not depot.charger_credentials(cid).has_pending
        assert steps(depot, cid) == ["offered", "unconfirmed", "promoted"]

    run(scenario())


@pytest.mark.parametrize(("cid", "cls"), PEERS, ids=["1.6", "2.0.1"])
def test_a_rejected_rotation_leaves_the_old_password_alone(depot, settings, cid, cls):
    async def scenario():
        async with central(depot, settings) as (cs, _):
            cs.guard.limiter = AddressLimiter(burst=1000)
            async with charger(cs, cid, cls) as cp:
                cp.answer = "Rejected"
                await eventually(lambda: cid in cs.connected())
                outcome = await rotate_password(cs, cid, by="test")
                new = sent_password(cp)
            assert not outcome.ok and outcome.status == "Rejected" and "old password stays" in outcome.summary
            creds = depot.charger_credentials(cid)
            assert not creds.has_pending and matches(depot, cid, PASSWORD)
            assert not await admitted(cs, cid, new, cls) and await admitted(cs, cid, PASSWORD, cls)
        assert steps(depot, cid) == ["offered", "rejected"]

    run(scenario())


@pytest.mark.parametrize(("cid", "cls"), PEERS, ids=["1.6", "2.0.1"])
def test_the_new_password_is_neither_in_the_frame_journal_nor_in_the_log(depot, settings, caplog, cid, cls):
    caplog.set_level("INFO", logger="depot.ocpp.frames")

    async def scenario():
        async with central(depot, settings) as (cs, _):
            async with charger(cs, cid, cls) as cp:
                await eventually(lambda: cid in cs.connected())
                assert (await rotate_password(cs, cid, by="test")).ok
                cs.flush_journal()
                return sent_password(cp)

    new = run(scenario())
    frames = [e.payload for e in depot.recent_events(cid, limit=50)]
    assert any("[redacted]" in f for f in frames) and not any(new in f for f in frames)
    assert "[redacted]" in caplog.text and new not in caplog.text
    assert new not in str([(e.reason, e.detail) for e in depot.security_events(charger_id=cid)])


def test_rotation_preconditions_and_the_password_rules_of_each_version(depot, settings):
    async def scenario():
        async with central(depot, settings) as (cs, _):
            with pytest.raises(ChargerOffline):
                await rotate_password(cs, "CP-1")
            async with charger(cs, "CP-1", Rotating16) as cp:
                await eventually(lambda: "CP-1" in cs.connected())
                with pytest.raises(ValidationError, match="hexadecimal"):  # a 1.6 AuthorizationKey is hex
                    await rotate_password(cs, "CP-1", "not-hex-but-long-enough-0123")
                assert (await rotate_password(cs, "CP-1", "ab" * 16)).ok and sent_password(cp) == "ab" * 16
                depot.set_security_profile("CP-1", 3, now=T0)
                with pytest.raises(ValidationError, match="no password to rotate"):
                    await rotate_password(cs, "CP-1")
            async with charger(cs, "CS-2", Rotating201):
                await eventually(lambda: "CS-2" in cs.connected())
                with pytest.raises(ValidationError, match="letters, digits"):
                    await rotate_password(cs, "CS-2", "has#a#hash#sign#in#it")
                assert (await rotate_password(cs, "CS-2", "Long-Enough_Password.1")).ok

    run(scenario())


def test_a_password_set_by_hand_replaces_a_pending_rotation(depot):
    depot.set_pending_password("CP-1", "cd" * 20, state="accepted", now=T0)
    assert depot.charger_credentials("CP-1").has_pending
    depot.set_charger_password("CP-1", "ef" * 20, now=T0)
    creds = depot.charger_credentials("CP-1")
    assert not creds.has_pending and matches(depot, "CP-1", "ef" * 20)
    assert "pending_hash" not in repr(creds) and creds.password_hash not in repr(creds)


# ---------------------------------------------------------------- raising the profile (1.6)


def test_raising_a_16_charger_to_profile_2(depot, settings, tmp_path):
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(tmp_path / "s.pem")
    leaf.private_key_pem.write_to_path(tmp_path / "s.key")
    tls = replace(settings, ocpp_tls_port=0, ocpp_tls_cert=str(tmp_path / "s.pem"), ocpp_tls_key=str(tmp_path / "s.key"))

    async def scenario():
        async with central(depot, settings) as (cs, _):
            async with charger(cs, "CP-1", Rotating16):
                await eventually(lambda: "CP-1" in cs.connected())
                with pytest.raises(ValidationError, match="no wss listener"):
                    await raise_profile(cs, "CP-1", 2)
        async with central(depot, tls) as (cs, _):
            async with charger(cs, "CP-1", Rotating16) as cp:
                await eventually(lambda: "CP-1" in cs.connected())
                cp.answer = "Rejected"
                assert not (await raise_profile(cs, "CP-1", 2)).ok and depot.charger_credentials("CP-1").profile == 1
                cp.answer = "Accepted"
                outcome = await raise_profile(cs, "CP-1", 2, by="test")
                assert outcome.ok and cp.received[-1] == ("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
                assert depot.charger_credentials("CP-1").profile == 2
                with pytest.raises(ValidationError, match="only upwards"):
                    await raise_profile(cs, "CP-1", 2)
            async with charger(cs, "CS-2", Rotating201):  # 2.0.1: tests/test_network_profile.py
                await eventually(lambda: "CS-2" in cs.connected())
                with pytest.raises(ValidationError, match="--ocpp-public-url"):
                    await raise_profile(cs, "CS-2", 2)

    run(scenario())


# ---------------------------------------------------------------- SecurityEventNotification


def test_security_event_notifications_of_both_versions_are_stored_and_in_the_history(depot, settings):
    async def scenario():
        async with central(depot, settings) as (cs, _):
            async with charger(cs, "CP-1", Rotating16) as cp:
                await cp.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=at(1),
                                                             tech_info="v2.3 installed"))
            async with charger(cs, "CS-2", Rotating201) as cp:
                await cp.call(call201.SecurityEventNotification(type="TamperDetectionActivated", timestamp=at(2),
                                                                tech_info="lid opened"))

    run(scenario())
    (one,) = depot.security_events(charger_id="CP-1", kind="charger")
    (two,) = depot.security_events(charger_id="CS-2", kind="charger")
    assert (one.reason, one.detail["timestamp"], one.detail["tech_info"], one.detail["source"]) == (
        "FirmwareUpdated", at(1), "v2.3 installed", "charger")
    assert (two.reason, two.detail["tech_info"], two.remote) == ("TamperDetectionActivated", "lid opened", "127.0.0.1")
    history = maintenance.service_history(depot, "CS-2")
    assert any(i.what == "security event TamperDetectionActivated" and "lid opened" in i.result and i.who == "charger"
               for i in history)


# ---------------------------------------------------------------- against the simulator


def test_rotation_against_the_simulator_on_both_versions(store, settings):
    from depot.sim.demo import demo_depot, seed_store
    from depot.sim.simulator import SimulatedDepot

    specs, vehicles = demo_depot(2, prefix="R-")
    specs = [replace(specs[0], protocol=Protocol.OCPP16), replace(specs[1], protocol=Protocol.OCPP201)]
    passwords = seed_store(store, specs, [])

    async def scenario():
        async with central(store, settings) as (cs, _):
            sim = SimulatedDepot(f"ws://127.0.0.1:{cs.port}/ocpp", specs, [], clock=utc_now, fault_rate=0.0,
                                 auto_schedule=False, passwords=passwords)
            await sim.start()
            try:
                await sim.wait_connected(15)
                for s in specs:
                    outcome = await rotate_password(cs, s.id, by="test")
                    assert outcome.ok and outcome.status == "Accepted", outcome
                    new = sim._chargers[s.id].password
                    assert new != passwords[s.id] and store.charger_credentials(s.id).has_pending
                    await cs._chargers[s.id]._connection.close()  # a network glitch: the simulator reconnects
                for s in specs:
                    await eventually(lambda s=s: not store.charger_credentials(s.id).has_pending, 15, "promotion")
                    assert matches(store, s.id, sim._chargers[s.id].password)
                    assert not matches(store, s.id, passwords[s.id])
                await sim.wait_connected(15)
            finally:
                await sim.stop()

    run(scenario())
    for s in specs:
        assert steps(store, s.id) == ["offered", "accepted", "promoted"]


def test_the_simulator_refuses_a_password_that_breaks_its_version_rules(store, settings):
    from depot.sim.demo import demo_depot
    from depot.sim.simulator import make_charger

    (spec,) = demo_depot(1)[0]
    sim16 = make_charger(replace(spec, protocol=Protocol.OCPP16), base_url="ws://x", clock=utc_now,
                         rng=__import__("random").Random(1), fault_rate=0.0, meter_interval=60, min_meter_gap=5,
                         response_timeout=5)
    sim16.password = "old"
    assert sim16.take_password("zz" * 20, authorization_key=True) == "Rejected" and sim16.password == "old"
    assert sim16.take_password("ab" * 8, authorization_key=True) == "Rejected"  # 8 bytes: too short
    assert sim16.take_password("Ab" * 18, authorization_key=True) == "Accepted" and sim16.password == "Ab" * 18
    assert sim16.take_password("has spaces in it, no", authorization_key=False) == "Rejected"


# ---------------------------------------------------------------- the maintenance page


ACT = "..mt-cr-msg.children...mt-cr-secret.children...mt-cr-secret.is_open...mt-version.data.."
SHOW = "..mt-cr-status.children...mt-cr-profile.value...mt-cr-rotate-button.disabled...mt-cr-raise-button.disabled.."


def _act(c, button: str, *, profile="1"):
    buttons = sorted(("mt-cr-set-profile", "mt-cr-generate", "mt-cr-rotate", "mt-cr-raise"), key=lambda b: b != button)
    return c.callback(ACT, [prop(b, "submit_n_clicks", 1 if b == button else None) for b in buttons],
                      [prop("mt-charger", "value", "CP-1"), prop("mt-cr-profile", "value", profile),
                       prop("mt-version", "data", 0)])


@pytest.fixture
def clients(configured_app, depot):
    return {who: client_as(configured_app, depot, who) for who in (None, "manager", "dispatcher", "maintenance",
                                                                    "viewer")}


def test_only_a_manager_sees_or_uses_the_credentials_card(clients, depot):
    first = depot.charger_credentials("CP-1")
    for who, c in clients.items():
        before = depot.charger_credentials("CP-1")
        page = c.callback(".._pages_content.children..._pages_store.data..",
                          [prop("_pages_location", "pathname", "/maintenance"), prop("_pages_location", "search", "")])
        shown = c.callback(SHOW, [prop("mt-charger", "value", "CP-1"), prop("mt-version", "data", 0)])
        generated = _act(c, "mt-cr-generate")
        profiled = _act(c, "mt-cr-set-profile", profile="2")
        expected = 401 if who is None else 200 if who == "manager" else 403
        assert (shown.status_code, generated.status_code, profiled.status_code) == (expected,) * 3, who
        if who in ("maintenance", "manager"):
            assert (b"mt-cr-card" in page.data) == (who == "manager"), who
        if who != "manager":
            assert depot.charger_credentials("CP-1") == before, who  # refused: nothing changed
    creds = depot.charger_credentials("CP-1")
    assert creds.profile == 2 and creds.password_hash != first.password_hash


def test_a_generated_password_is_shown_once_and_only_its_hash_is_kept(clients, depot):
    manager = clients["manager"]
    first = _act(manager, "mt-cr-generate")
    body = first.get_json()["response"]
    password = body["mt-cr-secret"]["children"][1]["props"]["children"]
    assert body["mt-cr-secret"]["is_open"] is True and len(password) == 40
    assert matches(depot, "CP-1", password) and not matches(depot, "CP-1", PASSWORD)
    shown = manager.callback(SHOW, [prop("mt-charger", "value", "CP-1"), prop("mt-version", "data", 1)])
    creds = depot.charger_credentials("CP-1")
    assert password not in shown.get_data(as_text=True) and creds.password_hash not in shown.get_data(as_text=True)
    assert b'"data-password":1' in shown.data.replace(b" ", b"")
    entries = audit_log(depot, target="charger:CP-1")
    assert entries[0].action == "charger.set_password" and all(password not in str(e.detail) + e.result
                                                                for e in entries)
    again = _act(manager, "mt-cr-set-profile", profile="1")  # the next answer does not carry it again
    assert password not in again.get_data(as_text=True)
    assert again.get_json()["response"]["mt-cr-secret"]["is_open"] is False


def test_rotating_from_the_page_without_a_connection_says_so(clients, depot):
    r = _act(clients["manager"], "mt-cr-rotate")
    assert r.status_code == 200 and b"no charger connections in this process" in r.data
    assert matches(depot, "CP-1", PASSWORD) and not depot.charger_credentials("CP-1").has_pending
    assert audit_log(depot, target="charger:CP-1")[0].action == "charger.rotate_password"


def test_rotation_through_the_running_depot_and_its_simulator(db_url):
    """The page's way in (`charger_security.perform`) on the real runtime with its simulated chargers."""
    from tests.live_depot import V16, V201, running_depot, wait_for

    gen = running_depot(db_url)
    runtime, store = next(gen)
    try:
        for cid in (V16[0], V201[0]):
            outcome = charger_security.perform(runtime, store, "rotate", cid, by="manager", now=utc_now())
            assert outcome.ok, outcome
            runtime.run(runtime.central._chargers[cid]._connection.close())
            wait_for(lambda cid=cid: not store.charger_credentials(cid).has_pending, 20, what="promotion")
            assert audit_log(store, target=f"charger:{cid}")[0].result.startswith("Accepted")
        wait_for(lambda: len(runtime.central.connected()) == 4, 20, what="reconnected")
    finally:
        next(gen, None)  # the rest of running_depot: stop the runtime, dispose of the store
