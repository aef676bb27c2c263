"""Alerts: the pure rules, the lifecycle in the store (raise, fold, acknowledge, resolve), notifications to a
local SMTP and HTTP server, and the whole loop with simulated chargers of both OCPP versions."""

from __future__ import annotations

import json
import socketserver
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from depot.errors import ValidationError
from depot.model import Charger, ConnectorStatus, MeterSample, Protocol
from depot.people import alert_rules as rules
from depot.people import alerts
from depot.people.alert_watch import AlertWatcher
from depot.people.users import audit_log
from depot.settings import Settings
from tests.conftest import NOW
from tests.live_depot import V16, V201, on_loop, running_depot, wait_for

M = timedelta(minutes=1)


@pytest.fixture
def live(db_url):
    yield from running_depot(db_url)


# ---------------------------------------------------------------- pure rules


def test_fault_condition_names_codes_and_severity():
    c = rules.fault_condition("CP-1", 1, status="Faulted", error_code="GroundFailure", vendor_error_code="E17",
                              info="RCD tripped")
    assert c.kind == rules.CHARGER_FAULT and c.severity == rules.CRITICAL
    assert c.message == "CP-1 connector 1: GroundFailure, vendor code E17, RCD tripped"
    warn = rules.fault_condition("CP-1", 2, status="Charging", error_code="HighTemperature")
    assert warn.severity == rules.WARNING and warn.key != c.key
    assert rules.fault_cleared("Available", "NoError") and not rules.fault_cleared("Faulted", None)
    assert not rules.fault_cleared("Charging", "HighTemperature")


