"""The floor plan: pure layout and formatting, then the page's callbacks called as plain functions."""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import plotly.utils
import pytest
from dash import html, no_update

from depot.model import (
    Capabilities,
    Charger,
    ChargerView,
    ConnectorStatus,
    ConnectorView,
    CurrentType,
    EventRecord,
    MeterSample,
    Protocol,
    SiteSummary,
    Vehicle,
)
from depot.store import Store
from depot.web.context import EXTENSION
from depot.web.floorplan import (
    MAX_GAP_FILL,
    EmptyBay,
    build_lanes,
    floor_model,
    make_header,
    paint_data,
    structure_key,
)
from depot.web.floorplan_bays import UNPLACED, BayPos, natural_key, parse_bay
from depot.web.floorplan_detail import detail_model, error_text, message_row
from depot.web.floorplan_text import (
    fmt_age,
    fmt_kw,
    fmt_kwh,
    fmt_max_kw,
    fmt_soc,
    fmt_time,
    short_payload,
    status_slug,
)
from depot.web.floorplan_tiles import Tile, make_tile, matches
from layouts import _floor as ui
from layouts import floorplan as page
from tests.conftest import NOW

S = ConnectorStatus

# ---------------------------------------------------------------- helpers


def view(cid="CP-001", bay="A01", statuses=(S.AVAILABLE,), *, online=True, dc=False, max_kw=22.0, last_seen=NOW,
         sessions=None, commissioned=True) -> ChargerView:
    """A charger view; `sessions` maps connector id -> (vehicle name, kW, SoC, kWh)."""
    sessions = sessions or {}
    conns = []
    for n, st in enumerate(statuses, start=1):
        s = sessions.get(n)
        conns.append(ConnectorView(n, st, error_code="GroundFailure" if st == S.FAULTED else None,
                                   vehicle_id=f"V-{cid}" if s else None, vehicle_name=s[0] if s else None,
                                   power_kw=s[1] if s else None, soc=s[2] if s else None,
                                   session_kwh=s[3] if s else None, transaction_id=n if s else None))
    ch = Charger(cid, max_kw, CurrentType.DC if dc else CurrentType.AC, bay=bay, last_seen=last_seen,
                 commissioned=commissioned, protocol=Protocol.OCPP16)
    return ChargerView(ch, online, tuple(conns))


def texts(component) -> list[str]:
    """Every string in a component tree (children and titles)."""
    out = []
    if isinstance(component, str | int | float):
        return [str(component)]
    if isinstance(component, list | tuple):
        for c in component:
            out += texts(c)
        return out
    if component is None or component is no_update:
        return out
    for prop in ("children", "title"):
        value = getattr(component, prop, None)
        if value is not None:
            out += texts(value)
    return out


def find(component, pred) -> list:
    """Components of a tree for which pred(component) holds."""
    found = []
    if isinstance(component, list | tuple):
        for c in component:
            found += find(c, pred)
        return found
    if not hasattr(component, "to_plotly_json"):
        return found
    if pred(component):
        found.append(component)
    found += find(getattr(component, "children", None), pred)
    return found


def bay_ids(component) -> list[str]:
    return [c.id["id"] for c in find(component, lambda c: isinstance(getattr(c, "id", None), dict)
                                     and c.id.get("type") == ui.BAY)]


STATUS_MIX = ([S.CHARGING] * 35 + [S.AVAILABLE] * 30 + [S.PREPARING] * 5 + [S.SUSPENDED_EV] * 8
              + [S.SUSPENDED_EVSE] * 4 + [S.FINISHING] * 4 + [S.FAULTED] * 3 + [S.UNAVAILABLE] * 2 + ["offline"] * 5)
FAULT_CODES = ("GroundFailure", "OverCurrentFailure", "ConnectorLockFailure", "HighTemperature")


