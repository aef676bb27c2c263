"""The planner page: pure figures, and its callbacks called as plain functions inside a request."""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime, timedelta

import pytest
from dash.exceptions import PreventUpdate

from depot.control.replan import Replanner
from depot.model import Charger, ConnectorStatus, CurrentType, MeterSample, Protocol, Vehicle
from depot.planning.departures import Departure
from depot.planning.planner import PlanningProblem, VehicleNeed, plan, plan_from_power
from depot.web.context import Services
from layouts import planner as page
from layouts._figures import empty_figure, plan_timeline
from tests.components import walk
from tests.conftest import NOW

# ---------------------------------------------------------------- a small depot to plan


def seed(store, *, vehicles: int = 2, plugged: int = 1, grid_kw: float = 200.0) -> None:
    """`vehicles` buses of 300 kWh on 150 kW DC chargers; the first `plugged` are charging at 20 % SoC."""
    store.set_site("Depot", grid_kw, 10.0)
    for i in range(1, vehicles + 1):
        vid, cid = f"BUS-{i:02d}", f"DC-{i:02d}"
        store.add_vehicle(Vehicle(vid, f"Bus {i}", 300.0, max_ac_kw=22.0, max_dc_kw=120.0, id_tag=f"TAG-{i:02d}"))
        store.add_charger(Charger(cid, 150.0, CurrentType.DC))
        store.record_boot(cid, protocol=Protocol.OCPP16, now=NOW)
        if i <= plugged:
            store.set_connector_status(cid, 1, ConnectorStatus.CHARGING, now=NOW)
            tx = store.start_transaction(cid, 1, f"TAG-{i:02d}", started_at=NOW - timedelta(minutes=10))
            store.add_meter_samples(cid, 1, [MeterSample(NOW, energy_wh=0.0, power_w=0.0, soc=20.0)],
                                    transaction_id=tx.id)
        else:
            store.set_connector_status(cid, 1, ConnectorStatus.AVAILABLE, now=NOW)


def row(vehicle="BUS-01", departure=NOW + timedelta(hours=8), **kw) -> dict:
    r = {"_rid": f"r{vehicle}{departure}", "vehicle": vehicle, "arrival": "",
         "departure": departure.strftime("%Y-%m-%d %H:%M") if isinstance(departure, datetime) else departure,
         "energy_kwh": None, "target_soc": 90, "arrival_soc": None, "priority": 1}
    r.update(kw)
    return r


def text(node) -> str:
    return " ".join(n for n in walk(node) if isinstance(n, str))


def badges(node) -> dict[str, str]:
    return {n["props"]["data-vehicle"]: n["props"]["data-badge"] for n in walk(node)
            if isinstance(n, dict) and "data-badge" in n["props"]}


@pytest.fixture
def ctx(configured_app):
    with configured_app.server.test_request_context():
        yield configured_app


# ---------------------------------------------------------------- pure figures