def test_notify_event_problems_are_read_from_the_wire_payload():
    payload = {"eventData": [
        {"eventId": 1, "actualValue": "true", "techCode": "OverCurrentFailure", "techInfo": "sim",
         "component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}}, "variable": {"name": "Problem"}},
        {"eventId": 2, "actualValue": "false", "cleared": True, "component": {"name": "Connector", "evse": {"id": 1}},
         "variable": {"name": "Problem"}},
        {"eventId": 3, "actualValue": "42", "component": {"name": "EVSE"}, "variable": {"name": "Power"}}]}
    found = rules.problems(payload)
    assert [(p.connector_id, p.active, p.tech_code) for p in found] == [(2, True, "OverCurrentFailure"), (1, False, None)]
    assert rules.problem_condition("CP-9", found[0]).message == "CP-9 connector 2: OverCurrentFailure, sim"


def test_offline_stuck_and_no_progress_rules():
    seen = [rules.Seen("A", NOW - 30 * M, False), rules.Seen("B", NOW, True), rules.Seen("C", None, False)]
    assert [c.charger_id for c in rules.offline_conditions(seen, NOW)] == ["A"]
    conns = [rules.ConnectorState("A", 1, "Preparing", NOW - 20 * M), rules.ConnectorState("A", 2, "Finishing", NOW - 5 * M),
             rules.ConnectorState("B", 1, "Charging", NOW - 60 * M)]
    assert [(c.charger_id, c.connector_id) for c in rules.stuck_conditions(conns, NOW)] == [("A", 1)]
    flat = rules.ChargingSession("A", 1, "EV-1", "Charging", NOW - 60 * M,
                                 tuple((NOW - k * 5 * M, 10_000.0 + (0 if k < 6 else 1)) for k in range(8)))
    moving = rules.ChargingSession("B", 1, None, "Charging", NOW - 60 * M,
                                   tuple((NOW - k * 5 * M, 10_000.0 - 500 * k) for k in range(8)))
    stale = rules.ChargingSession("C", 1, None, "Charging", NOW - 60 * M, ((NOW - 40 * M, 1.0), (NOW - 30 * M, 1.0)))
    young = rules.ChargingSession("D", 1, None, "Charging", NOW - 5 * M, ((NOW - 5 * M, 1.0), (NOW, 1.0)))
    found = rules.no_progress_conditions([flat, moving, stale, young], NOW)
    assert [(c.charger_id, c.vehicle_id) for c in found] == [("A", "EV-1")]


def test_site_power_has_hysteresis_and_firmware_failures_alert():
    assert rules.site_power_condition(90, 100, active=False) is None
    assert rules.site_power_condition(96, 100, active=False).severity == rules.WARNING
    assert rules.site_power_condition(101, 100, active=False).severity == rules.CRITICAL
    assert rules.site_power_condition(92, 100, active=True) is not None  # holds until below 90 %
    assert rules.site_power_condition(89, 100, active=True) is None
    assert rules.site_power_condition(50, 0, active=False) is None
    found = rules.firmware_conditions([("A", "InstallationFailed"), ("B", "Installed"), ("C", None)])
    assert [c.charger_id for c in found] == ["A"]


def test_readiness_and_profile_health_become_conditions():
    r = lambda badge, v: SimpleNamespace(badge=badge, vehicle_id=v, key=v, charger_id="CP-1", text="x",  # noqa: E731
                                         departure=NOW, shortfall_kwh=3.0)
    found = rules.readiness_conditions([r("ready", "EV-1"), r("at risk", "EV-2"), r("will miss", "EV-3")])
    assert [(c.vehicle_id, c.severity) for c in found] == [("EV-2", rules.WARNING), ("EV-3", rules.CRITICAL)]
    health = rules.profile_conditions([("A", "rejecting", "Rejected twice"), ("B", "ok", None), ("C", "overdrawing", "")])
    assert [(c.kind, c.charger_id) for c in health] == [(rules.PROFILE_REJECTED, "A"), (rules.PROFILE_NOT_OBEYED, "C")]


def test_uptime_counts_online_and_not_faulted_time():
    start, end = NOW - timedelta(hours=10), NOW
    frames = [start + timedelta(minutes=m) for m in range(0, 600, 1)]  # a message every minute: always online
    assert rules.uptime(frames, [], start, end, heartbeat_s=60) == pytest.approx(1.0)
    gap = [t for t in frames if not (start + timedelta(hours=2) <= t < start + timedelta(hours=4))]
    assert rules.uptime(gap, [], start, end, heartbeat_s=60) == pytest.approx(0.8, abs=0.01)
    fault = [(start + timedelta(hours=5), start + timedelta(hours=6))]
    assert rules.uptime(gap, fault, start, end, heartbeat_s=60) == pytest.approx(0.7, abs=0.01)
    late = [t for t in frames if t >= start + timedelta(hours=5)]  # installed half-way: measured from then
    assert rules.uptime(late, [], start, end, heartbeat_s=60) == pytest.approx(1.0)
    assert rules.uptime([], [], start, end, heartbeat_s=60) is None


# ---------------------------------------------------------------- lifecycle in the store


def test_repeats_fold_into_one_alert_until_resolved(store):
    a = alerts.raise_alert(store, "charger_fault", charger_id="CP-1", connector_id=1, message="GroundFailure", now=NOW)
    b = alerts.raise_alert(store, "charger_fault", charger_id="CP-1", connector_id=1, message="GroundFailure again",
                           now=NOW + M)
    other = alerts.raise_alert(store, "charger_fault", charger_id="CP-1", connector_id=2, now=NOW + M)
    assert b.id == a.id and b.count == 2 and b.first_seen == NOW and b.last_seen == NOW + M
    assert b.message == "GroundFailure again" and other.id != a.id
    assert len(alerts.list_alerts(store)) == 2
    alerts.clear_alert(store, "charger_fault", charger_id="CP-1", connector_id=1, now=NOW + 2 * M)
    again = alerts.raise_alert(store, "charger_fault", charger_id="CP-1", connector_id=1, now=NOW + 3 * M)
    assert again.id != a.id and again.count == 1  # after resolution a new occurrence is a new alert
    assert alerts.get_alert(store, a.id).status == alerts.RESOLVED


def test_acknowledge_then_resolve_by_a_person_with_a_note_is_audited(store):
    a = alerts.raise_alert(store, "connector stuck", charger_id="CP-2", connector_id=1, now=NOW)
    assert a.kind == rules.CONNECTOR_STUCK and a.severity == rules.WARNING  # kinds read like the enforcer writes them
    ack = alerts.acknowledge(store, a.id, by="mia", note="on my way", now=NOW + M)
    assert (ack.status, ack.acknowledged_by, ack.acknowledged_at, ack.ack_note) == ("acknowledged", "mia", NOW + M,
                                                                                  "on my way")
    with pytest.raises(ValidationError):
        alerts.acknowledge(store, a.id, by="mia", now=NOW + M)  # not open any more
    with pytest.raises(ValidationError):
        alerts.resolve(store, a.id, by="mia", note=" ", now=NOW + 2 * M)  # a person says how
    done = alerts.resolve(store, a.id, by="mia", note="cable replaced", now=NOW + 2 * M)
    assert (done.status, done.resolved_by, done.resolve_note) == ("resolved", "mia", "cable replaced")
    assert alerts.assign(store, a.id, "tom", by="mia", now=NOW + 3 * M).assignee == "tom"
    assert [e.action for e in audit_log(store)] == ["alert.assign", "alert.resolve", "alert.acknowledge"]
    with pytest.raises(ValidationError):
        alerts.raise_alert(store, "charger_fault", severity="huge", now=NOW)


def test_reconcile_resolves_what_is_gone_and_keeps_the_count(store):
    c1 = rules.Condition(rules.FIRMWARE_FAILED, rules.WARNING, "A failed", "A")
    c2 = rules.Condition(rules.FIRMWARE_FAILED, rules.WARNING, "B failed", "B")
    alerts.reconcile(store, rules.FIRMWARE_FAILED, [c1, c2], now=NOW)
    present, resolved = alerts.reconcile(store, rules.FIRMWARE_FAILED, [c1], now=NOW + M)
    assert [a.charger_id for a in present] == ["A"] and present[0].count == 1 and present[0].last_seen == NOW + M
    assert [a.charger_id for a in resolved] == ["B"] and resolved[0].resolved_by == "system"


def _charger(store, cid="CP-1", protocol=Protocol.OCPP16):
    store.add_charger(Charger(cid, 22.0))
    store.record_boot(cid, protocol=protocol, now=NOW, firmware="1.0")
    return cid


def test_sweep_raises_and_resolves_from_the_store(store):
    settings = Settings(database_url=store.url, simulator=False, heartbeat_interval=60)
    store.set_site("Depot", 30.0)
    a, b = _charger(store, "CP-1"), _charger(store, "CP-2")
    store.set_connector_status(a, 1, ConnectorStatus.PREPARING, now=NOW - 20 * M)
    store.set_connector_status(b, 1, ConnectorStatus.CHARGING, now=NOW)
    tx = store.start_transaction(b, 1, None, started_at=NOW - 60 * M)
    store.add_meter_samples(b, 1, [MeterSample(NOW - k * M, energy_wh=5000.0, power_w=29_500.0) for k in range(30)],
                            transaction_id=tx.id)
    store.touch(a, NOW)
    store.touch(b, NOW)
    store.set_charger_status_field(a, firmware_status="DownloadFailed")
    watcher = AlertWatcher(store, settings, lambda: NOW)
    found = watcher.sweep(NOW)
    assert {k: n for k, n in found.items() if n} == {rules.CONNECTOR_STUCK: 1, rules.NO_ENERGY: 1, rules.SITE_POWER: 1,
                                                     rules.FIRMWARE_FAILED: 1}
    site = alerts.list_alerts(store, kind=rules.SITE_POWER)[0]
    assert site.severity == rules.WARNING and "30 kW" in site.message
    # everything clears: moving energy, connector charging, firmware installed, power down
    store.set_connector_status(a, 1, ConnectorStatus.AVAILABLE, now=NOW + M)
    store.add_meter_samples(b, 1, [MeterSample(NOW + M, energy_wh=9000.0, power_w=10_000.0)], transaction_id=tx.id)
    store.set_charger_status_field(a, firmware_status="Installed")
    later = NOW + 2 * M
    store.touch(a, later)
    store.touch(b, later)
    found = watcher.sweep(later)
    assert not any(found.values())
    assert alerts.list_alerts(store) == []
    # and chargers that stop talking are offline
    gone = later + timedelta(minutes=10)
    watcher.sweep(gone)
    assert {x.charger_id for x in alerts.list_alerts(store, kind=rules.CHARGER_OFFLINE)} == {"CP-1", "CP-2"}


# ---------------------------------------------------------------- notifications


class _SMTP(socketserver.StreamRequestHandler):
    """Just enough SMTP to receive a message (EHLO, MAIL, RCPT, DATA, QUIT)."""

    def handle(self):
        self.wfile.write(b"220 test ESMTP\r\n")
        data = None
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if data is not None:
                if line in (b".\r\n", b".\n"):
                    self.server.messages.append(b"".join(data).decode())
                    data = None
                    self.wfile.write(b"250 queued\r\n")
                else:
                    data.append(line)
                continue
            cmd = line[:4].upper()
            if cmd == b"EHLO":
                self.wfile.write(b"250-test\r\n250 OK\r\n")
            elif cmd == b"DATA":
                data = []
                self.wfile.write(b"354 go ahead\r\n")
            elif cmd == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server name
        self.server.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def mail_and_hook():
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTP)
    smtp.messages = []
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    hook.posts = []
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (smtp, hook)]
    for t in threads:
        t.start()
    yield smtp, hook
    for s in (smtp, hook):
        s.shutdown()
        s.server_close()


