"""Demo accounts never survive into a real depot (issue 11 §2b).

The demo (simulator on) makes one user per role with the passwords published on its login page and in the
README (`users.DEMO_USERS`), marked `demo` in the users table (migration 0007_demo_accounts marks the ones
made before the column existed). When the server starts without the simulator, every account still marked
demo is retired: disabled, its sessions ended, its password hash replaced by one no password matches (kept,
not deleted, so that its id is never handed to a new account a stale session cookie could then reach). A
demo account given its own password (`users.set_password`) is no longer a demo account. The next demo run
brings the retired accounts back with their demo passwords.

And a server that listens beyond loopback (`beyond_loopback`) refuses to start while any active account
still signs in with a published demo password (`published_password_refusal`): checked against the hashes,
so a manager who made `manager` with a password of their own is not refused.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from depot.people.users import DEMO_USERS, MANAGER, add_user, audit, hash_password
from depot.store import Store
from depot.store.tables_people import UserRow

log = logging.getLogger(__name__)

RETIRED_HASH = "!retired-demo-account"  # not a werkzeug hash: no password matches it
DEMO_PASSWORDS = tuple(password for _, _, password in DEMO_USERS)


def ensure_demo_users(store: Store, *, now: datetime) -> list[tuple[str, str, str]]:
    """The demo's users (simulator on): made, marked demo, where missing; brought back with their demo
    password where a start without the simulator retired them. Returns every (role, name, password)."""
    for role, name, password in DEMO_USERS:
        with store.session() as s:
            row = s.scalar(select(UserRow).where(func.lower(UserRow.name) == name))
            revive = row is not None and row.demo and row.password_hash == RETIRED_HASH
            if revive:
                row.password_hash, row.disabled, row.role = hash_password(password), False, role
                row.session_version += 1
        if row is None:
            add_user(store, name, role, password, now=now, by="demo", demo=True)
        elif revive:
            audit(store, "demo", "user.enable", target=f"user:{name}", detail={"demo": True}, now=now)
    return list(DEMO_USERS)


def retire_demo_users(store: Store, *, now: datetime) -> list[str]:
    """Without the simulator: retire every account marked demo (disabled, sessions ended, no password
    matches). Returns the names retired now."""
    with store.session() as s:
        rows = list(s.scalars(select(UserRow).where(UserRow.demo.is_(True), UserRow.password_hash != RETIRED_HASH)))
        for row in rows:
            row.password_hash, row.disabled = RETIRED_HASH, True
            row.session_version += 1
        names = [row.name for row in rows]
        managers = s.scalar(select(func.count()).select_from(UserRow).where(
            UserRow.role == MANAGER, UserRow.disabled.is_(False))) or 0
    for name in names:
        audit(store, "system", "user.disable", target=f"user:{name}",
              detail={"reason": "demo account: the server runs without the simulator"}, now=now)
    if names:
        log.warning("demo accounts retired (the server runs without the simulator): %s", ", ".join(names))
        if managers == 0:
            log.warning("no active manager account is left: add one with `depot users add NAME --role manager`")
    return names


def published_password_users(store: Store) -> list[str]:
    """Active accounts that sign in with a published demo password. Checked: the accounts marked demo or
    named like a demo user, against every demo password (a scrypt check costs ~0.1 s, so not every account)."""
    names = {name for _, name, _ in DEMO_USERS}
    with store.session() as s:
        rows = [(r.name, r.password_hash) for r in s.scalars(select(UserRow).where(UserRow.disabled.is_(False)))
                if r.demo or r.name.lower() in names]
    found = []
    for name, pw_hash in rows:
        own = [p for _, n, p in DEMO_USERS if n == name.lower()]
        if any(check_password_hash(pw_hash, p) for p in dict.fromkeys([*own, *DEMO_PASSWORDS])):
            found.append(name)
    return sorted(found)


def beyond_loopback(host: str | None) -> bool:
    """PURE: a listening address other machines may reach: anything but 127.0.0.0/8, ::1 and localhost
    ("" and 0.0.0.0 / :: are every interface; a host name is taken as reachable)."""
    h = (host or "").strip().strip("[]").rstrip(".").lower()
    if h == "localhost":
        return False
    try:
        addr = ipaddress.ip_address(h)
    except ValueError:
        return True
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return not addr.is_loopback


def published_password_refusal(store: Store, listeners: Iterable[tuple[str, str | None]]) -> str | None:
    """Why the server must not start, or None: `listeners` are (what, host) pairs, e.g. ("web app (--host)",
    "0.0.0.0"); refused when one listens beyond loopback while an account has a published demo password."""
    beyond = [f"{what} on {host or 'every interface'}" for what, host in listeners if beyond_loopback(host)]
    if not beyond:
        return None
    names = published_password_users(store)
    if not names:
        return None
    return (f"refusing to start: the {' and the '.join(beyond)} would be reachable from other machines, and "
            f"{'these accounts still sign in' if len(names) > 1 else 'this account still signs in'} with a "
            f"password published with the demo: {', '.join(names)}. Give each its own password (depot users "
            f"password NAME) or disable it (depot users disable NAME), or listen on 127.0.0.1 only. The demo "
            f"(simulator on) always has these accounts: run it on 127.0.0.1, or start with --no-simulator.")
