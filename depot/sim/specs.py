"""What a simulated depot is made of: the specs of its chargers and vehicles.

Specs are fixed for a run; the live state (connectors, sessions) is in `depot.sim.state`, the demo's specs come
from `depot.sim.demo.demo_depot`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from depot.model import CurrentType, Protocol


@dataclass(frozen=True)
class SimChargerSpec:
    """`max_kw` is each connector's rating; a max profile (ChargePointMaxProfile / ChargingStationMaxProfile)
    limits the charger as a whole and is shared equally by its charging connectors."""

    id: str
    protocol: Protocol
    current_type: CurrentType
    max_kw: float
    phases: int
    bay: str
    connectors: int = 1


@dataclass(frozen=True)
class SimVehicleSpec:
    id: str
    name: str
    battery_kwh: float
    onboard_ac_kw: float
    max_dc_kw: float
    id_tag: str
    arrival: time  # UTC time of day
    departure: time  # UTC time of day (the next morning when before `arrival`)
    arrival_soc: float  # %
    charger_id: str | None = None  # the charger it is assigned to (any free compatible one otherwise)

    def max_kw(self, current_type: CurrentType) -> float:
        return self.max_dc_kw if current_type == CurrentType.DC else self.onboard_ac_kw