def test_notifications_per_severity_by_mail_and_webhook(store, mail_and_hook):
    smtp, hook = mail_and_hook
    settings = Settings(database_url=store.url, simulator=False, smtp_host="127.0.0.1",
                        smtp_port=smtp.server_address[1], mail_to="ops@example.org", mail_severities="critical",
                        webhook_url=f"http://127.0.0.1:{hook.server_address[1]}/alerts",
                        webhook_severities="critical,warning", site_name="North depot")
    watcher = AlertWatcher(store, settings, lambda: NOW)
    alerts.raise_alert(store, "charger_offline", charger_id="CP-7", message="CP-7: no message for 5 min", now=NOW)
    stuck = alerts.raise_alert(store, "connector_stuck", charger_id="CP-8", connector_id=1, now=NOW)
    alerts.raise_alert(store, "connector_stuck", charger_id="CP-9", connector_id=1, severity="info", now=NOW)
    assert watcher.notify() == 3  # critical: mail + hook; warning: hook; info: nothing
    assert len(smtp.messages) == 1 and "CRITICAL: Charger offline" in smtp.messages[0]
    assert "North depot" in smtp.messages[0] and "ops@example.org" in smtp.messages[0]
    assert sorted(p["charger_id"] for p in hook.posts) == ["CP-7", "CP-8"]
    assert watcher.notify() == 0  # nothing new
    alerts.raise_alert(store, "connector_stuck", charger_id="CP-8", connector_id=1, severity="critical", now=NOW + M)
    assert watcher.notify() == 2  # escalated to critical: sent again
    assert hook.posts[-1]["id"] == stuck.id and hook.posts[-1]["severity"] == "critical"


