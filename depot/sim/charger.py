"""A simulated charger: its connectors' state, the charge they deliver under the installed profiles, and the
hooks each OCPP version fills in.

Each `SimulatedCharger` is an OCPP 1.6J or 2.0.1 client (`{base_url}/{charger_id}`, subprotocol `ocpp1.6` or
`ocpp2.0.1`) built on the `ocpp` package: `Charger16` (`depot.sim.ocpp16`) or `Charger201`
(`depot.sim.ocpp201`), as `depot.sim.simulator.make_charger` picks. The class is put together from one mixin
per concern, all working on the state set up here: `ChargerEvents` (vehicles, faults, the periodic tick;
`depot.sim.events`), `ChargerCommands` (profiles, availability, reset, service jobs; `depot.sim.commands`) and
`ChargerConnection` (websocket, boot, outbox; `depot.sim.connection`). This module has the inspection that
tests read (`.connected`, `.status(n)`, `.power_kw(n)`, `.limit_kw(n)`, `.soc(n)`, `.energy_wh(n)`,
`.transaction_id(n)`, `.profiles`) and the physics; the battery physics and profile evaluation themselves are
pure, in `depot.sim.vehicle`.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from datetime import datetime

from ocpp.v16 import ChargePoint as Cp16

from depot.clock import Clock
from depot.model import ConnectorStatus, Protocol
from depot.sim.commands import ChargerCommands
from depot.sim.connection import ChargerConnection
from depot.sim.events import ChargerEvents
from depot.sim.specs import SimChargerSpec, SimVehicleSpec
from depot.sim.state import ConnectorState, Outgoing, Session
from depot.sim.vehicle import Profile, amps_for, draw_kw, integrate, next_change
from depot.sim.vehicle import limit_kw as profile_limit_kw


class SimulatedCharger(ChargerEvents, ChargerCommands, ChargerConnection):
    """One simulated charger. Tests read `.connected`, `.status(n)`, `.power_kw(n)`, `.limit_kw(n)`, `.profiles`."""

    protocol: Protocol

    def __init__(self, spec: SimChargerSpec, *, base_url: str, clock: Clock, rng: random.Random,
                 fault_rate: float = 0.0, meter_interval: int = 60, min_meter_gap: float = 5.0,
                 min_heartbeat_gap: float = 1.0, response_timeout: float = 30.0):
        self.spec = spec
        self.url = f"{base_url.rstrip('/')}/{spec.id}"
        self.clock = clock
        self.rng = rng
        self.fault_rate = fault_rate
        self.min_meter_gap = min_meter_gap
        self.min_heartbeat_gap = min_heartbeat_gap
        self.response_timeout = response_timeout
        now = clock()
        self.connectors = {n: ConnectorState(n, float(rng.randrange(100_000, 5_000_000)), now)
                           for n in range(1, spec.connectors + 1)}
        self.installed: list[Profile] = []
        self.config: dict[str, str] = {"HeartbeatInterval": "60", "MeterValueSampleInterval": str(meter_interval)}
        self.reject_profiles = False
        self.accepted = False  # BootNotification accepted on the current connection
        self.boots = 0
        self.sent = 0
        self.answered = 0
        self.errors = 0
        self.last_error: str | None = None
        self._boot_reason = "PowerUp"
        self._ws = None
        self._cp = None
        self._outbox: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._next_heartbeat = 0.0
        self._replug: list[tuple[int, SimVehicleSpec, float]] = []
        self._on_idle_reset = False
        self._event_id = 0
        self._resets: set[asyncio.Task] = set()

    # ------------------------------------------------------------ inspection

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def connected(self) -> bool:
        return self._ws is not None and self.accepted

    @property
    def profiles(self) -> list[Profile]:
        return list(self.installed)

    def _conn(self, connector: int | None) -> ConnectorState:
        if connector is None:
            return self.connectors[1]
        return self.connectors[connector]

    def status(self, connector: int = 1) -> ConnectorStatus:
        return self._desired(self._conn(connector), self.clock())

    def session(self, connector: int = 1) -> Session | None:
        return self._conn(connector).session

    def soc(self, connector: int = 1) -> float | None:
        s = self._conn(connector).session
        return None if s is None else s.soc

    def energy_wh(self, connector: int = 1) -> float:
        c = self._conn(connector)
        self._advance(c, self.clock())
        return c.energy_wh

    def transaction_id(self, connector: int = 1) -> str | None:
        s = self._conn(connector).session
        return s.tx_id if s is not None and s.tx_open else None

    def limit_kw(self, connector: int = 1, *, now: datetime | None = None) -> float:
        """The cap the profiles and the charger's rating put on this connector at `now`."""
        c = self._conn(connector)
        s = c.session
        share = 1 + sum(1 for o in self.connectors.values() if o is not c and self._energized(o))
        return profile_limit_kw(self.installed, now=now or self.clock(), connector_id=c.id, phases=self.spec.phases,
                                current_type=self.spec.current_type, charger_kw=self.spec.max_kw,
                                transaction_id=s.tx_id if s and s.tx_open else None,
                                tx_start=s.tx_start if s else None, share=share)

    def power_kw(self, connector: int = 1) -> float:
        c = self._conn(connector)
        now = self.clock()
        self._advance(c, now)
        return self._power_at(c, now)

    def _energized(self, c: ConnectorState) -> bool:
        s = c.session
        return s is not None and s.charging and c.fault_code is None and not c.unavailable

    def _power_at(self, c: ConnectorState, now: datetime) -> float:
        if not self._energized(c):
            return 0.0
        s = c.session
        return draw_kw(s.soc, s.vehicle.max_kw(self.spec.current_type), self.limit_kw(c.id, now=now))

    # ------------------------------------------------------------ physics

    def _advance(self, c: ConnectorState, now: datetime) -> None:
        """Integrate the charge of connector `c` up to `now`, splitting where a profile changes the cap."""
        t = c.last_t
        if now <= t:
            return
        if self._energized(c):
            s = c.session
            vkw = s.vehicle.max_kw(self.spec.current_type)
            while t < now and s.soc < 100.0:
                nxt = next_change(self.installed, now=t, tx_start=s.tx_start, horizon_s=(now - t).total_seconds())
                nxt = now if nxt is None else min(nxt, now)
                cap = self.limit_kw(c.id, now=t)
                step = integrate(s.soc, s.vehicle.battery_kwh, vkw, cap, (nxt - t).total_seconds())
                s.soc = step.soc
                c.energy_wh += step.energy_kwh * 1000.0
                t = nxt
        c.last_t = now

    def _advance_all(self, now: datetime) -> None:
        for c in self.connectors.values():
            self._advance(c, now)

    def _desired(self, c: ConnectorState, now: datetime) -> ConnectorStatus:
        if c.fault_code is not None:
            return ConnectorStatus.FAULTED
        s = c.session
        if s is None:
            return ConnectorStatus.UNAVAILABLE if c.unavailable else ConnectorStatus.AVAILABLE
        if s.stopped:
            return ConnectorStatus.FINISHING
        if not s.charging:
            return ConnectorStatus.UNAVAILABLE if c.unavailable else ConnectorStatus.PREPARING
        if c.unavailable:
            return ConnectorStatus.SUSPENDED_EVSE
        if s.soc >= 100.0:
            return ConnectorStatus.SUSPENDED_EV
        if self.limit_kw(c.id, now=now) <= 0:
            return ConnectorStatus.SUSPENDED_EVSE
        return ConnectorStatus.CHARGING

    # ------------------------------------------------------------ version-specific parts

    _cp_class: type = Cp16

    def _boot_payload(self):
        raise NotImplementedError

    def _heartbeat_payload(self):
        raise NotImplementedError

    def _initial_status(self) -> None:
        pass

    def _on_plug(self, c: ConnectorState) -> None:
        raise NotImplementedError

    def _sync_status(self, c: ConnectorState, *, cleared: bool = False) -> None:
        raise NotImplementedError

    def _stop_tx(self, c: ConnectorState, reason: str, *, trigger: str = "StopAuthorized") -> None:
        raise NotImplementedError

    def _queue_meter(self, c: ConnectorState, trigger: str) -> None:
        raise NotImplementedError

    def _reset_reason(self, kind: str) -> str:
        raise NotImplementedError

    def _sampled(self, c: ConnectorState, now: datetime, context: str, *, as_text: bool) -> list[dict]:
        self._advance(c, now)
        p = self._power_at(c, now)
        values = [
            ("Energy.Active.Import.Register", c.energy_wh, "Wh", "Outlet", 0),
            ("Power.Active.Import", p * 1000.0, "W", "Outlet", 1),
            ("Current.Import", amps_for(p, self.spec.phases, self.spec.current_type), "A", "Outlet", 1),
        ]
        if c.session is not None:
            values.append(("SoC", c.session.soc, "Percent", "EV", 1))
        out = []
        for measurand, value, unit, location, digits in values:
            v = round(value, digits) if digits else round(value)
            if as_text:
                out.append({"value": str(v), "measurand": measurand, "unit": unit, "context": context,
                            "location": location})
            else:
                out.append({"value": float(v), "measurand": measurand, "context": context, "location": location,
                            "unit_of_measure": {"unit": unit}})
        return out
