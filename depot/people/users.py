"""People: user accounts and roles, login throttling, the audit log, and the web app's signing secret.

Tables (migrations 0005, 0007_demo_accounts): `users`, `login_attempts`, `audit_log`, `app_secrets`. Like
`depot.store`, every function is one logical operation in its own session and returns frozen values, never
live rows. Passwords are hashed with werkzeug (scrypt, salted); no password or hash ever leaves this module
except as a hash.

Roles (see `depot.web.auth.MATRIX` for what each may do):
    manager      everything, including users, tariffs and site settings
    dispatcher   planner and departures; floor plan read-only
    maintenance  alerts, chargers, maintenance windows, remote actions; floor plan read-only
    viewer       read-only

Throttling (`throttle_wait`, pure): a delay, never a lock-out. Failed sign-ins within `THROTTLE_WINDOW`
are counted per source address (`address_key`: an IPv4 address, an IPv6 /64) and per name at that address
(since that name last signed in from there). Past `free` failures, each further one makes the next
attempt from that address (`PER_ADDRESS`), or for that name from that address (`PER_NAME_AT_ADDRESS`), wait
base × 2^(k-1) after it, capped at `cap`; an attempt during the wait is refused unchecked and not counted. So
failures for a name from one address never slow that name from another address, and the right password
always signs in once the stated wait is over. Unknown names count like known ones (the answer does not
tell whether a user exists). It runs on wall-clock time, never on the demo's compressed clock.

Demo accounts (`depot.people.demo_accounts`): marked `demo`, made only when the simulator runs, retired
when the server starts without it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from depot.errors import NotFound, ValidationError
from depot.store import Store
from depot.store.tables_people import AuditRow, LoginAttemptRow, SecretRow, UserRow

MANAGER, DISPATCHER, MAINTENANCE, VIEWER = "manager", "dispatcher", "maintenance", "viewer"
ROLES = (MANAGER, DISPATCHER, MAINTENANCE, VIEWER)
ROLE_TEXT = {
    MANAGER: "everything, including users, tariffs and site settings",
    DISPATCHER: "planner and departures; floor plan read-only",
    MAINTENANCE: "alerts, chargers and remote actions; floor plan read-only",
    VIEWER: "read-only",
}
MIN_PASSWORD = 8
NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")



@dataclass(frozen=True)
class Backoff:
    """`free` failures cost nothing; the k-th failure past them makes the next attempt wait base × 2^(k-1)
    after it, at most `cap`."""

    free: int
    base: timedelta
    cap: timedelta

    def delay(self, failures: int) -> timedelta:
        if failures <= self.free:
            return timedelta(0)
        return min(self.cap, self.base * 2 ** min(failures - self.free - 1, 32))


THROTTLE_WINDOW = timedelta(hours=1)  # older failures are forgotten; held at the cap, 12 an hour stay counted
PER_NAME_AT_ADDRESS = Backoff(free=3, base=timedelta(seconds=2), cap=timedelta(minutes=5))  # 2 s, 4 s … 5 min
PER_ADDRESS = Backoff(free=10, base=timedelta(seconds=1), cap=timedelta(minutes=5))  # any names: 1 s … 5 min

# The demo (`make run`, simulator on) creates one user per role with these passwords; the login page shows
# them only in demo mode.
DEMO_USERS = ((MANAGER, "manager", "manager-demo"), (DISPATCHER, "dispatcher", "dispatcher-demo"),
              (MAINTENANCE, "maintenance", "maintenance-demo"), (VIEWER, "viewer", "viewer-demo"))


# ---------------------------------------------------------------- tables


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    disabled: bool
    session_version: int
    created_at: datetime
    last_login_at: datetime | None = None
    demo: bool = False  # made by the demo (simulator on) with a published password


@dataclass(frozen=True)
class LoginResult:
    """`user` when the login succeeded; otherwise `reason` is "invalid" (unknown name, wrong password or
    disabled account: deliberately one answer) or "throttled" with `retry_after`."""

    user: User | None
    reason: str
    retry_after: timedelta | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    who: str
    action: str
    target: str | None
    detail: dict
    result: str
    ok: bool


def _user(r: UserRow) -> User:
    return User(r.id, r.name, r.role, r.disabled, r.session_version, r.created_at, r.last_login_at, bool(r.demo))


def _audit(r: AuditRow) -> AuditEntry:
    try:
        detail = json.loads(r.detail or "{}")
    except ValueError:
        detail = {"raw": r.detail}
    return AuditEntry(r.id, r.at, r.who, r.action, r.target, detail, r.result, r.ok)


# ---------------------------------------------------------------- validation (pure)


def check_role(role: str) -> str:
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise ValidationError("role", f"{role!r} is not one of {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise ValidationError("name", "2–64 letters, digits or . _ @ -")
    return name


def check_password(password: str) -> str:
    if not password or len(password) < MIN_PASSWORD:
        raise ValidationError("password", f"at least {MIN_PASSWORD} characters")
    if len(password) > 512:
        raise ValidationError("password", "at most 512 characters")
    return password


def hash_password(password: str) -> str:
    return generate_password_hash(check_password(password))


# A hash to check unknown names against, so that "no such user" takes as long as "wrong password".
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def throttle_wait(name_failures: Sequence[datetime], address_failures: Sequence[datetime], now: datetime, *,
                  window: timedelta = THROTTLE_WINDOW, per_name: Backoff = PER_NAME_AT_ADDRESS,
                  per_address: Backoff = PER_ADDRESS) -> timedelta | None:
    """PURE: how long the next attempt for this name from this address must wait, or None. `name_failures`:
    the failed attempts for the name from this address since it last signed in there; `address_failures`:
    every failed attempt from this address (times, any order)."""
    waits = []
    for failures, rule in ((name_failures, per_name), (address_failures, per_address)):
        recent = sorted(t for t in failures if now - t < window)
        delay = rule.delay(len(recent))
        if recent and delay and recent[-1] + delay > now:
            waits.append(recent[-1] + delay - now)
    return max(waits) if waits else None


def address_key(ip: str) -> str:
    """What one source is throttled as: an IPv4 address, an IPv6 address's /64 (one host usually holds a
    whole /64), an IPv4-mapped IPv6 address as its IPv4 address."""
    try:
        addr = ipaddress.ip_address((ip or "?").split("%", 1)[0])
    except ValueError:
        return (ip or "?")[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


# ---------------------------------------------------------------- users


def add_user(store: Store, name: str, role: str, password: str, *, now: datetime, by: str = "system",
             demo: bool = False) -> User:
    name, role, pw_hash = check_name(name), check_role(role), hash_password(password)
    with store.session() as s:
        if s.scalar(select(UserRow).where(func.lower(UserRow.name) == name.lower())) is not None:
            raise ValidationError("name", f"a user {name!r} exists already")
        row = UserRow(name=name, role=role, password_hash=pw_hash, disabled=False, session_version=1, created_at=now,
                      demo=demo)
        s.add(row)
        s.flush()
        user = _user(row)
    audit(store, by, "user.add", target=f"user:{name}", detail={"role": role}, now=now)
    return user


def list_users(store: Store) -> list[User]:
    with store.session() as s:
        return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.name))]


def get_user(store: Store, name: str) -> User | None:
    with store.session() as s:
        row = s.scalar(select(UserRow).where(func.lower(UserRow.name) == (name or "").strip().lower()))
        return None if row is None else _user(row)


def get_user_by_id(store: Store, user_id: int) -> User | None:
    with store.session() as s:
        row = s.get(UserRow, user_id)
        return None if row is None else _user(row)


def _row(s, name: str) -> UserRow:
    row = s.scalar(select(UserRow).where(func.lower(UserRow.name) == (name or "").strip().lower()))
    if row is None:
        raise NotFound("user", name)
    return row


def set_role(store: Store, name: str, role: str, *, now: datetime, by: str = "system") -> User:
    role = check_role(role)
    with store.session() as s:
        row = _row(s, name)
        before = row.role
        if before == MANAGER and role != MANAGER:
            _keep_a_manager(s, row)
        row.role = role
        user = _user(row)
    audit(store, by, "user.set_role", target=f"user:{user.name}", detail={"from": before, "to": role}, now=now)
    return user


def set_disabled(store: Store, name: str, disabled: bool = True, *, now: datetime, by: str = "system") -> User:
    """Disable (or enable) an account; a disabled user's sessions end at their next request."""
    with store.session() as s:
        row = _row(s, name)
        if disabled and row.role == MANAGER and not row.disabled:
            _keep_a_manager(s, row)
        row.disabled = disabled
        row.session_version += 1
        user = _user(row)
    audit(store, by, "user.disable" if disabled else "user.enable", target=f"user:{user.name}", now=now)
    return user


