"""Maintenance: tickets, maintenance windows (the planner plans without the charger; ChangeAvailability at the
start and end with simulated chargers), charger health from the event log, service history, and remote
actions against simulated chargers of both OCPP versions, each answer shown and audited."""

from __future__ import annotations

import json
from datetime import time, timedelta

import pytest

from depot.control.health import charger_health
from depot.control.replan import snapshot, solve
from depot.errors import NotFound, ValidationError
from depot.model import Charger, ConnectorStatus, EventRecord, Protocol
from depot.ocpp import remote
from depot.people import alert_rules as rules
from depot.people import alerts, maintenance
from depot.people.alert_watch import AlertWatcher
from depot.people.users import audit_log
from depot.settings import Settings
from tests.conftest import NOW
from tests.live_depot import V16, V201, on_loop, running_depot, wait_for
from tests.test_planner_page import seed

H, M = timedelta(hours=1), timedelta(minutes=1)


@pytest.fixture
def live(db_url):
    yield from running_depot(db_url)


def _charger(store, cid="CP-1"):
    store.add_charger(Charger(cid, 22.0))
    store.record_boot(cid, protocol=Protocol.OCPP16, now=NOW, firmware="2.1", vendor="ABB")
    return cid


# ---------------------------------------------------------------- tickets


def test_ticket_with_notes_assignee_and_status_is_audited(store):
    cid = _charger(store)
    t = maintenance.create_ticket(store, cid, "Cable worn", by="mia", now=NOW, assignee="tom", note="seen at 6:00")
    assert (t.status, t.assignee, [n.text for n in t.notes]) == ("open", "tom", ["seen at 6:00"])
    t = maintenance.update_ticket(store, t.id, by="tom", now=NOW + H, status="waiting for parts", note="ordered")
    t = maintenance.update_ticket(store, t.id, by="tom", now=NOW + 2 * H, assignee="")
    assert (t.status, t.assignee, len(t.notes), t.updated_at) == ("waiting for parts", None, 2, NOW + 2 * H)
    with pytest.raises(ValidationError):
        maintenance.update_ticket(store, t.id, by="tom", now=NOW, status="lost")
    with pytest.raises(ValidationError):
        maintenance.update_ticket(store, t.id, by="tom", now=NOW)  # nothing to change
    with pytest.raises(ValidationError):
        maintenance.create_ticket(store, cid, " ", by="mia", now=NOW)
    with pytest.raises(NotFound):
        maintenance.create_ticket(store, "NOPE", "x", by="mia", now=NOW)
    assert [x.id for x in maintenance.list_tickets(store, open_only=True)] == [t.id]
    maintenance.update_ticket(store, t.id, by="tom", now=NOW + 3 * H, status="closed")
    assert maintenance.list_tickets(store, open_only=True) == []
    assert [e.action for e in audit_log(store, target=f"charger:{cid}")] == ["ticket.update"] * 3 + ["ticket.create"]


# ---------------------------------------------------------------- windows


def test_window_rules_and_who_is_in_maintenance(store):
    cid = _charger(store)
    with pytest.raises(ValidationError, match="after the start"):
        maintenance.add_window(store, cid, NOW + H, NOW, "x", by="mia", now=NOW)
    with pytest.raises(ValidationError, match="past"):
        maintenance.add_window(store, cid, NOW - 2 * H, NOW - H, "x", by="mia", now=NOW)
    w = maintenance.add_window(store, cid, NOW + H, NOW + 3 * H, "new cable", by="mia", now=NOW)
    with pytest.raises(ValidationError, match="overlaps"):
        maintenance.add_window(store, cid, NOW + 2 * H, NOW + 4 * H, "x", by="mia", now=NOW)
    assert maintenance.chargers_in_maintenance(store, NOW) == set()
    assert maintenance.chargers_in_maintenance(store, NOW + 2 * H) == {cid}
    assert maintenance.chargers_in_maintenance(store, NOW + 3 * H) == set()
    cancelled = maintenance.cancel_window(store, w.id, by="mia", now=NOW)
    assert cancelled.state == "cancelled" and maintenance.chargers_in_maintenance(store, NOW + 2 * H) == set()
    with pytest.raises(ValidationError):
        maintenance.cancel_window(store, w.id, by="mia", now=NOW)


def test_a_maintenance_window_removes_the_charger_from_the_plan(store, settings):
    seed(store, vehicles=2, plugged=2)  # BUS-01 on DC-01 and BUS-02 on DC-02, both charging
    store.set_default_departure(time(6, 0))  # without a departure they would charge now, outside the plan
    before = solve(snapshot(store, settings, NOW), NOW)
    assert {v.id for v in before.problem.vehicles} == {"BUS-01", "BUS-02"}
    maintenance.add_window(store, "DC-01", NOW - M, NOW + 4 * H, "contactor", by="mia", now=NOW - M)
    snap = snapshot(store, settings, NOW)
    assert "DC-01" not in {v.charger.id for v in snap.chargers}
    after = solve(snap, NOW)
    assert {v.id for v in after.problem.vehicles} == {"BUS-02"}
    assert all(b >= 0 for b in after.problem.site_limit_kw)  # what DC-01 may still draw is kept free
    assert "DC-01" in {v.charger.id for v in snapshot(store, settings, NOW + 5 * H).chargers}  # back after the window


