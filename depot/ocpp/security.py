"""Who may be which charger: the security profiles checked at the websocket handshake, before any OCPP frame.

Profiles (OCPP 1.6 security whitepaper edition 3 §2, OCPP 2.0.1 Part 2 §A00), one per charger
(`depot chargers set-profile ID N`):

| profile | listener | the charger proves its id with |
|---|---|---|
| 0 | ws  | nothing: a lab only, and only when asked for |
| 1 | ws  | HTTP Basic: user = charger id, password (`depot chargers set-password`) |
| 2 | wss | HTTP Basic over TLS |
| 3 | wss | a client certificate chaining to `--ocpp-client-ca` whose subject CN is the charger id |

A charger connecting with another profile than its own is refused (A00.FR.002), and so is every bad or
missing credential: HTTP 401 with the same body and header whether the id exists or not, and about the same
time (an unknown id, a charger without a password or a refused certificate costs one scrypt check against a
dummy hash, like a wrong password). Commissioning mode (`--accept-unknown-chargers`) lets in, without
credentials, ids we do not know and uncommissioned chargers that have no password yet.

In commissioning mode the server's `gate` (`depot.ocpp.admission.Commissioning`) may still refuse an
admitted commissioning handshake (503 with Retry-After: too many pending unknown ids, or new ones too fast).

Every refusal is a security event (`Store.add_security_event`, logged with the remote address, never the
password), counted per charger and per address; 5 in 10 min raise the failed-login alert
(`depot.people.alert_rules.failed_login_condition`).

The rate limit (per remote address; an IPv6 address counts by its /64; `depot.ocpp.limits.AddressLimiter`):
each address has a bucket of `handshake_burst` failures (setting, default 10) that refills by one every
`handshake_refill_s` seconds (default 3). Only refusals take from it. While it is empty, a new handshake
from that address is held until the next token is due (at most `handshake_max_wait_s`, default 6 s) and
then checked as usual; one that would wait longer is answered 429 with Retry-After, unchecked. (A fleet
behind one address, such as the benchmarks' simulated chargers on loopback, raises the burst; the limit has
no exemption for any address.) A right
password is never refused by the limit once it has been checked, and a charger whose password was checked
right since this process started skips the limit altogether (an in-memory HMAC of it under a random key
made at start, compared in constant time), so a charger behind the same NAT as an attacker, or one that
just had its password fixed after failing, is at worst held for seconds, never locked out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import ssl
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING

from websockets.exceptions import InvalidHeader
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic

from depot.errors import ConfigError
from depot.ocpp.limits import AddressLimiter, address_key
from depot.people import alert_rules
from depot.people.alerts import raise_alert
from depot.store.security import ChargerCredentials, SecurityEvent, check_secret, wire_secret

if TYPE_CHECKING:
    from collections.abc import Callable

    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

    from depot.clock import Clock
    from depot.settings import Settings
    from depot.store import Store

LOGGER = logging.getLogger("depot.ocpp.security")
REALM = "depot OCPP"
REFUSED_BODY = "Unauthorized.\n"
KDF_AT_ONCE = 2  # scrypt checks in worker threads at once (16 MiB each)
HISTORY_MAX = 1000  # failures kept per charger id / address for the alert rule
THROTTLE_LOG_EVERY_S = 60.0
TLS_PROFILES = frozenset({2, 3})
# TLS 1.2 suites, server order: the four OCPP 2.0.1 A00.FR.318 (1.6 whitepaper A00.FR.317) requires, with ECDHE
# first, and ECDHE-RSA for forward secrecy with an RSA certificate. TLS 1.3 suites (all AEAD) stay OpenSSL's.
TLS12_CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384",  # TLS_RSA_WITH_AES_128/256_GCM_SHA256/384
])


# ---------------------------------------------------------------- TLS and the peer


def server_tls_context(cert: str, key: str, client_ca: str = "") -> ssl.SSLContext:
    """The wss listener's context: TLS 1.2 or newer, the suites above, no compression or renegotiation; with a
    client CA, a client certificate is asked for and must chain to it (profile 3; profile 2 sends none).
    `cert` and `key` may each list two files, comma-separated: an RSA and an ECDSA certificate, so that both
    kinds of suite A00.FR.318 names can be served (OpenSSL picks the one the charger's suite needs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    certs, keys = [c.strip() for c in cert.split(",")], [k.strip() for k in key.split(",")]
    if len(certs) != len(keys):
        raise ConfigError("ocpp_tls_key", f"{len(keys)} key file(s) for {len(certs)} certificate(s)")
    try:
        for c, k in zip(certs, keys, strict=True):
            ctx.load_cert_chain(c, k)
        if client_ca:
            ctx.load_verify_locations(cafile=client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("ocpp_tls_cert", f"cannot load the TLS files: {exc}") from exc
    return ctx


def peer_common_name(connection: ServerConnection) -> str | None:
    """The subject CN of the verified client certificate; None without one, "" when it has no single CN."""
    ssl_object = connection.transport.get_extra_info("ssl_object")
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    if not cert:
        return None
    names = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    return names[0] if len(names) == 1 else ""


def is_tls(connection: ServerConnection) -> bool:
    return connection.transport.get_extra_info("ssl_object") is not None


class RedactAuthorization(logging.Filter):
    """websockets logs every handshake header at DEBUG: never the Authorization one."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() == "authorization":
            record.args = (args[0], "[redacted]")
        return True


# ---------------------------------------------------------------- the handshake


@dataclass(frozen=True)
class Handshake:
    charger_id: str
    remote: str
    tls: bool
    authorization: str | None  # the header as sent (never logged)
    peer_cn: str | None  # see peer_common_name


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    detail: dict = field(default_factory=dict)
    event: str = "accepted"  # the security event of an admitted handshake


def _basic(hs: Handshake) -> tuple[str, bytes] | str:
    """(user, raw password) from the Authorization header, or the reason it cannot be read."""
    if hs.authorization is None:
        return "no credentials"
    try:
        user, password = parse_authorization_basic(hs.authorization)
    except InvalidHeader:
        return "not HTTP Basic credentials"
    return user, password.encode("utf-8", "surrogateescape")


def without_password(creds: ChargerCredentials | None, hs: Handshake, *, commissioning: bool) -> Verdict | None:
    """The verdict when no password needs checking; None when it turns on the password (profiles 1 and 2)."""
    if creds is None or (commissioning and not creds.commissioned and not creds.has_password):
        if commissioning:
            return Verdict(True, "commissioning mode: admitted without credentials", event="commissioning")
        return Verdict(False, "unknown charger id")
    wants_tls = creds.profile in TLS_PROFILES
    if wants_tls != hs.tls:
        return Verdict(False, f"profile {creds.profile} connects over {'wss' if wants_tls else 'ws'}, not "
                              f"{'wss' if hs.tls else 'ws'}")
    if creds.profile == 0:
        return Verdict(True, "profile 0: no authentication (lab)")
    if creds.profile == 3:
        if hs.peer_cn is None:
            return Verdict(False, "no client certificate")
        if hs.peer_cn != creds.charger_id:
            return Verdict(False, "client certificate is for another id", {"cn": hs.peer_cn[:64]})
        return Verdict(True, "profile 3: client certificate")
    if not creds.has_password:
        return Verdict(False, "no password set")
    return None


class LoginGuard:
    """The central system's `process_request`: admits a handshake or answers it 401 / 429 (see the module)."""

    def __init__(self, store: Store, settings: Settings, clock: Clock, *, limiter: AddressLimiter | None = None,
                 gate: Callable[[ServerConnection, Handshake, bool], Response | None] | None = None):
        self.store, self.settings, self.clock = store, settings, clock
        self.limiter = limiter or AddressLimiter(settings.handshake_burst, settings.handshake_refill_s,
                                                 settings.handshake_max_wait_s)
        self.gate = gate  # commissioning handshakes (connection, handshake, id known?) -> a refusal or None
        self._kdf = asyncio.Semaphore(KDF_AT_ONCE)
        self._memo_key = secrets.token_bytes(32)
        self._memo: dict[str, tuple[str, bytes]] = {}  # charger id -> (its password hash, HMAC of what matched it)
        self._by_charger: dict[str | None, deque] = {}  # failures (at, remote, claimed id, reason)
        self._by_address: dict[str, deque] = {}
        self._throttled: dict[str, list[float]] = {}  # address -> [last logged, handshakes answered 429 since]
        self._admitted: list[SecurityEvent] = []  # written in batches with the server's journal

    async def admit(self, connection: ServerConnection, request: Request, charger_id: str) -> Response | None:
        """None to go on with the websocket handshake, or the refusal to send instead."""
        remote = str((connection.remote_address or ("?",))[0])
        hs = Handshake(charger_id, remote, is_tls(connection), request.headers.get("Authorization"),
                       peer_common_name(connection) if is_tls(connection) else None)
        creds = self.store.charger_credentials(charger_id)
        verdict = without_password(creds, hs, commissioning=self.settings.accept_unknown_chargers)
        if verdict is None or not verdict.ok:
            if verdict is None and self._remembered(creds, hs):
                verdict = Verdict(True, f"profile {creds.profile}: password")
            else:
                key, loop = address_key(remote), asyncio.get_running_loop()
                wait = self.limiter.wait_s(key, loop.time())
                if wait is None:
                    return self._throttle(connection, hs, key)
                if wait:
                    self.limiter.hold(key, +1)
                    try:
                        await asyncio.sleep(wait)
                    finally:
                        self.limiter.hold(key, -1)
                verdict = await self._checked(creds, hs, verdict, gone=connection.transport.is_closing)
                if verdict.detail.get("abandoned"):  # not a failure: nobody is waiting for the answer
                    return connection.respond(HTTPStatus.REQUEST_TIMEOUT, "Gave up waiting.\n")
        if not verdict.ok:
            return self._refuse(connection, hs, creds, verdict)
        if verdict.event == "commissioning" and self.gate is not None:
            refused = self.gate(connection, hs, creds is not None)
            if refused is not None:
                return refused
        connection.username = charger_id
        # not a commit per handshake on the loop (a boot storm): the journal writes these in its next batch
        self._admitted.append(SecurityEvent(self.clock(), verdict.event, hs.charger_id, hs.remote, verdict.reason,
                                            {"tls": hs.tls}))
        return None

    def write_admitted(self) -> None:
        """Write the admitted handshakes' events in one transaction (called with the server's journal)."""
        events, self._admitted = self._admitted, []
        try:
            self.store.add_security_events(events)
        except Exception:  # noqa: BLE001 - the log must not take the server down; say what was lost
            LOGGER.exception("could not record %d admitted handshakes as security events", len(events))

    def replaced(self, charger_id: str, old_remote: str, new_remote: str) -> None:
        """An authenticated connection took over from an open one of the same charger (a security event)."""
        hs = Handshake(charger_id, new_remote, False, None, None)
        self.event("replaced", hs, "a new authenticated connection replaced the open one", {"old_remote": old_remote})

    # ------------------------------------------------------------ checking the password

    def _tag(self, secret: bytes) -> bytes:
        return hmac.new(self._memo_key, secret, hashlib.sha256).digest()

    def _remembered(self, creds: ChargerCredentials, hs: Handshake) -> bool:
        basic, memo = _basic(hs), self._memo.get(creds.charger_id)
        if memo is None or isinstance(basic, str) or basic[0] != creds.charger_id or memo[0] != creds.password_hash:
            return False
        return hmac.compare_digest(memo[1], self._tag(wire_secret(basic[1])))

    async def _checked(self, creds: ChargerCredentials | None, hs: Handshake, verdict: Verdict | None, *,
                       gone: Callable[[], bool] | None = None) -> Verdict:
        """Exactly one scrypt check on every path that gets here, against the dummy hash when there is no
        password to check, so that refusals take the same time whatever the reason; none for a charger that
        gave up waiting for its turn (`gone`: a boot storm would otherwise spend the KDF on nobody)."""
        basic = _basic(hs)
        real, secret = None, b""
        if not isinstance(basic, str):
            secret = wire_secret(basic[1])
            if creds is not None and basic[0] == creds.charger_id:
                real = creds  # its current and any pending password (a rotation: depot.store.security)
        async with self._kdf:
            if gone is not None and gone():
                return Verdict(False, "gave up before its check", {"abandoned": True})
            matched = await asyncio.get_running_loop().run_in_executor(None, _check, real, secret)
        if verdict is not None:  # refused whatever the password; say if a right one crossed the wrong transport
            return Verdict(False, verdict.reason, {**verdict.detail, **({"password_was_right": True} if matched else {})})
        if isinstance(basic, str):
            return Verdict(False, basic)
        if basic[0] != hs.charger_id:
            return Verdict(False, "user name is not the charger id")
        if not matched:
            return Verdict(False, "wrong password")
        if matched == "pending":  # the charger connected with the password it accepted: now the only one
            self.store.promote_pending_password(hs.charger_id, creds.pending_hash, now=self.clock())  # type: ignore
        self._memo[hs.charger_id] = (creds.password_hash, self._tag(secret))  # type: ignore[union-attr]
        return Verdict(True, f"profile {creds.profile}: password")  # type: ignore[union-attr]

    # ------------------------------------------------------------ refusing

    def _refuse(self, connection: ServerConnection, hs: Handshake, creds: ChargerCredentials | None,
                verdict: Verdict) -> Response:
        now, key = self.clock(), address_key(hs.remote)
        LOGGER.warning("refused charge point %r from %s: %s", hs.charger_id[:64], hs.remote, verdict.reason)
        self.limiter.failed(key, asyncio.get_running_loop().time())
        self.event("refused", hs, verdict.reason, verdict.detail)
        failure = (now, hs.remote, hs.charger_id[:64], verdict.reason)
        if creds is not None:
            self._alert(creds.charger_id, _push(self._by_charger, creds.charger_id, failure), now)
        from_address = _push(self._by_address, key, failure)
        if creds is None or len({f[2] for f in from_address}) > 1:
            self._alert(None, from_address, now)
        response = connection.respond(HTTPStatus.UNAUTHORIZED, REFUSED_BODY)
        response.headers["WWW-Authenticate"] = build_www_authenticate_basic(REALM)
        return response

    def _alert(self, charger_id: str | None, failures: deque, now: datetime) -> None:
        cond = alert_rules.failed_login_condition(charger_id, list(failures), now)
        if cond is None:
            return
        try:
            raise_alert(self.store, cond.kind, charger_id=cond.charger_id, severity=cond.severity,
                        message=cond.message, detail=cond.detail, now=now)
        except Exception:  # noqa: BLE001 - an alert that cannot be written must not let the handshake through
            LOGGER.exception("could not raise the failed-login alert: %s", cond.message)

    def _throttle(self, connection: ServerConnection, hs: Handshake, key: str) -> Response:
        """Answer 429 unchecked; log and record it at most once a minute per address (a flood stays one line)."""
        loop_now = asyncio.get_running_loop().time()
        last = self._throttled.setdefault(key, [float("-inf"), 0])
        last[1] += 1
        if loop_now - last[0] >= THROTTLE_LOG_EVERY_S:
            LOGGER.warning("throttled handshakes from %s (%d since the last note; latest claimed %r)", key,
                           last[1], hs.charger_id[:64])
            self.event("throttled", hs, "too many failed logins from this address", {"handshakes": last[1]})
            last[0], last[1] = loop_now, 0
        response = connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "Too many failed logins: retry in a few seconds.\n")
        response.headers["Retry-After"] = str(int(self.limiter.refill_s) + 1)
        return response

    def event(self, kind: str, hs: Handshake, reason: str, detail: dict | None = None) -> None:
        """Record a security event of this handshake (every refusal is one), never failing the caller."""
        try:
            self.store.add_security_event(SecurityEvent(self.clock(), kind, hs.charger_id, hs.remote, reason,
                                                        {"tls": hs.tls, **(detail or {})}))
        except Exception:  # noqa: BLE001 - the event log must not take the server down; say what was lost
            LOGGER.exception("could not record the security event %s %r: %s", kind, hs.charger_id[:64], reason)

    _event = event  # its earlier name


def _check(stored: ChargerCredentials | None, secret: bytes) -> str | None:
    """In a worker thread: "current" / "pending" (the password that matched) or None (`check_secret`)."""
    return check_secret(stored, secret)


def _push(history: dict, key, failure: tuple) -> deque:
    found = history.get(key)
    if found is None:
        found = history[key] = deque(maxlen=HISTORY_MAX)
    found.append(failure)
    while found and failure[0] - found[0][0] > alert_rules.FAILED_LOGINS_WINDOW:
        found.popleft()
    return found