def seed_depot(store: Store, n: int = 200, *, now: datetime = NOW, seed: int = 7, unplaced: int = 2,
               lane_size: int = 25, grid_kw: float | None = None) -> list[str]:
    """A depot of `n` chargers in lanes of `lane_size` (the last `unplaced` without a bay), a realistic mix of
    statuses, sessions with meter values and a raw message log. Returns the charger ids."""
    rnd = random.Random(seed)
    ids = []
    total_kw = 0.0
    for i in range(n):
        cid = f"CP-{i + 1:03d}"
        lane, pos = divmod(i, lane_size)
        placed = i < n - unplaced
        kind = rnd.random()
        dc = kind > 0.85
        max_kw = 150.0 if dc and kind > 0.95 else 50.0 if dc else (22.0 if kind > 0.3 else 11.0)
        total_kw += max_kw
        store.add_charger(Charger(cid, max_kw, CurrentType.DC if dc else CurrentType.AC, phases=3,
                                  bay=f"{chr(65 + lane)}{pos + 1:02d}" if placed else None, commissioned=placed),
                          connectors=2 if dc and kind > 0.95 else 1)
        status = rnd.choice(STATUS_MIX)
        booted = now - timedelta(hours=2) if status == "offline" else now - timedelta(seconds=rnd.randint(1, 50))
        store.record_boot(cid, protocol=Protocol.OCPP16 if i % 3 else Protocol.OCPP201, now=booted,
                          vendor="Alfen" if dc else "ABB", model="Eve Double Pro" if not dc else "Terra 54",
                          serial=f"SN{i:05d}", firmware="6.4.1", heartbeat_interval=60)
        store.set_capabilities(cid, Capabilities("A,W" if dc else "A", 24, 3))
        if status == "offline":
            store.set_connector_status(cid, 1, S.AVAILABLE, now=booted)
            ids.append(cid)
            continue
        fault = rnd.choice(FAULT_CODES) if status == S.FAULTED else None
        store.set_connector_status(cid, 1, status, now=now - timedelta(minutes=rnd.randint(1, 90)), error_code=fault)
        store.log_event(EventRecord(booted, cid, "in", "call", "BootNotification",
                                    json.dumps({"chargePointVendor": "ABB", "chargePointModel": "Terra"})))
        store.log_event(EventRecord(booted, cid, "out", "result", "BootNotification",
                                    json.dumps({"status": "Accepted", "interval": 60})))
        store.log_event(EventRecord(now - timedelta(seconds=5), cid, "in", "call", "StatusNotification",
                                    json.dumps({"connectorId": 1, "status": str(status),
                                                "errorCode": fault or "NoError"})))
        if status in (S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.FINISHING):
            vid = f"BUS-{i + 1:03d}"
            store.add_vehicle(Vehicle(vid, f"Bus {i + 1}", 350.0, id_tag=f"TAG{i + 1:04d}"))
            tx = store.start_transaction(cid, 1, f"TAG{i + 1:04d}", started_at=now - timedelta(minutes=rnd.randint(5, 300)),
                                         meter_start_wh=1000.0)
            power = min(max_kw, rnd.uniform(0.6, 1.0) * max_kw) if status == S.CHARGING else 0.0
            store.add_meter_samples(cid, 1, [MeterSample(now - timedelta(seconds=10),
                                                         energy_wh=1000.0 + rnd.uniform(1, 120) * 1000,
                                                         power_w=power * 1000, soc=rnd.uniform(10, 95))],
                                    transaction_id=tx.id)
        ids.append(cid)
    store.set_site("Test depot", grid_kw if grid_kw is not None else round(total_kw * 0.4))
    return ids


@pytest.fixture
def request_ctx(configured_app):
    with configured_app.server.test_request_context("/"):
        yield configured_app


# ---------------------------------------------------------------- bays and lanes


@pytest.mark.parametrize("bay, lane, position", [
    ("A01", "A", 1), ("a2", "A", 2), ("B12", "B", 12), ("P2-07", "P2", 7), ("Bay 3", "BAY", 3),
    ("AA10", "AA", 10), ("  C05 ", "C", 5), ("12", "", 12), ("Wash", "WASH", None),
])
def test_parse_bay(bay, lane, position):
    assert parse_bay(bay) == BayPos(lane, position)


