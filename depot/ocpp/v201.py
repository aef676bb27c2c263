"""OCPP 2.0.1: the charger-facing handlers and the requests the central system sends.

2.0.1 specifics: the charger chooses the `transactionId` (a string, stored as `charger_tx_id`); one
`TransactionEvent` message carries start, updates and end, the idToken may arrive in a later event than
the start, and meter values are numbers with a unit multiplier. Connector rows are keyed by `evseId`.
Values are screened before they are stored (`depot.ocpp.screening`). `Occupied` has no 1.6 equivalent: it
becomes Charging while a transaction runs on the EVSE (keeping a suspended state we already know from
`chargingState`), else Preparing.
"""

from __future__ import annotations

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action, DataTransferStatusEnumType, RegistrationStatusEnumType

from depot.errors import ValidationError
from depot.model import Capabilities, ConnectorStatus, MeterSample, Protocol, Transaction
from depot.ocpp.base import KNOWN_VENDORS, LOGGER, DepotChargePoint
from depot.ocpp.reconcile import Reconciling
from depot.ocpp.screening import Screen
from depot.ocpp.values import as_int, rate_unit, sample_detail
from depot.store.sessions import inferred_stop

RUNNING = (ConnectorStatus.CHARGING, ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE)
CHARGING_STATE = {"Charging": ConnectorStatus.CHARGING, "EVConnected": ConnectorStatus.PREPARING,
                  "SuspendedEV": ConnectorStatus.SUSPENDED_EV, "SuspendedEVSE": ConnectorStatus.SUSPENDED_EVSE,
                  "Idle": ConnectorStatus.PREPARING}


def _token(id_token: dict | None) -> str | None:
    """The tag of an idToken, or None when there is none to check (absent, empty or NoAuthorization)."""
    if not id_token or id_token.get("type") == "NoAuthorization" or not id_token.get("id_token"):
        return None
    return id_token["id_token"]


def _energy(samples: list[MeterSample], last: bool) -> float | None:
    readings = [s for s in sorted(samples, key=lambda s: s.at) if s.energy_wh is not None]
    if not readings:
        return None
    return readings[-1 if last else 0].energy_wh


