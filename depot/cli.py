"""The `depot` command: run the product and manage what it knows from a shell.

    depot serve [flags]                          the whole product (same as `python app.py`)
    depot chargers add ID --max-kw KW [--dc] [--phases 3] [--bay A01] [--connectors 1]
                       [--security-profile 0|1|2|3] [--password PW]   (profile 1 and a generated password by default)
    depot chargers set ID [--bay A07] [--max-kw KW] [--phases N] [--dc|--ac] [--commissioned] [--site-meter]
    depot chargers set-password ID [--password PW] | set-profile ID 0|1|2|3
    depot chargers import FILE.csv [--passwords-out FILE]
    depot chargers list | remove ID
    depot tags add TAG [--vehicle ID] | list | block TAG [--unblock]
    depot vehicles add ID --battery-kwh KWH [--name NAME] [--tag TAG] | list
    depot site set [--grid-kw KW] [--margin-kw KW] [--name NAME] [--default-departure HH:MM|none] | show
    depot plan PROBLEM.json [-o PLAN.json]       the planner on a problem file (docs/planning-format.md)
    depot simulate --url ws://HOST:PORT --chargers N [--speed X]
    depot db upgrade                             create or migrate the database schema
    depot users add NAME --role ROLE [--password-file F] | list | set-role NAME ROLE | disable NAME
    depot report --from DATE --to DATE --by vehicle|charger|cost-centre|day --format csv|xlsx|pdf [-o FILE]
    depot audit --date YYYY-MM-DD [--csv FILE]   plan versus actual: each departure of a day, why any was missed

Every subcommand takes `--db URL` (or DEPOT_DATABASE_URL); the default is the SQLite file the app uses.
Exit status: 0 success, 2 invalid input (the message names the field), 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from depot.errors import DepotError, NotFound, ValidationError
from depot.model import Charger, CurrentType, Vehicle
from depot.ocpp import security_cli
from depot.people import cli as people_cli
from depot.settings import Settings, add_db_argument, add_server_arguments
from depot.store import Store


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depot", description="Depot charging manager")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve_command(sub)
    _add_chargers_commands(sub)
    _add_tags_commands(sub)
    _add_vehicles_commands(sub)
    _add_plan_command(sub)
    _add_simulate_command(sub)
    _add_site_commands(sub)
    people_cli.add_parser(sub)  # depot users …
    _add_report_command(sub)
    _add_audit_commands(sub)
    _add_db_commands(sub)
    return parser


def _with_db(actions: argparse._SubParsersAction) -> None:
    """`--db URL` on every action of a command group (after the action's own arguments)."""
    for p in actions.choices.values():
        add_db_argument(p)


def _add_serve_command(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the web app, OCPP server, runtime and (demo) simulator")
    add_server_arguments(serve)
    serve.add_argument("--log-level", default="INFO")


def _add_chargers_commands(sub: argparse._SubParsersAction) -> None:
    chargers = sub.add_parser("chargers", help="manage chargers").add_subparsers(dest="action", required=True)
    add = chargers.add_parser("add", help="register a charger so it may connect")
    add.add_argument("id")
    add.add_argument("--max-kw", type=float, required=True, help="the charger's maximum power")
    add.add_argument("--dc", action="store_true", help="a DC charger (default AC)")
    add.add_argument("--phases", type=int, default=3, choices=(1, 2, 3))
    add.add_argument("--bay", help="floor-plan bay: lane letter and number, e.g. A01")
    add.add_argument("--connectors", type=int, default=1)
    add.add_argument("--site-meter", action="store_true", help="this id is the site's building meter")
    security_cli.add_arguments(add)  # --security-profile, --password
    cset = chargers.add_parser("set", help="change a charger: place it on the floor plan, correct its rating")
    cset.add_argument("id")
    cset.add_argument("--bay", help="floor-plan bay, e.g. A07")
    cset.add_argument("--max-kw", type=float)
    cset.add_argument("--phases", type=int, choices=(1, 2, 3))
    cset.add_argument("--dc", action="store_const", const=True, help="it is a DC charger")
    cset.add_argument("--ac", dest="dc", action="store_const", const=False, help="it is an AC charger")
    cset.add_argument("--commissioned", action="store_true", help="accept a charger found in commissioning mode")
    cset.add_argument("--site-meter", dest="site_meter", action="store_const", const=True,
                      help="this id is the site's building meter")
    security_cli.add_parsers(chargers)  # set-password, set-profile
    chargers.add_parser("list", help="list chargers")
    rm = chargers.add_parser("remove", help="forget a charger")
    rm.add_argument("id")
    _with_db(chargers)


def _add_tags_commands(sub: argparse._SubParsersAction) -> None:
    tags = sub.add_parser("tags", help="manage id tags").add_subparsers(dest="action", required=True)
    tadd = tags.add_parser("add", help="allow an id tag (RFID card / token)")
    tadd.add_argument("tag")
    tadd.add_argument("--vehicle", help="the vehicle this tag identifies")
    tags.add_parser("list", help="list id tags")
    block = tags.add_parser("block", help="block an id tag")
    block.add_argument("tag")
    block.add_argument("--unblock", action="store_true", help="lift the block instead")
    _with_db(tags)


def _add_vehicles_commands(sub: argparse._SubParsersAction) -> None:
    vehicles = sub.add_parser("vehicles", help="manage vehicles").add_subparsers(dest="action", required=True)
    vadd = vehicles.add_parser("add", help="add a vehicle")
    vadd.add_argument("id")
    vadd.add_argument("--name")
    vadd.add_argument("--battery-kwh", type=float, required=True)
    vadd.add_argument("--max-ac-kw", type=float, default=11.0)
    vadd.add_argument("--max-dc-kw", type=float, default=150.0)
    vadd.add_argument("--tag", help="an id tag for it (created)")
    vehicles.add_parser("list", help="list vehicles")
    _with_db(vehicles)


def _add_plan_command(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser("plan", help="plan a problem file (see docs/planning-format.md)")
    plan.add_argument("problem")
    plan.add_argument("-o", "--output", help="write the plan here instead of stdout")


def _add_simulate_command(sub: argparse._SubParsersAction) -> None:
    # listed in `depot --help`; `main` hands `depot simulate …` to the simulator's own parser
    sim = sub.add_parser("simulate", help="run simulated chargers against a central system", add_help=False)
    sim.add_argument("args", nargs=argparse.REMAINDER)


def _add_site_commands(sub: argparse._SubParsersAction) -> None:
    site = sub.add_parser("site", help="the site: name and grid connection").add_subparsers(dest="action",
                                                                                           required=True)
    site_set = site.add_parser("set", help="set the grid connection the planner keeps under")
    site_set.add_argument("--grid-kw", type=float, help="grid connection available for charging")
    site_set.add_argument("--margin-kw", type=float, help="safety margin kept free (default 0 with --grid-kw)")
    site_set.add_argument("--name", help="site name")
    site_set.add_argument("--default-departure", metavar="HH:MM", help="UTC time vehicles plugged in without a "
                          "departure are planned to leave; 'none': they charge now at what the site allows")
    site.add_parser("show", help="show the site settings")
    _with_db(site)


def _add_report_command(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="energy cost report of a date range: CSV, XLSX or PDF")
    report.add_argument("--from", dest="date_from", required=True, metavar="DATE", help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="date_to", required=True, metavar="DATE", help="last day, inclusive")
    report.add_argument("--by", default="vehicle", help="vehicle, route, cost-centre, department, billing-group, "
                                                        "charger, site, day, week or month (default vehicle)")
    report.add_argument("--format", dest="fmt", default="csv", choices=("csv", "xlsx", "pdf"))
    report.add_argument("-o", "--output", metavar="FILE", help="default: CSV to stdout, XLSX/PDF to a file here")
    add_db_argument(report)


def _add_audit_commands(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="plan versus actual of a day: each departure, ready or not, and why")
    audit.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the day (UTC) whose departures to explain")
    audit.add_argument("--csv", metavar="FILE", help="also write the CSV here (- for the CSV on stdout)")
    add_db_argument(audit)


def _add_db_commands(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="create or migrate the schema to the newest version")
    _with_db(db)


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["simulate"]:
        from depot.sim import simulator

        return simulator.main(raw[1:])
    parser = build_parser()
    args = parser.parse_args(raw)
    try:
        if args.command == "serve":
            import app

            return app.serve(Settings.from_env().with_args(args), log_level=args.log_level)
        if args.command == "plan":
            from depot.planning.json_format import run_plan_cli

            return run_plan_cli(args.problem, args.output, out, err)
        settings = Settings.from_env().with_args(args)
        store = Store(settings.database_url)
        try:
            store.migrate()
            return _manage(args, store, out)
        finally:
            store.dispose()
    except ValidationError as exc:
        print(f"error: {exc}", file=err)
        return 2
    except NotFound as exc:
        print(f"error: {exc}", file=err)
        return 2
    except DepotError as exc:
        print(f"error: {exc}", file=err)
        return 1


def _manage(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    cmd, action = args.command, getattr(args, "action", None)
    handler = _HANDLERS.get((cmd, None)) or _HANDLERS.get((cmd, action))
    if handler is None:  # pragma: no cover - argparse only lets the above through
        raise ValidationError("command", f"unknown {cmd} {action}")
    return handler(args, store, out)


def _db_upgrade(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    print(f"schema is up to date ({store.url})", file=out)
    return 0


def _users(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    return people_cli.run(args, store, out)


def _report(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    from depot.costs.report_cli import run_cli

    return run_cli(args, store, out)


def _audit(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    from depot.control.audit_cli import run_cli

    return run_cli(args, store, out)


def _site_set(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    from depot.control.sitelimit import check_site, describe_site, parse_default_departure

    current = store.get_site()
    if args.grid_kw is None and args.margin_kw is None and args.name is None and args.default_departure is None:
        raise ValidationError("--grid-kw", "give --grid-kw KW (or --margin-kw, --name, --default-departure)")
    departure = (parse_default_departure(args.default_departure, "--default-departure")
                 if args.default_departure is not None else current.default_departure)
    grid = current.grid_kw if args.grid_kw is None else args.grid_kw
    margin = args.margin_kw if args.margin_kw is not None else (0.0 if args.grid_kw is not None
                                                                 else current.safety_margin_kw)
    if args.grid_kw is not None or args.margin_kw is not None:
        check_site(grid, margin, grid_field="--grid-kw", margin_field="--margin-kw")
    site = store.set_site(args.name or current.name, grid, margin)
    if departure != current.default_departure:
        site = store.set_default_departure(departure)
    print("\n".join(describe_site(site)), file=out)
    return 0


def _site_show(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    from depot.control.sitelimit import describe_site

    print("\n".join(describe_site(store.get_site())), file=out)
    return 0


def _chargers_add(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    password = security_cli.new_password(args)  # checked before anything is written
    ch = store.add_charger(Charger(id=args.id, max_kw=args.max_kw,
                                   current_type=CurrentType.DC if args.dc else CurrentType.AC,
                                   phases=args.phases, bay=args.bay, site_meter=args.site_meter),
                           connectors=args.connectors)
    print(f"added charger {ch.id} ({ch.current_type}, {ch.max_kw:g} kW, bay {ch.bay or '-'})", file=out)
    security_cli.give_credentials(store, ch.id, args, password, out)  # a generated password is printed once
    return 0


def _chargers_set(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    changes = {k: v for k, v in (("bay", args.bay), ("max_kw", args.max_kw), ("phases", args.phases),
                                 ("site_meter", args.site_meter)) if v is not None}
    if args.dc is not None:
        changes["current_type"] = CurrentType.DC if args.dc else CurrentType.AC
    if args.commissioned:
        changes["commissioned"] = True
    if not changes:
        raise ValidationError("chargers set", "nothing to change: give --bay, --max-kw, --phases, --dc/--ac, "
                              "--commissioned or --site-meter")
    if "max_kw" in changes and changes["max_kw"] <= 0:
        raise ValidationError("--max-kw", "must be > 0")
    ch = store.update_charger(args.id, **changes)
    print(f"charger {ch.id}: {ch.current_type}, {ch.max_kw:g} kW, bay {ch.bay or '-'}"
          + ("" if ch.commissioned else " (not commissioned)"), file=out)
    return 0


def _chargers_list(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    security, columns = security_cli.list_columns(store)
    rows = [(c.id, c.current_type.value, f"{c.max_kw:g}", str(c.phases), c.bay or "-",
             c.protocol.value if c.protocol else "-", c.vendor or "-", c.firmware or "-",
             c.last_seen.isoformat(timespec="seconds") if c.last_seen else "never",
             "yes" if c.commissioned else "NEW", *columns(c.id)) for c in store.list_chargers()]
    _table(out, ["id", "type", "max kW", "phases", "bay", "protocol", "vendor", "firmware", "last seen",
                 "commissioned", *security], rows)
    return 0


def _chargers_remove(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    store.remove_charger(args.id)
    print(f"removed charger {args.id}", file=out)
    return 0


def _tags_add(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    tag = store.add_tag(args.tag, args.vehicle)
    print(f"added id tag {tag.tag}" + (f" for vehicle {tag.vehicle_id}" if tag.vehicle_id else ""), file=out)
    return 0


def _tags_list(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    _table(out, ["tag", "vehicle", "blocked"],
           [(t.tag, t.vehicle_id or "-", "yes" if t.blocked else "no") for t in store.list_tags()])
    return 0


def _tags_block(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    tag = store.block_tag(args.tag, not args.unblock)
    print(f"id tag {tag.tag} {'blocked' if tag.blocked else 'unblocked'}", file=out)
    return 0


def _vehicles_add(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    v = store.add_vehicle(Vehicle(args.id, args.name or args.id, args.battery_kwh, args.max_ac_kw,
                                  args.max_dc_kw, args.tag))
    print(f"added vehicle {v.id} ({v.battery_kwh:g} kWh)", file=out)
    return 0


def _vehicles_list(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    _table(out, ["id", "name", "battery kWh", "max AC kW", "max DC kW", "tag"],
           [(v.id, v.name, f"{v.battery_kwh:g}", f"{v.max_ac_kw:g}", f"{v.max_dc_kw:g}", v.id_tag or "-")
            for v in store.list_vehicles()])
    return 0


_Handler = Callable[[argparse.Namespace, Store, TextIO], int]
_HANDLERS: dict[tuple[str, str | None], _Handler] = {
    ("db", None): _db_upgrade,  # (command, None): every action of the command
    ("users", None): _users,
    ("report", None): _report,
    ("audit", None): _audit,
    ("site", "set"): _site_set,
    ("site", "show"): _site_show,
    ("chargers", "add"): _chargers_add,
    ("chargers", "set"): _chargers_set,
    ("chargers", "set-password"): security_cli.run,
    ("chargers", "set-profile"): security_cli.run,
    ("chargers", "import"): security_cli.run_import,
    ("chargers", "list"): _chargers_list,
    ("chargers", "remove"): _chargers_remove,
    ("tags", "add"): _tags_add,
    ("tags", "list"): _tags_list,
    ("tags", "block"): _tags_block,
    ("vehicles", "add"): _vehicles_add,
    ("vehicles", "list"): _vehicles_list,
}
"""What `depot COMMAND ACTION` does with the store (`serve`, `plan` and `simulate` need none: see `main`)."""


def _table(out: TextIO, header: list[str], rows: list[tuple[str, ...]]) -> None:
    if not rows:
        print("(none)", file=out)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(), file=out)
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip(), file=out)


if __name__ == "__main__":
    sys.exit(main())