@pytest.mark.parametrize("bay", [None, "", "   "])
def test_no_bay_means_unplaced(bay):
    assert parse_bay(bay) is None
    assert make_tile(view(bay=bay), NOW).lane == UNPLACED


def test_natural_order_of_lanes_and_bays():
    assert sorted(["A10", "A2", "A1"], key=natural_key) == ["A1", "A2", "A10"]
    assert sorted(["AA", "B", "A", "Z"], key=natural_key) == ["A", "B", "Z", "AA"]
    tiles = [make_tile(view(f"X{i}", bay), NOW) for i, bay in enumerate(["B02", "A10", None, "A2", "B01", "AA1"])]
    lanes = build_lanes(tiles, fill_gaps=False)
    assert [ln.name for ln in lanes] == ["A", "B", "AA", UNPLACED]
    assert [s.bay for s in lanes[0].slots] == ["A2", "A10"]
    assert [s.bay for s in lanes[1].slots] == ["B01", "B02"]
    assert lanes[-1].unplaced and lanes[-1].title == "Unplaced"
    assert lanes[0].title == "Lane A"


def test_small_gaps_are_drawn_as_empty_bays_large_ones_are_not():
    tiles = [make_tile(view(f"C{p}", f"A{p:02d}"), NOW) for p in (1, 2, 5)]
    (lane,) = build_lanes(tiles)
    assert [s.name if isinstance(s, EmptyBay) else s.charger_id for s in lane.slots] == ["C1", "C2", "A03", "A04", "C5"]
    far = [make_tile(view(f"C{p}", f"A{p:02d}"), NOW) for p in (1, 2 + MAX_GAP_FILL + 1)]
    (lane,) = build_lanes(far)
    assert all(isinstance(s, Tile) for s in lane.slots)
    (lane,) = build_lanes(tiles, fill_gaps=False)
    assert len(lane.slots) == 3


def test_two_chargers_in_one_bay_both_shown():
    lanes = build_lanes([make_tile(view("CP-2", "A01"), NOW), make_tile(view("CP-1", "A01"), NOW)])
    assert [s.charger_id for s in lanes[0].slots] == ["CP-1", "CP-2"]


def test_two_hundred_chargers_each_drawn_once(store):
    seed_depot(store, 200, unplaced=3)
    views, summary = store.floor_snapshot(NOW)
    model = floor_model(views, summary, NOW)
    drawn = [s.charger_id for ln in model.lanes for s in ln.slots if isinstance(s, Tile)]
    assert sorted(drawn) == sorted(v.charger.id for v in views) and len(drawn) == 200
    assert [ln.name for ln in model.lanes] == ["A", "B", "C", "D", "E", "F", "G", "H", UNPLACED]
    assert model.lanes[-1].chargers == 3
    assert sum(item.count for item in model.legend) == 200
    assert model.header.total == 200 and model.header.online < 200


# ---------------------------------------------------------------- status colours


@pytest.mark.parametrize("statuses, online, expected", [
    ((S.AVAILABLE,), True, S.AVAILABLE),
    ((S.CHARGING, S.FAULTED), True, S.FAULTED),  # a fault anywhere wins
    ((S.AVAILABLE, S.CHARGING), True, S.CHARGING),
    ((S.SUSPENDED_EV, S.SUSPENDED_EVSE), True, S.SUSPENDED_EVSE),  # the charger holding back is more telling
    ((S.AVAILABLE, S.PREPARING), True, S.PREPARING),
    ((S.UNAVAILABLE, S.AVAILABLE), True, S.UNAVAILABLE),
    ((S.CHARGING,), False, S.OFFLINE),  # stale data is never shown as live
    ((S.FAULTED,), False, S.OFFLINE),
    ((), True, S.UNKNOWN),
])
def test_status_colour_precedence(statuses, online, expected):
    tile = make_tile(view(statuses=statuses, online=online), NOW)
    assert tile.status == expected
    assert tile.slug == status_slug(expected)


