"""PURE bounds on what a charger may send: JSON nesting, integer ranges, ids, message rates.

Everything here is a function of its arguments (time is `now`, monotonic seconds, passed in); the central
system (`depot.ocpp.base`, `depot.ocpp.server`, `depot.ocpp.security`) applies the answers.

- `nesting_depth` counts bracket depth outside JSON strings without parsing, so a frame nested 100,000 deep
  is refused before `json` could recurse; `frame_prefix` reads `[type, "id", "Action"` from a frame's start
  so that such a frame can still be answered with its own message id.
- `int_out_of_range` finds an integer outside OCPP's 32-bit signed range (both specifications define
  integer as 32 bit); `negative_id` a connectorId / evseId / EVSE id below zero (or zero where the action
  needs a real connector, 1.6 StartTransaction).
- `valid_charger_id`: the identity rules of OCPP (1.6 security whitepaper / 2.0.1 Part 4: the
  identifierString characters), at most the 64 characters the database keeps.
- `TokenBucket`, `CallRate` (a bucket of CALLs per connection: how long a CALL waits for its turn) and
  `AddressLimiter` (failed handshakes per address, see `depot.ocpp.security`).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass
from itertools import accumulate

MAX_DEPTH = 64  # OCPP payloads nest about 8 deep; 64 leaves room and is far below Python's recursion limit
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
CHARGER_ID_MAX = 64  # the chargers.id column
_CHARGER_ID = re.compile(rf"[A-Za-z0-9*\-_=:+|@.]{{1,{CHARGER_ID_MAX}}}")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"?', re.DOTALL)  # possessive, an unterminated one runs to the end
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_PREFIX = re.compile(r'\s*\[\s*(-?\d{1,9})\s*(?:,\s*("(?:[^"\\]|\\.){0,256}?")\s*(?:,\s*"([A-Za-z0-9]{1,64})")?)?')
ID_KEYS = frozenset({"connectorId", "evseId"})


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of a JSON text, outside strings (not validated: any text has one)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(0, max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0))


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Cheap first: a frame with no more brackets than `limit` cannot nest deeper."""
    return text.count("[") + text.count("{") > limit and nesting_depth(text) > limit


@dataclass(frozen=True)
class Prefix:
    """What the start of a frame says, read without parsing it: `[message_type, "unique id", "Action"`."""

    message_type: int
    unique_id: str | None = None
    action: str | None = None


def frame_prefix(text: str) -> Prefix | None:
    """The message type (and unique id and action, when readable) at the frame's start; None if it has none."""
    m = _PREFIX.match(text)
    if m is None:
        return None
    unique_id = None
    if m[2] is not None:
        try:
            unique_id = json.loads(m[2])
        except ValueError:
            unique_id = None
    return Prefix(int(m[1]), unique_id if isinstance(unique_id, str) else None, m[3])


def is_response(prefix: Prefix | None) -> bool:
    """A CALLRESULT (3) or CALLERROR (4): never answered, never rate-limited away."""
    return prefix is not None and prefix.message_type in (3, 4)


def int_out_of_range(value: object, path: str = "") -> str | None:
    """The path (`a/b/0/c`) of the first integer outside [-2**31, 2**31 - 1], or of a non-finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if INT32_MIN <= value <= INT32_MAX else (path or "payload")
    if isinstance(value, float):
        return None if math.isfinite(value) else (path or "payload")
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = int_out_of_range(item, f"{path}/{key}" if path else str(key))
        if found is not None:
            return found
    return None


def negative_id(value: object, path: str = "", *, positive: frozenset[str] = frozenset()) -> str | None:
    """The path of the first connectorId / evseId / evse.id below 0 (below 1 for the keys in `positive`)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = negative_id(item, f"{path}/{i}" if path else str(i), positive=positive)
            if found is not None:
                return found
        return None
    if not isinstance(value, dict):
        return None
    is_evse = path.rsplit("/", 1)[-1] == "evse"
    for key, item in value.items():
        where = f"{path}/{key}" if path else str(key)
        if (key in ID_KEYS or (is_evse and key == "id")) and isinstance(item, int) and not isinstance(item, bool):
            if item < (1 if key in positive and not path else 0):
                return where
        elif isinstance(item, dict | list):
            found = negative_id(item, where, positive=positive)
            if found is not None:
                return found
    return None


def valid_charger_id(charger_id: str) -> bool:
    """An OCPP identity: 1..64 of a-z A-Z 0-9 * - _ = : + | @ . (no '/', no space, no control character)."""
    return _CHARGER_ID.fullmatch(charger_id) is not None


# ---------------------------------------------------------------- rates


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; `take(now)` spends one if there is one."""

    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.at = float(burst), now

    def _refill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = max(self.at, now)

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def spend(self, now: float) -> None:
        """Spend a token at `now` (when `wait_s` said it would be there)."""
        self._refill(now)
        self.tokens -= 1

    def wait_s(self, now: float) -> float:
        """Seconds until a token is there (0: now)."""
        self._refill(now)
        ahead = max(0.0, self.at - now)  # tokens already promised up to `at`
        if self.tokens >= 1:
            return ahead
        return ahead + (1 - self.tokens) / self.rate if self.rate > 0 else math.inf


class CallRate:
    """CALLs of one connection: a `TokenBucket(rate, burst)`. `delay(now)` spends this CALL's token and says
    how long the CALL waits for it (0: none). The receive loop handles a connection's frames one after the
    other, so waiting there is backpressure: a charger over its rate is slowed down, never refused (a charger
    replaying a day of queued messages loses none), and one that floods only fills its own socket's buffer."""

    def __init__(self, rate: float, burst: int, now: float):
        self.bucket = TokenBucket(rate, burst, now)

    def delay(self, now: float) -> float:
        wait = self.bucket.wait_s(now)
        self.bucket.spend(now + wait)
        return wait


# ---------------------------------------------------------------- failed handshakes per address


def address_key(remote: str) -> str:
    """What the handshake rate limit counts: an IPv4 address, or the /64 of an IPv6 one."""
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Bucket:
    tokens: float
    at: float
    held: int = 0


class AddressLimiter:
    """A token bucket of failed handshakes per address (`depot.ocpp.security`): `burst` failures, one more
    every `refill_s` seconds; a handshake waits at most `max_wait_s` for its token. `now` is monotonic."""

    def __init__(self, burst: int = 10, refill_s: float = 3.0, max_wait_s: float = 6.0):
        self.burst, self.refill_s, self.max_wait_s = burst, refill_s, max_wait_s
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str, now: float) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(float(self.burst), now)
        b.tokens = min(float(self.burst), b.tokens + (now - b.at) / self.refill_s)
        b.at = now
        if len(self._buckets) > 10_000:  # forget full buckets nobody is using
            for k in [k for k, v in self._buckets.items() if v.tokens >= self.burst and not v.held and k != key]:
                del self._buckets[k]
        return b

    def wait_s(self, key: str, now: float) -> float | None:
        """Seconds this handshake waits before it is checked (0: at once); None: it would wait too long."""
        b = self._bucket(key, now)
        if b.tokens >= 1 and not b.held:
            return 0.0
        wait = (b.held + 1 - b.tokens) * self.refill_s
        return wait if wait <= self.max_wait_s else None

    def hold(self, key: str, delta: int) -> None:
        self._buckets[key].held += delta

    def failed(self, key: str, now: float) -> None:
        b = self._bucket(key, now)
        b.tokens = max(0.0, b.tokens - 1)