def test_chargers_in_maintenance_are_not_called_offline(store):
    settings = Settings(database_url=store.url, simulator=False, heartbeat_interval=60)
    a, b = _charger(store, "CP-1"), _charger(store, "CP-2")
    maintenance.add_window(store, a, NOW, NOW + 4 * H, "powered down for service", by="mia", now=NOW)
    AlertWatcher(store, settings, lambda: NOW).sweep(NOW + H)
    assert [x.charger_id for x in alerts.list_alerts(store, kind=rules.CHARGER_OFFLINE)] == [b]


# ---------------------------------------------------------------- health and history


def _status(cid, at, status, code="NoError", connector=1, vendor=None):
    payload = {"connectorId": connector, "errorCode": code, "status": status}
    if vendor:
        payload["vendorErrorCode"] = vendor
    return EventRecord(at, cid, "in", "call", "StatusNotification", json.dumps(payload))


def test_health_uptime_fault_counts_and_last_errors_from_the_event_log(store):
    cid = _charger(store)
    start = NOW - timedelta(days=2)
    for k in range(0, 2 * 24 * 60, 1):  # a heartbeat every minute for two days, but a silent hour
        at = start + timedelta(minutes=k)
        if not (NOW - 10 * H <= at < NOW - 9 * H):
            store.log_event(EventRecord(at, cid, "in", "call", "Heartbeat", "{}"))
    for rec in (_status(cid, NOW - 20 * H, "Faulted", "GroundFailure", vendor="E17"), _status(cid, NOW - 19 * H, "Available"),
                _status(cid, NOW - 5 * H, "Faulted", "GroundFailure"), _status(cid, NOW - 5 * H + 30 * M, "Available"),
                _status(cid, NOW - 2 * H, "Faulted", "OverCurrentFailure"), _status(cid, NOW - H, "Available")):
        store.log_event(rec)
    h = charger_health(store, cid, NOW, heartbeat_s=60)
    assert h.faults_by_code == {"GroundFailure": 1, "GroundFailure (E17)": 1, "OverCurrentFailure": 1}
    assert h.last_errors[0][1] == "connector 1: OverCurrentFailure"
    down_hours = 1 + 1 + 0.5 + 1  # silent hour, three faults
    assert h.uptime_7d == pytest.approx(1 - down_hours / 48, abs=0.01)  # measured since the first message
    assert h.uptime_30d == pytest.approx(h.uptime_7d, abs=1e-6)
    assert (h.firmware, h.vendor, h.protocol) == ("2.1", "ABB", "ocpp1.6")
    assert h.obedience == "no profile sent yet"  # the enforcement engine's health, when it has some


def test_service_history_merges_commands_windows_tickets_and_notes(store):
    cid = _charger(store)
    t = maintenance.create_ticket(store, cid, "Display dark", by="mia", now=NOW)
    maintenance.update_ticket(store, t.id, by="tom", now=NOW + H, note="replaced the display")
    maintenance.add_window(store, cid, NOW + 2 * H, NOW + 3 * H, "display", by="tom", now=NOW + H)
    remote.perform(None, store, "reset_soft", cid, {}, by="tom", now=NOW + 2 * H)
    items = maintenance.service_history(store, cid)
    assert [i.who for i in items][:2] == ["tom", "tom"]
    whats = " | ".join(i.what for i in items)
    assert "reset soft" in whats and "window.add" in whats and "ticket.create" in whats and "note on ticket" in whats
    assert not items[0].ok and "no charger connection" in items[0].result


def test_remote_action_parameters_are_checked_and_refusals_audited(store):
    with pytest.raises(ValidationError, match="url"):
        remote.perform(None, store, "firmware", "CP-1", {"url": "file:///etc/passwd"}, by="tom", now=NOW)
    with pytest.raises(ValidationError, match="connector"):
        remote.perform(None, store, "unlock", "CP-1", {"connector": "0"}, by="tom", now=NOW)
    with pytest.raises(ValidationError, match="action"):
        remote.check_params("format_disk", {})
    assert [e.result.split(":")[0] for e in audit_log(store)] == ["refused", "refused"]
    assert remote.check_params("trigger_meter", {"connector": ""}) == {"connector": 0}


# ---------------------------------------------------------------- with simulated chargers


def _connector_status(store, cid):
    conns = [c for c in store.connectors(cid) if c.connector_id == 1]
    return conns[0].status if conns else None


def _window(store, window_id, state):
    w = next(x for x in maintenance.list_windows(store) if x.id == window_id)
    return w if w.state == state else None


