"""The `depot report` command: the energy cost report of a date range written as CSV, XLSX or PDF.

Glue between the command line (`depot.cli` parses the arguments) and the report modules: it brings the
ledger up to date, builds the report (`depot.costs.reports`) and writes it with `depot.costs.report_export`
or `depot.costs.report_pdf`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from depot.clock import utc_now
from depot.costs import tariff_store
from depot.costs.report_data import GROUPINGS, parse_range
from depot.costs.report_export import table_sheet, to_csv, to_xlsx
from depot.costs.reports import NOTES, build_report
from depot.errors import ValidationError
from depot.store import Store


def run_cli(args, store: Store, out, *, now: datetime | None = None) -> int:
    """`depot report`: bring the ledger up to date, build the report, write it. Exit 0, or 2 on bad input."""
    now = now or utc_now()
    if args.by not in GROUPINGS:
        raise ValidationError("--by", f"{args.by!r} is not one of {', '.join(GROUPINGS)}")
    tz = tariff_store.site_timezone(tariff_store.list_tariffs(store))
    start, end = parse_range(args.date_from, args.date_to, tz)
    if args.fmt == "pdf":
        from depot.costs.report_pdf import build_pdf  # reportlab and matplotlib load only for a PDF

        payload: str | bytes = build_pdf(store, start, end, args.by, now=now)
    else:
        report = build_report(store, start, end, args.by, now=now)
        sheet = table_sheet(report)
        payload = to_csv(sheet) if args.fmt == "csv" else to_xlsx(sheet, title=report.title, notes=NOTES)
    if args.output is None and args.fmt == "csv":
        out.write(payload)
        return 0
    path = Path(args.output or f"energy-report-{args.date_from}-{args.date_to}-{args.by}.{args.fmt}")
    if isinstance(payload, str):
        path.write_text(payload, encoding="utf-8")
    else:
        path.write_bytes(payload)
    print(f"wrote {path} ({args.fmt.upper()}, {len(payload):,} bytes)", file=out)
    return 0