def test_status_slugs_match_the_css():
    css = open("assets/style.css").read()
    for status in ConnectorStatus:
        assert f"--st-{status_slug(status)}:" in css
        assert f".st-{status_slug(status)} {{" in css
    assert status_slug(S.SUSPENDED_EVSE) == "suspended-evse"


def test_tile_words():
    t = make_tile(view(statuses=(S.CHARGING,), dc=True, max_kw=150, sessions={1: ("Bus 12", 42.06, 63.4, 12.44)}),
                  NOW)
    assert (t.label, t.kind, t.vehicle, t.metrics, t.soc) == ("Charging", "DC 150", "Bus 12", "42.1 kW · 12 kWh", 63.4)
    faulted = make_tile(view(statuses=(S.FAULTED,)), NOW)
    assert (faulted.label, faulted.vehicle, faulted.metrics) == ("Faulted", "GroundFailure", "Bay A01")
    assert "Faulted · GroundFailure" in faulted.title
    off = make_tile(view(online=False, last_seen=NOW - timedelta(minutes=12)), NOW)
    assert off.label == "Offline · 12 min"
    assert make_tile(view(online=False, last_seen=None), NOW).label == "Offline · never seen"
    two = make_tile(view(statuses=(S.CHARGING, S.CHARGING), sessions={1: ("A", 10, 50, 1), 2: ("B", 11, 60, 2)}), NOW)
    assert two.vehicle == "2 vehicles" and two.soc is None and two.metrics == "21.0 kW · 3.0 kWh"
    many = make_tile(view(statuses=(S.CHARGING,), sessions={1: ("Bus 9", 104.2, 50, 128.8)}), NOW)
    assert many.metrics == "104 kW · 129 kWh"  # fits a bay
    assert two.connectors == ((1, "charging"), (2, "charging"))
    assert "connector 2: Charging · B" in two.title
    assert "not commissioned" in make_tile(view(commissioned=False, bay=None), NOW).title


def test_filter_by_words_and_status():
    t = make_tile(view("CP-017", "B04", (S.CHARGING,), sessions={1: ("Bus 12", 10, 50, 1)}), NOW)
    assert matches(t, "", [])
    assert matches(t, "cp-017", None) and matches(t, "bus 12", None) and matches(t, "b04", None)
    assert matches(t, "V-CP-017", None)  # the vehicle id
    assert not matches(t, "bus 13", None)
    assert matches(t, "bus", ["Charging", "Faulted"]) and not matches(t, "", ["Faulted"])


def test_filtered_model_keeps_counts_of_everything():
    views = [view("CP-1", "A01", (S.FAULTED,)), view("CP-2", "A02"), view("CP-3", "B01")]
    summary = SiteSummary(3, 3, 0, 0.0, 100.0)
    model = floor_model(views, summary, NOW, statuses=["Faulted"])
    assert model.filtered and (model.total, model.shown) == (3, 1)
    assert [s.charger_id for ln in model.lanes for s in ln.slots] == ["CP-1"]
    assert {i.label: i.count for i in model.legend}["Available"] == 2
    assert floor_model(views, summary, NOW, query="zzz").lanes == ()


# ---------------------------------------------------------------- header and formatting


@pytest.mark.parametrize("power, grid, level, text", [
    (412.0, 600.0, "ok", "412 / 600 kW"),
    (540.0, 600.0, "ok", "540 / 600 kW"),  # exactly 90 % is not above it
    (541.0, 600.0, "high", "541 / 600 kW"),
    (640.0, 600.0, "over", "640 / 600 kW"),
    (12.0, 0.0, "none", "12 kW"),
])
def test_site_power_against_the_grid_limit(power, grid, level, text):
    h = make_header(SiteSummary(10, 9, 3, power, grid), faulted=1)
    assert (h.level, h.power_text) == (level, text)


