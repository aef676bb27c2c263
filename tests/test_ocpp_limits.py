"""Hostile input at the protocol and connection level: deep JSON, integers beyond 32 bits, negative ids, frame
size, message rate, the boot deadline, commissioning caps and charge point ids at the handshake.

The pure bounds (`depot.ocpp.limits`) directly; the rest with real peers over loopback (raw websockets and
the `ocpp` package's clients) against a CentralSystem on SQLite and PostgreSQL. Each case checks the exact
CALLERROR code (both protocols), close code or HTTP status, and that another charger stays served."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from depot.model import Charger, Protocol
from depot.ocpp import limits
from depot.ocpp.limits import CallRate, Prefix, TokenBucket
from depot.settings import Settings
from tests.ocpp_clients import Client16, central, charger, reply_to, run, url, with_passwords

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)

CODES = {  # what each protocol calls a kind of error
    "ocpp1.6": {"format": "FormationViolation", "frame": "ProtocolError"},
    "ocpp2.0.1": {"format": "FormatViolation", "frame": "RpcFrameworkError"},
}
PROTOCOLS = pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"], ids=["1.6", "2.0.1"])


@pytest.fixture
def chargers(store):
    store.add_charger(Charger("CP-1", 22.0), connectors=2)
    store.add_charger(Charger("CP-2", 22.0))
    return with_passwords(store)


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


async def heartbeat_ok(other) -> None:
    assert (await other.call(call.Heartbeat())).current_time  # another charger never noticed


async def closed_with(ws, timeout: float = 5.0) -> int | None:
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    return ws.close_code


# ---------------------------------------------------------------- the pure bounds


def test_nesting_depth_counts_brackets_outside_strings_only():
    assert limits.nesting_depth('[2, "a", "Heartbeat", {}]') == 2
    assert limits.nesting_depth('[2, "[[[[", "X", {"a": "{{{\\"[[["}]') == 2
    assert limits.nesting_depth('{"a": [[[]]], "b": [1]}') == 4
    assert limits.nesting_depth("not json at all") == 0
    assert limits.nesting_depth('["unterminated [[[[[') == 1
    started = time.perf_counter()
    assert limits.nesting_depth(nested(100_000)) == 100_000
    assert limits.too_deep(nested(100_000)) and not limits.too_deep(nested(64))
    assert limits.too_deep(nested(65)) and not limits.too_deep('"' + "[" * 1000 + '"')
    assert not limits.too_deep("[" + ",".join(["[]"] * 10_000) + "]")  # wide is fine, deep is not
    assert limits.nesting_depth('"\\"' * 50_000) == 0  # escaped quotes: no quadratic rescans
    assert time.perf_counter() - started < 1.0


def test_the_frame_prefix_is_read_without_parsing():
    assert limits.frame_prefix('[2, "abc-1", "Heartbeat", ' + nested(10)) == Prefix(2, "abc-1", "Heartbeat")
    assert limits.frame_prefix('[2,"a\\"b",' + nested(10)) == Prefix(2, 'a"b', None)
    assert limits.frame_prefix('[3, "r1", {') == Prefix(3, "r1", None)
    assert limits.frame_prefix("[4") == Prefix(4, None, None)
    assert limits.frame_prefix('[2, 17, "X"') == Prefix(2, None, None)
    assert limits.frame_prefix("[[[[") is None and limits.frame_prefix("garbage") is None
    assert limits.is_response(Prefix(3)) and limits.is_response(Prefix(4)) and not limits.is_response(Prefix(2))
    assert not limits.is_response(None)


def test_integers_beyond_32_bits_and_negative_ids_are_found_with_their_path():
    assert limits.int_out_of_range({"connectorId": 2**31 - 1, "x": [-(2**31)], "ok": True}) is None
    assert limits.int_out_of_range({"a": [1, {"connectorId": 2**63}]}) == "a/1/connectorId"
    assert limits.int_out_of_range({"evseId": -(2**31) - 1}) == "evseId"
    assert limits.int_out_of_range({"value": 1e308, "s": "99999999999999999999"}) is None  # floats: not here
    assert limits.negative_id({"connectorId": 0, "evseId": 0, "meterValue": []}) is None
    assert limits.negative_id({"connectorId": -7}) == "connectorId"
    assert limits.negative_id({"transactionId": "t", "evse": {"id": -3, "connectorId": 1}}) == "evse/id"
    assert limits.negative_id({"evse": {"id": 1, "connectorId": -1}}) == "evse/connectorId"
    assert limits.negative_id({"reservationId": -1, "id": -1}) is None  # only connector and EVSE ids
    assert limits.negative_id({"connectorId": 0}, positive=frozenset({"connectorId"})) == "connectorId"


def test_charger_ids_follow_the_ocpp_identity_rules():
    for good in ("CP-1", "CS_9.a", "A*B=C:D+E|F@G", "x" * 64):
        assert limits.valid_charger_id(good), good
    for bad in ("", "x" * 65, "CP 1", "a/b", "CP\x00", "ÄÖ", "<script>", "CP-1\n"):
        assert not limits.valid_charger_id(bad), bad


def test_the_token_bucket_and_the_call_rate_take_time_as_a_parameter():
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s(100.0) == pytest.approx(0.5)
    assert bucket.take(100.5) and not bucket.take(100.5)
    assert bucket.take(1000.0) and bucket.tokens == 2  # refilled to the burst, no more
    rate = CallRate(rate=2.0, burst=2, now=0.0)
    assert [rate.delay(0.0) for _ in range(2)] == [0.0, 0.0]  # the burst goes at once …
    assert [rate.delay(0.0) for _ in range(3)] == pytest.approx([0.5, 1.0, 1.5])  # … then in turn, none refused
    assert rate.delay(1.5) == pytest.approx(0.5)  # the queue moved on with the clock
    assert rate.delay(100.0) == 0.0  # idle: the burst is back


def test_the_handshake_limiter_and_the_new_bounds_are_settings():
    s = Settings(handshake_burst=5000, handshake_refill_s=0.01, handshake_max_wait_s=1.0, simulator=False)
    from depot.ocpp.security import LoginGuard

    guard = LoginGuard(None, s, None)  # type: ignore[arg-type]
    assert (guard.limiter.burst, guard.limiter.refill_s, guard.limiter.max_wait_s) == (5000, 0.01, 1.0)
    defaults = Settings(simulator=False)
    assert (defaults.ocpp_max_frame_bytes, defaults.ocpp_rate_per_s, defaults.ocpp_rate_burst) == (262144, 20, 200)
    assert (defaults.boot_deadline_s, defaults.max_pending_unknown, defaults.unknown_per_minute) == (60, 20, 10)
    with pytest.raises(Exception, match="ocpp_rate_burst"):
        Settings(ocpp_rate_burst=0)


# ---------------------------------------------------------------- frames


@PROTOCOLS
def test_json_nested_too_deep_is_answered_without_parsing(chargers, settings, protocol):
    codes = CODES[protocol]

    async def scenario():
        async with central(chargers, settings) as (cs, _), charger(cs, "CP-2") as other:
            async with connect(url(cs, "CP-1"), subprotocols=[protocol]) as ws:
                for depth in (5_000, 100_000):
                    await ws.send(f'[2, "deep-{depth}", "Heartbeat", {{"a": {nested(depth)}}}]')
                    answer = await reply_to(ws, f"deep-{depth}")
                    assert answer[:4] == [4, f"deep-{depth}", codes["format"], "payload nested too deep"]
                await ws.send(f'[2, "odd", "DataTransfer", {nested(5000)}]')
                assert (await reply_to(ws, "odd"))[2] == codes["format"]
                await ws.send(nested(100_000))  # no message id to read
                assert (await reply_to(ws, "-1"))[2:4] == [codes["frame"], "payload nested too deep"]
                await ws.send('[2, "long", "Heartbeat", {"a": ' + "7" * 5000 + "}]")  # json refuses such an int
                assert (await reply_to(ws, "long"))[2] == codes["format"]
                await ws.send(f'[3, "r1", {nested(5000)}]')  # a malformed response: never answered
                await ws.send(f'[4, "r2", "X", "y", {nested(5000)}]')
                await ws.send('[2, "after", "Heartbeat", {}]')
                answer = await reply_to(ws, "after")
                assert answer[0] == 3 and "currentTime" in answer[2]
                await heartbeat_ok(other)
                assert cs.connected() == {"CP-1": Protocol(protocol), "CP-2": Protocol.OCPP16}

    run(scenario())


def _range_frames(protocol: str) -> list[tuple[str, str, str, str]]:
    """(frame, unique id, code, field named in the description)."""
    big = 2**63
    if protocol == "ocpp1.6":
        status = '{{"connectorId": {}, "errorCode": "NoError", "status": "Available"}}'
        return [
            (f'[2, "i1", "StatusNotification", {status.format(big)}]', "i1", "TypeConstraintViolation", "connectorId"),
            (f'[2, "i2", "StatusNotification", {status.format("1e308")}]', "i2", "TypeConstraintViolation",
             "connectorId"),
            (f'[2, "i3", "StatusNotification", {status.format(-7)}]', "i3", "PropertyConstraintViolation",
             "connectorId"),
            ('[2, "i4", "StartTransaction", {"connectorId": 0, "idTag": "T", "meterStart": 0, '
             '"timestamp": "2026-11-21T18:00:00Z"}]', "i4", "PropertyConstraintViolation", "connectorId"),
            (f'[2, "i5", "StartTransaction", {{"connectorId": 1, "idTag": "T", "meterStart": {big}, '
             '"timestamp": "2026-11-21T18:00:00Z"}]', "i5", "TypeConstraintViolation", "meterStart"),
            (f'[2, "i6", "MeterValues", {{"connectorId": 1, "transactionId": {-big}, "meterValue": [{{"timestamp": '
             '"2026-11-21T18:00:00Z", "sampledValue": [{"value": "1"}]}]}]', "i6", "TypeConstraintViolation",
             "transactionId"),
            ('[2, "i7", "Heartbeat", {}]', "i7", "", ""),  # and the connection is fine
        ]
    status = ('{{"timestamp": "2026-11-21T18:00:00Z", "connectorStatus": "Available", "evseId": {}, '
              '"connectorId": {}}}')
    return [
        (f'[2, "i1", "StatusNotification", {status.format(big, 1)}]', "i1", "TypeConstraintViolation", "evseId"),
        (f'[2, "i2", "StatusNotification", {status.format(1, "1e308")}]', "i2", "TypeConstraintViolation",
         "connectorId"),
        (f'[2, "i3", "StatusNotification", {status.format(-3, 1)}]', "i3", "PropertyConstraintViolation", "evseId"),
        (f'[2, "i4", "StatusNotification", {status.format(1, -7)}]', "i4", "PropertyConstraintViolation",
         "connectorId"),
        ('[2, "i5", "MeterValues", {"evseId": -1, "meterValue": [{"timestamp": "2026-11-21T18:00:00Z", '
         '"sampledValue": [{"value": 1}]}]}]', "i5", "PropertyConstraintViolation", "evseId"),
        ('[2, "i6", "Heartbeat", {}]', "i6", "", ""),
    ]


@PROTOCOLS
def test_integers_beyond_32_bits_and_negative_ids_get_constraint_violations(chargers, settings, protocol):
    async def scenario():
        async with central(chargers, settings) as (cs, _), charger(cs, "CP-2") as other:
            async with connect(url(cs, "CP-1"), subprotocols=[protocol]) as ws:
                for frame, unique_id, code, field in _range_frames(protocol):
                    await ws.send(frame)
                    answer = await reply_to(ws, unique_id)
                    if not code:
                        assert answer[0] == 3, answer
                        continue
                    assert answer[0] == 4 and answer[2] == code, (frame, answer)
                    assert field in answer[3], answer
                await heartbeat_ok(other)
        assert [c.connector_id for c in chargers.connectors("CP-1")] == [1, 2]  # no connector -7 or 2**63

    run(scenario())


@PROTOCOLS
def test_a_frame_over_the_size_limit_closes_with_1009(chargers, settings, protocol):
    async def scenario():
        async with central(chargers, settings, ocpp_max_frame_bytes=4096) as (cs, _), \
                charger(cs, "CP-2") as other:
            async with connect(url(cs, "CP-1"), subprotocols=[protocol]) as ws:
                await ws.send('[2, "ok", "DataTransfer", {"vendorId": "depot", "data": "' + "x" * 3000 + '"}]')
                assert (await reply_to(ws, "ok"))[0] in (3, 4)
                await ws.send('[2, "big", "DataTransfer", {"vendorId": "depot", "data": "' + "x" * 5000 + '"}]')
                assert await closed_with(ws) == 1009
            await heartbeat_ok(other)

    run(scenario())


# ---------------------------------------------------------------- message rate


@PROTOCOLS
def test_calls_beyond_the_rate_are_slowed_down_never_refused(chargers, settings, protocol):
    """Backpressure: a charger sending faster than its rate (here 5 CALLs at once, then 2 a second) gets every
    answer, in turn; the server's own call to it is answered meanwhile and another charger is not held up."""
    async def scenario():
        async with central(chargers, settings, ocpp_rate_per_s=2.0, ocpp_rate_burst=5) as (cs, _), \
                charger(cs, "CP-2") as other:
            async with connect(url(cs, "CP-1"), subprotocols=[protocol]) as ws:
                loop = asyncio.get_running_loop()
                started = loop.time()
                for i in range(11):  # pipelined, as a flood would: 5 at once, then 6 more at 2/s = 3 s
                    await ws.send(f'[2, "h{i}", "Heartbeat", {{}}]')
                t0 = loop.time()
                await heartbeat_ok(other)  # not held up by CP-1's queue
                assert loop.time() - t0 < 1.0
                answers = [await reply_to(ws, f"h{i}", timeout=6) for i in range(11)]
                assert [a[0] for a in answers] == [3] * 11  # every one answered with its result
                assert loop.time() - started >= 2.5  # … at the rate, not at once
                # a response is never held back by the rate: the server's own call gets its answer
                reset = asyncio.create_task(cs.reset("CP-1", hard=False))
                request = json.loads(await asyncio.wait_for(ws.recv(), 3))
                assert request[0] == 2 and request[2] == "Reset"
                await ws.send(json.dumps([3, request[1], {"status": "Accepted"}]))
                assert (await reset).status == "Accepted"
            await heartbeat_ok(other)


