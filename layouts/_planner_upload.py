"""The planner's CSV upload: read the file, show what it would add, change and remove, then merge or replace.

Nothing is saved when a file is chosen: the page shows the summary (`depot.planning.departure_merge`) with
Merge, Replace and Cancel, and the file's rows wait in the browser (the PENDING store). Pressing Merge or
Replace reads those rows again, validates them again against the store as it is then (a bad row is named
with its CSV line and nothing is saved), and saves the result in one transaction. The page module's
callbacks call these operations; the page loader skips this file (its name starts with "_").
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence

from dash import html, no_update
from dash.exceptions import PreventUpdate

from depot.planning.departure_merge import UploadDiff, diff_upload
from depot.planning.departures import Departure, RowError, RowErrors, read_csv, validate_departures
from depot.text import count
from depot.web.context import Services
from layouts import _planner_parts as parts

PENDING, BOX, SUMMARY = "planner-upload-pending", "planner-upload-box", "planner-upload-summary"
MERGE, REPLACE, CANCEL = "planner-upload-merge", "planner-upload-replace", "planner-upload-cancel"
MAX_UPLOAD_BYTES = 2_000_000
FIRST_LINE = 2  # the CSV header is line 1
SHOWN = 8  # rows listed per kind in the summary; the rest are counted


# ---------------------------------------------------------------- operations


def decode(contents: str) -> str:
    """A dcc.Upload's data URL as text, or RowErrors naming the file's problem."""
    try:
        data = base64.b64decode(contents.split(",", 1)[1], validate=False)
    except (IndexError, ValueError, binascii.Error):
        raise RowErrors([RowError(1, "file", "could not be read; upload a CSV file")]) from None
    if len(data) > MAX_UPLOAD_BYTES:
        raise RowErrors([RowError(1, "file", f"is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RowErrors([RowError(1, "file", "is not UTF-8 text; save it as CSV (UTF-8)")]) from None


def _diff(svc: Services, rows: Sequence[dict]) -> UploadDiff:
    now = svc.clock()
    vehicles = {v.id: v for v in svc.store.list_vehicles()}
    uploaded = validate_departures(rows, vehicles, now=now, first_line=FIRST_LINE)
    return diff_upload(svc.store.departures(after=now), uploaded)


def read(svc: Services, contents: str) -> tuple[list[dict], UploadDiff]:
    """The file's rows and what they would change; RowErrors (every bad line) when any row is bad. Saves nothing."""
    rows = read_csv(decode(contents))
    return rows, _diff(svc, rows)


def commit(svc: Services, rows: Sequence[dict], mode: str) -> tuple[list[Departure], UploadDiff]:
    """Merge the file's rows into the saved one-offs, or replace them with the file's; validated again first."""
    diff = _diff(svc, rows)
    saved = svc.store.replace_departures(diff.result(mode), now=svc.clock())
    if svc.runtime is not None:
        svc.runtime.request_replan("departures imported")
    return saved, diff


# ---------------------------------------------------------------- the callbacks' bodies (the page registers them)


def preview(svc: Services, contents: str, filename: str | None) -> tuple:
    """(message, box hidden, summary, pending rows, upload contents cleared) for a chosen file."""
    try:
        rows, diff = read(svc, contents)
    except RowErrors as exc:
        return parts.row_errors(exc.errors, what=filename or "the file", csv=True), True, None, None, None
    return None, False, summary(diff, filename), {"rows": rows, "filename": filename}, None


def apply(svc: Services, pending: dict | None, mode: str, after_save: Callable[[Services, list[Departure]], tuple]) -> tuple:
    """(message, plan panel, grid rows, VIEW data, shift note, box hidden, pending) after Merge or Replace;
    `after_save` draws the page's plan panel, VIEW data and shift note for the saved departures."""
    if not pending or not pending.get("rows"):
        raise PreventUpdate
    name = pending.get("filename")
    try:
        saved, diff = commit(svc, pending["rows"], mode)
    except RowErrors as exc:
        return (parts.row_errors(exc.errors, what=name or "the file", csv=True), *[no_update] * 4, True, None)
    panel, data, note = after_save(svc, saved)
    return (parts.notice(done(diff, mode, name, len(saved))), panel, [parts.departure_row(d) for d in saved], data,
            note, True, None)