@pytest.mark.slow
def test_window_sets_the_charger_unavailable_and_back(live):
    runtime, store = live
    cid = V201[1]
    wait_for(lambda: _connector_status(store, cid) == ConnectorStatus.AVAILABLE, what="available")
    now = runtime.clock()
    w = maintenance.add_window(store, cid, now, now + timedelta(minutes=30), "new RCD", by="mia", now=now)
    wait_for(lambda: _connector_status(store, cid) == ConnectorStatus.UNAVAILABLE, what="unavailable")
    w = wait_for(lambda: _window(store, w.id, "active"), what="window active")
    assert w.start_result == "Accepted"
    assert cid in maintenance.chargers_in_maintenance(store, runtime.clock())
    maintenance.cancel_window(store, w.id, by="mia", now=runtime.clock())  # end it now
    wait_for(lambda: _connector_status(store, cid) == ConnectorStatus.AVAILABLE, what="available again")
    done = wait_for(lambda: _window(store, w.id, "done"), what="window done")  # its answer may trail the status
    assert done.end_result == "Accepted"
    results = [e.result for e in audit_log(store, target=f"charger:{cid}")]
    assert "ChangeAvailability Operative: Accepted" in results and "ChangeAvailability Inoperative: Accepted" in results


def _do(runtime, store, cid, action, **params):
    return remote.perform(runtime, store, action, cid, params, by="tom", now=runtime.clock())


@pytest.mark.slow
@pytest.mark.parametrize("cid", [V16[0], V201[0]])
def test_remote_actions_on_both_protocol_versions(live, cid):
    runtime, store = live
    v16 = cid in V16
    wait_for(lambda: _connector_status(store, cid) == ConnectorStatus.AVAILABLE, what="available")
    key = "HeartbeatInterval" if v16 else "OCPPCommCtrlr/HeartbeatInterval"
    read = _do(runtime, store, cid, "get_config", key=key)
    assert read.ok and "HeartbeatInterval" in read.summary and read.answer
    writable = "MeterValueSampleInterval" if v16 else "SampledDataCtrlr/TxUpdatedInterval"
    assert _do(runtime, store, cid, "set_config", key=writable, value="120").ok
    refused = _do(runtime, store, cid, "set_config", key=writable, value="-5")
    assert not refused.ok and "Rejected" in refused.summary
    assert _do(runtime, store, cid, "trigger_status", connector="1").summary == "Accepted"
    assert _do(runtime, store, cid, "trigger_meter", connector="1").summary == "Accepted"
    assert _do(runtime, store, cid, "inoperative", connector="0").summary == "Accepted"
    wait_for(lambda: _connector_status(store, cid) == ConnectorStatus.UNAVAILABLE, what="unavailable")
    assert _do(runtime, store, cid, "operative", connector="0").summary == "Accepted"
    wait_for(lambda: _connector_status(store, cid) == ConnectorStatus.AVAILABLE, what="available")
    assert _do(runtime, store, cid, "unlock", connector="1").summary == "Unlocked"
    # a vehicle plugs in and charges: stop it remotely, then start it again
    vehicle = runtime.simulator.vehicle_specs[0 if v16 else 2]
    on_loop(runtime, runtime.simulator.plug_in, cid, vehicle.id, 40.0)
    wait_for(lambda: store.active_transaction_on(cid, 1), what="session started")
    stop = _do(runtime, store, cid, "remote_stop", connector="1")
    assert stop.ok and stop.summary == "Accepted"
    wait_for(lambda: store.active_transaction_on(cid, 1) is None, what="session stopped")
    assert not _do(runtime, store, cid, "remote_stop", connector="1").ok  # nothing left to stop
    start = _do(runtime, store, cid, "remote_start", connector="1", id_tag=vehicle.id_tag)
    assert start.summary == "Accepted"
    # uploads and firmware updates are accepted at once; the charger then reports each stage
    diag = _do(runtime, store, cid, "diagnostics", url="https://logs.example.org/upload")
    firmware = _do(runtime, store, cid, "firmware", url="https://fw.example.org/sim-1.1.bin")
    assert diag.ok and firmware.ok and not diag.summary.startswith("error:")
    reset = _do(runtime, store, cid, "reset_soft")
    assert reset.summary in ("Accepted", "Scheduled")
    entries = audit_log(store, target=f"charger:{cid}", action_prefix="charger.")
    assert len(entries) == 14 and all(e.who == "tom" for e in entries)
    assert entries[0].action == "charger.reset_soft" and entries[0].result == reset.summary
    assert {e.action for e in entries if not e.ok} == {"charger.set_config", "charger.remote_stop"}


@pytest.mark.slow
def test_remote_action_on_an_offline_charger_says_so(live):
    runtime, store = live
    result = _do(runtime, store, "CP-UNKNOWN", "reset_hard")
    assert not result.ok and "not connected" in result.summary
    assert audit_log(store, target="charger:CP-UNKNOWN")[0].result == result.summary


@pytest.mark.parametrize("key", ["AuthorizationKey", "SecurityProfile", "SecurityCtrlr/BasicAuthPassword",
                                 "securityctrlr.basicauthpassword", "OCPPCommCtrlr/NetworkConfigurationPriority"])
def test_a_generic_configuration_change_cannot_touch_how_a_charger_signs_in(key):
    with pytest.raises(ValidationError, match="Credentials card"):
        remote.check_params("set_config", {"key": key, "value": "ab" * 20})
    assert remote.check_params("set_config", {"key": "HeartbeatInterval", "value": "60"})["key"] == "HeartbeatInterval"
