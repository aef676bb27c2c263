"""The OCPP 2.0.1 calls a simulated charging station answers: an `ocpp` ChargePoint that turns each CALL from
the central system into a `depot.sim.ocpp201.Charger201` method, and starts the progress reports of service
jobs.

Network connection profiles (B09): `SetNetworkProfile` is stored per configurationSlot (slot 1 is the one the
station was started with, and the slot it is connected with is refused) and
`OCPPCommCtrlr.NetworkConfigurationPriority` (default "1") may list only stored slots. Both outlive
reconnections; the simulated station keeps connecting over its own ws:// URL (it has no TLS), so a raise to
profile 2 or 3 is refused at its next handshake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from depot.sim.commands import FIRMWARE_OK
from depot.sim.state import wire_time

PRIORITY_VARIABLE = ("OCPPCommCtrlr", "NetworkConfigurationPriority")

if TYPE_CHECKING:
    from depot.sim.ocpp201 import Charger201


class Cp201Handlers(Cp201):
    """The 2.0.1 CALLs from the central system, answered by the `Charger201` in `sim`."""

    sim: Charger201

    @on("SetChargingProfile")
    def _set_profile(self, evse_id, charging_profile, **_):
        status, reason = self.sim.install_profile(evse_id, charging_profile)
        info = {"reason_code": "InvalidProfile", "additional_info": reason[:500]} if reason else None
        return r201.SetChargingProfile(status=status, status_info=info)

    @on("ClearChargingProfile")
    def _clear_profile(self, charging_profile_id=None, charging_profile_criteria=None, **_):
        crit = charging_profile_criteria or {}
        ok = self.sim.clear_profiles(profile_id=charging_profile_id, connector_id=crit.get("evse_id"),
                                     purpose=crit.get("charging_profile_purpose"), stack_level=crit.get("stack_level"))
        return r201.ClearChargingProfile(status="Accepted" if ok else "Unknown")

    @on("GetCompositeSchedule")
    def _composite(self, duration, evse_id, charging_rate_unit=None, **_):
        if evse_id != 0 and evse_id not in self.sim.connectors:
            return r201.GetCompositeSchedule(status="Rejected")
        now, unit, periods = self.sim.composite(evse_id, duration, charging_rate_unit)
        return r201.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": evse_id, "duration": duration, "schedule_start": wire_time(now), "charging_rate_unit": unit,
            "charging_schedule_period": periods})

    @on("RequestStartTransaction")
    def _request_start(self, id_token, remote_start_id, evse_id=None, charging_profile=None, **_):
        status, tx = self.sim.request_start(id_token, remote_start_id, evse_id, charging_profile)
        return r201.RequestStartTransaction(status=status, transaction_id=tx)

    @on("RequestStopTransaction")
    def _request_stop(self, transaction_id, **_):
        return r201.RequestStopTransaction(status=self.sim.request_stop(transaction_id))

    @on("Reset")
    def _reset_cmd(self, type, evse_id=None, **_):
        if evse_id is not None:
            return r201.Reset(status="Rejected")
        busy = any(c.session and c.session.tx_open for c in self.sim.connectors.values())
        if type == "OnIdle" and busy:
            self.sim._on_idle_reset = True
            return r201.Reset(status="Scheduled")
        return r201.Reset(status="Accepted")

    @after("Reset")
    def _after_reset(self, type, evse_id=None, **_):
        if evse_id is None and not self.sim._on_idle_reset:
            self.sim._schedule_reset(type)

    @on("ChangeAvailability")
    def _availability(self, operational_status, evse=None, **_):
        n = (evse or {}).get("id", 0)
        if n != 0 and n not in self.sim.connectors:
            return r201.ChangeAvailability(status="Rejected")
        return r201.ChangeAvailability(status=self.sim.change_availability(n, operational_status == "Operative"))

    @on("UnlockConnector")
    def _unlock(self, evse_id, connector_id, **_):
        c = self.sim.connectors.get(evse_id)
        if c is None or connector_id != 1:
            return r201.UnlockConnector(status="UnknownConnector")
        if c.session is not None and c.session.tx_open and c.session.authorized:
            return r201.UnlockConnector(status="OngoingAuthorizedTransaction")
        return r201.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def _trigger(self, requested_message, evse=None, **_):
        ok = requested_message in ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification",
                                   "TransactionEvent")
        n = (evse or {}).get("id")
        if n not in (None, 0) and n not in self.sim.connectors:
            return r201.TriggerMessage(status="Rejected")
        return r201.TriggerMessage(status="Accepted" if ok else "NotImplemented")

    @after("TriggerMessage")
    def _after_trigger(self, requested_message, evse=None, **_):
        self.sim.trigger(requested_message, (evse or {}).get("id"))

    @on("GetLog")
    def _get_log(self, log, log_type, request_id, **_):
        return r201.GetLog(status="Accepted", filename=f"{self.id}-{log_type.lower()}.log")

    @after("GetLog")
    def _after_log(self, log, log_type, request_id, **_):
        end = "UploadFailure" if self.sim.job_fails(log.get("remote_location")) else "Uploaded"
        self.sim.report_steps([lambda st=st: c201.LogStatusNotification(status=st, request_id=request_id)
                               for st in ("Uploading", end)])

    @on("UpdateFirmware")
    def _update_firmware(self, request_id, firmware, **_):
        return r201.UpdateFirmware(status="Accepted")

    @after("UpdateFirmware")
    def _after_firmware(self, request_id, firmware, **_):
        steps = ("Downloading", "Downloaded", "Installing", "InstallationFailed") \
            if self.sim.job_fails(firmware.get("location")) else FIRMWARE_OK
        self.sim.report_steps([lambda st=st: c201.FirmwareStatusNotification(status=st, request_id=request_id)
                               for st in steps])

    def _network(self) -> dict:
        """The station's network connection profiles: {"slots": {slot: connectionData}, "priority": "1"}."""
        return self.sim.__dict__.setdefault("network_profiles", {"slots": {1: {"initial": True}}, "priority": "1"})

    @on("SetNetworkProfile")
    def _set_network_profile(self, configuration_slot, connection_data, **_):
        network = self._network()
        active = network["priority"].split(",")[0]
        if configuration_slot < 1 or str(configuration_slot) == active or not connection_data.get("ocpp_csms_url"):
            return r201.SetNetworkProfile(status="Rejected")
        network["slots"][configuration_slot] = dict(connection_data)
        return r201.SetNetworkProfile(status="Accepted")

    def _priority(self, d: dict, value: str | None = None) -> dict | None:
        """Get (value None) or set NetworkConfigurationPriority; None for any other variable."""
        if (d["component"]["name"], d["variable"]["name"]) != PRIORITY_VARIABLE:
            return None
        out = {"component": d["component"], "variable": d["variable"]}
        network = self._network()
        if value is None:
            return {"attribute_status": "Accepted", "attribute_value": network["priority"], **out}
        try:
            slots = [int(s) for s in value.split(",")]
        except ValueError:
            slots = []
        if not slots or len(set(slots)) != len(slots) or any(s not in network["slots"] for s in slots):
            return {"attribute_status": "Rejected", **out}
        network["priority"] = ",".join(map(str, slots))
        return {"attribute_status": "Accepted", **out}

    @on("GetVariables")
    def _get_variables(self, get_variable_data, **_):
        return r201.GetVariables(get_variable_result=[self._priority(d) or self.sim.get_variable(d)
                                                      for d in get_variable_data])

    @on("SetVariables")
    def _set_variables(self, set_variable_data, **_):
        return r201.SetVariables(set_variable_result=[self._set_one(d) for d in set_variable_data])

    def _set_one(self, d: dict) -> dict:
        if (d["component"]["name"], d["variable"]["name"]) == ("SecurityCtrlr", "BasicAuthPassword"):
            status = self.sim.take_password(str(d["attribute_value"]), authorization_key=False)
            return {"attribute_status": status, "component": d["component"], "variable": d["variable"]}
        return self._priority(d, str(d["attribute_value"])) or self.sim.set_variable(d)

    @on("ClearCache")
    def _clear_cache(self, **_):
        return r201.ClearCache(status="Accepted")
