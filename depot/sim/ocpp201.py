"""A simulated OCPP 2.0.1 charging station: boot, status, events, transaction events with their meter values,
remote start/stop, triggers, and its device-model variables.

Session life: StatusNotification Occupied, TransactionEvent Started (CablePluggedIn, no token) → Authorize →
Updated (Authorized, idToken) → Updated (ChargingStateChanged …) and Updated (MeterValuePeriodic) with meter
values → Ended (EVCommunicationLost / Remote …) → Available. Meter values go inside TransactionEvent, as the
specification has it. The calls it answers are in `depot.sim.ocpp201_handlers`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from ocpp.v201 import call as c201

from depot.model import ConnectorStatus, Protocol
from depot.sim.charger import SimulatedCharger
from depot.sim.commands import MAX_PERIODS, MAX_STACK_LEVEL
from depot.sim.ocpp201_handlers import Cp201Handlers
from depot.sim.state import ConnectorState, wire_time

log = logging.getLogger("depot.sim.simulator")  # the name the simulator has always logged under


class Charger201(SimulatedCharger):
    """A simulated charging station that speaks OCPP 2.0.1."""

    protocol = Protocol.OCPP201
    _cp_class = Cp201Handlers

    def _variables(self) -> dict[tuple[str, str], tuple[str, bool]]:
        return {
            ("SmartChargingCtrlr", "Enabled"): ("true", True),
            ("SmartChargingCtrlr", "Available"): ("true", True),
            ("SmartChargingCtrlr", "RateUnit"): (self.rate_unit, True),
            ("SmartChargingCtrlr", "PeriodsPerSchedule"): (str(MAX_PERIODS), True),
            ("SmartChargingCtrlr", "ProfileStackLevel"): (str(MAX_STACK_LEVEL), True),
            ("SmartChargingCtrlr", "Entries"): (str(len(self.installed)), True),
            ("OCPPCommCtrlr", "HeartbeatInterval"): (self.config["HeartbeatInterval"], False),
            ("SampledDataCtrlr", "TxUpdatedInterval"): (self.config["MeterValueSampleInterval"], False),
            ("SampledDataCtrlr", "TxUpdatedMeasurands"):
                ("Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC", True),
            ("AuthCtrlr", "AuthorizeRemoteStart"): ("false", True),
            ("AuthCtrlr", "LocalAuthorizeOffline"): ("true", True),
            ("TxCtrlr", "TxStartPoint"): ("EVConnected", True),
            ("TxCtrlr", "TxStopPoint"): ("EVConnected", True),
        }

    _CONFIG_KEY = {("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
                   ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval"}

    def _lookup(self, d: dict) -> tuple[tuple[str, str] | None, str | None]:
        comp, var = d["component"]["name"], d["variable"]["name"]
        table = self._variables()
        if not any(k[0] == comp for k in table):
            return None, "UnknownComponent"
        if (comp, var) not in table:
            return None, "UnknownVariable"
        if d.get("attribute_type", "Actual") != "Actual":
            return None, "NotSupportedAttributeType"
        return (comp, var), None

    def get_variable(self, d: dict) -> dict:
        key, error = self._lookup(d)
        out = {"component": d["component"], "variable": d["variable"]}
        if d.get("attribute_type"):
            out["attribute_type"] = d["attribute_type"]
        if key is None:
            return {"attribute_status": error, **out}
        return {"attribute_status": "Accepted", "attribute_value": self._variables()[key][0], **out}

    def set_variable(self, d: dict) -> dict:
        key, error = self._lookup(d)
        out = {"component": d["component"], "variable": d["variable"]}
        if d.get("attribute_type"):
            out["attribute_type"] = d["attribute_type"]
        if key is None:
            return {"attribute_status": error, **out}
        if self._variables()[key][1]:
            return {"attribute_status": "Rejected", **out}
        try:
            value = int(d["attribute_value"])
        except ValueError:
            value = 0
        if value <= 0:
            return {"attribute_status": "Rejected", **out}
        self.config[self._CONFIG_KEY[key]] = str(value)
        if key[1] == "HeartbeatInterval":
            self._next_heartbeat = 0.0
        return {"attribute_status": "Accepted", **out}

    def _boot_payload(self):
        return c201.BootNotification(
            charging_station={"model": f"Sim{self.spec.current_type.value}{self.spec.max_kw:g}",
                              "vendor_name": "DepotSim", "serial_number": self.id[-25:], "firmware_version": "sim-1.0"},
            reason=self._boot_reason)

    def _heartbeat_payload(self):
        return c201.Heartbeat()

    @staticmethod
    def _connector_status(status: ConnectorStatus) -> str:
        if status in (ConnectorStatus.AVAILABLE, ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE):
            return status.value
        return "Occupied"

    @staticmethod
    def _charging_state(status: ConnectorStatus) -> str:
        return {ConnectorStatus.CHARGING: "Charging", ConnectorStatus.SUSPENDED_EV: "SuspendedEV",
                ConnectorStatus.PREPARING: "EVConnected"}.get(status, "SuspendedEVSE")

    def _sync_status(self, c: ConnectorState, *, cleared: bool = False) -> None:
        now = self.clock()
        status = self._desired(c, now)
        wire = self._connector_status(status)
        ts = wire_time(now)
        if wire != c.reported:
            previous, c.reported = c.reported, wire
            self._enqueue_status(lambda: c201.StatusNotification(timestamp=ts, connector_status=wire, evse_id=c.id,
                                                                 connector_id=1))
            if wire == "Faulted" or (previous == "Faulted" and cleared):
                self._notify_fault(c, ts, cleared=wire != "Faulted")
        s = c.session
        if s is not None and s.tx_open and s.authorized:
            state = self._charging_state(status)
            if state != s.reported_state:
                s.reported_state = state
                self._tx_event(c, "Updated", "ChargingStateChanged", now, state=state)

    def _notify_fault(self, c: ConnectorState, ts: str, *, cleared: bool) -> None:
        self._event_id += 1
        event = {"event_id": self._event_id, "timestamp": ts, "trigger": "Delta",
                 "actual_value": "false" if cleared else "true", "event_notification_type": "HardWiredNotification",
                 "component": {"name": "Connector", "evse": {"id": c.id, "connector_id": 1}},
                 "variable": {"name": "Problem"}}
        if cleared:
            event["cleared"] = True
        elif c.fault_code:
            event["tech_code"] = c.fault_code
            event["tech_info"] = f"simulated {c.fault_code}"
        s = c.session
        if s is not None and s.tx_open:
            event["transaction_id"] = s.tx_id
        self._enqueue_status(lambda: c201.NotifyEvent(generated_at=ts, seq_no=0, event_data=[event]), kind="NotifyEvent")

    def _tx_event(self, c: ConnectorState, event_type: str, trigger: str, now: datetime, *, state: str | None = None,
                  token: str | None = None, reason: str | None = None, meter_context: str | None = None,
                  remote_start_id: int | None = None) -> None:
        s = c.session
        info: dict = {"transaction_id": s.tx_id}
        if state:
            info["charging_state"] = state
        if reason:
            info["stopped_reason"] = reason
        if remote_start_id is not None:
            info["remote_start_id"] = remote_start_id
        seq = s.seq_no
        s.seq_no += 1
        meter = None
        if meter_context:
            meter = [{"timestamp": wire_time(now), "sampled_value": self._sampled(c, now, meter_context, as_text=False)}]
        offline = True if self._ws is None else None
        ts = wire_time(now)
        payload = c201.TransactionEvent(
            event_type=event_type, timestamp=ts, trigger_reason=trigger, seq_no=seq, transaction_info=info,
            meter_value=meter, offline=offline, evse={"id": c.id, "connector_id": 1} if event_type == "Started" else None,
            id_token={"id_token": token, "type": "ISO14443"} if token else None,
            number_of_phases_used=self.spec.phases if event_type == "Started" and self.rate_unit == "A" else None)

        def done(res) -> None:
            info = getattr(res, "id_token_info", None) or {}
            if token and info.get("status") not in (None, "Accepted") and c.session is s and s.tx_open:
                s.authorized = False
                self._end_tx(c, "DeAuthorized", "Deauthorized")

        persistent = meter_context is None or event_type != "Updated"
        self._enqueue(lambda: payload, done, persistent=persistent, kind="TransactionEvent")

    def _on_plug(self, c: ConnectorState) -> None:
        s = c.session
        now = self.clock()
        s.tx_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        s.tx_open, s.tx_start, s.meter_start_wh = True, now, c.energy_wh
        self._tx_event(c, "Started", "CablePluggedIn", now, state="EVConnected", meter_context="Transaction.Begin")
        s.reported_state = "EVConnected"
        if self._ws is None:  # LocalAuthorizeOffline
            self._authorized(c, s.vehicle.id_tag, "Authorized")
            return

        def answered(res) -> None:
            if c.session is not s or not s.tx_open or s.authorized:
                return
            if res is not None and res.id_token_info.get("status") == "Accepted":
                self._authorized(c, s.vehicle.id_tag, "Authorized")
            else:
                s.auth_failed = True

        self._enqueue(lambda: c201.Authorize(id_token={"id_token": s.vehicle.id_tag, "type": "ISO14443"}), answered,
                      persistent=True, kind="Authorize")

    def _authorized(self, c: ConnectorState, token: str, trigger: str, remote_start_id: int | None = None) -> None:
        s = c.session
        now = self.clock()
        self._advance(c, now)
        s.authorized, s.id_tag = True, token
        c.last_t = now
        status = self._desired(c, now)
        state = self._charging_state(status)
        s.reported_state = state
        self._tx_event(c, "Updated", trigger, now, state=state, token=token, remote_start_id=remote_start_id)
        c.next_meter = asyncio.get_running_loop().time() + self._meter_gap()
        self._sync_status(c)

    def _end_tx(self, c: ConnectorState, reason: str, trigger: str) -> None:
        s = c.session
        now = self.clock()
        self._advance(c, now)
        tx = s.tx_id
        self._tx_event(c, "Ended", trigger, now, state="Idle" if trigger == "EVCommunicationLost" else "EVConnected",
                       reason=reason, meter_context="Transaction.End")
        s.tx_open, s.stopped = False, True
        self._drop_tx_profiles(tx)
        self._sync_status(c)

    def _stop_tx(self, c: ConnectorState, reason: str, *, trigger: str = "StopAuthorized") -> None:
        self._end_tx(c, reason, trigger)

    def _queue_meter(self, c: ConnectorState, trigger: str) -> None:
        s = c.session
        now = self.clock()
        if s is not None and s.tx_open:
            self._tx_event(c, "Updated", trigger, now, meter_context="Trigger" if trigger == "Trigger"
                           else "Sample.Periodic")
        else:
            mv = [{"timestamp": wire_time(now), "sampled_value": self._sampled(c, now, "Trigger", as_text=False)}]
            self._enqueue(lambda: c201.MeterValues(evse_id=c.id, meter_value=mv), kind="MeterValues")

    def _reset_reason(self, kind: str) -> str:
        return "ImmediateReset"

    def request_start(self, id_token: dict, remote_start_id: int, evse_id: int | None,
                      profile: dict | None) -> tuple[str, str | None]:
        token = id_token.get("id_token")
        for c in self.connectors.values() if evse_id in (None, 0) else [self.connectors.get(evse_id)]:
            s = c.session if c else None
            if s is None or c.fault_code or c.unavailable or (s.tx_open and s.authorized):
                continue
            if profile is not None and profile.get("charging_profile_purpose") != "TxProfile":
                return "Rejected", None
            if not s.tx_open:  # the previous transaction ended while the vehicle stayed: open another
                now = self.clock()
                self._advance(c, now)
                s.tx_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                s.tx_open, s.stopped, s.tx_start, s.seq_no = True, False, now, 0
                s.meter_start_wh = c.energy_wh
                self._tx_event(c, "Started", "RemoteStart", now, state="EVConnected",
                               meter_context="Transaction.Begin", remote_start_id=remote_start_id)
            self._authorized(c, token, "RemoteStart", remote_start_id)
            if profile is not None:
                status, reason = self.install_profile(c.id, {**profile, "transaction_id": s.tx_id})
                if reason:
                    log.info("%s: RequestStart profile %s: %s", self.id, status, reason)
            return "Accepted", s.tx_id
        return "Rejected", None

    def request_stop(self, tx_id: str) -> str:
        for c in self.connectors.values():
            s = c.session
            if s is not None and s.tx_open and s.tx_id == tx_id:
                self._end_tx(c, "Remote", "RemoteStop")
                return "Accepted"
        return "Rejected"

    def trigger(self, what: str, evse_id: int | None) -> None:
        targets = [c for n, c in self.connectors.items() if evse_id in (None, 0, n)]
        if what == "BootNotification":
            self._enqueue(self._boot_payload, kind="BootNotification")
        elif what == "Heartbeat":
            self._enqueue(self._heartbeat_payload, kind="Heartbeat")
        elif what in ("MeterValues", "TransactionEvent"):
            for c in targets:
                if what == "MeterValues" or (c.session and c.session.tx_open):
                    self._queue_meter(c, "Trigger")
        elif what == "StatusNotification":
            for c in targets:
                c.reported = None
                self._sync_status(c)