def set_password(store: Store, name: str, password: str, *, now: datetime, by: str = "system") -> User:
    """New password; every other session of this user ends. A demo account given its own password is no
    longer a demo account (it is not retired when the server runs without the simulator)."""
    pw_hash = hash_password(password)
    with store.session() as s:
        row = _row(s, name)
        was_demo = bool(row.demo)
        row.password_hash = pw_hash
        row.session_version += 1
        row.demo = False
        user = _user(row)
    audit(store, by, "user.set_password", target=f"user:{user.name}", detail={"was_demo": True} if was_demo else None,
          now=now)
    return user


def _keep_a_manager(s, row: UserRow) -> None:
    others = s.scalar(select(func.count()).select_from(UserRow).where(
        UserRow.role == MANAGER, UserRow.disabled.is_(False), UserRow.id != row.id)) or 0
    if others == 0:
        raise ValidationError("role", "the last active manager cannot be demoted or disabled")


def authenticate(store: Store, name: str, password: str, *, ip: str, now: datetime,
                 wall: datetime | None = None) -> LoginResult:
    """Check a login, throttled per address and per name at that address (`throttle_wait`); every checked
    attempt is recorded, every attempt audited at `now` (the depot's clock). Throttling counts on `wall`
    (real time; default `now`), never on a demo clock."""
    name = (name or "").strip()[:64]
    raw_ip = (ip or "?")[:64]
    source = address_key(raw_ip)
    wall = wall or now
    since = wall - THROTTLE_WINDOW
    with store.session() as s:
        here = (LoginAttemptRow.ip == source, LoginAttemptRow.at > since)
        same_name = func.lower(LoginAttemptRow.name) == name.lower()
        last_ok = s.scalar(select(func.max(LoginAttemptRow.at)).where(*here, same_name, LoginAttemptRow.ok.is_(True)))
        by_name = list(s.scalars(select(LoginAttemptRow.at).where(
            *here, same_name, LoginAttemptRow.ok.is_(False), LoginAttemptRow.at > (last_ok or since))))
        by_address = list(s.scalars(select(LoginAttemptRow.at).where(*here, LoginAttemptRow.ok.is_(False))))
    wait = throttle_wait(by_name, by_address, wall)
    if wait is not None:
        audit(store, name or "?", "login", detail={"ip": raw_ip}, result="refused: throttled", ok=False, now=now)
        return LoginResult(None, "throttled", wait)
    with store.session() as s:
        row = s.scalar(select(UserRow).where(func.lower(UserRow.name) == name.lower())) if name else None
        ok = check_password_hash(row.password_hash if row else _DUMMY_HASH, password or "")
        ok = ok and row is not None and not row.disabled
        s.add(LoginAttemptRow(at=wall, name=name, ip=source, ok=ok))
        if ok:
            row.last_login_at = now
            user = _user(row)
        if s.scalar(select(func.count()).select_from(LoginAttemptRow)) > 50_000:  # keep the table small
            s.execute(LoginAttemptRow.__table__.delete().where(LoginAttemptRow.at < wall - timedelta(days=30)))
    audit(store, name or "?", "login", detail={"ip": raw_ip}, result="ok" if ok else "refused: invalid credentials",
          ok=ok, now=now)
    return LoginResult(user, "ok") if ok else LoginResult(None, "invalid")