# ---------------------------------------------------------------- the boot deadline


def test_a_connection_that_says_nothing_is_closed_after_the_deadline(chargers, settings):
    async def scenario():
        async with central(chargers, settings, boot_deadline_s=0.3, heartbeat_interval=1) as (cs, _), \
                charger(cs, "CP-2") as other:
            await heartbeat_ok(other)  # it spoke: it stays
            async with connect(url(cs, "CP-1"), subprotocols=["ocpp2.0.1"]) as ws:
                started = asyncio.get_running_loop().time()
                assert await closed_with(ws) == 1008
                assert ws.close_reason == "no OCPP frame in time"
                assert 1.2 < asyncio.get_running_loop().time() - started < 3  # deadline + heartbeat interval
            await heartbeat_ok(other)
            assert "CP-2" in cs.connected()

    run(scenario())


@PROTOCOLS
def test_commissioning_needs_a_boot_first_and_within_the_deadline(chargers, settings, protocol):
    boot = {"ocpp1.6": '{"chargePointVendor": "Newco", "chargePointModel": "X1"}',
            "ocpp2.0.1": '{"chargingStation": {"model": "X1", "vendorName": "Newco"}, "reason": "PowerUp"}'}[protocol]

    async def scenario():
        async with central(chargers, settings, accept_unknown_chargers=True, boot_deadline_s=0.5) as (cs, events), \
                charger(cs, "CP-2") as other:
            async with connect(url(cs, "IDLE-1", None), subprotocols=[protocol]) as idle, \
                    connect(url(cs, "NEW-1", None), subprotocols=[protocol]) as new:
                await new.send('[2, "hb", "Heartbeat", {}]')
                assert (await reply_to(new, "hb"))[2] == "SecurityError"
                await new.send('[2, "st", "FlyToTheMoon", {}]')
                assert (await reply_to(new, "st"))[2] == "SecurityError"
                assert cs.connected() == {"CP-2": Protocol.OCPP16}
                await new.send(f'[2, "boot", "BootNotification", {boot}]')
                answer = await reply_to(new, "boot")
                assert answer[0] == 3 and answer[2]["status"] == "Accepted"
                await new.send('[2, "hb2", "Heartbeat", {}]')
                assert (await reply_to(new, "hb2"))[0] == 3
                assert await closed_with(idle) == 1008 and idle.close_reason == "no BootNotification in time"
                await asyncio.sleep(0.3)
                assert new.close_code is None  # booted in time: it stays
                assert cs.connected() == {"CP-2": Protocol.OCPP16, "NEW-1": Protocol(protocol)}
            await heartbeat_ok(other)
        assert chargers.get_charger("IDLE-1") is None  # never booted: never a charger row
        assert chargers.get_charger("NEW-1").vendor == "Newco"
        assert [e.kind for e in events if e.charger_id == "NEW-1"][:2] == ["connected", "boot"]

    run(scenario())