class ChargePoint201(Reconciling, DepotChargePoint, ChargePoint):
    protocol = Protocol.OCPP201
    actions = Action

    # ------------------------------------------------------------ provisioning and availability

    @on(Action.boot_notification)
    def on_boot_notification(self, charging_station: dict, reason: str, **kwargs):
        now = self.now()
        interval = self.hub.settings.heartbeat_interval
        vendor, model = charging_station.get("vendor_name"), charging_station.get("model")
        firmware = charging_station.get("firmware_version")
        self.store.record_boot(self.id, protocol=self.protocol, now=now, vendor=vendor, model=model,
                               serial=charging_station.get("serial_number"), firmware=firmware,
                               heartbeat_interval=interval)
        self.reconcile_on_boot()
        self.emit("boot", vendor=vendor, model=model, firmware=firmware, reason=reason)
        return call_result.BootNotification(current_time=now.isoformat(), interval=interval,
                                            status=RegistrationStatusEnumType.accepted)

    @after(Action.boot_notification)
    def after_boot_notification(self, **kwargs):
        self.hub.after_boot(self.id)
        return self.verify_after_boot()

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=self.now().isoformat())

    @on(Action.status_notification)
    def on_status_notification(self, timestamp: str, connector_status: str, evse_id: int, connector_id: int,
                               **kwargs):
        screen = Screen(self, "StatusNotification", timestamp=timestamp, connector_status=connector_status,
                        evse_id=evse_id, connector_id=connector_id)
        screen.time(timestamp)  # (the status is stored at the receive time anyway)
        if not (screen.connector(evse_id, "evse_id") and screen.connector(connector_id)):
            screen.done()  # acknowledged, quarantined, no connector row
            return call_result.StatusNotification()
        if connector_status == "Occupied":
            if self.store.active_transaction_on(self.id, evse_id) is not None:
                known = self._status_of(evse_id)
                state = known if known in RUNNING else ConnectorStatus.CHARGING
            else:
                state = ConnectorStatus.PREPARING
        else:
            state = ConnectorStatus(connector_status)
        self._set_status(evse_id, state, connector_status=connector_status, evse_connector_id=connector_id)
        self.reconcile_status(evse_id, state)
        if state is ConnectorStatus.FAULTED:
            self.emit("fault", evse_id, status=state.value, evse_connector_id=connector_id)
        screen.done()
        return call_result.StatusNotification()

    def _status_of(self, evse_id: int) -> ConnectorStatus | None:
        return next((c.status for c in self.store.connectors(self.id) if c.connector_id == evse_id), None)

    def _set_status(self, evse_id: int, state: ConnectorStatus, **detail) -> None:
        self.store.set_connector_status(self.id, evse_id, state, now=self.now())
        self.emit("status", evse_id, status=state.value, **detail)

    # ------------------------------------------------------------ authorization and transactions

    @on(Action.authorize)
    def on_authorize(self, id_token: dict, **kwargs):
        tag = _token(id_token)
        status = self.tag_status(tag).value if tag else "Accepted"
        return call_result.Authorize(id_token_info={"status": status})

    @on(Action.transaction_event)
    def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str, seq_no: int,
                             transaction_info: dict, meter_value: list | None = None, evse: dict | None = None,
                             id_token: dict | None = None, **kwargs):
        screen = Screen(self, "TransactionEvent", event_type=event_type, timestamp=timestamp, evse=evse,
                        transaction_info=transaction_info, meter_value=meter_value)
        at = screen.time(timestamp)
        tag = _token(id_token)
        tx, samples = self._transaction(screen, event_type, transaction_info["transaction_id"], evse, tag, at,
                                        meter_value, trigger_reason)
        if tx is not None:
            self._book(tx, event_type, at, samples, transaction_info)
        screen.done()
        if id_token is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(
            id_token_info={"status": self.tag_status(tag).value if tag else "Accepted"})

    def _transaction(self, screen: Screen, event_type: str, charger_tx_id: str, evse: dict | None, tag: str | None,
                     at, meter_value: list | None, trigger_reason: str) -> tuple[Transaction | None, list]:
        """The session this event is about (opened if new: a Started, or an Updated/Ended whose Started we never
        saw) and its screened samples; None for an impossible EVSE id (quarantined, nothing opened)."""
        tx = self.store.find_transaction(self.id, charger_tx_id=charger_tx_id)
        resend = tx is not None and (tx.started_at == at or (screen.time_replaced and tx.active))
        if tx is not None and event_type == "Started" and not resend:  # an id used again (an impossible time,
            # replaced by the receive time, cannot tell a resend of the running session from a new one)
            self.reused_transaction_id(tx)
            tx = None
        if tx is not None:
            if tag and tx.id_tag is None:
                tx = self.store.set_transaction_tag(tx.id, tag)
                self.one_connector_per_vehicle(tx)
            return tx, screen.samples(meter_value, tx)
        evse_id = (evse or {}).get("id") or 0
        if not screen.connector(evse_id, "evse_id"):
            return None, []
        samples = screen.samples(meter_value, None)
        tx = self._open(charger_tx_id, evse_id, tag, at, samples)
        self.emit("tx_started", tx.connector_id, transaction_id=tx.id, charger_tx_id=charger_tx_id,
                  id_tag=tx.id_tag, meter_start_wh=tx.meter_start_wh, trigger_reason=trigger_reason)
        return tx, samples

    def _book(self, tx: Transaction, event_type: str, at, samples: list, transaction_info: dict) -> None:
        """Store the event's samples, its charging state and, for an Ended, the stop."""
        # an Ended for a session we closed by inference (depot.ocpp.reconcile): the charger's word corrects it
        ending = event_type == "Ended" and (tx.active or inferred_stop(tx))
        if samples and (tx.active or ending):
            self.store.add_meter_samples(self.id, tx.connector_id, samples, transaction_id=tx.id)
        state = transaction_info.get("charging_state")
        if event_type != "Ended" and state in CHARGING_STATE:
            self._set_status(tx.connector_id, CHARGING_STATE[state], charging_state=state)
        if samples and tx.active:
            self.emit("meter", tx.connector_id, transaction_id=tx.id, **sample_detail(samples))
        if ending:
            self._close(tx, at, samples, transaction_info.get("stopped_reason") or "Local", state)

    def _open(self, charger_tx_id: str, evse_id: int, tag: str | None, at, samples) -> Transaction:
        """Open the session; without a good register reading in this event its start register is unknown: the
        first good one becomes it (`Store.start_transaction`)."""
        self.supersede(evse_id, at)  # what was still open on this EVSE is over
        tx = self.store.start_transaction(self.id, evse_id, tag, started_at=at,
                                          meter_start_wh=_energy(samples, last=False),
                                          charger_tx_id=charger_tx_id)
        self.one_connector_per_vehicle(tx)
        return tx

    def _close(self, tx: Transaction, at, samples, reason: str, state: str | None) -> None:
        tx = self.store.stop_transaction(self.id, stopped_at=at, charger_tx_id=tx.charger_tx_id,
                                         meter_stop_wh=_energy(samples, last=True), reason=reason)
        if state != "Idle" and self._status_of(tx.connector_id) in RUNNING:
            self._set_status(tx.connector_id, ConnectorStatus.FINISHING)  # still plugged in, no longer charging
        self.emit("tx_stopped", tx.connector_id, transaction_id=tx.id, charger_tx_id=tx.charger_tx_id,
                  reason=reason, meter_stop_wh=tx.meter_stop_wh,
                  energy_wh=(tx.meter_stop_wh or tx.meter_start_wh) - tx.meter_start_wh)

    @on(Action.meter_values)
    def on_meter_values(self, evse_id: int, meter_value: list, **kwargs):
        screen = Screen(self, "MeterValues", evse_id=evse_id, meter_value=meter_value)
        if screen.connector(evse_id, "evse_id"):
            tx = self.store.active_transaction_on(self.id, evse_id) if evse_id else None
            samples = screen.samples(meter_value, tx)
            self.store.add_meter_samples(self.id, evse_id, samples, transaction_id=tx.id if tx else None)
            if samples:
                self.emit("meter", evse_id, transaction_id=tx.id if tx else None, **sample_detail(samples))
        screen.done()
        return call_result.MeterValues()

    # ------------------------------------------------------------ the rest: stored or logged

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, **kwargs):
        known = vendor_id in KNOWN_VENDORS
        LOGGER.info("charger %s: DataTransfer %s/%s %s", self.id, vendor_id, message_id,
                    "accepted" if known else "from an unknown vendor")
        return call_result.DataTransfer(status=DataTransferStatusEnumType.accepted if known
                                        else DataTransferStatusEnumType.unknown_vendor_id)

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **kwargs):
        self.store.set_charger_status_field(self.id, firmware_status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, status: str, **kwargs):
        self.store.set_charger_status_field(self.id, diagnostics_status=status)
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, type: str, timestamp: str, tech_info: str | None = None, **kwargs):
        from depot.ocpp.charger_security import security_event_notification  # stored, shown in the history
        return security_event_notification(self, type, timestamp, tech_info, call_result.SecurityEventNotification())

    @on(Action.notify_event)
    def on_notify_event(self, **kwargs):  # kept in the raw event log
        return call_result.NotifyEvent()

    @on(Action.notify_report)
    def on_notify_report(self, **kwargs):  # kept in the raw event log
        return call_result.NotifyReport()

    @on(Action.notify_charging_limit)
    def on_notify_charging_limit(self, charging_limit: dict, evse_id: int | None = None, **kwargs):
        LOGGER.warning("charger %s: an external charging limit (%s) applies to EVSE %s", self.id,
                       charging_limit.get("charging_limit_source"), evse_id if evse_id is not None else "all")
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    def on_cleared_charging_limit(self, charging_limit_source: str, evse_id: int | None = None, **kwargs):
        LOGGER.info("charger %s: external charging limit (%s) cleared", self.id, charging_limit_source)
        return call_result.ClearedChargingLimit()


