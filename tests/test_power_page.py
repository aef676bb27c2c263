"""The live power page: data functions on a seeded SQLite store, pure figures and patches, callbacks as plain
functions inside a request, and the build time / update size for 200 chargers and a week of samples."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import plotly
import pytest
from dash import Patch, no_update
from sqlalchemy.exc import OperationalError

import app as depot_app
from depot.control.sitelimit import SiteLimit, demo_building
from depot.model import Charger, CurrentType, MeterSample
from depot.store import enforcement as es
from depot.web import power_data as pdata
from depot.web.context import Services
from layouts import _power_figures as figs
from layouts import power as page
from tests.components import walk
from tests.conftest import NOW


def T(hh: int, mm: int, ss: int = 0):  # a time of NOW's day, as the fixture tables write it
    return NOW.replace(hour=hh, minute=mm, second=ss)


# ---------------------------------------------------------------- seeding


def charger(cid: str, *, bay: str | None = None, dc: bool = False, meter: bool = False) -> Charger:
    return Charger(cid, 150.0 if dc else 22.0, CurrentType.DC if dc else CurrentType.AC, bay=bay, site_meter=meter)


def hand_made(store) -> None:
    """Two chargers (CP-1 with two connectors) and a site meter; samples and readings around 17:50-18:00.

    2-minute buckets from 17:50, kW:       17:50  17:52  17:54  17:56  17:58
      CP-1/1  a 1-minute meter: 10 @17:50, 12 @17:51, 8 @17:52:30, then the session ends
                                             11      8      8*     0      0     (* one bucket bridged)
      CP-1/2  a single sample, 5 @17:50:30    5      5*     0      0      0
      CP-2    a 15-minute meter: 40 @17:30, 50 @17:45 (before the window), 60 @17:58:10, 99 @18:00 (after)
                                             50*    50*    50*    50*    60    (* held over its usual gap)
    """
    store.set_site("Depot", 400.0, 10.0)
    store.add_charger(charger("CP-1", bay="A01"), connectors=2)
    store.add_charger(charger("CP-2", bay="B01", dc=True))
    store.add_charger(charger("METER", meter=True))
    add = store.add_meter_samples
    add("CP-1", 1, [MeterSample(T(17, 50), power_w=10_000), MeterSample(T(17, 51), power_w=12_000),
                    MeterSample(T(17, 52, 30), power_w=8_000), MeterSample(T(17, 53), energy_wh=5.0)])
    add("CP-1", 2, [MeterSample(T(17, 50, 30), power_w=5_000)])
    add("CP-2", 1, [MeterSample(T(17, 30), power_w=40_000), MeterSample(T(17, 45), power_w=50_000),
                    MeterSample(T(17, 58, 10), power_w=60_000), MeterSample(NOW, power_w=99_000)])
    add("METER", 1, [MeterSample(T(17, 55), power_w=100_000)])
    for at, building, pv, limit in [(T(17, 50, 10), 40.0, 5.0, 300.0), (T(17, 51, 10), 60.0, 7.0, 280.0),
                                    (T(17, 56, 30), 30.0, None, 320.0)]:
        es.add_reading(store, es.SiteReading(at, "simulator", building, pv, limit, None))


def bulk_week(store, *, chargers: int = 200, days: int = 7, step_s: int = 900, lanes: int = 10,
              grid_kw: float = 2000.0) -> int:
    """`chargers` chargers in `lanes` lanes (every 5th DC) with a sample every `step_s` for `days` days up to NOW
    and a site reading every minute (the demo building and PV), written with the driver's executemany (the
    ORM would take minutes). Each charger charges once a night, from 17-21 h for 2-8 h; the total is scaled
    under the site limit as enforcement would keep it."""
    store.set_site("Big depot", grid_kw, 20.0)
    per_lane = math.ceil(chargers / lanes)
    for i in range(chargers):
        store.add_charger(charger(f"CP-{i:03d}", bay=f"{'ABCDEFGHIJKLMNOPQRST'[i // per_lane]}{i % per_lane + 1:02d}",
                                  dc=i % 5 == 0))
    start = NOW - timedelta(days=days)
    minutes = [start + timedelta(minutes=k) for k in range(days * 1440)]
    site = [demo_building(t) for t in minutes]
    building = np.array([r.building_kw for r in site])
    pv = np.array([r.pv_kw for r in site])
    limit = np.minimum(grid_kw - 20.0, grid_kw - 20.0 - building + pv)
    secs = np.arange(0, days * 86400, step_s)
    rng = np.random.default_rng(7)
    max_kw = np.where(np.arange(chargers) % 5 == 0, 150.0, 22.0)
    begin = 17 * 3600 + rng.uniform(0, 4 * 3600, (chargers, days + 1))
    length = rng.uniform(2 * 3600, 8 * 3600, (chargers, days + 1))
    t = (start - start.replace(hour=0, minute=0)).total_seconds() + secs  # seconds since the first midnight
    day, second = (t // 86400).astype(int), t % 86400
    on = np.zeros((chargers, len(secs)), dtype=bool)
    for back in (0, 1):  # a session that began the evening before
        d = np.clip(day - back, 0, days)
        since = second + back * 86400 - begin[:, d]
        on |= (since >= 0) & (since < length[:, d]) & (day - back >= 0)
    kw = on * max_kw[:, None] * rng.uniform(0.5, 1.0, (chargers, 1))
    total = kw.sum(axis=0)
    cap = 0.9 * limit[secs // 60]
    kw *= np.where(total > cap, cap / np.maximum(total, 1e-9), 1.0)
    when = [t_.strftime("%Y-%m-%d %H:%M:%S.000000") for t_ in (start + timedelta(seconds=int(x)) for x in secs)]
    rows = [(f"CP-{i:03d}", 1, when[k], round(float(kw[i, k]) * 1000.0)) for i in range(chargers)
            for k in range(len(secs))]
    readings = [(m.strftime("%Y-%m-%d %H:%M:%S.000000"), "simulator", float(b), float(p), float(lim))
                for m, b, p, lim in zip(minutes, building, pv, limit, strict=True)]
    with store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO meter_samples (charger_id, connector_id, at, power_w) VALUES (?, ?, ?, ?)",
                             rows)
        conn.exec_driver_sql("INSERT INTO site_readings (at, source, building_kw, pv_kw, site_limit_kw) "
                             "VALUES (?, ?, ?, ?, ?)", readings)
    return len(rows)


def save_plan(store, *, start=None, totals=((10, 20, 30, 40), (1, 2, 3, 4))):
    start = start or T(17, 45)
    problem = {"start": start.isoformat(), "slot_minutes": 15, "slots": 4, "site_limit_kw": 300.0,
               "price_per_kwh": [0.1, 0.2, 0.3, 0.4], "vehicles": []}
    plan = {"status": "optimal", "vehicles": [{"id": f"V{i}", "power_kw": list(p)} for i, p in enumerate(totals)]}
    return store.save_plan(created_at=start, reason="test", status="optimal", problem=problem, plan=plan)


def size(value) -> int:
    """Bytes of a value as Dash sends it."""
    value = value.to_plotly_json() if hasattr(value, "to_plotly_json") else value
    return len(json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder))


def text(node) -> str:
    return " ".join(n for n in walk(node) if isinstance(n, str))


def find(node, id_):
    return next(n for n in walk(node) if isinstance(n, dict) and n["props"].get("id") == id_)["props"]


# ---------------------------------------------------------------- grouping


def test_few_chargers_are_drawn_one_by_one_and_site_meters_not_at_all():
    g = pdata.group_chargers([charger("CP-2"), charger("CP-1"), charger("M", meter=True)])
    assert g.by == "charger" and g.labels == ("CP-1", "CP-2") and set(g.of) == {"CP-1", "CP-2"}


def test_many_chargers_are_grouped_by_lane_else_by_current_type():
    lanes = [charger(f"C{i:02d}", bay=f"{'AB'[i % 2]}{i:02d}") for i in range(24)] + [charger("X")]
    g = pdata.group_chargers(lanes)
    assert g.by == "lane" and g.labels == ("Lane A", "Lane B", "Unplaced") and g.sizes == (12, 12, 1)
    one_lane = [charger(f"C{i:02d}", bay=f"A{i:02d}", dc=i < 5) for i in range(30)]
    g = pdata.group_chargers(one_lane)
    assert g.by == "type" and g.labels == ("AC chargers", "DC chargers") and g.sizes == (25, 5)
    assert pdata.group_chargers(one_lane, "charger").by == "charger"  # asked for, and 30 is not too many
    unplaced = [charger(f"D{i:02d}") for i in range(41)]  # too many to draw one by one, and all in no lane
    assert pdata.group_chargers(unplaced, "charger").by == "type"
    with pytest.raises(ValueError):
        pdata.group_chargers(one_lane, "colour")


# ---------------------------------------------------------------- data functions on a seeded store


def test_power_history_sums_connectors_bridges_short_gaps_and_ignores_meters(store):
    hand_made(store)
    g = pdata.group_chargers(store.list_chargers())
    h = pdata.power_history(store, g, since=T(17, 50), until=NOW, bucket_s=120, fill_s=120)
    assert h.labels == ("CP-1", "CP-2") and h.start == T(17, 50) and h.end == NOW and h.buckets == 5
    assert h.power_kw[0].tolist() == pytest.approx([16.0, 13.0, 8.0, 0.0, 0.0])
    assert h.power_kw[1].tolist() == pytest.approx([50.0, 50.0, 50.0, 50.0, 60.0])
    assert h.total_kw.tolist() == pytest.approx([66.0, 63.0, 58.0, 50.0, 60.0])
    assert h.building_kw[0] == pytest.approx(50.0) and h.pv_kw[0] == pytest.approx(6.0)
    assert h.limit_kw[0] == 280.0  # the lowest limit of the bucket
    # a reading counts until it is stale (fill_s: one bucket here), then nothing is known: a gap, not zero
    assert h.building_kw.tolist()[:2] == [50.0, 50.0] and h.building_kw.tolist()[3:] == [30.0, 30.0]
    assert h.limit_kw.tolist()[3:] == [320.0, 320.0] and math.isnan(h.limit_kw[2])
    assert np.isnan(h.building_kw[2]) and np.isnan(h.pv_kw[2:]).all()
    assert not h.empty


def test_power_history_by_lane_and_in_coarser_buckets(store):
    hand_made(store)
    g = pdata.group_chargers(store.list_chargers(), "lane")
    assert g.labels == ("Lane A", "Lane B")
    h = pdata.power_history(store, g, since=T(17, 45), until=NOW, bucket_s=300, fill_s=0)
    # lane A: CP-1 (10+12+8)/3 + 5 = 15 at 17:50, never held (one bucket of samples, fill 0);
    # lane B: CP-2's 15-minute meter is held over the 17:50 bucket that has no sample
    assert h.buckets == 3 and h.start == T(17, 45)
    assert h.power_kw[0].tolist() == pytest.approx([0.0, 15.0, 0.0])
    assert h.power_kw[1].tolist() == pytest.approx([50.0, 50.0, 60.0])


def test_an_empty_depot_has_an_empty_history(store):
    g = pdata.group_chargers(store.list_chargers())
    h = pdata.power_history(store, g, since=NOW - timedelta(hours=24), until=NOW, bucket_s=120)
    assert h.labels == () and h.power_kw.shape == (0, 720) and h.empty and np.isnan(h.limit_kw).all()


def test_live_series_takes_running_sessions_fresh_samples(store):
    hand_made(store)
    g = pdata.group_chargers(store.list_chargers())
    for cid, conn, at, w in [("CP-1", 1, NOW - timedelta(seconds=10), 11_000),
                             ("CP-1", 2, NOW - timedelta(seconds=30), 4_000),
                             ("CP-2", 1, NOW - timedelta(minutes=10), 90_000)]:  # stale
        tx = store.start_transaction(cid, conn, None, started_at=NOW - timedelta(hours=1))
        store.add_meter_samples(cid, conn, [MeterSample(at, power_w=w)], transaction_id=tx.id)
    done = store.start_transaction("CP-2", 1, None, started_at=NOW - timedelta(hours=2))
    store.add_meter_samples("CP-2", 1, [MeterSample(NOW, power_w=70_000)], transaction_id=done.id)
    store.stop_transaction("CP-2", transaction_id=done.id, stopped_at=NOW)
    assert pdata.live_series(store, g, now=NOW, stale_s=120) == pytest.approx((15.0, 0.0))


def test_the_site_limit_without_a_runtime_is_computed_with_the_worst_case_for_a_stale_reading(store, settings):
    hand_made(store)
    settings = replace(settings, site_limit_source="simulator", building_max_kw=150.0)
    limit, source = pdata.site_limit_now(store, settings, None, now=NOW, latest=es.latest_reading(store))
    assert source == "computed" and limit.stale and limit.limit_kw == pytest.approx(400 - 10 - 150)
    assert "building load unknown" in limit.reason and "150 kW" in limit.reason
    fresh = es.SiteReading(NOW - timedelta(seconds=5), "simulator", 100.0, 20.0)
    limit, _ = pdata.site_limit_now(store, settings, None, now=NOW, latest=fresh)
    assert not limit.stale and limit.limit_kw == pytest.approx(390 - 100 + 20) and limit.reason == "measured"
    runtime = SimpleNamespace(enforcer=SimpleNamespace(limit=SiteLimit(123.0, 1.0, 0.0, False, "measured"),
                                                       commanded={("CP-1", 1): 11.0, ("CP-2", 1): 50.0}))
    assert pdata.site_limit_now(store, settings, runtime, now=NOW) == (runtime.enforcer.limit, "enforcer")
    assert pdata.commanded_now(runtime) == (61.0, 2) and pdata.commanded_now(None) == (None, 0)


def test_plan_series_sums_vehicles_and_the_price_band_prefers_the_plans_prices(store):
    assert pdata.plan_series(store.active_plan()) is None
    record = save_plan(store)
    plan = pdata.plan_series(store.active_plan())
    assert plan.plan_id == record.id and plan.start == T(17, 45) and plan.slot_s == 900
    assert plan.total_kw.tolist() == [11, 22, 33, 44] and plan.limit_kw.tolist() == [300.0] * 4
    assert plan.end == T(18, 45)
    band = pdata.price_band(T(17, 30), T(19, 0), plan)
    assert band.start == T(17, 30) and band.slot_s == 900
    assert band.prices.tolist() == pytest.approx([0.34, 0.1, 0.2, 0.3, 0.4, 0.34])  # 16-21 h default: 0.34
    assert band.from_plan.tolist() == [False, True, True, True, True, False]
    assert pdata.price_band(T(17, 30), T(19, 0), None).prices.tolist() == pytest.approx([0.34] * 6)


def test_flagged_chargers_are_the_unhealthy_ones_oldest_first(store):
    es.set_health(store, "CP-1", "ok", now=NOW)
    es.set_health(store, "CP-2", "overdrawing", now=NOW, detail="draws 30 kW over 22 kW")
    es.set_health(store, "CP-3", "rejecting", now=NOW - timedelta(minutes=5), detail="Rejected")
    assert [h.charger_id for h in pdata.flagged_chargers(store)] == ["CP-3", "CP-2"]


# ---------------------------------------------------------------- pure figures and patches


def history(labels=("CP-1", "CP-2"), buckets=5) -> pdata.PowerHistory:
    n = len(labels)
    power = np.arange(n * buckets, dtype=float).reshape(n, buckets)
    nan = np.full(buckets, np.nan)
    return pdata.PowerHistory(T(17, 50), 120, tuple(labels), power, np.full(buckets, 40.0), nan, np.full(buckets, 300.0))


def point(n=2, **kw) -> pdata.LivePoint:
    values = {"at": NOW, "series_kw": tuple(float(i + 1) for i in range(n)), "building_kw": 42.0, "pv_kw": None,
              "reading_at": NOW, "limit": SiteLimit(250.0, 42.0, 0.0, False, "measured"), "limit_source": "enforcer",
              "commanded_kw": 20.0, "commanded_n": 2}
    return pdata.LivePoint(**{**values, **kw})


def test_figure_has_stacked_series_limit_building_pv_plan_and_price(store):
    record_plan = pdata.plan_series(save_plan(store))
    band = pdata.price_band(T(17, 50), NOW + timedelta(hours=24), record_plan)
    fig = figs.power_figure(history(), now=NOW, until=NOW + timedelta(hours=24), point=point(),
                            plan=record_plan, prices=band)
    tr = figs.Traces(2)
    names = [t.name for t in fig.data]
    assert names == ["CP-1", "CP-2", "CP-1", "CP-2", "building load", "building load", "PV", "PV", "site limit",
                     "site limit", "plan: expected total", "site limit (planned)", "price"]
    hist, tail = fig.data[tr.hist(1)], fig.data[tr.tail(1)]
    assert hist.stackgroup == "power" and tail.stackgroup == "live"  # two stacks: nothing interpolated
    assert hist.x0 == "2026-11-21 17:51:00" and hist.dx == 120_000 and list(hist.y) == [5, 6, 7, 8, 9]
    assert list(tail.x) == ["2026-11-21 18:00:00"] and list(tail.y) == [2.0] and tail.showlegend is False
    assert list(fig.data[tr.pv].y) == [None] * 5  # unknown is a gap
    assert list(fig.data[tr.limit].y) == [300.0] * 5 and list(fig.data[tr.limit + 1].y) == [250.0]
    assert list(fig.data[tr.plan].y) == [11, 22, 33, 44, 44] and fig.data[tr.plan].x[0] == "2026-11-21 17:45:00"
    price = fig.data[tr.price]
    assert price.type == "heatmap" and price.xaxis == "x2" and len(price.z[0]) == len(band.prices)
    assert fig.layout.shapes[0].x0 == "2026-11-21 18:00:00" and fig.layout.annotations[0].text == "now"
    assert list(fig.layout.xaxis.range) == ["2026-11-21 17:50:00", "2026-11-22 18:00:00"]


def test_figure_of_an_empty_depot_without_plan_or_point():
    empty = pdata.PowerHistory(T(17, 50), 120, (), np.zeros((0, 5)), *(np.full(5, np.nan) for _ in range(3)))
    fig = figs.power_figure(empty, now=NOW, until=NOW + timedelta(hours=24))
    assert [t.name for t in fig.data] == ["building load", "building load", "PV", "PV", "site limit", "site limit",
                                          "plan: expected total", "site limit (planned)", "price"]
    assert list(fig.data[-3].x) == [] and fig.to_plotly_json()  # serialisable


def test_live_patch_appends_to_the_tails_and_moves_now():
    later = point(at=NOW + timedelta(seconds=2), building_kw=None)
    ops = figs.live_patch(2, later).to_plotly_json()["operations"]
    tails = {(op["location"][1], op["location"][2]): op for op in ops if op["location"][0] == "data"}
    assert {k[0] for k in tails} == {2, 3, 5, 7, 9}  # the tails only
    assert all(op["operation"] == "Append" for op in tails.values())
    assert tails[(3, "y")]["params"]["value"] == 2.0 and tails[(5, "y")]["params"]["value"] is None
    assert tails[(2, "x")]["params"]["value"] == "2026-11-21 18:00:02"
    moved = [op for op in ops if op["location"][0] == "layout"]
    assert {tuple(op["location"]) for op in moved} == {("layout", "shapes", 0, "x0"), ("layout", "shapes", 0, "x1"),
                                                       ("layout", "annotations", 0, "x")}


def test_live_patch_extends_histories_when_a_bucket_completes_and_replaces_a_new_plan(store):
    done = history(buckets=1)
    plan = pdata.plan_series(save_plan(store))
    band = pdata.price_band(T(17, 50), NOW + timedelta(hours=24), plan)
    ops = figs.live_patch(2, point(), appended=done, plan=plan, prices=band).to_plotly_json()["operations"]
    by = {tuple(op["location"]): op for op in ops}
    assert by[("data", 0, "y")] == {"operation": "Extend", "location": ["data", 0, "y"], "params": {"value": [0.0]}}
    assert by[("data", 4, "y")]["params"]["value"] == [40.0]  # building history
    assert by[("data", 2, "x")]["operation"] == "Assign"  # the tail restarts at the live point
    assert by[("data", 10, "y")]["params"]["value"] == [11, 22, 33, 44, 44]
    assert len(by[("data", 12, "z")]["params"]["value"][0]) == len(band.prices)
    cleared = figs.live_patch(2, None, plan=None).to_plotly_json()["operations"]  # a new plan, the clock stood
    assert {"operation": "Assign", "location": ["data", 10, "x"], "params": {"value": []}} in cleared
    assert {op["location"][1] for op in cleared} == {10, 11}  # nothing else


# ---------------------------------------------------------------- callbacks as plain functions


@pytest.fixture
def clock(configured_app, store, settings):
    """A clock the test moves: [now]."""
    now = [NOW]
    depot_app.configure(Services(settings, store, lambda: now[0]))
    with configured_app.server.test_request_context():
        yield now


def first_view(layout) -> dict:
    return find(layout, page.VIEW)["data"]


def test_layout_shows_the_chart_kpis_and_the_flagged_charger(clock, store):
    hand_made(store)
    es.set_health(store, "CP-1", "rejecting", now=NOW - timedelta(minutes=3), detail="SetChargingProfile Rejected")
    es.add_reading(store, es.SiteReading(NOW - timedelta(seconds=4), "simulator", 70.0, 12.0, 330.0, 20.0))
    layout = page.layout()
    fig = find(layout, page.GRAPH)["figure"]
    assert [t.name for t in fig.data][:2] == ["CP-1", "CP-2"]
    panel = text(find(layout, page.PANEL)["children"])
    assert "CP-1" in panel and "rejecting" in panel and "SetChargingProfile Rejected" in panel
    assert "17:57:00 UTC (3 min ago)" in panel and "A01" in panel
    assert find(layout, page.BUILDING)["children"] == "70.0 kW" and find(layout, page.PV)["children"] == "12.0 kW"
    assert find(layout, page.COMMANDED_SUB)["children"] == "no enforcement service runs in this web process"
    assert "No plan yet" in text(find(layout, page.NOTES)["children"])
    view = first_view(layout)
    assert view["series"].startswith("2:") and view["hist_end"] == NOW.isoformat() and view["plan_id"] is None


def test_a_tick_patches_and_a_view_change_rebuilds(clock, store):
    hand_made(store)
    view = first_view(page.layout())
    same = page.refresh(1, "24h", "auto", view)
    assert same["figure"] is no_update  # the clock did not move: nothing to append
    assert same["flagged"] is no_update and same["limit"] is no_update  # the health panel did not change
    clock[0] = NOW + timedelta(seconds=2)
    out = page.refresh(2, "24h", "auto", view)
    assert isinstance(out["figure"], Patch) and out["view"]["tail_at"] == clock[0].isoformat()
    clock[0] = NOW + timedelta(minutes=2, seconds=1)
    out = page.refresh(3, "24h", "auto", out["view"])
    ops = out["figure"].to_plotly_json()["operations"]
    assert {"operation": "Extend", "location": ["data", 1, "y"], "params": {"value": [99.0]}} in ops  # CP-2 at 18:00
    assert out["view"]["hist_end"] == (NOW + timedelta(minutes=2)).isoformat()
    es.set_health(store, "CP-2", "overdrawing", now=clock[0], detail="draws 80 kW, limit 60 kW")
    flagged = page.refresh(4, "24h", "auto", out["view"])
    assert "CP-2" in text(flagged["flagged"]) and flagged["limit"] is no_update
    week = page.refresh(4, "7d", "auto", out["view"])
    assert not isinstance(week["figure"], Patch) and week["view"]["bucket_s"] == 900
    assert week["figure"].data[0].dx == 900_000
    lanes = page.refresh(5, "7d", "lane", week["view"])
    assert [t.name for t in lanes["figure"].data][:2] == ["Lane A", "Lane B"]


def test_a_new_plan_new_charger_or_an_old_figure_are_picked_up(clock, store):
    hand_made(store)
    view = first_view(page.layout())
    save_plan(store, start=NOW)
    clock[0] = NOW + timedelta(seconds=2)
    out = page.refresh(1, "24h", "auto", view)
    ops = out["figure"].to_plotly_json()["operations"]
    assert any(op["location"] == ["data", 10, "y"] and op["params"]["value"][0] == 11 for op in ops)
    assert out["view"]["plan_id"] is not None and "No plan yet" not in text(out["notes"])
    store.add_charger(charger("CP-3"))
    out = page.refresh(2, "24h", "auto", out["view"])
    assert out["view"]["series"].startswith("3:") and not isinstance(out["figure"], Patch)
    assert [t.name for t in out["figure"].data][:3] == ["CP-1", "CP-2", "CP-3"]
    store.update_charger("CP-3", bay="B07")  # still drawn as its own series: nothing to rebuild
    assert page.refresh(3, "24h", "auto", out["view"])["figure"] is no_update
    clock[0] = NOW + timedelta(hours=1, seconds=5)
    out = page.refresh(3, "24h", "auto", out["view"])
    assert not isinstance(out["figure"], Patch) and out["view"]["built"] == clock[0].isoformat()


def test_kpis_headroom_and_commanded_from_the_runtime(clock, store, settings):
    runtime = SimpleNamespace(enforcer=SimpleNamespace(limit=SiteLimit(20.0, 50.0, 0.0, True,
                                                                       "building load unknown (no reading): assumed its maximum 50 kW"),
                                                       commanded={("CP-1", 1): 22.0}))
    depot_app.configure(Services(settings, store, lambda: clock[0], runtime))
    hand_made(store)
    tx = store.start_transaction("CP-1", 1, None, started_at=NOW - timedelta(hours=1))
    store.add_meter_samples("CP-1", 1, [MeterSample(NOW, power_w=25_000)], transaction_id=tx.id)
    layout = page.layout()
    assert find(layout, page.CHARGING)["children"] == "25.0 kW"
    assert find(layout, page.CHARGING_SUB)["children"] == "of 20.0 kW site limit (125 %)"
    assert find(layout, page.HEADROOM)["children"] == "-5.0 kW"
    assert "tone-bad" in find(layout, page.HEADROOM_CARD)["className"]
    assert find(layout, page.COMMANDED)["children"] == "22.0 kW"
    assert find(layout, page.COMMANDED_SUB)["children"] == "1 charging profile accepted"
    panel = text(find(layout, page.PANEL)["children"])
    assert "assumed its maximum 50 kW" in panel and "All chargers obey" in panel


def test_an_empty_depot_says_so(clock):
    layout = page.layout()
    notes = text(find(layout, page.NOTES)["children"])
    assert "No power data yet" in notes and "No plan yet" in notes
    assert find(layout, page.CHARGING)["children"] == "0.0 kW"


def test_a_database_error_is_a_message_and_the_chart_stays(clock, store, monkeypatch):
    hand_made(store)
    view = first_view(page.layout())

    def broken(*_a, **_k):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(store, "list_chargers", broken)
    clock[0] = NOW + timedelta(seconds=2)
    out = page.refresh(1, "24h", "auto", view)
    assert out["figure"] is no_update and "database cannot be read" in text(out["notes"])
    assert out["view"]["error"] is True
    layout = page.layout()
    assert "database is locked" in text(find(layout, page.NOTES)["children"])
    monkeypatch.undo()
    clock[0] = NOW + timedelta(seconds=4)
    out = page.refresh(2, "24h", "auto", out["view"])
    assert isinstance(out["figure"], Patch) and "database" not in text(out["notes"])


def test_a_bad_stored_plan_is_a_message_not_a_broken_page(clock, store, monkeypatch, caplog):
    hand_made(store)

    def bad(_record):
        raise KeyError("slots")

    monkeypatch.setattr(pdata, "plan_series", bad)
    layout = page.layout()
    assert "The power data could not be drawn" in text(find(layout, page.NOTES)["children"])
    assert find(layout, page.VIEW)["data"] is None  # the next tick builds the chart again
    assert "could not draw the power data" in caplog.text
    monkeypatch.undo()
    out = page.refresh(1, "24h", "auto", None)
    assert out["figure"].data[0].name == "CP-1" and "could not be drawn" not in text(out["notes"])


# ---------------------------------------------------------------- 200 chargers, a week


def measure(store, settings, label: str) -> dict:
    svc = Services(settings, store, lambda: NOW)
    numbers = {}
    for window in ("24h", "7d"):
        t0, c0 = time.perf_counter(), time.process_time()
        fig, view, _, _ = page.build(svc, window)
        numbers[f"build {window} s"] = round(time.perf_counter() - t0, 3)
        numbers[f"build {window} cpu s"] = round(time.process_time() - c0, 3)
        numbers[f"figure {window} kB"] = round(size(fig) / 1000, 1)
    moved = Services(settings, store, lambda: NOW + timedelta(seconds=2))
    t0 = time.perf_counter()
    out = page.tick(moved, view)
    numbers["tick s"] = round(time.perf_counter() - t0, 3)
    numbers["live patch bytes"] = size(out["figure"])
    numbers["live update bytes"] = size({"figure": out["figure"], "view": out["view"],
                                         **page.kpi_texts(out["point"], NOW)})
    bucket = Services(settings, store, lambda: NOW + timedelta(minutes=15, seconds=1))
    numbers["bucket-completing patch bytes"] = size(page.tick(bucket, {**view, "tail_at": NOW.isoformat()})["figure"])
    print(f"\n{label}: {view['series']} {numbers}")
    return numbers


def test_200_chargers_a_week_of_15_minute_samples_build_fast_and_update_small(store, settings):
    samples = bulk_week(store, step_s=900)
    assert samples == 200 * 7 * 96
    n = measure(store, settings, f"200 chargers × 7 d × 15-min ({samples} samples)")
    assert n["build 24h cpu s"] < 2.0 and n["build 7d cpu s"] < 2.0
    assert n["figure 24h kB"] < 200 and n["figure 7d kB"] < 200
    assert n["live update bytes"] < 5000 and n["bucket-completing patch bytes"] < 6000


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("POWER_BENCH"), reason="set POWER_BENCH=1: 2 million samples")
def test_200_chargers_a_week_of_1_minute_samples(store, settings):
    samples = bulk_week(store, step_s=60)
    n = measure(store, settings, f"200 chargers × 7 d × 1-min ({samples} samples)")
    assert n["build 7d cpu s"] < 5.0
