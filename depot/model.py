"""Pure value types shared by every part of the depot: no I/O, no clock, no database.

Store functions return these, the pure core computes with them, pages render them.
Power is in kW, energy in kWh, currents in A; every datetime is timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum


class Protocol(StrEnum):
    OCPP16 = "ocpp1.6"
    OCPP201 = "ocpp2.0.1"


class CurrentType(StrEnum):
    AC = "AC"
    DC = "DC"


class ConnectorStatus(StrEnum):
    """Connector states of OCPP 1.6 (2.0.1's Occupied is mapped to Charging/Preparing by the server),
    plus Offline, which no charger sends: we derive it from missed heartbeats."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"
    OFFLINE = "Offline"
    UNKNOWN = "Unknown"


class TagStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


NOMINAL_VOLTS = 230.0


def ac_kw(amps: float, phases: int, volts: float = NOMINAL_VOLTS) -> float:
    """Power of an AC charge at `amps` per phase."""
    return amps * phases * volts / 1000.0


def ac_amps(kw: float, phases: int, volts: float = NOMINAL_VOLTS) -> float:
    """Current per phase that gives `kw` on `phases` phases."""
    return kw * 1000.0 / (phases * volts)


@dataclass(frozen=True)
class Site:
    name: str
    grid_kw: float  # 0 (as stored on a fresh install): no grid connection limit is set, see `grid_set`
    safety_margin_kw: float = 0.0
    default_departure: time | None = None  # UTC time of day assumed for a vehicle plugged in without a departure
    grid_by_demo: bool = False  # the limit was sized by the demo for the depot it simulates, not set by a person

    @property
    def grid_set(self) -> bool:
        """A grid connection limit is configured. Unset means no site cap, never a cap of zero."""
        return self.grid_kw > 0


@dataclass(frozen=True)
class Capabilities:
    """What the charger says about smart charging (read after boot)."""

    rate_unit: str | None = None  # "A", "W" or "A,W"
    max_periods: int | None = None
    max_stack_level: int | None = None


@dataclass(frozen=True)
class Connector:
    charger_id: str
    connector_id: int  # 1.6 connectorId, 2.0.1 evseId
    status: ConnectorStatus = ConnectorStatus.UNKNOWN
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Charger:
    id: str
    max_kw: float
    current_type: CurrentType = CurrentType.AC
    phases: int = 3
    protocol: Protocol | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    bay: str | None = None
    commissioned: bool = True
    site_meter: bool = False
    last_seen: datetime | None = None
    last_boot: datetime | None = None
    heartbeat_interval: int | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)


@dataclass(frozen=True)
class IdTag:
    tag: str
    vehicle_id: str | None = None
    blocked: bool = False
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Vehicle:
    id: str
    name: str
    battery_kwh: float
    max_ac_kw: float = 11.0
    max_dc_kw: float = 150.0
    id_tag: str | None = None


@dataclass(frozen=True)
class Transaction:
    id: int  # our key; also the 1.6 transactionId
    charger_id: str
    connector_id: int
    id_tag: str | None
    started_at: datetime
    meter_start_wh: float
    charger_tx_id: str | None = None  # the 2.0.1 transactionId the charger chose
    vehicle_id: str | None = None
    stopped_at: datetime | None = None
    meter_stop_wh: float | None = None
    stop_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True)
class MeterSample:
    """One metering instant of one connector. Any field may be missing: chargers send what they measure."""

    at: datetime
    energy_wh: float | None = None  # Energy.Active.Import.Register
    power_w: float | None = None  # Power.Active.Import
    current_a: float | None = None  # Current.Import (per phase)
    soc: float | None = None  # %


@dataclass(frozen=True)
class ConnectorView:
    """What the floor plan shows for one connector."""

    connector_id: int
    status: ConnectorStatus
    error_code: str | None = None
    vehicle_id: str | None = None
    vehicle_name: str | None = None
    power_kw: float | None = None
    soc: float | None = None
    session_kwh: float | None = None
    transaction_id: int | None = None


@dataclass(frozen=True)
class ChargerView:
    """A charger as the floor plan draws it, with online state derived at `now`."""

    charger: Charger
    online: bool
    connectors: tuple[ConnectorView, ...]

    @property
    def status(self) -> ConnectorStatus:
        """The one status a bay is coloured by: Offline, else the most telling connector state."""
        if not self.online:
            return ConnectorStatus.OFFLINE
        if not self.connectors:
            return ConnectorStatus.UNKNOWN
        return min((c.status for c in self.connectors), key=STATUS_RANK.index)

    @property
    def power_kw(self) -> float:
        return sum(c.power_kw or 0.0 for c in self.connectors)


# Order in which a charger's connector states win the bay's colour: faults first, idle last.
STATUS_RANK = [
    ConnectorStatus.FAULTED,
    ConnectorStatus.OFFLINE,
    ConnectorStatus.CHARGING,
    ConnectorStatus.SUSPENDED_EVSE,
    ConnectorStatus.SUSPENDED_EV,
    ConnectorStatus.PREPARING,
    ConnectorStatus.FINISHING,
    ConnectorStatus.RESERVED,
    ConnectorStatus.UNAVAILABLE,
    ConnectorStatus.AVAILABLE,
    ConnectorStatus.UNKNOWN,
]


@dataclass(frozen=True)
class SiteSummary:
    """The floor plan header."""

    chargers_total: int
    chargers_online: int
    charging_now: int
    site_power_kw: float
    grid_kw: float


@dataclass(frozen=True)
class EventRecord:
    """One raw OCPP message as logged."""

    at: datetime
    charger_id: str
    direction: str  # "in" (charger → us) or "out"
    kind: str  # "call", "result", "error"
    action: str | None
    payload: str


def is_online(charger: Charger, now: datetime, default_interval: int) -> bool:
    """A charger is online while it was heard from within twice its heartbeat interval."""
    if charger.last_seen is None:
        return False
    interval = charger.heartbeat_interval or default_interval
    return now - charger.last_seen <= timedelta(seconds=2 * interval)