def test_formatting():
    assert (fmt_kw(None), fmt_kw(4.04), fmt_kw(42.06), fmt_kw(412.4)) == ("–", "4.0 kW", "42.1 kW", "412 kW")
    assert (fmt_kwh(12.44), fmt_kwh(150.2), fmt_soc(63.5), fmt_soc(None)) == ("12.4 kWh", "150 kWh", "64 %", "–")
    assert (fmt_kwh(12.44, compact=True), fmt_kwh(9.94, compact=True)) == ("12 kWh", "9.9 kWh")
    assert (fmt_max_kw(22.0), fmt_max_kw(11.04), fmt_max_kw(7.4), fmt_max_kw(3.0)) == ("22", "11", "7.4", "3")
    assert fmt_time(NOW.replace(minute=3, second=4), NOW) == "18:03:04 UTC"
    assert fmt_time(NOW - timedelta(days=1), NOW) == "20 Nov 18:00 UTC"
    assert fmt_time(datetime(2025, 3, 1, 7, 5, tzinfo=UTC), NOW) == "2025-03-01 07:05 UTC"
    assert fmt_time(None, NOW) == "never"
    assert [fmt_age(NOW - timedelta(seconds=s), NOW) for s in (0, 45, 200, 7300, 200000)] == [
        "just now", "45 s ago", "3 min ago", "2 h ago", "2 d ago"]
    assert fmt_age(NOW + timedelta(minutes=5), NOW) == "in 5 min"


def test_short_payload():
    assert short_payload('{"a":1,"b":"x"}') == '{"a": 1, "b": "x"}'
    long = json.dumps({"data": "x" * 500})
    assert len(short_payload(long, 40)) == 40 and short_payload(long, 40).endswith("…")
    assert short_payload("not json\n  at all") == "not json at all"


def test_message_rows_and_errors_in_words():
    rec = EventRecord(NOW, "CP-1", "in", "call", "StatusNotification",
                      '{"connectorId":1,"status":"Faulted","errorCode":"GroundFailure","vendorErrorCode":"E42"}')
    row = message_row(rec, NOW)
    assert (row.time, row.arrow, row.action) == ("18:00:00", "←", "StatusNotification")
    out = message_row(EventRecord(NOW, "CP-1", "out", "result", "Heartbeat", "{}"), NOW)
    assert (out.arrow, out.action) == ("→", "Heartbeat result")
    assert error_text(rec, NOW) == "18:00:00 UTC · connector 1 · GroundFailure · vendor E42"
    assert "garbage" in error_text(EventRecord(NOW, "CP-1", "in", "call", "StatusNotification", "garbage"), NOW)


def test_paint_data_and_structure_key():
    views = [view("CP-1", "A01", (S.CHARGING,), sessions={1: ("Bus 1", 10.0, 50.0, 3.0)}), view("CP-2", "A02")]
    summary = SiteSummary(2, 2, 1, 10.0, 100.0)
    model = floor_model(views, summary, NOW)
    data = paint_data(model, NOW)
    assert data["tiles"]["CP-1"][:6] == ["charging", "Charging", "Bus 1", "50%", "10.0 kW · 3.0 kWh", 50.0]
    assert data["header"]["power"] == "10 / 100 kW" and data["header"]["online"] == "2 / 2"
    assert data["legend"]["Charging"] == 1 and data["legend"]["Faulted"] == 0
    assert data["lanes"]["A"] == ("2 chargers · 1 charging · 10.0 kW", "")
    json.dumps(data)  # it goes to the browser as is
    # live values do not change the drawing; a new charger or a filter does
    changed = [view("CP-1", "A01", (S.FAULTED,)), view("CP-2", "A02", online=False)]
    assert structure_key(floor_model(changed, summary, NOW)) == data["key"]
    assert structure_key(floor_model([*views, view("CP-3", "A03")], summary, NOW)) != data["key"]
    assert structure_key(floor_model(views, summary, NOW, query="CP")) != data["key"]


# ---------------------------------------------------------------- callbacks as plain functions


