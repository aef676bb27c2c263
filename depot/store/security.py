"""Charger credentials and security events: how a charger's password is kept (a salted scrypt hash, never
the password), its security profile, and the log of refused / replaced / accepted handshakes.

A mixin of `Store`. The password rules live here because every writer (the CLI, the demo seeding) and the
one reader (the handshake in `depot.ocpp.security`) must agree on them:

- a password is 16 to 40 printable ASCII characters (OCPP 2.0.1 A00.FR.205 `BasicAuthPassword`; the 1.6
  security whitepaper's `AuthorizationKey` is at most 40 hexadecimal digits, which fits);
- a password made only of hexadecimal digits (an AuthorizationKey) is compared without regard to case, and
  a 1.6 charger that sends the key's bytes instead of its digits (whitepaper edition 2) matches too:
  `wire_secret` turns what arrived into the form that was hashed;
- `generate_password()` makes 40 hexadecimal digits (160 random bits) from `secrets`: valid for both versions;
- stored as `scrypt$N$r$p$salt$key` (hashlib.scrypt, a 16-byte salt per password); `password_matches`
  recomputes and compares with `hmac.compare_digest`.

A charger without a row has profile 1 and no password: it is refused until one is set (see the README).

Password rotation over OCPP (`depot.ocpp.charger_security`): once the charger accepted a new password (or did
not answer, so may have taken it), its hash is kept as the *pending* one beside the current one.
`check_charger_secret` (the handshake's password check, in a worker thread) accepts either; the first handshake
with the pending one makes it the current one and drops the old (a "rotation" security event). A rejected
rotation clears the pending hash; a password set by hand replaces both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import string
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from depot.errors import NotFound, ValidationError
from depot.store.db import Repository
from depot.store.tables import ChargerRow, ConnectorRow
from depot.store.tables_security import ChargerCredentialRow, SecurityEventRow

PROFILES = (0, 1, 2, 3)
DEFAULT_PROFILE = 1  # what `depot chargers add` gives and what a charger without a row has
MIN_PASSWORD, MAX_PASSWORD = 16, 40
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 16 MiB and some tens of ms per check
_PRINTABLE = frozenset(string.ascii_letters + string.digits + string.punctuation)
_HEX = frozenset(string.hexdigits)


# ---------------------------------------------------------------- passwords (pure functions)


def generate_password() -> str:
    """40 hexadecimal digits: a 1.6 AuthorizationKey and a 2.0.1 BasicAuthPassword alike."""
    return secrets.token_hex(20)


def check_password(password: str) -> str:
    """The password as it will be hashed; ValidationError (naming no characters of it) if it breaks the rules."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError("password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters, not {len(password)}")
    if not set(password) <= _PRINTABLE:
        raise ValidationError("password", "only printable ASCII characters, no spaces")
    return password.lower() if set(password) <= _HEX else password


def wire_secret(raw: bytes) -> bytes:
    """What a charger sent as its Basic-auth password, in the form `check_password` hashed: printable text as
    it is (hexadecimal digits in lower case), anything else (a binary AuthorizationKey) as its hex digits."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return raw.hex().encode()
    if not text or not set(text) <= _PRINTABLE:
        return raw.hex().encode()
    return (text.lower() if set(text) <= _HEX else text).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$key` of a password that passed `check_password`."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def password_matches(stored: str, secret: bytes) -> bool:
    """Recompute the stored hash for `secret` (from `wire_secret`) and compare in constant time."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(secret, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected), maxmem=128 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY: list[str] = []


def dummy_hash() -> str:
    """A hash no one knows the password of: checked for unknown ids so that they cost the same time."""
    if not _DUMMY:
        _DUMMY.append(hash_password(generate_password()))
    return _DUMMY[0]


def check_secret(creds: ChargerCredentials | None, secret: bytes) -> str | None:
    """The handshake's password check (in a worker thread): "current" or "pending" for the hash `secret` (from
    `wire_secret`) matched, None otherwise. One scrypt check against the dummy hash when `creds` is None or has
    no password (an unknown id, another user name: the same work as a wrong password); a second one only while
    a rotation is pending. The caller promotes a pending match (`SecurityRepository.promote_pending_password`)."""
    if creds is None or creds.password_hash is None:
        password_matches(dummy_hash(), secret)
        return None
    if password_matches(creds.password_hash, secret):
        return "current"
    if creds.pending_hash is not None and password_matches(creds.pending_hash, secret):
        return "pending"
    return None


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class ChargerCredentials:
    """What the handshake needs to know about a charger id (never the password)."""

    charger_id: str
    profile: int
    password_hash: str | None = field(repr=False)
    commissioned: bool = True
    password_set_at: datetime | None = None
    pending_hash: str | None = field(default=None, repr=False)
    pending_state: str | None = None  # "accepted" or "unconfirmed" (the charger did not answer)
    pending_at: datetime | None = None

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def has_pending(self) -> bool:
        return self.pending_hash is not None