# ---------------------------------------------------------------- requests (same names as depot.ocpp.v16)


def remote_start(evse_id: int, id_tag: str, *, remote_start_id: int, charging_profile: dict | None = None,
                 token_type: str | None = None):
    """RequestStartTransaction. The idToken type defaults to Central (a token the CSMS hands over)."""
    return call.RequestStartTransaction(id_token={"id_token": id_tag, "type": token_type or "Central"},
                                        remote_start_id=remote_start_id, evse_id=evse_id,
                                        charging_profile=charging_profile)


def remote_stop(transaction: Transaction):
    if not transaction.charger_tx_id:
        raise ValidationError("transaction", f"transaction {transaction.id} has no 2.0.1 transactionId")
    return call.RequestStopTransaction(transaction_id=transaction.charger_tx_id)


def reset(hard: bool):
    return call.Reset(type="Immediate" if hard else "OnIdle")


def change_availability(evse_id: int, operative: bool):
    return call.ChangeAvailability(operational_status="Operative" if operative else "Inoperative",
                                   evse={"id": evse_id} if evse_id else None)


def unlock_connector(evse_id: int):
    return call.UnlockConnector(evse_id=evse_id, connector_id=1)


def trigger_message(what: str, evse_id: int | None):
    evse = None
    if evse_id:
        evse = {"id": evse_id, "connector_id": 1} if what == "StatusNotification" else {"id": evse_id}
    return call.TriggerMessage(requested_message=what, evse=evse)