def test_a_dead_mail_server_is_logged_not_fatal(store, caplog):
    settings = Settings(database_url=store.url, simulator=False, smtp_host="127.0.0.1", smtp_port=1,
                        mail_to="ops@example.org")
    alerts.raise_alert(store, "charger_offline", charger_id="CP-7", now=NOW)
    assert AlertWatcher(store, settings, lambda: NOW).notify() == 0
    assert "e-mail to ops@example.org" in caplog.text
    assert alerts.to_notify(store) == []  # tried once, not retried in a loop


# ---------------------------------------------------------------- with simulated chargers


def _fault_alert(store, cid):
    found = [a for a in alerts.list_alerts(store, status=None, kind=rules.CHARGER_FAULT) if a.charger_id == cid]
    return found[0] if found else None


@pytest.mark.slow
@pytest.mark.parametrize("cid,code", [(V16[0], "GroundFailure"), (V201[0], "OverCurrentFailure")])
def test_fault_alert_acknowledge_recover_resolved(live, cid, code):
    runtime, store = live
    sim = runtime.simulator.charger(cid)
    wait_for(lambda: store.connectors(cid), what="status stored")
    on_loop(runtime, sim.fault, code, 1)
    alert = wait_for(lambda: _fault_alert(store, cid), what="fault alert")
    assert alert.status == "open" and alert.severity == "critical" and alert.connector_id == 1
    # 1.6 names the code in the StatusNotification, 2.0.1 in the NotifyEvent that the sweep reads

    def named():
        runtime.alerts.sweep()  # now, not at the job's next run
        return code in _fault_alert(store, cid).message

    wait_for(named, what=f"{code} in the alert")
    runtime.run(runtime.central.trigger_message(cid, "StatusNotification", 1))  # the charger says it again
    wait_for(lambda: _fault_alert(store, cid).count >= 2, what="folded repeat")
    assert len([a for a in alerts.list_alerts(store, status=None) if a.kind == rules.CHARGER_FAULT]) == 1
    alerts.acknowledge(store, alert.id, by="mia", note="looking", now=runtime.clock())
    on_loop(runtime, sim.clear_fault, 1)
    done = wait_for(lambda: (a := _fault_alert(store, cid)).status == "resolved" and a, what="resolved")
    assert done.resolved_by == "system" and done.acknowledged_by == "mia"


@pytest.mark.slow
def test_offline_detected_and_cleared_when_the_charger_returns(live):
    runtime, store = live
    cid = V16[1]
    sim = runtime.simulator.charger(cid)
    # stop it once its boot conversation (capabilities read) is over: the simulator then goes quietly
    wait_for(lambda: store.get_charger(cid).capabilities.max_periods, what="capabilities read")
    runtime.submit(sim.stop()).result(40)

    def offline():
        return [a for a in alerts.list_alerts(store, kind=rules.CHARGER_OFFLINE) if a.charger_id == cid]

    found = wait_for(offline, timeout=60, what="offline alert")
    assert found[0].severity == "critical" and "missed heartbeats" in found[0].message
    on_loop(runtime, sim.start)
    wait_for(lambda: not offline(), timeout=60, what="offline alert resolved")
    back = [a for a in alerts.list_alerts(store, status="resolved", kind=rules.CHARGER_OFFLINE) if a.charger_id == cid]
    assert back and back[0].resolved_by == "system"