@dataclass(frozen=True)
class SecurityEvent:
    at: datetime
    kind: str  # refused, throttled, replaced, accepted, commissioning, rotation, profile, charger
    charger_id: str
    remote: str
    reason: str
    detail: dict = field(default_factory=dict, compare=False)


# ---------------------------------------------------------------- the repository


class SecurityRepository(Repository):
    def set_charger_password(self, charger_id: str, password: str, *, now: datetime) -> ChargerCredentials:
        """Check the password against the rules, keep its salted hash (the charger keeps its profile; a
        charger without one gets profile 1)."""
        _basic_user(charger_id)
        password_hash = hash_password(check_password(password))
        with self.session() as s:
            row = self._credential_row(s, charger_id, now)
            row.password_hash, row.password_set_at, row.updated_at = password_hash, now, now
            row.pending_hash = row.pending_state = row.pending_at = None  # by hand: no rotation stays pending
            return _credentials(row, True)

    # ------------------------------------------------------------ rotation (see the module docstring)

    def set_pending_password(self, charger_id: str, password: str, *, state: str, now: datetime) -> None:
        """Keep the hash of a password the charger accepted ("accepted") or may have taken ("unconfirmed")
        beside the current one; the current one is not touched."""
        _basic_user(charger_id)
        pending = hash_password(check_password(password))
        with self.session() as s:
            row = self._credential_row(s, charger_id, now)
            row.pending_hash, row.pending_state, row.pending_at, row.updated_at = pending, state, now, now

    def clear_pending_password(self, charger_id: str, *, now: datetime) -> bool:
        """Forget a pending password (a rejected rotation); True if there was one."""
        with self.session() as s:
            row = s.get(ChargerCredentialRow, charger_id)
            if row is None or row.pending_hash is None:
                return False
            row.pending_hash = row.pending_state = row.pending_at = None
            row.updated_at = now
            return True

    def promote_pending_password(self, charger_id: str, pending_hash: str, *, now: datetime) -> bool:
        """The charger connected with its pending password: it becomes the current one, the old one stops
        working. Only if that pending hash is still the pending one (a newer rotation or a password set by hand
        wins). A "rotation" security event says so."""
        with self.session() as s:
            row = s.get(ChargerCredentialRow, charger_id)
            if row is None or row.pending_hash != pending_hash:
                return False
            row.password_hash, row.password_set_at, row.updated_at = pending_hash, now, now
            row.pending_hash = row.pending_state = row.pending_at = None
            s.add(SecurityEventRow(at=now, kind="rotation", charger_id=charger_id[:64], remote="-",
                                   reason="new password in use, the old one dropped",
                                   detail=json.dumps({"step": "promoted"})))
            return True

    def set_charger_passwords(self, passwords: Mapping[str, str], *, now: datetime) -> None:
        """Many chargers' passwords at once (the demo seeding): hashed on every core (scrypt releases the
        GIL), written in one transaction."""
        checked = {_basic_user(cid): check_password(pw) for cid, pw in passwords.items()}
        with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            hashes = dict(zip(checked, pool.map(hash_password, checked.values()), strict=True))
        with self.session() as s:
            for cid, password_hash in hashes.items():
                row = self._credential_row(s, cid, now)
                row.password_hash, row.password_set_at, row.updated_at = password_hash, now, now

    def import_chargers(self, chargers: Sequence, *, now: datetime) -> None:
        """Register many chargers with their connectors, profiles and passwords in one transaction: all of
        them, or (an id taken meanwhile, a database error) none. `chargers`: `depot.ocpp.charger_import`'s
        checked lines, each with its password (None for profiles 0 and 3)."""
        with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            hashes = list(pool.map(lambda c: hash_password(c.password) if c.password else None, chargers))
        with self.session() as s:
            for c, password_hash in zip(chargers, hashes, strict=True):
                s.add(ChargerRow(id=c.id, current_type=c.current_type.value, phases=c.phases, max_kw=c.max_kw,
                                 bay=c.bay, commissioned=True, site_meter=False))
                s.add_all(ConnectorRow(charger_id=c.id, connector_id=n) for n in range(1, c.connectors + 1))
                s.add(ChargerCredentialRow(charger_id=c.id, security_profile=c.security_profile,
                                           password_hash=password_hash, updated_at=now,
                                           password_set_at=now if password_hash else None))

    def set_security_profile(self, charger_id: str, profile: int, *, now: datetime) -> ChargerCredentials:
        if profile not in PROFILES:
            raise ValidationError("security profile", f"{profile} is not one of 0, 1, 2, 3")
        with self.session() as s:
            row = self._credential_row(s, charger_id, now)
            row.security_profile, row.updated_at = profile, now
            return _credentials(row, True)

    def charger_credentials(self, charger_id: str) -> ChargerCredentials | None:
        """None when no charger has this id."""
        with self.session() as s:
            found = s.execute(select(ChargerRow.commissioned, ChargerCredentialRow)
                              .outerjoin(ChargerCredentialRow, ChargerCredentialRow.charger_id == ChargerRow.id)
                              .where(ChargerRow.id == charger_id)).first()
            if found is None:
                return None
            commissioned, row = found
            if row is None:
                return ChargerCredentials(charger_id, DEFAULT_PROFILE, None, bool(commissioned))
            return _credentials(row, bool(commissioned))

    def all_charger_credentials(self) -> dict[str, ChargerCredentials]:
        """Every charger's profile and whether a password is set (`depot chargers list`)."""
        with self.session() as s:
            rows = s.execute(select(ChargerRow.id, ChargerRow.commissioned, ChargerCredentialRow)
                             .outerjoin(ChargerCredentialRow, ChargerCredentialRow.charger_id == ChargerRow.id))
            return {cid: _credentials(row, bool(c)) if row is not None
                    else ChargerCredentials(cid, DEFAULT_PROFILE, None, bool(c)) for cid, c, row in rows}

    def add_security_event(self, event: SecurityEvent) -> None:
        self.add_security_events([event])

    def add_security_events(self, events: Sequence[SecurityEvent]) -> None:
        """Many events in one transaction (the OCPP server writes admitted handshakes with its journal)."""
        if not events:
            return
        with self.session() as s:
            s.add_all([SecurityEventRow(at=e.at, kind=e.kind, charger_id=e.charger_id[:64], remote=e.remote[:64],
                                        reason=e.reason[:64],
                                        detail=json.dumps(e.detail, separators=(",", ":"), default=str))
                       for e in events])

    def security_events(self, *, charger_id: str | None = None, remote: str | None = None,
                        kind: str | None = None, kinds: Sequence[str] | None = None,
                        limit: int = 200) -> list[SecurityEvent]:
        """Newest first (`kinds`: any of these kinds)."""
        q = select(SecurityEventRow)
        if kinds is not None:
            q = q.where(SecurityEventRow.kind.in_(list(kinds)))
        for column, value in ((SecurityEventRow.charger_id, charger_id), (SecurityEventRow.remote, remote),
                              (SecurityEventRow.kind, kind)):
            if value is not None:
                q = q.where(column == value)
        with self.session() as s:
            rows = s.scalars(q.order_by(SecurityEventRow.id.desc()).limit(limit))
            return [SecurityEvent(r.at, r.kind, r.charger_id, r.remote, r.reason, json.loads(r.detail or "{}"))
                    for r in rows]

    @staticmethod
    def _credential_row(s, charger_id: str, now: datetime) -> ChargerCredentialRow:
        if s.get(ChargerRow, charger_id) is None:
            raise NotFound("charger", charger_id)
        row = s.get(ChargerCredentialRow, charger_id)
        if row is None:
            row = ChargerCredentialRow(charger_id=charger_id, security_profile=DEFAULT_PROFILE, updated_at=now)
            s.add(row)
        return row


def _basic_user(charger_id: str) -> str:
    if ":" in charger_id:
        raise ValidationError("id", "an id with ':' cannot be an HTTP Basic user name (OCPP A00.FR.204)")
    return charger_id


def _credentials(row: ChargerCredentialRow, commissioned: bool) -> ChargerCredentials:
    return ChargerCredentials(row.charger_id, row.security_profile, row.password_hash, commissioned,
                              row.password_set_at, row.pending_hash, row.pending_state, row.pending_at)