# ---------------------------------------------------------------- audit log


def audit(store: Store, who: str, action: str, *, target: str | None = None, detail: dict | None = None,
          result: str = "ok", ok: bool = True, now: datetime) -> AuditEntry:
    """Record who did what, to what, when, and with which result."""
    with store.session() as s:
        row = AuditRow(at=now, who=(who or "?")[:64], action=action[:64], target=target[:128] if target else None,
                       detail=json.dumps(detail or {}, separators=(",", ":"), default=str),
                       result=(result or "")[:500], ok=ok)
        s.add(row)
        s.flush()
        return _audit(row)


def audit_log(store: Store, *, limit: int = 200, target: str | None = None, target_prefix: str | None = None,
              who: str | None = None, action_prefix: str | None = None) -> list[AuditEntry]:
    """Newest first."""
    with store.session() as s:
        q = select(AuditRow)
        if target is not None:
            q = q.where(AuditRow.target == target)
        if target_prefix is not None:
            q = q.where(AuditRow.target.startswith(target_prefix))
        if who is not None:
            q = q.where(AuditRow.who == who)
        if action_prefix is not None:
            q = q.where(AuditRow.action.startswith(action_prefix))
        return [_audit(r) for r in s.scalars(q.order_by(AuditRow.id.desc()).limit(limit))]


# ---------------------------------------------------------------- the web app's signing key


def secret_key(store: Store) -> str:
    """The Flask signing key when none is configured: made once, kept in the database, so that sessions
    survive a restart and every process of one depot agrees."""
    with store.session() as s:
        row = s.get(SecretRow, "flask")
        if row is None:
            row = SecretRow(name="flask", value=secrets.token_urlsafe(48))
            s.add(row)
        return row.value