def test_refresh_draws_the_seeded_depot(store, request_ctx):
    seed_depot(store, 30, unplaced=1, lane_size=10)
    data, drawing, key, alert = page.refresh(0, None, [], None, None)
    assert alert is None and key == data["key"]
    words = " ".join(texts(drawing))
    assert bay_ids(drawing) == sorted(bay_ids(drawing), key=lambda c: bay_ids(drawing).index(c))
    assert len(bay_ids(drawing)) == 30
    views, _ = store.floor_snapshot(NOW)
    charging = next(v for v in views if v.status == S.CHARGING)
    conn = charging.connectors[0]
    assert charging.charger.id in words and conn.vehicle_name in words
    assert f"{conn.power_kw:.1f} kW" in words and "Charging" in words and "Lane C" in words and "Unplaced" in words
    faulted = next((v for v in views if v.status == S.FAULTED), None)
    if faulted is not None:
        assert "Faulted" in words and faulted.connectors[0].error_code in words
    assert data["tiles"][charging.charger.id][0] == "charging"
    # same structure next tick: values only, the drawing stays
    data2, drawing2, key2, alert2 = page.refresh(1, None, [], key, None)
    assert drawing2 is no_update and key2 is no_update and alert2 is no_update and data2["tiles"] == data["tiles"]
    assert page.refresh(2, None, [], key, None, ["an old error"])[3] is None  # the error is gone: say so


def test_refresh_follows_a_status_change(store, request_ctx):
    seed_depot(store, 5, unplaced=0, seed=3)
    data, _, key, _ = page.refresh(0, None, [], None, None)
    store.record_boot("CP-002", protocol=Protocol.OCPP16, now=NOW)
    store.set_connector_status("CP-002", 1, S.FAULTED, now=NOW, error_code="HighTemperature")
    data2, drawing, _, _ = page.refresh(1, None, [], key, None)
    assert drawing is no_update
    assert data2["tiles"]["CP-002"][:3] == ["faulted", "Faulted", "HighTemperature"]
    assert data2["header"]["faulted"] != "0"


def test_refresh_with_filter_and_selection(store, request_ctx):
    seed_depot(store, 20, unplaced=0, lane_size=10)
    _, drawing, _, _ = page.refresh(0, "cp-01", [], None, "CP-012")
    ids = bay_ids(drawing)
    assert ids == [f"CP-{i:03d}" for i in range(10, 20)]
    selected = find(drawing, lambda c: "is-selected" in (getattr(c, "className", "") or ""))
    assert [c.id["id"] for c in selected] == ["CP-012"]
    _, nothing, _, _ = page.refresh(0, "no-such-charger", [], None, None)
    assert "No charger matches" in " ".join(texts(nothing))


def test_refresh_empty_depot_explains_how_to_add_chargers(request_ctx):
    data, drawing, _, alert = page.refresh(0, None, [], None, None)
    words = " ".join(texts(drawing))
    assert "No chargers yet" in words and "depot chargers add CP-001 --max-kw 22 --bay A01" in words
    assert "python app.py" in words and alert is None and data["tiles"] == {}


def test_refresh_database_unavailable_is_a_message_not_a_trace(tmp_path, configured_app):
    server = configured_app.server
    working = server.extensions[EXTENSION]
    broken = Store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite3'}")
    server.extensions[EXTENSION] = replace(working, store=broken)  # the database goes away mid-flight
    try:
        with server.test_request_context("/"):
            data, drawing, key, alert = page.refresh(0, None, [], "old", None)
            detail_title, detail_body, _ = page.detail(0, "CP-001", None)
    finally:
        server.extensions[EXTENSION] = working
        broken.dispose()
    assert data is no_update and drawing is no_update and key is no_update
    words = " ".join(texts(alert))
    assert "database cannot be read" in words and "OperationalError" in words
    assert "Traceback" not in words and "retries every 2 s" in words
    assert "database cannot be read" in " ".join(texts(detail_body)) and detail_title == "CP-001"


