import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from depot.control.replan import snapshot
from depot.control.sitelimit import Reading, building_forecast, demo_building, parse_http_reading, site_limit
from depot.errors import ValidationError
from depot.model import Charger, ConnectorStatus, MeterSample, Protocol, Vehicle
from depot.settings import Settings
from depot.store import enforcement as es

NOW = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
STALE = timedelta(seconds=120)


def test_measured_building_and_pv():
    lim = site_limit(500, 20, Reading(NOW, 120.0, 30.0), now=NOW, stale_after=STALE, building_max_kw=250)
    assert (lim.limit_kw, lim.stale) == (390.0, False)
    sunny = site_limit(500, 20, Reading(NOW, 10.0, 90.0), now=NOW, stale_after=STALE, building_max_kw=250)
    assert sunny.limit_kw == 480.0  # PV never lifts the limit above the connection itself


def test_missing_or_stale_building_is_the_worst_case_never_zero():
    for reading in (None, Reading(NOW - timedelta(minutes=5), 10.0), Reading(NOW, None)):
        lim = site_limit(500, 20, reading, now=NOW, stale_after=STALE, building_max_kw=250)
        assert lim.limit_kw == 230.0 and lim.stale and "assumed its maximum 250" in lim.reason
    assert site_limit(500, 20, None, now=NOW, stale_after=STALE, building_max_kw=250, has_source=False).limit_kw == 480


def test_http_reading_parse_errors_name_the_field():
    r = parse_http_reading({"building_kw": "42.5", "pv_kw": 3, "at": "2026-11-20T21:59:00Z"}, now=NOW)
    assert (r.building_kw, r.pv_kw, r.at) == (42.5, 3.0, datetime(2026, 11, 20, 21, 59, tzinfo=UTC))
    for body, field in (([], "body"), ({}, "building_kw"), ({"building_kw": 1, "pv_kw": "x"}, "pv_kw"),
                        ({"building_kw": 1, "at": "2026-11-20 21:00"}, "at"), ({"building_kw": -1}, "building_kw")):
        with pytest.raises(ValidationError) as info:
            parse_http_reading(body, now=NOW)
        assert info.value.field == field


def test_demo_building_has_a_working_day_and_midday_sun():
    night, noon = demo_building(NOW.replace(hour=2)), demo_building(NOW.replace(hour=12))
    assert night.pv_kw == 0 and noon.pv_kw > 50 and noon.building_kw > night.building_kw


def test_forecast_per_slot():
    kw = dict(start=NOW, slots=4, slot_minutes=15, now=NOW, stale_after=STALE, building_max_kw=99.0)
    assert building_forecast("", None, **kw) is None
    assert building_forecast("meter", None, **kw) == (99.0,) * 4
    assert building_forecast("meter", Reading(NOW, 40.0, 10.0), **kw) == (30.0,) * 4
    assert len(building_forecast("simulator", None, **kw)) == 4


def test_untrusted_chargers_are_planned_around_not_steered(store):
    settings = Settings(database_url=store.url, simulator=False)
    store.set_site("Depot", 100.0)
    for cid in ("GOOD", "BAD"):
        store.add_charger(Charger(cid, 22.0))
        store.record_boot(cid, protocol=Protocol.OCPP16, now=NOW)
        store.set_connector_status(cid, 1, ConnectorStatus.CHARGING, now=NOW)
        store.add_vehicle(Vehicle(f"V-{cid}", cid, 80.0, id_tag=f"T-{cid}"))
        tx = store.start_transaction(cid, 1, f"T-{cid}", started_at=NOW)
        store.add_meter_samples(cid, 1, [MeterSample(NOW, 0.0, 18_000.0)], transaction_id=tx.id)
    es.set_health(store, "BAD", "overdrawing", now=NOW, detail="draws 18 kW above 7 kW")
    snap = snapshot(store, settings, NOW)
    assert [s.charger.id for s in snap.sessions] == ["GOOD"]
    assert snap.building_kw == (18.0,) * 96  # its draw is a load the plan keeps room for


def _enforcer(store, **settings):
    from depot.control.enforcement import Enforcer
    from depot.runtime import Runtime

    return Enforcer(Runtime(Settings(database_url=store.url, simulator=False, **settings), store, clock=lambda: NOW))


def test_meter_source_reads_the_site_meters_power(store):
    store.set_site("Depot", 400.0)
    store.add_charger(Charger("METER", 1.0, site_meter=True))
    enforcer = _enforcer(store, site_limit_source="meter")
    assert asyncio.run(enforcer.site.read(NOW)) is None  # no reading yet: the worst case, not zero
    store.add_meter_samples("METER", 0, [MeterSample(NOW - timedelta(seconds=5), power_w=120_000.0)])
    reading = asyncio.run(enforcer.site.read(NOW))
    assert reading.building_kw == 120.0
    asyncio.run(enforcer.poll_site())
    assert enforcer.limit.limit_kw == 280.0 and not enforcer.limit.stale
    assert es.latest_reading(store).building_kw == 120.0


def test_http_source_polls_a_json_endpoint_and_a_dead_one_is_the_worst_case(store):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Meter(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            body = json.dumps({"building_kw": 75.5, "pv_kw": 20.0}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Meter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    store.set_site("Depot", 400.0, 10.0)
    try:
        enforcer = _enforcer(store, site_limit_source=f"http://127.0.0.1:{server.server_port}/building")
        asyncio.run(enforcer.poll_site())
        assert enforcer.limit.limit_kw == pytest.approx(400 - 10 - 75.5 + 20)
    finally:
        server.shutdown()
        server.server_close()
    dead = _enforcer(store, site_limit_source=f"http://127.0.0.1:{server.server_port}/building", building_max_kw=150.0)
    assert asyncio.run(dead.site.read(NOW)) is None
    # the last good reading ages out: then the building is assumed at its maximum, never zero
    later = dead.current_limit(NOW + timedelta(minutes=10))
    assert later.stale and later.limit_kw == 400 - 10 - 150
