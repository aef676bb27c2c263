"""Issue 12 §5, the dispatcher's details: an upload previews before it saves (merge or replace), error messages
name the column as the grid heads it, a row says why the plan's need differs from what was typed, and the
per-vehicle heat map has its own time axis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dash.exceptions import PreventUpdate
from hypothesis import given, settings
from hypothesis import strategies as st

from depot.model import MeterSample
from depot.planning.departure_merge import diff_upload
from depot.planning.departures import COLUMN_LABELS, ROSTER_LABELS, Departure, RowError
from depot.planning.planner import plan
from layouts import _planner_parts as parts
from layouts import planner as page
from layouts._figures import plan_timeline
from tests.conftest import NOW
from tests.test_planner_page import ctx, seed, small_problem, text, upload  # noqa: F401  (ctx is a fixture)

HEADER = "vehicle,arrival,departure,energy_kwh,target_soc,arrival_soc,priority\n"


def when(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------- the pure diff


def test_a_file_with_only_ev_002_adds_it_and_removes_ev_001_only_if_you_replace():
    saved = [Departure("EV-001", NOW + timedelta(hours=10), energy_kwh=40.0, id=7)]
    diff = diff_upload(saved, [Departure("EV-002", NOW + timedelta(hours=11), energy_kwh=30.0)])
    assert diff.summary() == "1 to add, 0 to change, 1 to remove if you replace"
    assert [d.vehicle_id for d in diff.merged()] == ["EV-001", "EV-002"]
    assert [d.vehicle_id for d in diff.replaced()] == ["EV-002"]
    with pytest.raises(ValueError):
        diff.result("append")


def test_the_same_vehicle_in_the_same_shift_is_a_change_and_an_identical_row_is_unchanged():
    saved = [Departure("A", NOW + timedelta(hours=10), energy_kwh=40.0, id=1),
             Departure("B", NOW + timedelta(hours=10), target_soc=90.0, id=2),
             Departure("C", NOW + timedelta(hours=10), energy_kwh=20.0, id=3),
             Departure("A", NOW + timedelta(hours=34), energy_kwh=40.0, id=4)]  # tomorrow's shift: another row
    uploaded = [Departure("A", NOW + timedelta(hours=11), energy_kwh=40.0),  # departs an hour later
                Departure("B", NOW + timedelta(hours=10), target_soc=90.0),  # as saved
                Departure("D", NOW + timedelta(hours=9), energy_kwh=10.0)]
    diff = diff_upload(saved, uploaded)
    assert [(old.id, new.departure) for old, new in diff.changed] == [(1, NOW + timedelta(hours=11))]
    assert [d.id for d in diff.unchanged] == [2] and [d.vehicle_id for d in diff.added] == ["D"]
    assert sorted(d.id for d in diff.untouched) == [3, 4]
    assert diff.summary() == "1 to add, 1 to change, 1 unchanged, 2 to remove if you replace"
    merged = diff.merged()
    assert [(d.vehicle_id, d.departure - NOW) for d in merged] == [
        ("D", timedelta(hours=9)), ("B", timedelta(hours=10)), ("C", timedelta(hours=10)),
        ("A", timedelta(hours=11)), ("A", timedelta(hours=34))]
    assert all(d.id is None for d in merged)


# ---------------------------------------------------------------- the page: preview, merge, replace, cancel


@pytest.fixture
def saved_ev(ctx, store):  # noqa: F811 - the fixture imported above
    seed(store, vehicles=3)
    store.replace_departures([Departure("BUS-01", NOW + timedelta(hours=10), energy_kwh=40.0),
                              Departure("BUS-03", NOW + timedelta(hours=12), target_soc=80.0)], now=NOW)
    return store


def _file() -> str:  # BUS-02 is new, BUS-03 changes; BUS-01 is not in the file
    return upload(HEADER + f"BUS-02,,{when(9)},50,,,1\nBUS-03,,{when(12)},,95,,2\n")


def test_choosing_a_file_saves_nothing_and_shows_what_it_would_do(saved_ev):
    before = saved_ev.departures(after=NOW)
    msg, hidden, summary, pending, cleared = page.on_upload(_file(), "night.csv")
    out = text(summary)
    assert msg is None and hidden is False and cleared is None
    assert "night.csv: 2 rows." in out and "1 to add, 1 to change, 1 to remove if you replace" in out
    assert "BUS-02" in out and "BUS-03" in out and "80 % → 95 %" in out and "BUS-01" in out
    assert pending["filename"] == "night.csv" and len(pending["rows"]) == 2
    assert saved_ev.departures(after=NOW) == before and saved_ev.active_plan() is None


def test_merge_keeps_the_saved_rows_the_file_does_not_mention(saved_ev):
    *_, pending, _ = page.on_upload(_file(), "night.csv")
    msg, panel, rows, view, note, hidden, cleared = page.on_merge(1, pending)
    assert "Merged night.csv: 1 added, 1 changed, 1 kept; 3 departures saved." in text(msg)
    got = {(d.vehicle_id, d.energy_kwh, d.target_soc, d.priority) for d in saved_ev.departures(after=NOW)}
    assert got == {("BUS-01", 40.0, None, 1), ("BUS-02", 50.0, None, 1), ("BUS-03", None, 95.0, 2)}
    assert [r["vehicle"] for r in rows] == ["BUS-02", "BUS-01", "BUS-03"]
    assert hidden is True and cleared is None and view["kind"] == "saved"


def test_replace_keeps_only_the_files_rows(saved_ev):
    *_, pending, _ = page.on_upload(_file(), "night.csv")
    msg, *_ = page.on_replace(1, pending)
    assert "Replaced the departures with night.csv: 2 saved, 1 removed." in text(msg)
    assert sorted(d.vehicle_id for d in saved_ev.departures(after=NOW)) == ["BUS-02", "BUS-03"]


def test_cancel_forgets_the_file(saved_ev):
    before = saved_ev.departures(after=NOW)
    page.on_upload(_file(), "night.csv")
    hidden, pending, msg = page.on_upload_cancel(1)
    assert hidden is True and pending is None and "nothing was saved" in text(msg)
    assert saved_ev.departures(after=NOW) == before
    with pytest.raises(PreventUpdate):
        page.on_merge(1, pending)


def test_a_bad_row_is_named_with_its_line_and_nothing_is_saved_not_even_by_merge(saved_ev):
    before = saved_ev.departures(after=NOW)
    bad = upload(HEADER + f"BUS-02,,{when(9)},50,,,1\nBUS-02,,{when(10)},,,,1\n")
    msg, hidden, summary, pending, _ = page.on_upload(bad, "bad.csv")
    assert "Nothing was saved: 1 problem in bad.csv." in text(msg)
    assert "line 3, Energy kWh (energy_kwh): give the energy needed (kWh) or a target SoC (%)" in text(msg)
    assert hidden is True and summary is None and pending is None
    # the rows are validated again when Merge is pressed: rows changed in the browser are refused there too
    forged = {"rows": [{"vehicle": "GHOST", "departure": when(5), "energy_kwh": "5"}], "filename": "x.csv"}
    msg, panel, *_, hidden, pending = page.on_merge(1, forged)
    assert "line 2, Vehicle: unknown vehicle 'GHOST'" in text(msg) and panel is page.no_update
    assert saved_ev.departures(after=NOW) == before


# ---------------------------------------------------------------- messages name the column the user sees


def test_messages_name_the_grid_header_and_for_a_file_the_csv_column_too():
    e = RowError(4, "energy_kwh", "must not be negative")
    assert str(e) == "line 4, energy_kwh: must not be negative"  # logs and exceptions keep the field
    assert e.shown() == "line 4, Energy kWh: must not be negative"
    assert e.shown(csv=True) == "line 4, Energy kWh (energy_kwh): must not be negative"
    assert RowError(2, "arrival", "x").shown() == "line 2, Expected arrival: x"
    assert RowError(2, "arrival", "x").shown(ROSTER_LABELS) == "line 2, Arrival: x"
    assert RowError(1, "header", "missing column(s): vehicle").shown() == "line 1, header: missing column(s): vehicle"
    assert set(COLUMN_LABELS) == {"vehicle", "arrival", "departure", "energy_kwh", "target_soc", "arrival_soc",
                                  "priority"}
    grid = {c.get("field"): c.get("headerName") for c in parts.departures_grid("g", [], ["A"]).columnDefs}
    assert all(grid[f] == label for f, label in COLUMN_LABELS.items() if f != "arrival")
    assert grid["arrival"] == COLUMN_LABELS["arrival"]
    roster = {c.get("field"): c.get("headerName") for c in parts.roster_grid("g", [], ["A"]).columnDefs}
    assert all(roster[f] == ROSTER_LABELS[f] for f in roster if f in ROSTER_LABELS)


def test_both_energy_and_target_is_reported_in_the_users_words(ctx, store):  # noqa: F811
    seed(store)
    msg, *_ = page.on_save(1, [{"vehicle": "BUS-01", "departure": when(8), "energy_kwh": 30, "target_soc": 90}])
    assert "line 1, Target SoC %: give either the energy (kWh) or a target SoC (%), not both" in text(msg)


# ---------------------------------------------------------------- the row says why the need differs


def test_a_row_says_the_plan_needs_less_because_energy_was_already_delivered(ctx, store):  # noqa: F811
    seed(store, vehicles=2, plugged=1)
    tx = store.active_transactions()[0]
    store.add_meter_samples(tx.charger_id, 1, [MeterSample(NOW, energy_wh=14_000.0, power_w=0.0, soc=25.0)],
                            transaction_id=tx.id)
    rows = [{"vehicle": "BUS-01", "departure": when(8), "energy_kwh": 30}]
    msg, panel, *_ = page.on_save(1, rows)
    out = text(panel)
    assert "16 / 16" in out and "30 kWh entered, 14 kWh already delivered" in out
    assert parts.need_note(30.0, 30.0) is None and parts.need_note(None, 16.0) is None
    assert parts.need_note(30.0, 40.0) == "30 kWh entered now; this plan was made for 40 kWh"


# ---------------------------------------------------------------- the heat map's own time axis


def test_the_heat_map_has_its_own_time_axis_along_its_top():
    problem = small_problem(3)
    fig = plan_timeline(problem, plan(problem, time_limit_s=5), now=problem.start + timedelta(minutes=20))
    heat_axis, total_axis = fig.layout.xaxis, fig.layout.xaxis2
    assert heat_axis.showticklabels is True and heat_axis.side == "top" and heat_axis.tickformat == "%H:%M"
    assert list(heat_axis.range) == list(total_axis.range)  # the same time range: zooming one zooms both
    assert fig.data[0].xaxis == "x" and fig.data[2].xaxis == "x2"


# ---------------------------------------------------------------- the diff, for any saved rows and any file


_rows = st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 72), st.sampled_from([10.0, 20.0])),
                 max_size=8, unique_by=lambda r: (r[0], r[1]))


def _deps(rows) -> list[Departure]:
    return [Departure(v, NOW + timedelta(hours=h), energy_kwh=e) for v, h, e in rows]


@settings(max_examples=200, deadline=None)
@given(_rows, _rows)
def test_every_row_is_added_changed_unchanged_or_untouched_exactly_once(saved_rows, file_rows):
    saved, uploaded = _deps(saved_rows), _deps(file_rows)
    diff = diff_upload(saved, uploaded)
    assert len(diff.added) + len(diff.changed) + len(diff.unchanged) == len(uploaded)
    matched = [old for old, _ in diff.changed] + list(diff.unchanged)
    assert sorted(map(repr, matched + list(diff.untouched))) == sorted(map(repr, saved))
    assert all(old.vehicle_id == new.vehicle_id and abs(old.departure - new.departure) <= timedelta(hours=12)
               for old, new in diff.changed)
    assert diff.replaced() == uploaded
    assert len(diff.merged()) == len(uploaded) + len(diff.untouched)
    assert {(d.vehicle_id, d.departure, d.energy_kwh) for d in uploaded} <= {
        (d.vehicle_id, d.departure, d.energy_kwh) for d in diff.merged()}
