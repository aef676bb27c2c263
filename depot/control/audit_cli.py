"""The `depot audit --date YYYY-MM-DD [--csv FILE]` command: plan versus actual of one UTC day.

Glue between the command line (`depot.cli` parses the arguments) and the audit (`depot.control.audit`):
prints the day's departures and the causes of each miss; `--csv FILE` also writes the CSV the page
downloads (`--csv -`: the CSV to stdout instead of the table). Exit 0, or 2 for a malformed date.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TextIO

from depot.clock import utc_now
from depot.control.audit import audit
from depot.planning.audit import parse_day, text_lines, to_csv
from depot.settings import Settings
from depot.store import Store
from depot.text import count


def run_cli(args, store: Store, out: TextIO, *, now: datetime | None = None) -> int:
    day = parse_day(args.date, "--date")
    if now is None:  # a demo database runs on a clock ahead of the wall: its newest record is "now" then
        latest = store.latest_timestamp()
        now = max(utc_now(), latest) if latest is not None else utc_now()
    result = audit(store, day, now=now, heartbeat_s=Settings.from_env().heartbeat_interval)
    if args.csv == "-":
        out.write(to_csv(result))
        return 0
    for line in text_lines(result):
        print(line, file=out)
    if args.csv:
        Path(args.csv).write_text(to_csv(result), encoding="utf-8")
        print(f"\nCSV written to {args.csv} ({count(len(result.departures), 'departure')})", file=out)
    return 0
