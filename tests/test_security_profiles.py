"""Security profiles per charger at the handshake (depot/ocpp/security.py): real `ocpp` clients and raw
websockets over loopback, TLS certificates made here with trustme, a real SQLite file."""

from __future__ import annotations

import asyncio
import base64
import ssl
import warnings
from dataclasses import replace

import pytest
import trustme
from ocpp.v16 import call
from ocpp.v201 import call as call201
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from depot.model import Charger, Protocol, Vehicle
from depot.ocpp import security
from depot.ocpp.security import TLS12_CIPHERS, AddressLimiter, server_tls_context
from depot.people.alert_rules import FAILED_LOGIN
from depot.people.alerts import list_alerts
from tests.ocpp_clients import (
    PASSWORD,
    T0,
    Client201,
    at,
    central,
    charger,
    eventually,
    run,
    url,
    with_passwords,
)

WRONG = "not-the-password-0123456"


@pytest.fixture
def depot(store):
    store.add_charger(Charger("CP-1", 22.0), connectors=2)
    store.add_charger(Charger("CS-2", 22.0))
    store.add_vehicle(Vehicle("V1", "Van 1", 75.0, id_tag="TAG-1"))
    return with_passwords(store)


async def refusal(address: str, **kwargs):
    """The HTTP response of a refused handshake (fails if it was accepted)."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(address, subprotocols=["ocpp1.6"], **kwargs):
            pass
    return refused.value.response


def roomy(cs) -> None:
    """No rate limit to speak of: the tests that are not about it must not wait for it."""
    cs.guard.limiter = AddressLimiter(burst=1000)


# ---------------------------------------------------------------- profile 1 (and 0)


def test_profile_1_admits_the_right_password_and_refuses_none_a_wrong_one_or_another_user(depot, settings):
    async def scenario():
        async with central(depot, settings) as (cs, events):
            roomy(cs)
            for address in (url(cs, "CP-1", None), url(cs, "CP-1", WRONG), url(cs, "CP-1", user="CS-2")):
                assert (await refusal(address)).status_code == 401
            assert cs.connected() == {} and events == []
            async with charger(cs, "CP-1") as cp:
                boot = await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="W22"))
                assert boot.status == "Accepted" and cs.connected() == {"CP-1": Protocol.OCPP16}
        reasons = [e.reason for e in reversed(depot.security_events(charger_id="CP-1"))]
        assert reasons == ["no credentials", "wrong password", "user name is not the charger id",
                           "profile 1: password"]
        assert all(e.remote == "127.0.0.1" for e in depot.security_events())

    run(scenario())


def test_a_refusal_says_nothing_of_whether_the_id_exists_and_costs_the_same_work(depot, settings, monkeypatch):
    checks = []
    real = security._check
    monkeypatch.setattr(security, "_check", lambda stored, secret: checks.append(stored) or real(stored, secret))

    async def scenario():
        async with central(depot, settings) as (cs, _):
            roomy(cs)
            answers = [await refusal(url(cs, cid, pw)) for cid, pw in
                       (("GHOST", PASSWORD), ("CP-1", WRONG), ("GHOST", None), ("CP-1", None))]
            return answers

    answers = run(scenario())
    assert {(r.status_code, bytes(r.body), r.headers["WWW-Authenticate"]) for r in answers} == {
        (401, b"Unauthorized.\n", 'Basic realm="depot OCPP", charset="UTF-8"')}
    assert [sorted(k for k in r.headers if k.lower() != "date") for r in answers].count(
        sorted(k for k in answers[0].headers if k.lower() != "date")) == 4
    assert len(checks) == 4  # one scrypt check each: against a dummy hash for the unknown id and no password
    assert checks[1] is not None and checks[0] is None and checks[2] is None and checks[3] is None


def test_a_charger_without_a_password_is_refused_and_profile_0_must_be_asked_for(depot, settings):
    depot.add_charger(Charger("OLD-1", 22.0))  # as after an upgrade: no credentials at all

    async def scenario():
        async with central(depot, settings) as (cs, _):
            roomy(cs)
            assert (await refusal(url(cs, "OLD-1", None))).status_code == 401
            assert (await refusal(url(cs, "OLD-1", PASSWORD))).status_code == 401
            depot.set_security_profile("OLD-1", 0, now=T0)  # a lab charger, on purpose
            async with charger(cs, "OLD-1", password=None):
                await eventually(lambda: "OLD-1" in cs.connected())
        assert [e.reason for e in depot.security_events(charger_id="OLD-1")][:2] == [
            "profile 0: no authentication (lab)", "no password set"]

    run(scenario())


def test_a_16_authorization_key_matches_as_its_digits_in_any_case_or_as_its_bytes(depot, settings):
    key = "00112233445566778899aabbccddeeff01234567"
    depot.set_charger_password("CP-1", key.upper(), now=T0)  # the stored form is the lower-case digits

    async def scenario():
        async with central(depot, settings) as (cs, _):
            roomy(cs)
            sent = [key, key.upper(), bytes.fromhex(key)]
            for secret in sent:
                raw = secret if isinstance(secret, bytes) else secret.encode()
                header = "Basic " + base64.b64encode(b"CP-1:" + raw).decode()
                async with connect(url(cs, "CP-1", None), subprotocols=["ocpp1.6"],
                                   additional_headers={"Authorization": header}) as ws:
                    assert ws.subprotocol == "ocpp1.6"
                    await eventually(lambda: "CP-1" in cs.connected())
                await eventually(lambda: cs.connected() == {})
            wrong = "Basic " + base64.b64encode(b"CP-1:" + bytes.fromhex(key)[:-1] + b"\x00").decode()
            assert (await refusal(url(cs, "CP-1", None), additional_headers={"Authorization": wrong})).status_code == 401

    run(scenario())


def test_the_password_is_never_logged_nor_stored(depot, settings, caplog, db_url):
    caplog.set_level("DEBUG", logger="depot.ocpp.websocket")

    async def scenario():
        async with central(depot, settings) as (cs, _):
            async with charger(cs, "CP-1"):
                await eventually(lambda: "CP-1" in cs.connected())
            await refusal(url(cs, "CP-1", WRONG))

    run(scenario())
    encoded = base64.b64encode(f"CP-1:{PASSWORD}".encode()).decode()
    assert "< Authorization: [redacted]" in caplog.text
    for secret in (PASSWORD, WRONG, encoded):
        assert secret not in caplog.text
    depot.dispose()  # checkpoints the WAL into the file
    with open(db_url.removeprefix("sqlite:///"), "rb") as db:
        assert PASSWORD.encode() not in db.read()
    assert depot.charger_credentials("CP-1").password_hash.startswith("scrypt$16384$8$1$")


# ---------------------------------------------------------------- impersonation and replacement


def test_a_second_socket_without_credentials_never_displaces_the_charger_nor_its_transaction(depot, settings):
    async def scenario():
        async with central(depot, settings) as (cs, events):
            roomy(cs)
            async with charger(cs, "CP-1") as cp:
                await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="W22"))
                started = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000,
                                                              timestamp=at(0)))
                await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[
                    {"timestamp": at(10), "sampledValue": [{"value": "2500", "measurand":
                                                            "Energy.Active.Import.Register", "unit": "Wh"}]}]))
                for password in (None, WRONG):  # the impersonator: no BootNotification, no frame ever gets in
                    assert (await refusal(url(cs, "CP-1", password))).status_code == 401
                assert cs.connected() == {"CP-1": Protocol.OCPP16}
                assert [e.kind for e in events].count("connected") == 1 and "disconnected" not in [
                    e.kind for e in events]
                conf = await cs.get_configuration("CP-1", ["ChargeProfileMaxStackLevel"])  # the real one answers
                assert conf.configuration_key[0]["value"] == "8"
                (tx,) = depot.active_transactions()
                assert (tx.id, tx.stopped_at) == (started.transaction_id, None)
                assert [s.energy_wh for s in depot.meter_samples(charger_id="CP-1")] == [2500.0]

    run(scenario())


def test_an_authenticated_reconnect_replaces_the_old_socket(depot, settings):
    async def scenario():
        async with central(depot, settings) as (cs, events):
            async with connect(url(cs, "CS-2"), subprotocols=["ocpp2.0.1"]) as first:
                await eventually(lambda: "CS-2" in cs.connected())
                async with charger(cs, "CS-2", Client201) as cp:  # the charger after a network glitch
                    await asyncio.wait_for(first.wait_closed(), 3)
                    boot = await cp.call(call201.BootNotification(
                        charging_station={"model": "T", "vendor_name": "Acme"}, reason="PowerUp"))
                    assert boot.status == "Accepted" and cs.connected() == {"CS-2": Protocol.OCPP201}
        (replaced,) = depot.security_events(charger_id="CS-2", kind="replaced")
        assert replaced.remote == "127.0.0.1" and replaced.detail["old_remote"] == "127.0.0.1"

    run(scenario())


# ---------------------------------------------------------------- alerts and the rate limit


def test_repeated_failures_raise_one_failed_login_alert_per_charger_and_one_for_unknown_ids(depot, settings):
    async def scenario():
        async with central(depot, settings) as (cs, _):
            roomy(cs)
            for _ in range(4):
                await refusal(url(cs, "CP-1", WRONG))
            assert list_alerts(depot, kind=FAILED_LOGIN) == []
            await refusal(url(cs, "CP-1", WRONG))
            for n in range(6):
                await refusal(url(cs, f"GHOST-{n}", PASSWORD))

    run(scenario())
    by_charger = {a.charger_id: a for a in list_alerts(depot, kind=FAILED_LOGIN)}
    assert by_charger["CP-1"].message == "5 failed logins for CP-1 from 127.0.0.1 in 10 min (last: wrong password)"
    assert by_charger[None].message.startswith("11 failed logins for 7 unknown or different charger ids from "
                                               "127.0.0.1 in 10 min")
    assert by_charger["CP-1"].label == "Failed charger logins" and by_charger["CP-1"].severity == "warning"
    assert len(depot.security_events(kind="refused")) == 11


def test_the_rate_limit_holds_an_abusive_address_for_seconds_but_never_shuts_out_the_right_password(
        depot, settings):
    async def scenario():
        loop = asyncio.get_running_loop()
        async with central(depot, settings) as (cs, _):
            cs.guard.limiter = AddressLimiter(burst=3, refill_s=2.0, max_wait_s=4.0)
            async with charger(cs, "CS-2", Client201):  # known good since this process started
                await eventually(lambda: "CS-2" in cs.connected())
            for _ in range(3):
                await refusal(url(cs, "CP-1", WRONG))
            t0 = loop.time()
            assert (await refusal(url(cs, "CP-1", WRONG))).status_code == 401
            assert loop.time() - t0 >= 1.0  # held until a token came back, then checked
            flood = await asyncio.gather(*(refusal(url(cs, "CP-1", WRONG)) for _ in range(6)))
            assert {r.status_code for r in flood} == {401, 429}
            assert next(r for r in flood if r.status_code == 429).headers["Retry-After"] == "3"
            t0 = loop.time()
            async with charger(cs, "CS-2", Client201):  # a remembered password skips the limit entirely
                await eventually(lambda: "CS-2" in cs.connected())
                assert loop.time() - t0 < 0.4
            async with charger(cs, "CP-1"):  # the right password after the failures: in within seconds
                await eventually(lambda: "CP-1" in cs.connected())
        assert depot.security_events(kind="throttled")[0].remote == "127.0.0.1"

    run(scenario())


def test_the_address_limiter_refills_and_counts_ipv6_by_its_64():
    lim = AddressLimiter(burst=2, refill_s=10.0, max_wait_s=15.0)
    assert lim.wait_s("a", 0.0) == 0.0
    lim.failed("a", 0.0)
    lim.failed("a", 0.0)
    assert lim.wait_s("a", 0.0) == 10.0  # the next token is due in one refill
    lim.hold("a", +1)
    assert lim.wait_s("a", 0.0) is None  # a second waiter would wait 20 s: answered 429 instead
    lim.hold("a", -1)
    assert lim.wait_s("a", 10.0) == 0.0 and lim.wait_s("b", 0.0) == 0.0
    assert security.address_key("2001:db8:1:2:3:4:5:6") == security.address_key("2001:db8:1:2::9") == \
        "2001:db8:1:2::/64"
    assert security.address_key("::ffff:10.0.3.4") == "10.0.3.4" == security.address_key("10.0.3.4")


# ---------------------------------------------------------------- TLS: profiles 2 and 3


@pytest.fixture
def pki(tmp_path):
    """A server CA with an RSA and an ECDSA certificate for 127.0.0.1, a client CA with charger certificates,
    and a foreign CA whose certificate for CS-2 must not be let in."""
    server_ca, client_ca, foreign_ca = trustme.CA(), trustme.CA(), trustme.CA()
    files = {}
    for kind in (trustme.KeyType.RSA, trustme.KeyType.ECDSA):
        leaf = server_ca.issue_cert("127.0.0.1", key_type=kind)
        files[f"cert_{kind.name}"], files[f"key_{kind.name}"] = tmp_path / f"{kind.name}.pem", tmp_path / f"{kind.name}.key"
        leaf.cert_chain_pems[0].write_to_path(files[f"cert_{kind.name}"])
        leaf.private_key_pem.write_to_path(files[f"key_{kind.name}"])
    client_ca.cert_pem.write_to_path(tmp_path / "client-ca.pem")

    def client(ca: trustme.CA | None = None, cn: str | None = None, ciphers: str | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        server_ca.configure_trust(ctx)
        if ca is not None:
            ca.issue_cert(f"{cn.lower()}.chargers.example", common_name=cn).configure_cert(ctx)
        if ciphers:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(ciphers)
        return ctx

    return {"client": client, "client_ca": client_ca, "foreign_ca": foreign_ca,
            "cert": f"{files['cert_RSA']},{files['cert_ECDSA']}", "key": f"{files['key_RSA']},{files['key_ECDSA']}",
            "ca_file": str(tmp_path / "client-ca.pem")}


def tls_settings(settings, pki):
    return replace(settings, ocpp_tls_port=0, ocpp_tls_cert=pki["cert"], ocpp_tls_key=pki["key"],
                   ocpp_client_ca=pki["ca_file"])


def test_profile_2_basic_auth_over_wss_only(depot, settings, pki):
    depot.set_security_profile("CP-1", 2, now=T0)

    async def scenario():
        async with central(depot, tls_settings(settings, pki)) as (cs, _):
            roomy(cs)
            ctx = pki["client"]()
            for address, kw in ((url(cs, "CP-1"), {}), (url(cs, "CP-1", None, tls=True), {"ssl": ctx}),
                                (url(cs, "CP-1", WRONG, tls=True), {"ssl": ctx})):
                assert (await refusal(address, **kw)).status_code == 401
            async with charger(cs, "CP-1", tls=True, ssl=ctx) as cp:
                boot = await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="W22"))
                assert boot.status == "Accepted" and cs.connected() == {"CP-1": Protocol.OCPP16}
            async with charger(cs, "CS-2", Client201):  # a profile-1 charger keeps using plain ws beside it
                await eventually(lambda: "CS-2" in cs.connected())
            assert (await refusal(url(cs, "CS-2", tls=True), ssl=ctx)).status_code == 401  # … and only that
        plain = depot.security_events(charger_id="CP-1", kind="refused")[-1]
        assert plain.reason == "profile 2 connects over wss, not ws" and plain.detail["password_was_right"]

    run(scenario())


def test_profile_3_needs_a_client_certificate_of_the_client_ca_naming_the_charger(depot, settings, pki):
    depot.set_security_profile("CS-2", 3, now=T0)
    client, ca = pki["client"], pki["client_ca"]

    async def scenario():
        async with central(depot, tls_settings(settings, pki)) as (cs, _):
            roomy(cs)
            async with charger(cs, "CS-2", Client201, password=None, tls=True, ssl=client(ca, "CS-2")) as cp:
                boot = await cp.call(call201.BootNotification(
                    charging_station={"model": "T", "vendor_name": "Acme"}, reason="PowerUp"))
                assert boot.status == "Accepted"
            for ctx in (client(), client(ca, "CP-1")):  # no certificate; a good one for another charger
                assert (await refusal(url(cs, "CS-2", None, tls=True), ssl=ctx)).status_code == 401
            assert (await refusal(url(cs, "CS-2"))).status_code == 401  # plain ws, even with a password
            with pytest.raises((ssl.SSLError, OSError, InvalidHandshake)):  # a foreign CA never completes TLS
                async with connect(url(cs, "CS-2", None, tls=True), subprotocols=["ocpp2.0.1"],
                                   ssl=client(pki["foreign_ca"], "CS-2"), open_timeout=5):
                    pass
        reasons = [e.reason for e in reversed(depot.security_events(charger_id="CS-2", kind="refused"))]
        assert reasons == ["no client certificate", "client certificate is for another id",
                           "profile 3 connects over wss, not ws"]

    run(scenario())


def test_tls_12_or_newer_with_the_suites_ocpp_requires(depot, settings, pki):
    ctx = server_tls_context(pki["cert"], pki["key"], pki["ca_file"])
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2 and ctx.verify_mode == ssl.CERT_OPTIONAL
    offered = {c["name"] for c in ctx.get_ciphers()}
    required = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "AES128-GCM-SHA256",
                "AES256-GCM-SHA384"}  # OCPP 2.0.1 A00.FR.318
    assert required <= offered and set(TLS12_CIPHERS.split(":")) <= offered
    assert not {c for c in offered if "CBC" in c or "SHA1" in c or c.endswith("-SHA")}
    depot.set_security_profile("CP-1", 2, now=T0)

    async def scenario():
        async with central(depot, tls_settings(settings, pki)) as (cs, _):
            for suite in sorted(required):  # each one negotiated with a TLS 1.2 charger that offers only it
                async with connect(url(cs, "CP-1", tls=True), subprotocols=["ocpp1.6"],
                                   ssl=pki["client"](ciphers=suite)) as ws:
                    assert ws.transport.get_extra_info("cipher")[:2] == (suite, "TLSv1.2")
            old = pki["client"]()
            old.set_ciphers("DEFAULT:@SECLEVEL=0")  # a charger that would still speak TLS 1.1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
            with pytest.raises((ssl.SSLError, OSError, InvalidHandshake)):
                async with connect(url(cs, "CP-1", tls=True), subprotocols=["ocpp1.6"], ssl=old, open_timeout=5):
                    pass

    run(scenario())


# ---------------------------------------------------------------- the simulator


def test_the_simulator_connects_with_profile_1_passwords_through_the_same_handshake(store, settings):
    from depot.clock import utc_now
    from depot.ocpp.server import CentralSystem
    from depot.sim.demo import demo_depot, seed_store
    from depot.sim.simulator import SimulatedDepot

    chargers, vehicles = demo_depot(3, prefix="S-")
    passwords = seed_store(store, chargers, vehicles)
    assert set(passwords) == {c.id for c in chargers} and all(len(p) == 40 for p in passwords.values())
    assert all(store.charger_credentials(c.id).profile == 1 for c in chargers)

    async def scenario():
        cs = CentralSystem(store, settings)
        await cs.start()
        good = SimulatedDepot(f"ws://127.0.0.1:{cs.port}/ocpp", chargers[:2], [], clock=utc_now, fault_rate=0.0,
                              auto_schedule=False, passwords=passwords)
        bad = SimulatedDepot(f"ws://127.0.0.1:{cs.port}/ocpp", chargers[2:], [], clock=utc_now, fault_rate=0.0,
                             auto_schedule=False)
        await good.start()
        await bad.start()
        try:
            await good.wait_connected(15)
            await eventually(lambda: store.security_events(charger_id=chargers[2].id, kind="refused"), 10)
            assert set(cs.connected()) == {c.id for c in chargers[:2]}
        finally:
            await good.stop()
            await bad.stop()
            await cs.stop()

    run(scenario())
    assert {e.reason for e in store.security_events(kind="accepted")} == {"profile 1: password"}


def test_depot_simulate_reads_a_password_file_and_a_shared_password(tmp_path):
    from depot.sim.simulator import main, read_passwords

    f = tmp_path / "passwords"
    f.write_text("# id password\nSIM-CP-A01 aaaaaaaaaaaaaaaaaaaa\n\nSIM-CP-A02   bbbbbbbbbbbbbbbbbbbb\n")
    ids = ["SIM-CP-A01", "SIM-CP-A02", "SIM-CP-A03"]
    assert read_passwords(str(f), None, ids) == {"SIM-CP-A01": "a" * 20, "SIM-CP-A02": "b" * 20}
    assert read_passwords(str(f), "shared-password-12345", ids)["SIM-CP-A03"] == "shared-password-12345"
    assert read_passwords(None, None, ids) == {}
    f.write_text("SIM-CP-A01\n")
    assert main(["--url", "ws://127.0.0.1:1", "--password-file", str(f)]) == 2