# ---------------------------------------------------------------- drawing


def _when(d: Departure) -> str:
    return f"{d.vehicle_id} {d.departure:%a %d %H:%M}"


def _need(d: Departure) -> str:
    return f"{d.energy_kwh:g} kWh" if d.energy_kwh is not None else f"{d.target_soc:g} %" if d.target_soc is not None else ""


def _hm(t) -> str:
    return "already here" if t is None else f"{t:%H:%M}"


def _change(old: Departure, new: Departure) -> str:
    bits = []
    if old.departure != new.departure:
        bits.append(f"departs {old.departure:%H:%M} → {new.departure:%H:%M}")
    if _need(old) != _need(new):
        bits.append(f"{_need(old)} → {_need(new)}")
    if old.arrival != new.arrival:
        bits.append(f"arrives {_hm(old.arrival)} → {_hm(new.arrival)}")
    if old.priority != new.priority or old.arrival_soc != new.arrival_soc:
        bits.append("priority or arrival SoC")
    return f"{new.vehicle_id} {new.departure:%a %d}: " + ", ".join(bits or ["details"])


def _items(title: str, texts: list[str], kind: str) -> html.Div | None:
    if not texts:
        return None
    more = [html.Li(f"… and {len(texts) - SHOWN} more", className="text-muted")] if len(texts) > SHOWN else []
    return html.Div([html.Strong(f"{title} ({len(texts)})"),
                     html.Ul([html.Li(t) for t in texts[:SHOWN]] + more, className="mb-1")],
                    className=f"planner-upload-{kind} me-4")


def summary(diff: UploadDiff, filename: str | None) -> html.Div:
    """What the file would do: counts, the rows per kind, and what each button means."""
    name = filename or "the file"
    lists = [_items("Add", [f"{_when(d)} ({_need(d)})" for d in diff.added], "add"),
             _items("Change", [_change(old, new) for old, new in diff.changed], "change"),
             _items("Remove if you replace", [_when(d) for d in diff.untouched], "remove")]
    return html.Div([
        html.Div([html.Strong(f"{name}: {count(len(diff.uploaded), 'row')}. "),
                  html.Span(diff.summary() + ".", className="planner-upload-counts")]),
        html.Div([x for x in lists if x is not None], className="d-flex flex-wrap small mt-1"),
        html.Div(["Nothing is saved yet. ", html.Strong("Merge"), " keeps the saved departures the file does not "
                  "mention; ", html.Strong("Replace"), " keeps only the file's rows."], className="small"),
    ])


def box() -> html.Div:
    """The hidden panel the summary appears in, with its three buttons."""
    def btn(label: str, ident: str, colour: str, tip: str) -> html.Button:
        return html.Button(label, id=ident, n_clicks=0, className=f"btn btn-{colour} btn-sm", title=tip)

    return html.Div([
        html.Div(id=SUMMARY),
        html.Div([btn("Merge", MERGE, "primary", "add and change; keep the other saved departures"),
                  btn("Replace", REPLACE, "outline-danger", "save only the file's rows"),
                  btn("Cancel", CANCEL, "outline-secondary", "forget the file; nothing is saved")],
                 className="d-flex gap-2 mt-2"),
    ], id=BOX, hidden=True, className="alert alert-info py-2 mb-2", role="status")


def done(diff: UploadDiff, mode: str, filename: str | None, saved: int) -> str:
    name = filename or "the file"
    if mode == "merge":
        kept = len(diff.untouched) + len(diff.unchanged)
        return (f"Merged {name}: {len(diff.added)} added, {len(diff.changed)} changed, {kept} kept; "
                f"{count(saved, 'departure')} saved.")
    return f"Replaced the departures with {name}: {saved} saved, {len(diff.untouched)} removed."