# ---------------------------------------------------------------- the page's actions and the header badge


ACTION = "..mt-a-msg.children...mt-version.data...mt-a-note.value...hdr-alert-bump.data.."
BADGE = "..hdr-alert-badge.children...hdr-alert-badge.className...hdr-alert-badge.title.."


def _act(client, button, alert_id, note, bump=0):
    from tests.auth_helpers import prop

    buttons = ("mt-a-ack", "mt-a-resolve", "mt-a-assign", "mt-a-ticket")
    output = client.output_key(ACTION)
    body = {"output": output, "outputs": [{"id": o.split(".", 1)[0], "property": o.split(".", 1)[1]}
                                          for o in output.strip(".").split("...")],
            "inputs": [prop(b, "n_clicks", 1 if b == button else None) for b in buttons],
            "state": [prop("mt-alert-grid", "selectedRows", [{"id": alert_id}]), prop("mt-a-note", "value", note),
                      prop("mt-a-assignee", "value", None), prop("mt-version", "data", 0),
                      prop("hdr-alert-bump", "data", bump)],
            "changedPropIds": [f"{button}.n_clicks"]}  # the button pressed (the helper names the first input)
    r = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 200, r.data
    return json.loads(r.data)["response"]


def _badge(client, bump):
    from tests.auth_helpers import prop

    r = client.callback(BADGE, [prop("hdr-alert-tick", "n_intervals", None), prop("hdr-alert-bump", "data", bump)])
    return json.loads(r.data)["response"]["hdr-alert-badge"]["children"]


def test_the_note_stays_after_acknowledge_so_resolve_works_at_once(configured_app, store):
    from tests.auth_helpers import client_as

    a = alerts.raise_alert(store, "connector stuck", charger_id="CP-2", connector_id=1, now=NOW)
    c = client_as(configured_app, store, "maintenance")
    out = _act(c, "mt-a-ack", a.id, "cable looks worn")
    assert "mt-a-note" not in out  # not cleared
    assert alerts.get_alert(store, a.id).status == alerts.ACKNOWLEDGED
    out = _act(c, "mt-a-resolve", a.id, "cable looks worn")
    assert alerts.get_alert(store, a.id).resolve_note == "cable looks worn"
    assert out["mt-a-note"]["value"] == ""  # resolved: the box is empty for the next one


def test_picking_an_alert_fills_the_note_with_its_acknowledgement(configured_app, store):
    from tests.auth_helpers import client_as, prop

    acked = alerts.raise_alert(store, "connector stuck", charger_id="CP-2", connector_id=1, now=NOW)
    alerts.acknowledge(store, acked.id, by="mia", note="on my way", now=NOW + M)
    fresh = alerts.raise_alert(store, "connector stuck", charger_id="CP-3", connector_id=1, now=NOW)
    c = client_as(configured_app, store, "maintenance")

    def pick(alert_id, noted_for):
        r = c.callback("..mt-a-note.value...mt-a-note-for.data..",
                       [prop("mt-alert-grid", "selectedRows", [{"id": alert_id}])], [prop("mt-a-note-for", "data",
                                                                                         noted_for)])
        return r.status_code, (json.loads(r.data)["response"] if r.status_code == 200 else None)

    _, out = pick(acked.id, None)
    assert (out["mt-a-note"]["value"], out["mt-a-note-for"]["data"]) == ("on my way", acked.id)
    _, out = pick(fresh.id, acked.id)
    assert out["mt-a-note"]["value"] == ""  # another alert: not the last one's note
    assert pick(fresh.id, fresh.id)[0] == 204  # a refresh re-selecting it keeps what is being typed


def test_the_header_badge_follows_an_acknowledge_at_once(configured_app, store):
    from tests.auth_helpers import client_as

    a = alerts.raise_alert(store, "connector stuck", charger_id="CP-2", connector_id=1, now=NOW)
    c = client_as(configured_app, store, "maintenance")
    assert _badge(c, 0) == "1"
    out = _act(c, "mt-a-ack", a.id, "", bump=4)
    assert out["hdr-alert-bump"]["data"] == 5  # the bump the badge listens to
    assert _badge(c, 5) == "0"  # the badge counts open alerts, as the page's "Open alerts" does
    assert _act(c, "mt-a-ack", a.id, "", bump=5).keys() == {"mt-a-msg"}  # nothing changed: no bump
