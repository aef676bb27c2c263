"""A night at a depot where every cause of a missed departure happens once, for the plan-versus-actual tests.

Departures of Sunday 2026-11-22 (UTC), all at 05:30 unless noted; the plan of Saturday 17:00 (plan P1)
knew them all, one vehicle's need was raised at 04:10 (plan P2). Chargers heartbeat every 30 min.

    BUS-01  ready            60 kWh, charged 18:00-21:00 at 20 kW
    BUS-02  arrived late     expected 18:00, plugged in 02:00
    BUS-03  plugged in late  its id tag was seen at 18:05 on CP-03, plugged in 03:00
    BUS-04  charger faulted  CP-04 Faulted (GroundFailure) 19:00-05:00
    BUS-05  charger offline  CP-05 silent 19:00-04:00
    BUS-06  site limit       departs 02:00; planned 100 kW 22:00-00:30, the limit fell to 40 kW 22:00-02:00
                             (building load 360 kW)
    BUS-07  need changed     80 kWh in P1, raised to 140 kWh at 04:10 (P2)
    BUS-08  took less        commanded 25 kW 18:00-22:00, drew 8 kW
    BUS-09  impossible       expected 02:30 with 140 kWh on a 22 kW charger
    BUS-10  still to come    departs 14:00 (the audit runs at 12:00)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from depot.model import Charger, CurrentType, EventRecord, MeterSample, Protocol, Vehicle
from depot.planning.departures import Departure
from depot.store import enforcement as es

DAY = date(2026, 11, 22)
SAT = datetime(2026, 11, 21, tzinfo=UTC)
SUN = datetime(2026, 11, 22, tzinfo=UTC)
AUDIT_NOW = SUN + timedelta(hours=12)
P1_AT = SAT + timedelta(hours=17)
P2_AT = SUN + timedelta(hours=4, minutes=10)
GRID_KW = 400.0
SLOT = timedelta(minutes=15)


def sat(h: float) -> datetime:
    return SAT + timedelta(hours=h)


def sun(h: float) -> datetime:
    return SUN + timedelta(hours=h)


DEPART = sun(5.5)
EXPECTED = {  # vehicle: (charger, kind, max kW, arrival, departure, energy, P1 power segments (from, to, kW))
    "BUS-01": ("CP-01", "AC", 50.0, sat(18), DEPART, 60.0, [(sat(18), sat(21), 20.0)]),
    "BUS-02": ("CP-02", "AC", 50.0, sat(18), DEPART, 100.0, [(sat(18), sat(22), 25.0)]),
    "BUS-03": ("CP-03", "AC", 50.0, sat(18), DEPART, 100.0, [(sat(18), sat(22), 25.0)]),
    "BUS-04": ("CP-04", "AC", 50.0, sat(18), DEPART, 100.0, [(sat(18), sat(22), 25.0)]),
    "BUS-05": ("CP-05", "AC", 50.0, sat(18), DEPART, 100.0, [(sat(18), sat(22), 25.0)]),
    "BUS-06": ("CP-06", "DC", 150.0, sat(18), sun(2), 250.0, [(sat(22), sun(0.5), 100.0)]),
    "BUS-07": ("CP-07", "AC", 50.0, sat(18), DEPART, 80.0, [(sat(18), sat(22), 20.0)]),
    "BUS-08": ("CP-08", "AC", 50.0, sat(18), DEPART, 100.0, [(sat(18), sat(22), 25.0)]),
    "BUS-09": ("CP-09", "AC", 22.0, sun(2.5), DEPART, 140.0, [(sun(2.5), sun(5.5), 22.0)]),
    "BUS-10": ("CP-10", "AC", 50.0, sun(9), sun(14), 40.0, []),
}
ACTUAL = {  # vehicle: (plugged in, unplugged, drawn segments (from, to, kW))
    "BUS-01": (sat(18), DEPART, [(sat(18), sat(21), 20.0)]),
    "BUS-02": (sun(2), DEPART, [(sun(2), DEPART, 20.0)]),
    "BUS-03": (sun(3), DEPART, [(sun(3), DEPART, 20.0)]),
    "BUS-04": (sat(18), DEPART, [(sat(18), sat(19), 25.0), (sun(5), DEPART, 25.0)]),
    "BUS-05": (sat(18), DEPART, [(sat(18), sat(19), 25.0), (sun(4), DEPART, 25.0)]),
    "BUS-06": (sat(18), sun(2), [(sat(22), sun(2), 40.0)]),
    "BUS-07": (sat(18), DEPART, [(sat(18), sat(22), 20.0), (P2_AT, DEPART, 20.0)]),
    "BUS-08": (sat(18), DEPART, [(sat(18), sat(22), 8.0)]),
    "BUS-09": (sun(2.5), DEPART, [(sun(2.5), DEPART, 22.0)]),
}


def _power_at(segments, t: datetime) -> float:
    return next((kw for a, b, kw in segments if a <= t < b), 0.0)


def _slots(segments, start: datetime, n: int = 96) -> list[float]:
    return [_power_at(segments, start + k * SLOT) for k in range(n)]


def _samples(start: datetime, end: datetime, segments, *, skip=None) -> list[MeterSample]:
    """A sample every 15 min from plug-in to unplug: the energy register and the power drawn."""
    out, wh, t = [], 0.0, start
    while t <= end:
        if skip is None or not (skip[0] < t < skip[1]):
            out.append(MeterSample(t, energy_wh=wh, power_w=_power_at(segments, t) * 1000.0))
        wh += _power_at(segments, t) * 1000.0 * SLOT.total_seconds() / 3600.0
        t += SLOT
    return out


def _plan(created: datetime, entries: dict[str, tuple], *, start: datetime) -> tuple[dict, dict]:
    """(problem, plan) JSON; entries: vehicle -> (arrival or None, departure, need, max kW, segments)."""
    problem = {"start": start.isoformat(), "slot_minutes": 15, "slots": 96, "site_limit_kw": GRID_KW,
               "price_per_kwh": 0.2, "vehicles": []}
    plan = {"status": "partial", "solve_seconds": 0.1, "energy_kwh": 0.0, "shortfall_kwh": 0.0, "energy_cost": 0.0,
            "peak_kw": 0.0, "vehicles": []}
    for vid, (arrival, departure, need, max_kw, segments) in entries.items():
        v = {"id": vid, "departure": departure.isoformat(), "energy_kwh": need, "max_kw": max_kw, "min_kw": 0.0,
             "priority": 1}
        if arrival is not None:
            v["arrival"] = arrival.isoformat()
        problem["vehicles"].append(v)
        power = _slots(segments, start)
        energy = sum(power) * 0.25
        plan["vehicles"].append({"id": vid, "power_kw": power, "energy_kwh": energy,
                                 "shortfall_kwh": max(0.0, need - energy), "ready": energy >= need - 0.5})
    return problem, plan


def build(store) -> None:
    """The whole night, written the way the running system writes it."""
    store.set_site("Depot", GRID_KW, 0.0)
    for vid, (cid, kind, max_kw, *_rest) in EXPECTED.items():
        n = vid[-2:]
        store.add_vehicle(Vehicle(vid, f"Bus {n}", 300.0, max_ac_kw=max_kw, max_dc_kw=max_kw, id_tag=f"TAG-{n}"))
        store.add_charger(Charger(cid, max_kw, CurrentType(kind)))
        store.record_boot(cid, protocol=Protocol.OCPP16, now=sat(12), heartbeat_interval=1800)
    store.replace_departures([Departure(vid, dep, arr, 140.0 if vid == "BUS-07" else energy)
                              for vid, (_c, _k, _m, arr, dep, energy, _s) in EXPECTED.items()], now=sat(12))
    p1 = {vid: (arr, dep, energy, mk, seg) for vid, (_c, _k, mk, arr, dep, energy, seg) in EXPECTED.items()
          if vid != "BUS-10"}
    store.save_plan(created_at=P1_AT, reason="departures edited", status="partial",
                    **dict(zip(("problem", "plan"), _plan(P1_AT, p1, start=P1_AT), strict=True)))
    p2 = {"BUS-07": (None, DEPART, 60.0, 50.0, [(sun(4), DEPART, 20.0)])}
    p2_start = sun(4)
    store.save_plan(created_at=P2_AT, reason="departures edited", status="partial",
                    **dict(zip(("problem", "plan"), _plan(P2_AT, p2, start=p2_start), strict=True)))
    _sessions(store)
    _events(store)
    for at, building, limit in ((sat(18), 0.0, GRID_KW), (sat(22), 360.0, 40.0), (sun(2), 0.0, GRID_KW)):
        es.add_reading(store, es.SiteReading(at, "meter", building, 0.0, limit, None))
    cmd = es.record_command(store, at=sat(18), charger_id="CP-08", connector_id=1, purpose="TxProfile",
                            profile_id=100001, limit_kw=25.0, payload={
                                "chargingProfileId": 100001, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
                                "chargingProfileKind": "Absolute", "chargingSchedule": {
                                    "chargingRateUnit": "W", "startSchedule": sat(18).isoformat(),
                                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 25000.0},
                                                               {"startPeriod": 4 * 3600, "limit": 0.0}]}})
    es.record_answer(store, cmd, status="Accepted", at=sat(18))


def _sessions(store) -> None:
    for vid, (start, stop, drawn) in ACTUAL.items():
        cid = EXPECTED[vid][0]
        tx = store.start_transaction(cid, 1, f"TAG-{vid[-2:]}", started_at=start)
        skip = (sat(19), sun(4)) if vid == "BUS-05" else None  # offline: nothing reaches us
        samples = _samples(start, stop, drawn, skip=skip)
        store.add_meter_samples(cid, 1, samples, transaction_id=tx.id)
        store.stop_transaction(cid, stopped_at=stop, transaction_id=tx.id, meter_stop_wh=samples[-1].energy_wh,
                               reason="Local")


def _events(store) -> None:
    """Heartbeats every 30 min (CP-05 silent 19:00-04:00), CP-04's fault, BUS-03's id tag at 18:05."""
    events = []
    for _vid, (cid, *_rest) in EXPECTED.items():
        t = sat(17)
        while t <= sun(6):
            if not (cid == "CP-05" and sat(19) < t < sun(4)):
                events.append(EventRecord(t, cid, "in", "call", "Heartbeat", "{}"))
            t += timedelta(minutes=30)
    status = '{{"connectorId": 1, "errorCode": "{code}", "status": "{status}", "timestamp": "{at}"}}'
    events += [EventRecord(sat(19), "CP-04", "in", "call", "StatusNotification",
                           status.format(code="GroundFailure", status="Faulted", at=sat(19).isoformat())),
               EventRecord(sun(5), "CP-04", "in", "call", "StatusNotification",
                           status.format(code="NoError", status="Available", at=sun(5).isoformat())),
               EventRecord(sat(18) + timedelta(minutes=5), "CP-03", "in", "call", "Authorize",
                           '{"idTag": "TAG-03"}')]
    store.write_journal(sorted(events, key=lambda e: e.at), {})


CAUSE = {  # what the audit must find for each missed departure
    "BUS-02": ("arrived_late", "arrived 02:00, expected 18:00"),
    "BUS-03": ("plugged_in_late", "arrived 18:05 (id tag seen at CP-03), plugged in 03:00"),
    "BUS-04": ("charger_fault", "charger CP-04 Faulted (GroundFailure) 19:00–05:00"),
    "BUS-05": ("charger_offline", "charger CP-05 offline 19:00–04:00 (no message for 9 h)"),
    "BUS-06": ("site_limit", "site limit 40 kW 22:00–02:00 vs 100 kW planned (building load 360 kW)"),
    "BUS-07": ("need_changed", "need raised from 80 to 140 kWh at 04:10 after the plan of 17:00 "
                               "(re-planned: departures edited)"),
    "BUS-08": ("took_less", "took 8 kW while commanded 25 kW for 4 h (18:00–22:00)"),
    "BUS-09": ("impossible", "impossible: 140 kWh in 3 h at 22 kW max (66 kWh at most)"),
}
