"""Row -> domain-value conversions and the store's own small value types (PlanRecord, ChargerDetail).

The repositories return these, never live ORM rows; `dumps` is shared with the callers (`is_online` lives in depot.model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time

from depot.model import (
    Capabilities,
    Charger,
    ChargerView,
    Connector,
    ConnectorStatus,
    CurrentType,
    EventRecord,
    Protocol,
    Transaction,
    Vehicle,
)
from depot.planning.departures import Departure, RosterEntry
from depot.store.tables import (
    ChargerRow,
    ConnectorRow,
    DepartureRow,
    EventRow,
    PlanRow,
    RosterRow,
    TransactionRow,
    VehicleRow,
)


def _charger(r: ChargerRow) -> Charger:
    return Charger(
        id=r.id, max_kw=r.max_kw, current_type=CurrentType(r.current_type), phases=r.phases,
        protocol=Protocol(r.protocol) if r.protocol else None, vendor=r.vendor, model=r.model,
        serial=r.serial, firmware=r.firmware, bay=r.bay, commissioned=r.commissioned,
        site_meter=r.site_meter, last_seen=r.last_seen, last_boot=r.last_boot,
        heartbeat_interval=r.heartbeat_interval,
        capabilities=Capabilities(r.rate_unit, r.max_periods, r.max_stack_level),
    )


def _connector(r: ConnectorRow) -> Connector:
    return Connector(r.charger_id, r.connector_id, _status(r.status), r.error_code, r.vendor_error_code,
                     r.info, r.updated_at)


def _status(value: str) -> ConnectorStatus:
    try:
        return ConnectorStatus(value)
    except ValueError:
        return ConnectorStatus.UNKNOWN


def _transaction(r: TransactionRow) -> Transaction:
    return Transaction(
        id=r.id, charger_id=r.charger_id, connector_id=r.connector_id, id_tag=r.id_tag,
        started_at=r.started_at, meter_start_wh=r.meter_start_wh, charger_tx_id=r.charger_tx_id,
        vehicle_id=r.vehicle_id, stopped_at=r.stopped_at, meter_stop_wh=r.meter_stop_wh,
        stop_reason=r.stop_reason,
    )


def _vehicle(r: VehicleRow, tag: str | None = None) -> Vehicle:
    return Vehicle(r.id, r.name, r.battery_kwh, r.max_ac_kw, r.max_dc_kw, tag)


def _event(r: EventRow) -> EventRecord:
    return EventRecord(r.at, r.charger_id, r.direction, r.kind, r.action, r.payload)


@dataclass(frozen=True)
class PlanRecord:
    """A stored plan: the problem it solved and the plan, both as the JSON of docs/planning-format.md."""

    id: int
    created_at: datetime
    reason: str
    status: str
    problem: dict
    plan: dict
    superseded_at: datetime | None = None


def _departure(r: DepartureRow) -> Departure:
    return Departure(r.vehicle_id, r.departure, r.arrival, r.energy_kwh, r.target_soc, r.arrival_soc, r.priority,
                     id=r.id)


def _roster(r: RosterRow) -> RosterEntry:
    return RosterEntry(r.vehicle_id, r.weekday, time.fromisoformat(r.arrival), time.fromisoformat(r.departure),
                       r.energy_kwh, r.target_soc, r.priority, id=r.id)


def _plan(r: PlanRow) -> PlanRecord:
    return PlanRecord(r.id, r.created_at, r.reason, r.status, json.loads(r.problem), json.loads(r.plan),
                      r.superseded_at)


@dataclass(frozen=True)
class ChargerDetail:
    """The floor plan's detail panel for one charger."""

    view: ChargerView
    connectors: tuple[Connector, ...]
    sessions: tuple[Transaction, ...]  # the running ones
    errors: tuple[EventRecord, ...]  # the last status notifications that carried an error
    messages: tuple[EventRecord, ...]  # the last raw messages, newest first



def dumps(payload: object) -> str:
    """Compact JSON for the event log."""
    return json.dumps(payload, separators=(",", ":"), default=str)
