"""The OCPP 1.6J calls a simulated charger answers: an `ocpp` ChargePoint that turns each CALL from the central
system into a `depot.sim.ocpp16.Charger16` method, and starts the progress reports of service jobs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16

from depot.sim.commands import FIRMWARE_OK
from depot.sim.state import wire_time

if TYPE_CHECKING:
    from depot.sim.ocpp16 import Charger16

log = logging.getLogger("depot.sim.simulator")  # the name the simulator has always logged under


class Cp16Handlers(Cp16):
    """The 1.6 CALLs from the central system, answered by the `Charger16` in `sim`."""

    sim: Charger16

    @on("SetChargingProfile")
    def _set_profile(self, connector_id, cs_charging_profiles, **_):
        status, reason = self.sim.install_profile(connector_id, cs_charging_profiles)
        if reason:
            log.info("%s: SetChargingProfile %s: %s", self.id, status, reason)
        return r16.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def _clear_profile(self, id=None, connector_id=None, charging_profile_purpose=None, stack_level=None, **_):
        ok = self.sim.clear_profiles(profile_id=id, connector_id=connector_id, purpose=charging_profile_purpose,
                                     stack_level=stack_level)
        return r16.ClearChargingProfile(status="Accepted" if ok else "Unknown")

    @on("GetCompositeSchedule")
    def _composite(self, connector_id, duration, charging_rate_unit=None, **_):
        if connector_id != 0 and connector_id not in self.sim.connectors:
            return r16.GetCompositeSchedule(status="Rejected")
        now, unit, periods = self.sim.composite(connector_id, duration, charging_rate_unit)
        return r16.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=wire_time(now),
            charging_schedule={"duration": duration, "start_schedule": wire_time(now), "charging_rate_unit": unit,
                               "charging_schedule_period": periods})

    @on("RemoteStartTransaction")
    def _remote_start(self, id_tag, connector_id=None, charging_profile=None, **_):
        return r16.RemoteStartTransaction(status=self.sim.remote_start(id_tag, connector_id, charging_profile))

    @on("RemoteStopTransaction")
    def _remote_stop(self, transaction_id, **_):
        return r16.RemoteStopTransaction(status=self.sim.remote_stop(str(transaction_id)))

    @on("Reset")
    def _reset_cmd(self, type, **_):
        return r16.Reset(status="Accepted")

    @after("Reset")
    def _after_reset(self, type, **_):
        self.sim._schedule_reset(type)

    @on("ChangeAvailability")
    def _availability(self, connector_id, type, **_):
        if connector_id != 0 and connector_id not in self.sim.connectors:
            return r16.ChangeAvailability(status="Rejected")
        return r16.ChangeAvailability(status=self.sim.change_availability(connector_id, type == "Operative"))

    @on("UnlockConnector")
    def _unlock(self, connector_id, **_):
        if connector_id not in self.sim.connectors:
            return r16.UnlockConnector(status="NotSupported")
        self.sim.unlock(connector_id)
        return r16.UnlockConnector(status="Unlocked")

    @on("TriggerMessage")
    def _trigger(self, requested_message, connector_id=None, **_):
        ok = requested_message in ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification")
        if connector_id is not None and connector_id != 0 and connector_id not in self.sim.connectors:
            return r16.TriggerMessage(status="Rejected")
        return r16.TriggerMessage(status="Accepted" if ok else "NotImplemented")

    @after("TriggerMessage")
    def _after_trigger(self, requested_message, connector_id=None, **_):
        self.sim.trigger(requested_message, connector_id)

    @on("GetDiagnostics")
    def _get_diagnostics(self, location, **_):
        return r16.GetDiagnostics(file_name=f"{self.id}-diagnostics.zip")

    @after("GetDiagnostics")
    def _after_diagnostics(self, location, **_):
        end = "UploadFailed" if self.sim.job_fails(location) else "Uploaded"
        self.sim.report_steps([lambda st=st: c16.DiagnosticsStatusNotification(status=st) for st in ("Uploading", end)])

    @on("UpdateFirmware")
    def _update_firmware(self, location, retrieve_date, **_):
        return r16.UpdateFirmware()

    @after("UpdateFirmware")
    def _after_firmware(self, location, retrieve_date, **_):
        steps = ("Downloading", "Downloaded", "Installing", "InstallationFailed") if self.sim.job_fails(location) \
            else FIRMWARE_OK
        self.sim.report_steps([lambda st=st: c16.FirmwareStatusNotification(status=st) for st in steps])

    @on("GetConfiguration")
    def _get_config(self, key=None, **_):
        known, unknown = self.sim.get_configuration(key)
        return r16.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def _change_config(self, key, value, **_):
        if key == "AuthorizationKey":  # security whitepaper: the new password, from the next connection on
            return r16.ChangeConfiguration(status=self.sim.take_password(value, authorization_key=True))
        return r16.ChangeConfiguration(status=self.sim.change_configuration(key, value))

    @on("ClearCache")
    def _clear_cache(self, **_):
        return r16.ClearCache(status="Accepted")

    @on("DataTransfer")
    def _data_transfer(self, vendor_id, **_):
        return r16.DataTransfer(status="UnknownVendorId")
