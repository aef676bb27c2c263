"""The report's sheets and their exports: a table as exported (header, rows rounded as shown), CSV and XLSX.

A `Sheet` is what every export writes: the report table (`table_sheet`, one row per group and the Total) or
the sessions behind a row (`sessions_sheet`). `to_csv` and `to_xlsx` write one; the PDF is
`depot.costs.report_pdf`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from depot.costs.report_data import GROUPINGS
from depot.costs.reports import COLUMNS, SESSION_COLUMNS, Report


def _header(columns, currency: str) -> list[str]:
    return [h.format(cur=currency) for _, h, _ in columns]


def _cell(value, decimals):
    if decimals is None or value is None or (isinstance(value, float) and np.isnan(value)):
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) else value
    if decimals == 0:
        return int(round(float(value)))
    return round(float(value), decimals)


@dataclass(frozen=True)
class Sheet:
    """A table as exported: header, rows rounded as shown, and each column's decimals (None: text)."""

    header: list[str]
    rows: list[list]
    decimals: list[int | None]


def table_sheet(report: Report, *, total: bool = True) -> Sheet:
    """The report table: one row per group, then the Total."""
    header = [GROUPINGS[report.by], *_header(COLUMNS, report.data.currency)]
    rows = [[str(r["group"]), *[_cell(r[c], d) for c, _, d in COLUMNS]] for r in report.table.to_dict("records")]
    if total:
        rows.append(["Total", *[_cell(report.totals[c], d) for c, _, d in COLUMNS]])
    return Sheet(header, rows, [None, *[d for _, _, d in COLUMNS]])


def sessions_sheet(frame: pd.DataFrame, currency: str) -> Sheet:
    return Sheet(_header(SESSION_COLUMNS, currency),
                 [[_cell(r[c], d) for c, _, d in SESSION_COLUMNS] for r in frame.to_dict("records")],
                 [d for _, _, d in SESSION_COLUMNS])


def to_csv(sheet: Sheet) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(sheet.header)
    w.writerows(sheet.rows)
    return buf.getvalue()


def to_xlsx(sheet: Sheet, *, title: str = "Report", name: str = "Report", notes: Sequence[str] = ()) -> bytes:
    """One worksheet: the title in A1, the header in row 2 (frozen), the rows as numbers with number formats,
    the notes under the table."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = name[:31]
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(list(sheet.header))
    for cell in ws[2]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F3A5F")
    for r in sheet.rows:
        ws.append(list(r))
    if sheet.rows and sheet.rows[-1] and sheet.rows[-1][0] == "Total":
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    for i, (h, d) in enumerate(zip(sheet.header, sheet.decimals, strict=True), start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(str(h)) + 2))
        if d is not None:
            fmt = "#,##0" + ("." + "0" * d if d else "")
            for (cell,) in ws.iter_rows(min_row=3, max_row=2 + len(sheet.rows), min_col=i, max_col=i):
                cell.number_format = fmt
    ws.freeze_panes = "B3"
    if notes:
        ws.append([])
        for n in notes:
            ws.append([n])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

