"""Hostile OCPP frames for the fuzz benchmark and its test: seeded, in categories, each with the answer the
specification prescribes.

`frames(protocol, n, seed)` gives `n` `Frame`s for one protocol ("ocpp1.6" or "ocpp2.0.1"), spread evenly
over `CATEGORIES`. A frame's `expect` is the CALLERROR code it must get, `RESULT` when the frame is a valid CALL
whose values are impossible (answered as the protocol requires, then quarantined), or `SILENT` for a frame
that must never be answered (a malformed or unsolicited CALLRESULT/CALLERROR). `answer_id` is the message id
the answer must carry ("-1" when the frame's own id cannot be read).

The codes follow each version's table: 1.6 spells `FormationViolation` and `OccurenceConstraintViolation`,
2.0.1 `FormatViolation`, `OccurrenceConstraintViolation`, `RpcFrameworkError` and `MessageTypeNotSupported`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime

RESULT, SILENT = "CALLRESULT", "silent"
V16, V201 = "ocpp1.6", "ocpp2.0.1"

_CODES = {
    V16: {"format": "FormationViolation", "occurrence": "OccurenceConstraintViolation", "frame": "ProtocolError",
          "not_json": "FormationViolation", "message_type": "ProtocolError"},
    V201: {"format": "FormatViolation", "occurrence": "OccurrenceConstraintViolation", "frame": "RpcFrameworkError",
           "not_json": "RpcFrameworkError", "message_type": "MessageTypeNotSupported"},
}


@dataclass(frozen=True)
class Frame:
    category: str
    text: str | bytes
    expect: str
    answer_id: str | None  # None: SILENT


def _uid(rng: random.Random) -> str:
    return f"fz-{rng.getrandbits(48):012x}"


def _call(uid: str, action: str, payload) -> str:
    return json.dumps([2, uid, action, payload])


def _status(protocol: str, now: str, connector, status="Available", timestamp: str | None = None) -> tuple[str, dict]:
    if protocol == V16:
        p = {"connectorId": connector, "errorCode": "NoError", "status": status}
        if timestamp:
            p["timestamp"] = timestamp
        return "StatusNotification", p
    return "StatusNotification", {"timestamp": timestamp or now, "connectorStatus": status,
                                  "evseId": connector, "connectorId": 1}


def _meter(protocol: str, now: str, value, connector=1, timestamp: str | None = None) -> tuple[str, dict]:
    sampled = {"value": str(value) if protocol == V16 else value, "measurand": "Energy.Active.Import.Register"}
    if protocol == V16:
        sampled["unit"] = "Wh"
        return "MeterValues", {"connectorId": connector, "meterValue": [
            {"timestamp": timestamp or now, "sampledValue": [sampled]}]}
    return "MeterValues", {"evseId": connector, "meterValue": [
        {"timestamp": timestamp or now, "sampledValue": [sampled]}]}


# ---------------------------------------------------------------- the categories


def _not_json(rng, protocol, now):
    valid = _call(_uid(rng), *_status(protocol, now, 1))
    choice = rng.randrange(3)
    if choice == 0:
        text: str | bytes = valid[:rng.randrange(1, len(valid) - 1)]  # a prefix of an array is never JSON
    elif choice == 1:
        text = rng.choice(["hello", "[2,'single',\"Heartbeat\",{}]", "{{}", "[2,\"a\",\"Heartbeat\",{},]", "\x00\x01"])
    else:
        text = bytes(rng.getrandbits(8) | 0x80 for _ in range(rng.randrange(4, 40)))  # not UTF-8
    return text, _CODES[protocol]["not_json"], "-1"


def _not_a_call(rng, protocol, now):
    uid = _uid(rng)
    text, answer = rng.choice([
        ('{"messageTypeId": 2}', "-1"), ("[]", "-1"), ("[2]", "-1"), ("42", "-1"), ('"Heartbeat"', "-1"),
        ("null", "-1"), (json.dumps([2, 12345, "Heartbeat", {}]), "12345"), (json.dumps([2, uid]), uid),
        (json.dumps([2, uid, 7, {}]), uid),
    ])
    return text, _CODES[protocol]["frame"], answer


def _message_type(rng, protocol, now):
    uid = _uid(rng)
    return json.dumps([rng.choice([0, 1, 5, 7, 99, -1]), uid, "Heartbeat", {}]), _CODES[protocol]["message_type"], uid


def _unknown_action(rng, protocol, now):
    uid = _uid(rng)
    action = rng.choice(["Fly", "heartbeat", "BootNotificationX", "DROP TABLE chargers", "../../etc/passwd", ""])
    return _call(uid, action, {}), "NotImplemented", uid


def _unsupported_action(rng, protocol, now):
    uid = _uid(rng)
    action = rng.choice(["RemoteStartTransaction", "Reset", "ChangeConfiguration"] if protocol == V16 else
                        ["RequestStartTransaction", "Reset", "SetVariables"])
    return _call(uid, action, {}), "NotSupported", uid


def _missing_field(rng, protocol, now):
    uid = _uid(rng)
    action, payload = _status(protocol, now, 1)
    payload.pop(rng.choice(sorted(k for k in payload if k != "timestamp")))
    return _call(uid, action, payload), _CODES[protocol]["occurrence"], uid


def _wrong_type(rng, protocol, now):
    uid = _uid(rng)
    action, payload = _status(protocol, now, rng.choice(["one", 1.5, True, None, [1], {"id": 1}]))
    return _call(uid, action, payload), "TypeConstraintViolation", uid


def _bad_enum(rng, protocol, now):
    uid = _uid(rng)
    action, payload = _status(protocol, now, 1, status=rng.choice(["Flying", "available", "", "Charging "]))
    return _call(uid, action, payload), "PropertyConstraintViolation", uid


def _too_long(rng, protocol, now):
    uid = _uid(rng)
    tag = "T" * rng.randrange(21 if protocol == V16 else 37, 400)
    payload = {"idTag": tag} if protocol == V16 else {"idToken": {"idToken": tag, "type": "ISO14443"}}
    return _call(uid, "Authorize", payload), "TypeConstraintViolation", uid


def _deep_json(rng, protocol, now):
    uid = _uid(rng)
    depth = rng.choice([500, 5_000, 100_000])
    data = "[" * depth + "]" * depth
    payload = f'{{"vendorId": "depot", "data": {data}}}'
    return f'[2, "{uid}", "DataTransfer", {payload}]', _CODES[protocol]["format"], uid


def _int_overflow(rng, protocol, now):
    uid = _uid(rng)
    action, payload = _status(protocol, now, rng.choice([2**31, 2**63, -(2**63) - 1, 10**30]))
    return _call(uid, action, payload), "TypeConstraintViolation", uid


def _negative_id(rng, protocol, now):
    uid = _uid(rng)
    action, payload = _status(protocol, now, rng.choice([-1, -3, -7, -(2**31)]))
    return _call(uid, action, payload), "PropertyConstraintViolation", uid


def _impossible_value(rng, protocol, now):
    uid = _uid(rng)
    choice = rng.randrange(3)
    if choice == 0:
        action, payload = _meter(protocol, now, rng.choice([-5000, -1e308, 1e308, 9e15]))
    elif choice == 1:
        action, payload = _status(protocol, now, rng.choice([99, 1000, 2**31 - 1]))
    elif protocol == V16:
        action, payload = "StartTransaction", {"connectorId": 1, "idTag": "FUZZ", "meterStart": -1_000_000_000,
                                               "timestamp": now}
    else:
        action, payload = _meter(protocol, now, -1_000_000_000)
    return _call(uid, action, payload), RESULT, uid


def _bad_timestamp(rng, protocol, now):
    uid = _uid(rng)
    stamp = rng.choice(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "not a time", "2026-02-30T10:00:00Z",
                        "1970-01-01T00:00:00Z"])
    action, payload = (_meter_at if rng.random() < 0.5 else _status_at)(protocol, now, stamp)
    return _call(uid, action, payload), RESULT, uid


def _status_at(protocol, now, stamp):
    return _status(protocol, now, 1, timestamp=stamp)


def _meter_at(protocol, now, stamp):
    return _meter(protocol, now, 1000, timestamp=stamp)


def _control_chars(rng, protocol, now):
    uid = _uid(rng)
    text = rng.choice(["a\x00b", "\x00", "line\r\nbreak", "\u202egnp.exe", "\x1b[2J", "\ud7ff\ufffd",
                        "lone \ud800 surrogate"])
    if protocol == V16:
        payload = {"connectorId": 1, "errorCode": "OtherError", "status": "Available", "info": text[:50],
                   "vendorErrorCode": text[:50]}
        return _call(uid, "StatusNotification", payload), RESULT, uid
    return _call(uid, "DataTransfer", {"vendorId": "depot", "messageId": text[:50], "data": text}), RESULT, uid


def _stray_response(rng, protocol, now):
    text = rng.choice([json.dumps([3, _uid(rng), {}]), json.dumps([4, _uid(rng), "GenericError", "", {}]),
                       "[3]", "[4, 7]", json.dumps([3, _uid(rng), "not an object"])])
    return text, SILENT, None


_GENERATORS = {
    "not JSON": _not_json, "not a CALL": _not_a_call, "message type": _message_type,
    "unknown action": _unknown_action, "unsupported action": _unsupported_action,
    "missing field": _missing_field, "wrong type": _wrong_type, "bad enum": _bad_enum, "too long": _too_long,
    "deep JSON": _deep_json, "int overflow": _int_overflow, "negative id": _negative_id,
    "impossible value": _impossible_value, "bad timestamp": _bad_timestamp, "control characters": _control_chars,
    "stray response": _stray_response,
}
CATEGORIES = tuple(_GENERATORS)


def frames(protocol: str, n: int, seed: int, now: datetime) -> list[Frame]:
    """`n` hostile frames for `protocol`, round-robin over the categories, shuffled (reproducible by `seed`);
    the timestamps meant as plausible are `now`."""
    rng = random.Random(f"{seed}/{protocol}")
    stamp = now.isoformat()
    out = []
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        text, expect, answer_id = _GENERATORS[category](rng, protocol, stamp)
        out.append(Frame(category, text, expect, answer_id))
    rng.shuffle(out)
    return out