def set_charging_profile(evse_id: int, profile: dict):
    return call.SetChargingProfile(evse_id=evse_id, charging_profile=profile)


def profile_id(profile: dict) -> int | None:
    return profile.get("id")


def clear_charging_profile(*, profile_id: int | None = None, connector_id: int | None = None,
                           purpose: str | None = None, stack_level: int | None = None):
    criteria = {k: v for k, v in (("evse_id", connector_id), ("charging_profile_purpose", purpose),
                                  ("stack_level", stack_level)) if v is not None}
    return call.ClearChargingProfile(charging_profile_id=profile_id, charging_profile_criteria=criteria or None)


def get_composite_schedule(evse_id: int, duration_s: int, unit: str | None):
    return call.GetCompositeSchedule(duration=duration_s, evse_id=evse_id, charging_rate_unit=unit)


def get_variables(pairs: list[tuple[str, str]]):
    return call.GetVariables(get_variable_data=[{"component": {"name": c}, "variable": {"name": v}}
                                                for c, v in pairs])


def set_variables(triples: list[tuple[str, str, str]]):
    return call.SetVariables(set_variable_data=[
        {"attribute_value": str(value), "component": {"name": c}, "variable": {"name": v}} for c, v, value in triples])


CTRLR = "SmartChargingCtrlr"
RATE_UNIT, PERIODS, STACK_LEVEL = "RateUnit", "PeriodsPerSchedule", "ProfileStackLevel"


def capabilities_request():
    return get_variables([(CTRLR, RATE_UNIT), (CTRLR, PERIODS), (CTRLR, STACK_LEVEL)])


def parse_capabilities(result: call_result.GetVariables) -> Capabilities:
    values = {}
    for r in result.get_variable_result or ():
        if isinstance(r, dict) and r.get("attribute_status") == "Accepted":
            values[(r.get("component") or {}).get("name"), (r.get("variable") or {}).get("name")] = \
                r.get("attribute_value")
    return Capabilities(rate_unit=rate_unit(values.get((CTRLR, RATE_UNIT))),
                        max_periods=as_int(values.get((CTRLR, PERIODS))),
                        max_stack_level=as_int(values.get((CTRLR, STACK_LEVEL))))
