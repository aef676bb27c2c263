"""OCPP 1.6J: the charger-facing handlers and the requests the central system sends.

Handlers are thin: read the named arguments, screen them (`depot.ocpp.screening`: impossible values are
quarantined, never stored), persist through the store, tell the runtime, return the `call_result` dataclass. 1.6 specifics: `transactionId` is our integer (`Transaction.id`), sampled values are
strings, connector 0 is the charger as a whole. The module-level request builders share their names and
meaning with `depot.ocpp.v201`, so `CentralSystem` picks the module by protocol.
"""

from __future__ import annotations

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, DataTransferStatus, RegistrationStatus

from depot.model import Capabilities, ConnectorStatus, Protocol, Transaction
from depot.ocpp.base import KNOWN_VENDORS, LOGGER, DepotChargePoint
from depot.ocpp.reconcile import Reconciling
from depot.ocpp.screening import Screen
from depot.ocpp.values import as_int, rate_unit, sample_detail
from depot.store.sessions import inferred_stop


class ChargePoint16(Reconciling, DepotChargePoint, ChargePoint):
    protocol = Protocol.OCPP16
    actions = Action
    FREE = frozenset({ConnectorStatus.AVAILABLE, ConnectorStatus.FINISHING})  # no transaction runs (sessions closed)

    # ------------------------------------------------------------ core profile

    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str,
                             charge_point_serial_number: str | None = None,
                             charge_box_serial_number: str | None = None, firmware_version: str | None = None,
                             **kwargs):
        now = self.now()
        interval = self.hub.settings.heartbeat_interval
        self.store.record_boot(self.id, protocol=self.protocol, now=now, vendor=charge_point_vendor,
                               model=charge_point_model,
                               serial=charge_point_serial_number or charge_box_serial_number,
                               firmware=firmware_version, heartbeat_interval=interval)
        self.reconcile_on_boot()
        self.emit("boot", vendor=charge_point_vendor, model=charge_point_model, firmware=firmware_version)
        return call_result.BootNotification(current_time=now.isoformat(), interval=interval,
                                            status=RegistrationStatus.accepted)

    @after(Action.boot_notification)
    def after_boot_notification(self, **kwargs):
        self.hub.after_boot(self.id)
        return self.verify_after_boot()

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=self.now().isoformat())

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str, info: str | None = None,
                               vendor_error_code: str | None = None, timestamp: str | None = None, **kwargs):
        screen = Screen(self, "StatusNotification", connector_id=connector_id, status=status, error_code=error_code,
                        timestamp=timestamp)
        if timestamp is not None:
            screen.time(timestamp)  # (the status is stored at the receive time anyway)
        if not screen.connector(connector_id):  # acknowledged, quarantined, no connector row
            screen.done()
            return call_result.StatusNotification()
        state = ConnectorStatus(status)
        self.store.set_connector_status(self.id, connector_id, state, now=self.now(), error_code=error_code,
                                        vendor_error_code=vendor_error_code, info=info)
        self.emit("status", connector_id, status=state.value, error_code=error_code, info=info)
        self.reconcile_status(connector_id, state)
        if state is ConnectorStatus.FAULTED or error_code != "NoError":
            self.emit("fault", connector_id, status=state.value, error_code=error_code,
                      vendor_error_code=vendor_error_code, info=info)
        screen.done()
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **kwargs):
        return call_result.Authorize(id_tag_info=IdTagInfo(status=self.tag_status(id_tag).value))

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs):
        screen = Screen(self, "StartTransaction", connector_id=connector_id, id_tag=id_tag, meter_start=meter_start,
                        timestamp=timestamp)
        started = screen.time(timestamp)
        start_wh = screen.register(meter_start, started, None, "meter_start")  # impossible: None, the start unknown
        status = self.tag_status(id_tag)  # recorded whatever the answer: the charger may have started offline
        tx = self._resent_or_new(connector_id, id_tag, started, start_wh, same_time=not screen.time_replaced)
        screen.done()  # the vehicle is charging: it gets its transactionId whatever its meter said
        self.emit("tx_started", connector_id, transaction_id=tx.id, id_tag=id_tag, tag_status=status.value,
                  meter_start_wh=tx.meter_start_wh)
        return call_result.StartTransaction(transaction_id=tx.id, id_tag_info=IdTagInfo(status=status.value))

    def _resent_or_new(self, connector_id: int, id_tag: str, started, meter_start_wh: float | None, *,
                       same_time: bool = True) -> Transaction:
        """The running transaction if this start is a resend of its own (same tag, time and meterStart; a time
        that was impossible, replaced by the receive time, cannot tell), else a new one."""
        running = self.store.active_transaction_on(self.id, connector_id)
        if running is not None and running.id_tag == id_tag and (not same_time or running.started_at == started) \
                and (meter_start_wh is None or running.meter_start_wh == meter_start_wh):
            tx = running  # the same StartTransaction again (our answer was lost): same transactionId
        else:
            self.supersede(connector_id, started)  # what was still open on this connector is over
            tx = self.store.start_transaction(self.id, connector_id, id_tag, started_at=started,
                                              meter_start_wh=meter_start_wh)
        self.one_connector_per_vehicle(tx)
        return tx

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, reason: str | None = None,
                            id_tag: str | None = None, transaction_data: list | None = None, **kwargs):
        screen = Screen(self, "StopTransaction", transaction_id=transaction_id, meter_stop=meter_stop,
                        timestamp=timestamp, transaction_data=transaction_data)
        stopped = screen.time(timestamp)
        tx = self.store.find_transaction(self.id, transaction_id=transaction_id)
        if tx is None or not (tx.active or inferred_stop(tx)):  # unknown, or the same StopTransaction again
            LOGGER.warning("charger %s: StopTransaction for %s transaction %s", self.id,
                           "unknown" if tx is None else "already stopped", transaction_id)
        else:
            samples = screen.samples(transaction_data, tx)
            self.store.add_meter_samples(self.id, tx.connector_id, samples, transaction_id=tx.id)
            stop_wh = screen.register(meter_stop, stopped, tx, "meter_stop")  # impossible: the last good register
            tx = self.store.stop_transaction(self.id, stopped_at=stopped, transaction_id=tx.id,
                                             meter_stop_wh=stop_wh, reason=reason or "Local")
            self.emit("tx_stopped", tx.connector_id, transaction_id=tx.id, reason=tx.stop_reason,
                      meter_stop_wh=tx.meter_stop_wh,
                      energy_wh=(tx.meter_stop_wh or tx.meter_start_wh) - tx.meter_start_wh)
        screen.done()
        info = IdTagInfo(status=self.tag_status(id_tag).value) if id_tag else None
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, transaction_id: int | None = None, **kwargs):
        screen = Screen(self, "MeterValues", connector_id=connector_id, transaction_id=transaction_id,
                        meter_value=meter_value)
        tx = self.store.find_transaction(self.id, transaction_id=transaction_id) if transaction_id else None
        if not screen.connector(connector_id) or (transaction_id and tx is None):
            if transaction_id and tx is None:  # another charger's, or none at all: never booked to ours
                screen.reject("transaction_id", str(transaction_id), "not a transaction of this charger")
            screen.done()
            return call_result.MeterValues()
        if tx is None and connector_id:
            tx = self.store.active_transaction_on(self.id, connector_id)
        samples = screen.samples(meter_value, tx)
        self.store.add_meter_samples(self.id, connector_id, samples, transaction_id=tx.id if tx else None)
        if samples:
            self.emit("meter", connector_id, transaction_id=tx.id if tx else None, **sample_detail(samples))
        screen.done()
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, **kwargs):
        known = vendor_id in KNOWN_VENDORS
        LOGGER.info("charger %s: DataTransfer %s/%s %s", self.id, vendor_id, message_id,
                    "accepted" if known else "from an unknown vendor")
        return call_result.DataTransfer(
            status=DataTransferStatus.accepted if known else DataTransferStatus.unknown_vendor_id)

    # ------------------------------------------------------------ firmware, diagnostics, security extension

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **kwargs):
        self.store.set_charger_status_field(self.id, firmware_status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, status: str, **kwargs):
        self.store.set_charger_status_field(self.id, firmware_status=status)
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, status: str, **kwargs):
        self.store.set_charger_status_field(self.id, diagnostics_status=status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, status: str, **kwargs):
        self.store.set_charger_status_field(self.id, diagnostics_status=status)
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, type: str, timestamp: str, tech_info: str | None = None, **kwargs):
        from depot.ocpp.charger_security import security_event_notification  # stored, shown in the history
        return security_event_notification(self, type, timestamp, tech_info, call_result.SecurityEventNotification())