def small_problem(n: int = 2) -> PlanningProblem:
    start = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    vehicles = tuple(VehicleNeed(f"V{i}", start + timedelta(hours=4 + i), 40.0 + 10 * i, 22.0,
                                 arrival=start + timedelta(hours=i) if i else None) for i in range(n))
    return PlanningProblem(start=start, vehicles=vehicles, site_limit_kw=30.0,
                           price_per_kwh=tuple(0.1 + 0.01 * (k // 8) for k in range(32)), slots=32)


def test_timeline_has_a_row_per_vehicle_the_total_the_limit_and_the_price():
    problem = small_problem(2)
    result = plan(problem, time_limit_s=5)
    fig = plan_timeline(problem, result, badges={"V0": "ready", "V1": "will miss"},
                        now=problem.start + timedelta(minutes=20))
    names = [t.name for t in fig.data]
    assert names == ["planned kW", "departure", "planned total (kW)", "site limit (kW)", "price per kWh"]
    heat = fig.data[0]
    assert len(heat.z) == 2 and len(heat.z[0]) == 32
    assert list(heat.y) == ["V0 ●", "V1 ✕"]  # earliest departure on top, badge marked
    assert math.isnan(heat.z[1][0]) and heat.z[1][4] == pytest.approx(result.vehicles[1].power_kw[4])
    limit = fig.data[3]
    assert set(limit.y) == {30.0} and len(limit.y) == 33 and limit.line.dash == "dash"
    assert fig.data[4].yaxis == "y3"  # the price has its own axis
    assert max(fig.data[2].y) <= 30.0 + 1e-6
    assert any(a.text == "now" for a in fig.layout.annotations)


def test_timeline_grows_with_the_fleet_and_copes_with_no_vehicles():
    small = plan_timeline(small_problem(2), plan(small_problem(2), time_limit_s=5))
    big_problem = small_problem(45)
    big = plan_timeline(big_problem, plan(big_problem, time_limit_s=5))
    assert big.layout.height > small.layout.height + 40 * 10
    assert len(big.data[0].y) == 45
    empty_problem = PlanningProblem(start=NOW, vehicles=(), site_limit_kw=100.0, slots=8)
    empty = plan_timeline(empty_problem, plan_from_power(empty_problem, []))
    assert [t.name for t in empty.data] == ["planned total (kW)", "site limit (kW)", "price per kWh"]
    assert any("No vehicles" in a.text for a in empty.layout.annotations)
    assert empty_figure("nothing").layout.annotations[0].text == "nothing"


# ---------------------------------------------------------------- the page


def test_no_vehicles_explains_how_to_add_them(ctx):
    assert "depot vehicles add" in text(page.layout())


def test_first_visit_shows_no_plan_and_no_departures(ctx, store):
    seed(store)
    out = text(page.layout())
    assert "No plan yet" in out and "No departures entered" in out


def test_save_valid_rows_stores_them_and_shows_the_forecast(ctx, store):
    seed(store)
    rows = [row("BUS-01", NOW + timedelta(hours=8)), row("BUS-02", NOW + timedelta(hours=9), arrival="2026-11-21 20:00",
                                                          target_soc=None, energy_kwh=100)]
    msg, panel, new_rows, view, note = page.on_save(1, rows)
    assert "Saved 2 departures" in text(msg)
    saved = store.departures(after=NOW)
    assert [(d.vehicle_id, d.departure) for d in saved] == [("BUS-01", NOW + timedelta(hours=8)),
                                                            ("BUS-02", NOW + timedelta(hours=9))]
    assert saved[1].arrival == datetime(2026, 11, 21, 20, 0, tzinfo=UTC) and saved[1].energy_kwh == 100
    assert badges(panel) == {"BUS-01": "ready", "BUS-02": "ready"}
    assert view["kind"] == "saved" and [r["vehicle"] for r in new_rows] == ["BUS-01", "BUS-02"]
    assert "overrides" in text(note)


def test_save_invalid_rows_changes_nothing_and_names_line_and_field(ctx, store):
    seed(store)
    store.replace_departures([Departure("BUS-02", NOW + timedelta(hours=5), target_soc=80.0)], now=NOW)
    rows = [row("BUS-01"), row("NOPE"), row("BUS-02", NOW - timedelta(hours=1)), row("BUS-01", target_soc=120),
            row("BUS-02", energy_kwh=500, target_soc=None)]
    msg, *rest = page.on_save(1, rows)
    out = text(msg)
    assert "Nothing was saved" in out
    assert "line 2, Vehicle: unknown vehicle 'NOPE'" in out  # the column as the grid heads it
    assert "line 3, Departure:" in out and "in the past" in out
    assert "line 4, Target SoC %: 120 % is not between 0 and 100 %" in out
    assert "line 5, Energy kWh:" in out and "more than the battery" in out
    assert "target_soc" not in out and "energy_kwh" not in out
    assert all(r is page.no_update for r in rest)
    assert [d.vehicle_id for d in store.departures(after=NOW)] == ["BUS-02"]


def test_duplicate_rows_are_reported(ctx, store):
    seed(store)
    msg, *_ = page.on_save(1, [row("BUS-01"), row("BUS-01")])
    assert "line 2, Vehicle: duplicate of line 1" in text(msg)


def upload(text_: str) -> str:
    return "data:text/csv;base64," + base64.b64encode(text_.encode()).decode()


def test_bad_csv_saves_nothing_and_lists_every_bad_line(ctx, store):
    seed(store)
    csv = ("vehicle,arrival,departure,energy_kwh,target_soc,arrival_soc,priority\n"
           "BUS-01,,2026-11-22 05:30,,90,,1\n"
           "GHOST,,2026-11-22 05:30,,90,,1\n"
           "BUS-02,2026-11-22 06:00,2026-11-22 05:30,,90,,1\n"
           "BUS-01,,2026-11-22 07:00,50,90,,0\n")
    msg, hidden, summary, pending, cleared = page.on_upload(upload(csv), "shift.csv")
    out = text(msg)
    assert "Nothing was saved" in out and "shift.csv" in out
    assert "line 3, Vehicle: unknown vehicle 'GHOST'" in out
    assert "line 4, Departure: must be after the arrival" in out
    assert "line 5, Target SoC % (target_soc): give either" in out and "line 5, Priority:" in out
    assert "line 2" not in out
    assert store.departures() == [] and hidden is True and pending is None and cleared is None


def test_csv_without_the_required_columns_or_not_text_is_a_message(ctx, store):
    seed(store)
    msg, *_ = page.on_upload(upload("name,when\nBUS-01,tomorrow\n"), "x.csv")
    assert "line 1, header: missing columns: vehicle, departure" in text(msg)
    msg, *_ = page.on_upload("data:application/octet-stream;base64," + base64.b64encode(b"\xff\xfe\x00").decode(), "x.bin")
    assert "line 1, file:" in text(msg)
    assert store.departures() == []


def test_good_csv_is_saved_and_the_template_round_trips(ctx, store):
    seed(store, vehicles=3)
    template = page.on_template(1)
    assert template["filename"] == "departures-template.csv"
    msg, hidden, summary, pending, _ = page.on_upload(upload(template["content"]), "departures-template.csv")
    assert msg is None and hidden is False and "3 to add, 0 to change, nothing to remove" in text(summary)
    assert store.departures() == []  # nothing until Merge or Replace
    msg, panel, rows, view, note, hidden, pending = page.on_merge(1, pending)
    assert "Merged departures-template.csv: 3 added, 0 changed, 0 kept; 3 departures saved" in text(msg)
    assert hidden is True and pending is None and len(rows) == 3 and view["kind"] == "saved"
    assert sorted(d.vehicle_id for d in store.departures(after=NOW)) == ["BUS-01", "BUS-02", "BUS-03"]
    exported = page.on_export(1)
    assert exported["content"].splitlines()[0].startswith("vehicle,arrival,departure")
    assert len(exported["content"].splitlines()) == 4


def test_preview_shows_badges_and_saves_nothing(ctx, store):
    seed(store)
    msg, panel, view = page.on_preview(1, [row("BUS-01", NOW + timedelta(hours=1))])
    assert "nothing was saved" in text(msg)
    assert badges(panel) == {"BUS-01": "will miss"}
    assert "PREVIEW" in text(panel) and view["kind"] == "preview"
    assert "Why not everyone can be ready" in text(panel)
    assert "60 % of 90 %" in text(panel) and "No plan is in force yet" in text(panel)
    assert store.departures() == [] and store.active_plan() is None
    _, later, _ = page.on_preview(1, [row("BUS-01", NOW + timedelta(hours=6))])
    assert badges(later) == {"BUS-01": "ready"}
    msg, *_ = page.on_preview(1, [row("BUS-01", "tomorrow")])
    assert "Cannot preview" in text(msg) and "line 1, Departure:" in text(msg)


def test_active_plan_is_shown_with_its_version_and_a_preview_lists_badge_changes(ctx, store):
    seed(store)
    store.replace_departures([Departure("BUS-01", NOW + timedelta(hours=1), target_soc=90.0)], now=NOW)
    record = Replanner(store, page.services().settings, clock=lambda: NOW).replan("departures edited").record
    layout = page.layout()
    out = text(layout)
    assert f"Active plan #{record.id}" in out and "reason: departures edited" in out and "partial" in out
    assert badges(layout) == {"BUS-01": "will miss"}
    assert "a later departure or a faster charger would fix it" in out  # explain_shortfall's words
    _, panel, _ = page.on_preview(1, [row("BUS-01", NOW + timedelta(hours=6))])
    assert "BUS-01 : will miss → ready" in text(panel).replace("BUS-01: ", "BUS-01 : ")
    with pytest.raises(PreventUpdate):
        page.on_tick(1, {"kind": "preview", "plan_id": record.id})
    with pytest.raises(PreventUpdate):
        page.on_tick(1, {"kind": "active", "plan_id": record.id})
    panel, view = page.on_tick(1, {"kind": "saved", "plan_id": None})
    assert view == {"kind": "active", "plan_id": record.id} and badges(panel) == {"BUS-01": "will miss"}


def test_save_asks_the_runtime_to_replan_and_the_page_then_shows_the_new_active_plan(configured_app, store,
                                                                                     settings):
    seed(store)
    asked = []

    class Runtime:  # replans at once, as the real runtime does a moment later on its loop
        def request_replan(self, reason):
            asked.append(reason)
            Replanner(store, settings, clock=lambda: NOW).replan(reason)

    configured_app.server.extensions["depot"] = Services(settings, store, lambda: NOW, Runtime())
    with configured_app.server.test_request_context():
        msg, panel, _, view, _ = page.on_save(1, [row("BUS-01")])
        assert "re-plan was requested" in text(panel) and view["kind"] == "saved"
        record = store.active_plan()
        assert record.reason == "departures edited" and view["plan_id"] == record.id
        *_, pending, _ = page.on_upload(upload("vehicle,departure,energy_kwh\nBUS-02,2026-11-22 05:00,40\n"), "a.csv")
        assert store.active_plan().id == record.id  # choosing a file neither saves nor re-plans
        page.on_merge(1, pending)
        newer = store.active_plan()
        panel, view = page.on_tick(1, view)  # the plan made after the save replaces the forecast
        assert view == {"kind": "active", "plan_id": newer.id}
        assert f"Active plan #{newer.id}" in text(panel) and badges(panel) == {"BUS-01": "ready"}
        assert "Not in the plan: BUS-02" in text(panel)  # a departure, but not plugged in and no arrival given
        roster = [{"vehicle": "BUS-01", "weekday": "Sat", "arrival": "17:00", "departure": "05:30", "target_soc": 90}]
        page.on_roster_save(1, roster)
    assert asked == ["departures edited", "departures imported", "roster edited"]


def test_roster_save_and_one_off_override_note(ctx, store):
    seed(store, vehicles=3)
    bad = [{"vehicle": "BUS-01", "weekday": "Sat", "arrival": "17:00", "departure": "05:30", "target_soc": 90},
           {"vehicle": "BUS-01", "weekday": "Saturday", "arrival": "18:00", "departure": "06:00", "target_soc": 80},
           {"vehicle": "BUS-02", "weekday": "Funday", "arrival": "25:00", "departure": "06:00", "energy_kwh": 50}]
    msg, *_ = page.on_roster_save(1, bad)
    out = text(msg)
    assert "line 2, Weekday: duplicate of line 1" in out
    assert "line 3, Weekday:" in out and "line 3, Arrival: '25:00' is not a time of day" in out
    assert store.roster() == []
    good = [{"vehicle": "BUS-01", "weekday": "Sat", "arrival": "17:00", "departure": "05:30", "target_soc": 90},
            {"vehicle": "BUS-02", "weekday": "Sat", "arrival": "19:00", "departure": "06:00", "energy_kwh": 120,
             "priority": 2}]
    msg, panel, rows, view, note = page.on_roster_save(1, good)
    assert "Saved 2 roster entries" in text(msg)
    assert [(e.vehicle_id, e.weekday) for e in store.roster()] == [("BUS-01", 5), ("BUS-02", 5)]
    assert [r["weekday"] for r in rows] == ["Sat", "Sat"]
    assert "BUS-01 Sun 05:30" in text(note)  # NOW is Saturday 18:00: the roster gives tonight's departures
    page.on_save(1, [row("BUS-02", NOW + timedelta(hours=10), target_soc=95)])
    assert "Overridden by a row in this table: BUS-02" in text(page.shift_note(page.services()))


def test_add_and_delete_rows(ctx, store):
    seed(store)
    rows = page.on_add(1, [row("BUS-01")])
    assert len(rows) == 2 and rows[1]["vehicle"] is None and rows[1]["departure"] == "2026-11-22 06:00"
    kept, msg = page.on_delete(1, rows, [rows[0]])
    assert kept == rows[1:] and msg is None
    same, msg = page.on_delete(1, rows, [])
    assert same is page.no_update and "Tick the rows" in text(msg)
    assert len(page.on_roster_add(1, None)) == 1


def test_a_failing_solver_is_a_message_not_a_traceback(ctx, store, monkeypatch):
    seed(store)

    def boom(*_a, **_k):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(page, "solve", boom)
    msg, panel, view = page.on_preview(1, [row("BUS-01")])
    assert "Could not compute the plan" in text(panel) and "solver exploded" in text(panel)
    assert view is page.no_update


def test_preview_with_nobody_to_plan_is_an_empty_plan_not_an_error(ctx, store):
    seed(store, plugged=0)
    msg, panel, view = page.on_preview(1, [])
    assert "No vehicle is plugged in or expected" in text(panel) and view["kind"] == "preview"
    assert badges(panel) == {}


def test_a_full_site_says_how_many_kw_would_fix_it_and_whom_priorities_protected(ctx, store):
    seed(store, vehicles=6, plugged=6, grid_kw=150.0)
    rows = [row(f"BUS-{i:02d}", NOW + timedelta(hours=6), priority=2 if i == 1 else 1) for i in range(1, 7)]
    _, panel, _ = page.on_preview(1, rows)
    out = text(panel)
    assert "kW more between" in out and "Priorities protected BUS-01" in out
    assert badges(panel)["BUS-01"] == "ready" and "will miss" in badges(panel).values()
