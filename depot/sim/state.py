"""A simulated charger's live state: its connectors, the session on each, and the messages waiting to go out.

Plain data; `depot.sim.charger.SimulatedCharger` and its mixins change it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from depot.sim.specs import SimVehicleSpec


def wire_time(dt: datetime) -> str:
    """`dt` as the simulator sends it: UTC, ISO 8601, milliseconds."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass
class Session:
    """A vehicle plugged into a connector, and its transaction if one runs."""

    vehicle: SimVehicleSpec
    soc: float
    plugged_at: datetime
    id_tag: str | None = None  # the authorizing token, once authorized
    tx_id: str | None = None  # 1.6: the server's id as str once answered; 2.0.1: ours
    tx_start: datetime | None = None
    tx_open: bool = False
    authorized: bool = False
    auth_failed: bool = False
    stopped: bool = False  # the transaction ended while the vehicle is still plugged
    meter_start_wh: float = 0.0
    seq_no: int = 0
    reported_state: str | None = None  # 2.0.1 chargingState last sent
    fault_at: datetime | None = None
    pending_profile: dict | None = None
    remote_start_id: int | None = None
    manual: bool = False

    @property
    def charging(self) -> bool:
        return self.tx_open and self.authorized and not self.stopped


@dataclass
class ConnectorState:
    id: int
    energy_wh: float
    last_t: datetime
    session: Session | None = None
    fault_code: str | None = None
    fault_until: datetime | None = None
    unavailable: bool = False
    pending_unavailable: bool = False
    reported: str | None = None  # the status last sent
    next_meter: float = 0.0  # loop time


@dataclass
class Outgoing:
    """One message in a charger's outbox: `build` makes the payload when its turn comes (None: nothing to send),
    `done` gets the answer (None after an error); `persistent` messages survive a disconnect."""

    build: Callable[[], object | None]
    done: Callable[[object | None], None] | None = None
    persistent: bool = False
    kind: str = ""
    payload: object | None = None
    attempts: int = 0