def test_a_known_charger_reconnecting_without_a_boot_is_served(chargers, settings):
    async def scenario():
        async with central(chargers, settings, accept_unknown_chargers=True, boot_deadline_s=0.3,
                           heartbeat_interval=2) as (cs, _):
            async with charger(cs, "CP-1", Client16) as cp:  # a 1.6 charger back after a glitch: no boot
                assert (await cp.call(call.Heartbeat())).current_time
                status = await cp.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                               status="Available"))
                assert status is not None
                await asyncio.sleep(0.5)
                assert "CP-1" in cs.connected()

    run(scenario())


# ---------------------------------------------------------------- commissioning caps and ids


async def status_of(address: str, protocol: str = "ocpp1.6"):
    try:
        async with connect(address, subprotocols=[protocol]):
            return 101
    except InvalidStatus as exc:
        return exc.response


def test_pending_unknown_connections_are_capped_with_503(chargers, settings):
    async def scenario():
        async with central(chargers, settings, accept_unknown_chargers=True, max_pending_unknown=3,
                           unknown_per_minute=100) as (cs, _), charger(cs, "CP-2") as other:
            idle = [await connect(url(cs, f"RANDOM-{i}", None), subprotocols=["ocpp1.6"]) for i in range(3)]
            refused = await status_of(url(cs, "RANDOM-9", None))
            assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
            await heartbeat_ok(other)
            await idle[0].send('[2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
            assert (await reply_to(idle[0], "b"))[0] == 3  # booted: no longer pending
            assert await status_of(url(cs, "RANDOM-9", None)) == 101
            for ws in idle:
                await ws.close()
        events = chargers.security_events(kind="throttled")
        assert events and "commissioning" in events[0].reason and events[0].charger_id == "RANDOM-9"
        assert {c.id for c in chargers.list_chargers()} == {"CP-1", "CP-2", "RANDOM-0"}  # only the one that booted

    run(scenario())


def test_new_unknown_ids_are_rate_limited_with_503(chargers, settings):
    async def scenario():
        async with central(chargers, settings, accept_unknown_chargers=True, unknown_per_minute=3) as (cs, _), \
                charger(cs, "CP-2") as other:
            assert [await status_of(url(cs, f"NEW-{i}", None)) for i in range(3)] == [101] * 3
            refused = await status_of(url(cs, "NEW-3", None))
            assert refused.status_code == 503 and 1 <= int(refused.headers["Retry-After"]) <= 21
            assert await status_of(url(cs, "CP-1")) == 101  # a known charger is never held by it
            await heartbeat_ok(other)

    run(scenario())


def test_charge_point_ids_ocpp_does_not_allow_are_refused_before_the_store(chargers, settings):
    def no_store(*args, **kwargs):
        raise AssertionError("the store was asked about an invalid id")

    async def scenario():
        async with central(chargers, settings, accept_unknown_chargers=True) as (cs, _), \
                charger(cs, "CP-2") as other:
            chargers.charger_credentials = no_store
            for bad in ("X" * 65, "CP%201", "a%2Fb", "%00", "%C3%84"):
                address = f"ws://127.0.0.1:{cs.port}/ocpp/{bad}"
                assert (await status_of(address)).status_code == 400, bad
            del chargers.charger_credentials
            assert (await status_of(f"ws://127.0.0.1:{cs.port}/ocpp/{'X' * 64}")) == 101
            await heartbeat_ok(other)
        assert chargers.get_charger("X" * 65) is None

    run(scenario())