def test_selection_logic():
    bay = {"type": ui.BAY, "id": "CP-007"}
    assert page.selection(bay, 1, False) == ("CP-007", True, False)
    assert page.selection(bay, None, False) == (no_update,) * 3  # a bay drawn anew, not a click
    assert page.selection(ui.PANEL, False, False) == (None, no_update, True)  # closed: forget, stop refreshing
    assert page.selection(ui.PANEL, True, True) == (no_update, no_update, False)
    assert page.toggled([], "Faulted") == ["Faulted"]
    assert page.toggled(["Faulted"], "Charging") == ["Charging", "Faulted"]
    assert page.toggled(["Charging", "Faulted"], "Faulted") == ["Charging"]


def test_select_callback_in_a_callback_context():
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    token = context_value.set(AttributeDict(triggered_inputs=[
        {"prop_id": json.dumps({"id": "CP-004", "type": ui.BAY}, separators=(",", ":")) + ".n_clicks", "value": 2}]))
    try:
        assert page.select([None, 2], False) == ("CP-004", True, False)
    finally:
        context_value.reset(token)


def test_detail_panel(store, request_ctx):
    seed_depot(store, 10, unplaced=0, seed=11)
    views, _ = store.floor_snapshot(NOW)
    charging = next(v for v in views if v.status == S.CHARGING)
    cid = charging.charger.id
    store.set_connector_status(cid, 1, S.FAULTED, now=NOW, error_code="OverCurrentFailure", vendor_error_code="E7")
    store.log_event(EventRecord(NOW, cid, "in", "call", "StatusNotification",
                                '{"connectorId":1,"status":"Faulted","errorCode":"OverCurrentFailure"}'))
    title, body, key = page.detail(0, cid, None)
    words = " ".join(texts(title) + texts(body))
    assert cid in words and "Faulted · OverCurrentFailure" in words
    assert charging.connectors[0].vehicle_name in words and "TAG" in words  # the session: vehicle and id tag
    assert "OverCurrentFailure · vendor E7" in words  # the connector's error
    assert "18:00:00 UTC · connector 1 · OverCurrentFailure" in words  # last errors
    assert "ABB" in words and "OCPP" in words and "limits in" in words  # identity and smart charging
    assert "←" in words and "→" in words and "StatusNotification" in words  # the raw log
    msgs = find(body, lambda c: "fp-msg " in (getattr(c, "className", "") or ""))
    assert "StatusNotification" in texts(msgs[0])  # newest first
    # nothing changed: nothing redrawn; an unknown charger: said so
    assert page.detail(1, cid, key) == (no_update, no_update, no_update)
    assert "no longer known" in " ".join(texts(page.detail(0, "CP-999", None)[1]))


def test_detail_model_without_a_session(store):
    store.add_charger(Charger("NEW-1", 22.0, bay=None, commissioned=False))
    m = detail_model(store.charger_detail("NEW-1", NOW), NOW)
    assert m.sessions == () and m.messages == () and dict(m.identity)["Bay"] == "unplaced"
    assert dict(m.identity)["Protocol"] == "not booted yet" and m.label == "Offline · never seen"


def test_refresh_is_fast_with_200_chargers(store, request_ctx):
    """Store read + model + drawing + JSON for 200 chargers; the number goes in the report."""
    seed_depot(store, 200)
    page.refresh(0, None, [], None, None)  # warm up
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        data, drawing, key, _ = page.refresh(0, None, [], None, None)
        full = json.dumps([data, drawing], cls=plotly.utils.PlotlyJSONEncoder)
        t1 = time.perf_counter()
        tick = page.refresh(1, None, [], key, None)
        values = json.dumps(tick[0], cls=plotly.utils.PlotlyJSONEncoder)
        t2 = time.perf_counter()
        runs.append((t1 - t0, t2 - t1))
    first = min(r[0] for r in runs) * 1000
    steady = min(r[1] for r in runs) * 1000
    print(f"\n200 chargers: first draw {first:.1f} ms ({len(full) / 1024:.0f} KiB), "
          f"refresh tick {steady:.1f} ms ({len(values) / 1024:.0f} KiB)")
    assert steady < 150 and first < 400
    assert isinstance(drawing, list) and isinstance(drawing[0], html.Div)
