"""`depot users …`: the web app's users from a shell on the depot server.

    depot users add NAME --role ROLE [--password-file FILE]   (asks for the password when no file is given)
    depot users list
    depot users set-role NAME ROLE
    depot users disable NAME [--enable]
    depot users password NAME [--password-file FILE]

Every change is written to the audit log as `cli:<os user>`.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import TextIO

from depot.clock import utc_now
from depot.errors import ValidationError
from depot.people import users as people
from depot.settings import add_db_argument
from depot.store import Store


def add_parser(sub) -> argparse.ArgumentParser:
    users = sub.add_parser("users", help="web app users and their roles")
    acts = users.add_subparsers(dest="action", required=True)
    add = acts.add_parser("add", help="add a user (the password is asked for unless --password-file)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=people.ROLES)
    add.add_argument("--password-file", help="read the password from the first line of this file")
    acts.add_parser("list", help="list users")
    setrole = acts.add_parser("set-role", help="change a user's role")
    setrole.add_argument("name")
    setrole.add_argument("role", choices=people.ROLES)
    disable = acts.add_parser("disable", help="disable a user (their sessions end)")
    disable.add_argument("name")
    disable.add_argument("--enable", action="store_true", help="enable the user again instead")
    password = acts.add_parser("password", help="set a new password (other sessions end)")
    password.add_argument("name")
    password.add_argument("--password-file", help="read the password from the first line of this file")
    for p in acts.choices.values():
        add_db_argument(p)
    return users


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def read_password(path: str | None) -> str:
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValidationError("--password-file", f"cannot read {path}: {exc.strerror}") from exc
        return lines[0].rstrip("\r\n") if lines else ""
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat the password: "):
        raise ValidationError("password", "the two entries differ")
    return first


def run(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    now, who = utc_now(), _who()
    if args.action == "add":
        u = people.add_user(store, args.name, args.role, read_password(args.password_file), now=now, by=who)
        print(f"added user {u.name} ({u.role})", file=out)
    elif args.action == "list":
        rows = [(u.name, u.role, "disabled" if u.disabled else "active",
                 u.last_login_at.isoformat(timespec="minutes") if u.last_login_at else "never")
                for u in people.list_users(store)]
        if not rows:
            print("(none)  add one: depot users add NAME --role manager", file=out)
            return 0
        header = ("name", "role", "status", "last sign-in")
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        for r in (header, *rows):
            print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip(), file=out)
    elif args.action == "set-role":
        u = people.set_role(store, args.name, args.role, now=now, by=who)
        print(f"user {u.name} is now {u.role}", file=out)
    elif args.action == "disable":
        u = people.set_disabled(store, args.name, not args.enable, now=now, by=who)
        print(f"user {u.name} {'disabled' if u.disabled else 'enabled'}", file=out)
    elif args.action == "password":
        u = people.set_password(store, args.name, read_password(args.password_file), now=now, by=who)
        print(f"new password set for {u.name}", file=out)
    return 0
