"""A simulated OCPP 1.6J charger: boot, status, transactions and meter values as 1.6 sends them, remote
start/stop, triggers, and its configuration keys.

Session life: Available → Preparing → Authorize → StartTransaction → Charging → (SuspendedEVSE when a profile
allows nothing, SuspendedEV when full) → StopTransaction → Finishing → Available. Meter values go out in
MeterValues. A vehicle that arrives while the server is away starts charging at once (LocalAuthorizeOffline);
its StartTransaction is sent, with the transaction's original time, after the reconnect. The calls it answers
are in `depot.sim.ocpp16_handlers`.
"""

from __future__ import annotations

import asyncio
import logging

from ocpp.v16 import call as c16

from depot.model import Protocol
from depot.sim.charger import SimulatedCharger
from depot.sim.commands import MAX_PERIODS, MAX_STACK_LEVEL
from depot.sim.ocpp16_handlers import Cp16Handlers
from depot.sim.state import ConnectorState, wire_time

log = logging.getLogger("depot.sim.simulator")  # the name the simulator has always logged under


class Charger16(SimulatedCharger):
    """A simulated charger that speaks OCPP 1.6J."""

    protocol = Protocol.OCPP16
    _cp_class = Cp16Handlers

    _READ_ONLY = ("ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
                  "ChargeProfileMaxStackLevel", "NumberOfConnectors", "MaxChargingProfilesInstalled",
                  "SupportedFeatureProfiles", "ChargingScheduleMaxPeriods")

    def _config_values(self) -> dict[str, tuple[str, bool]]:
        values = {
            "HeartbeatInterval": (self.config["HeartbeatInterval"], False),
            "MeterValueSampleInterval": (self.config["MeterValueSampleInterval"], False),
            "MeterValuesSampledData": ("Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC", False),
            "ChargingScheduleAllowedChargingRateUnit": ("Power" if self.rate_unit == "W" else "Current", True),
            "ChargingScheduleMaxPeriods": (str(MAX_PERIODS), True),
            "ChargeProfileMaxStackLevel": (str(MAX_STACK_LEVEL), True),
            "MaxChargingProfilesInstalled": ("16", True),
            "NumberOfConnectors": (str(len(self.connectors)), True),
            "SupportedFeatureProfiles": ("Core,SmartCharging,RemoteTrigger", True),
            "AuthorizeRemoteTxRequests": ("false", True),
            "LocalAuthorizeOffline": ("true", True),
            "StopTransactionOnEVSideDisconnect": ("true", True),
        }
        return values

    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict], list[str]]:
        values = self._config_values()
        wanted = list(values) if not keys else keys
        known = [{"key": k, "readonly": values[k][1], "value": values[k][0]} for k in wanted if k in values]
        return known, [k for k in wanted if k not in values]

    def change_configuration(self, key: str, value: str) -> str:
        values = self._config_values()
        if key not in values:
            return "NotSupported"
        if values[key][1]:
            return "Rejected"
        if key in ("HeartbeatInterval", "MeterValueSampleInterval"):
            try:
                if int(value) <= 0:
                    return "Rejected"
            except ValueError:
                return "Rejected"
            self.config[key] = str(int(value))
            if key == "HeartbeatInterval":
                self._next_heartbeat = 0.0
            return "Accepted"
        return "Accepted"

    def _boot_payload(self):
        return c16.BootNotification(
            charge_point_model=f"Sim{self.spec.current_type.value}{self.spec.max_kw:g}", charge_point_vendor="DepotSim",
            charge_point_serial_number=self.id[-25:], firmware_version="sim-1.0")

    def _heartbeat_payload(self):
        return c16.Heartbeat()

    def _initial_status(self) -> None:
        ts = wire_time(self.clock())
        self._enqueue_status(lambda: c16.StatusNotification(connector_id=0, error_code="NoError", status="Available",
                                                            timestamp=ts))

    def _sync_status(self, c: ConnectorState, *, cleared: bool = False) -> None:
        now = self.clock()
        status = self._desired(c, now)
        key = f"{status.value}/{c.fault_code}"
        if key == c.reported:
            return
        c.reported = key
        ts = wire_time(now)
        code = c.fault_code or "NoError"
        info = f"simulated {c.fault_code}" if c.fault_code else None
        self._enqueue_status(lambda: c16.StatusNotification(connector_id=c.id, error_code=code, status=status.value,
                                                            timestamp=ts, info=info))

    def _on_plug(self, c: ConnectorState) -> None:
        s = c.session
        if self._ws is None:  # LocalAuthorizeOffline: start now, tell the server later
            self._begin_tx(c, s.vehicle.id_tag)
            return

        def authorized(res) -> None:
            if c.session is not s or s.tx_open:
                return
            if res is not None and res.id_tag_info.get("status") == "Accepted":
                self._begin_tx(c, s.vehicle.id_tag)
            else:
                s.auth_failed = True
            self._sync_status(c)

        self._enqueue(lambda: c16.Authorize(id_tag=s.vehicle.id_tag), authorized, persistent=True, kind="Authorize")

    def _begin_tx(self, c: ConnectorState, id_tag: str, profile: dict | None = None) -> None:
        s = c.session
        now = self.clock()
        self._advance(c, now)
        s.id_tag, s.authorized, s.tx_open, s.stopped = id_tag, True, True, False
        s.tx_id, s.tx_start, s.meter_start_wh = None, now, c.energy_wh
        s.pending_profile = profile
        c.last_t = now
        ts, meter = wire_time(now), round(c.energy_wh)

        def started(res) -> None:
            if res is None:
                return
            s.tx_id = str(res.transaction_id)
            if res.id_tag_info.get("status") != "Accepted" and c.session is s and s.tx_open:
                self._stop_tx(c, "DeAuthorized")
            elif s.pending_profile is not None and c.session is s:
                status, reason = self.install_profile(c.id, {**s.pending_profile, "transaction_id": res.transaction_id})
                if reason:
                    log.info("%s: RemoteStart profile %s: %s", self.id, status, reason)
            s.pending_profile = None
            self._sync_status(c)

        self._enqueue(lambda: c16.StartTransaction(connector_id=c.id, id_tag=id_tag, meter_start=meter, timestamp=ts),
                      started, persistent=True, kind="StartTransaction")
        c.next_meter = asyncio.get_running_loop().time() + self._meter_gap()
        self._sync_status(c)

    def _stop_tx(self, c: ConnectorState, reason: str, *, trigger: str = "") -> None:
        s = c.session
        now = self.clock()
        self._advance(c, now)
        s.tx_open, s.stopped = False, True
        ts, meter = wire_time(now), round(c.energy_wh)
        tag = s.id_tag
        data = [{"timestamp": ts, "sampled_value": [{"value": str(meter), "measurand": "Energy.Active.Import.Register",
                                                     "unit": "Wh", "context": "Transaction.End"}]}]

        def build():
            if s.tx_id is None:
                return None  # the start was never acknowledged: nothing to stop on the server
            return c16.StopTransaction(meter_stop=meter, timestamp=ts, transaction_id=int(s.tx_id), reason=reason,
                                       id_tag=tag, transaction_data=data)

        def stopped(_res) -> None:
            self._drop_tx_profiles(s.tx_id)

        self._enqueue(build, stopped, persistent=True, kind="StopTransaction")
        self._sync_status(c)

    def _queue_meter(self, c: ConnectorState, trigger: str) -> None:
        s = c.session
        now = self.clock()
        context = "Trigger" if trigger == "Trigger" else "Sample.Periodic"
        mv = [{"timestamp": wire_time(now), "sampled_value": self._sampled(c, now, context, as_text=True)}]

        def build():
            tx = s.tx_id if s is not None and s.tx_open else None
            return c16.MeterValues(connector_id=c.id, meter_value=mv, transaction_id=int(tx) if tx else None)

        self._enqueue(build, kind="MeterValues")

    def _reset_reason(self, kind: str) -> str:
        return "HardReset" if kind == "Hard" else "SoftReset"

    def remote_start(self, id_tag: str, connector_id: int | None, profile: dict | None) -> str:
        for c in self.connectors.values() if connector_id in (None, 0) else [self.connectors.get(connector_id)]:
            if c is None or c.session is None or c.session.tx_open or c.fault_code or c.unavailable:
                continue
            if profile is not None and profile.get("charging_profile_purpose") != "TxProfile":
                return "Rejected"
            c.session.stopped = False
            self._begin_tx(c, id_tag, profile)
            return "Accepted"
        return "Rejected"

    def remote_stop(self, tx_id: str) -> str:
        for c in self.connectors.values():
            s = c.session
            if s is not None and s.tx_open and s.tx_id == tx_id:
                self._stop_tx(c, "Remote")
                return "Accepted"
        return "Rejected"

    def unlock(self, connector_id: int) -> None:
        c = self.connectors[connector_id]
        if c.session is not None and c.session.tx_open:
            self._stop_tx(c, "UnlockCommand")

    def trigger(self, what: str, connector_id: int | None) -> None:
        targets = [c for n, c in self.connectors.items() if connector_id in (None, 0, n)]
        if what == "BootNotification":
            self._enqueue(self._boot_payload, kind="BootNotification")
        elif what == "Heartbeat":
            self._enqueue(self._heartbeat_payload, kind="Heartbeat")
        elif what == "MeterValues":
            for c in targets:
                self._queue_meter(c, "Trigger")
        elif what == "StatusNotification":
            for c in targets:
                c.reported = None
                self._sync_status(c)
