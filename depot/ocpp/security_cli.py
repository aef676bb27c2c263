"""`depot chargers …` for security profiles and passwords: the arguments and handlers `depot.cli` hands over.

    depot chargers add ID --max-kw KW … [--security-profile 0|1|2|3] [--password PW]
    depot chargers set-password ID [--password PW]
    depot chargers set-profile ID 0|1|2|3
    depot chargers import FILE.csv [--passwords-out FILE]

A new password over OCPP (`depot.ocpp.charger_security`) needs the charger's live connection, which only the
running server process owns: that rotation is on the maintenance page (managers), not here.

Profile 1 is the default; profiles 1 and 2 get a generated password (`depot.store.security.generate_password`)
unless one is given, printed once and stored only as its salted hash. Every change is audited as
`cli:<os user>` (never the password).
"""

from __future__ import annotations

import argparse
import getpass
import os
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from depot.clock import utc_now
from depot.errors import ValidationError
from depot.ocpp.charger_import import parse_chargers
from depot.people.users import audit
from depot.planning.departures import RowErrors
from depot.store import Store
from depot.store.security import DEFAULT_PROFILE, check_password, generate_password
from depot.text import count

PASSWORD_HELP = "16 to 40 printable ASCII characters; default: a generated one, printed once"
PROFILE_NOTES = {0: "no authentication: a lab charger only, never on a network others reach",
                 1: "HTTP Basic auth over ws", 2: "HTTP Basic auth over wss", 3: "client certificate over wss"}


def add_arguments(add: argparse.ArgumentParser) -> None:
    """The security options of `depot chargers add`."""
    add.add_argument("--security-profile", type=int, default=DEFAULT_PROFILE, choices=(0, 1, 2, 3),
                     help="0 none (lab only), 1 Basic auth over ws, 2 Basic auth over wss, 3 client certificate "
                          "(default 1)")
    add.add_argument("--password", help=PASSWORD_HELP)


def add_parsers(chargers: argparse._SubParsersAction) -> None:
    """`depot chargers set-password` and `set-profile`."""
    pw = chargers.add_parser("set-password", help="give a charger a new password (generated unless given)")
    pw.add_argument("id")
    pw.add_argument("--password", help=PASSWORD_HELP)
    prof = chargers.add_parser("set-profile", help="set a charger's security profile (0 lab, 1, 2, 3)")
    prof.add_argument("id")
    prof.add_argument("profile", type=int, choices=(0, 1, 2, 3))
    imp = chargers.add_parser("import", help="register many chargers from a CSV file: all of them or none "
                                             "(columns: docs/connecting-chargers.md)")
    imp.add_argument("file", help="CSV: id,max_kw[,bay,security_profile,password,current_type,phases,connectors]")
    imp.add_argument("--passwords-out", metavar="FILE",
                     help="write the generated passwords here (id,password; readable by you only) instead of "
                          "printing them")


def new_password(args: argparse.Namespace) -> str | None:
    """The password `depot chargers add` will set, checked before anything is written (generated for
    profiles 1 and 2 when none is given)."""
    password = args.password if args.password is not None else \
        (generate_password() if args.security_profile in (1, 2) else None)
    if password is not None:
        check_password(password)
        if ":" in args.id:
            raise ValidationError("id", "an id with ':' cannot be an HTTP Basic user name: use profile 0 or 3")
    return password


def give_credentials(store: Store, charger_id: str, args: argparse.Namespace, password: str | None,
                     out: TextIO) -> None:
    """After `depot chargers add` wrote the charger: its profile and password; a generated one is printed."""
    now = utc_now()
    if password is not None:
        store.set_charger_password(charger_id, password, now=now)
    store.set_security_profile(charger_id, args.security_profile, now=now)
    audit(store, _who(), "charger.credentials", target=f"charger:{charger_id}", now=now,
          detail={"security_profile": args.security_profile, "password": "set" if password else "none"})
    if args.password is None and password is not None:
        _say_password(out, charger_id, password)


def run(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    now, target = utc_now(), f"charger:{args.id}"
    if args.action == "set-password":
        password = args.password if args.password is not None else generate_password()
        store.set_charger_password(args.id, password, now=now)
        audit(store, _who(), "charger.set_password", target=target, now=now,
              detail={"generated": args.password is None})
        print(f"charger {args.id}: new password set (its next connection must use it)", file=out)
        if args.password is None:
            _say_password(out, args.id, password)
        return 0
    creds = store.set_security_profile(args.id, args.profile, now=now)
    audit(store, _who(), "charger.set_profile", target=target, now=now, detail={"security_profile": args.profile})
    unset = args.profile in (1, 2) and not creds.has_password
    print(f"charger {args.id}: security profile {args.profile}, {PROFILE_NOTES[args.profile]}"
          + (" (no password set yet: depot chargers set-password)" if unset else ""), file=out)
    return 0


def run_import(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    """`depot chargers import FILE.csv`: every line checked first; then all chargers in one transaction."""
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(args.file, f"cannot be read as UTF-8 text ({exc.__class__.__name__})") from None
    try:
        found = parse_chargers(text, known={c.id for c in store.list_chargers()}, check_password=check_password)
    except RowErrors as exc:
        shown = exc.errors[:50] + ([f"… and {count(len(exc.errors) - 50, 'more problem')}"]
                                   if len(exc.errors) > 50 else [])
        raise ValidationError(args.file, f"{count(len(exc.errors), 'problem')}, nothing was imported:\n  "
                              + "\n  ".join(map(str, shown))) from None
    generated = {c.id: generate_password() for c in found if c.password is None and c.security_profile in (1, 2)}
    found = [replace(c, password=generated.get(c.id, c.password)) for c in found]
    now = utc_now()
    store.import_chargers(found, now=now)
    audit(store, _who(), "charger.import", target=f"file:{path.name}", now=now,
          detail={"chargers": len(found), "generated_passwords": len(generated)})
    print(f"imported {count(len(found), 'charger')} from {path.name}", file=out)
    if generated and args.passwords_out:
        with open(os.open(args.passwords_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("id,password\n" + "".join(f"{cid},{pw}\n" for cid, pw in generated.items()))
        print(f"{count(len(generated), 'generated password')} written to {args.passwords_out} (shown nowhere "
              "else: give each to its charger)", file=out)
    elif generated:
        print(f"{count(len(generated), 'generated password')} (shown only now; each charger's AuthorizationKey / "
              "BasicAuthPassword):\nid,password", file=out)
        for cid, pw in generated.items():
            print(f"{cid},{pw}", file=out)
    return 0


def list_columns(store: Store):
    """The `depot chargers list` columns: each charger's security profile and whether it has a password."""
    creds = store.all_charger_credentials()

    def columns(charger_id: str) -> tuple[str, str]:
        c = creds.get(charger_id)
        return (str(c.profile) if c else str(DEFAULT_PROFILE), "yes" if c and c.has_password else "no")

    return ["security profile", "password"], columns




def _say_password(out: TextIO, charger_id: str, password: str) -> None:
    print(f"password of {charger_id} (shown only now; the charger's AuthorizationKey / BasicAuthPassword): "
          f"{password}", file=out)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