# ---------------------------------------------------------------- requests (same names as depot.ocpp.v201)


def remote_start(connector_id: int, id_tag: str, *, remote_start_id: int, charging_profile: dict | None = None,
                 token_type: str | None = None):
    """RemoteStartTransaction (1.6 has no remoteStartId and no token type: both ignored)."""
    return call.RemoteStartTransaction(id_tag=id_tag, connector_id=connector_id, charging_profile=charging_profile)


def remote_stop(transaction: Transaction):
    return call.RemoteStopTransaction(transaction_id=transaction.id)


def reset(hard: bool):
    return call.Reset(type="Hard" if hard else "Soft")


def change_availability(connector_id: int, operative: bool):
    return call.ChangeAvailability(connector_id=connector_id, type="Operative" if operative else "Inoperative")


def unlock_connector(connector_id: int):
    return call.UnlockConnector(connector_id=connector_id)


def trigger_message(what: str, connector_id: int | None):
    return call.TriggerMessage(requested_message=what, connector_id=connector_id)


def set_charging_profile(connector_id: int, profile: dict):
    return call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=profile)


def profile_id(profile: dict) -> int | None:
    return profile.get("chargingProfileId", profile.get("charging_profile_id"))


def clear_charging_profile(*, profile_id: int | None = None, connector_id: int | None = None,
                           purpose: str | None = None, stack_level: int | None = None):
    return call.ClearChargingProfile(id=profile_id, connector_id=connector_id, charging_profile_purpose=purpose,
                                     stack_level=stack_level)


def get_composite_schedule(connector_id: int, duration_s: int, unit: str | None):
    return call.GetCompositeSchedule(connector_id=connector_id, duration=duration_s, charging_rate_unit=unit)


def get_configuration(keys: list[str] | None):
    return call.GetConfiguration(key=list(keys) if keys else None)


def change_configuration(key: str, value: str):
    return call.ChangeConfiguration(key=key, value=value)


RATE_UNIT_KEY = "ChargingScheduleAllowedChargingRateUnit"
MAX_PERIODS_KEY = "ChargingScheduleMaxPeriods"
STACK_LEVEL_KEY = "ChargeProfileMaxStackLevel"


def capabilities_request():
    return get_configuration([RATE_UNIT_KEY, MAX_PERIODS_KEY, STACK_LEVEL_KEY])


def parse_capabilities(result: call_result.GetConfiguration) -> Capabilities:
    values = {k.get("key"): k.get("value") for k in result.configuration_key or () if isinstance(k, dict)}
    return Capabilities(rate_unit=rate_unit(values.get(RATE_UNIT_KEY)), max_periods=as_int(values.get(MAX_PERIODS_KEY)),
                        max_stack_level=as_int(values.get(STACK_LEVEL_KEY)))
