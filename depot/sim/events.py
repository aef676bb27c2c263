"""What happens to a simulated charger: vehicles plug in and leave, connectors fault and recover, and time
passes (the periodic tick).

`ChargerEvents` is mixed into `depot.sim.charger.SimulatedCharger` and works on its state. `tick` runs on every
depot tick: it integrates the charge, faults the sessions drawn to fault (`fault_rate`) and clears timed faults,
and queues periodic meter values and heartbeats. Heartbeats follow the interval of the BootNotification answer
(clock seconds → real seconds); periodic meter values go out every MeterValueSampleInterval / TxUpdatedInterval
clock seconds but at most one per connector every `min_meter_gap` real seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from depot.clock import real_seconds
from depot.model import Protocol
from depot.sim.specs import SimVehicleSpec
from depot.sim.state import Session

FAULT_CODES = ("GroundFailure", "OverCurrentFailure", "EVCommunicationError")


class ChargerEvents:
    """The hooks for tests and the vehicle schedule (`plug_in`, `unplug`, `fault`, `clear_fault`,
    `set_reject_profiles`, `send_meter_values`) and `tick`, the periodic work."""

    # ------------------------------------------------------------ test hooks and the vehicle schedule

    def free_connector(self) -> int | None:
        for c in self.connectors.values():
            if c.session is None and not c.unavailable and c.fault_code is None:
                return c.id
        return None

    def plug_in(self, vehicle: SimVehicleSpec, soc: float, connector: int | None = None, *,
                manual: bool = True) -> int:
        """A vehicle plugs in: status, authorization, transaction start. Returns the connector."""
        n = connector if connector is not None else (self.free_connector() or 1)
        c = self.connectors[n]
        if c.session is not None:
            raise ValueError(f"{self.id} connector {n} is occupied by {c.session.vehicle.id}")
        now = self.clock()
        self._advance(c, now)
        s = Session(vehicle, max(0.0, min(100.0, soc)), now, manual=manual)
        if self.fault_rate > 0 and self.rng.random() < self.fault_rate:
            s.fault_at = now + timedelta(minutes=self.rng.uniform(15, 240))
        c.session = s
        if not c.unavailable:  # an inoperative connector starts nothing until it is made operative
            self._on_plug(c)
        self._sync_status(c)
        self._wake.set()
        return n

    def unplug(self, connector: int | None = None) -> SimVehicleSpec | None:
        """The vehicle leaves: the transaction stops (reason Local / EVDisconnected), Finishing, Available."""
        c = self._conn(connector)
        s = c.session
        if s is None:
            return None
        now = self.clock()
        self._advance(c, now)
        if s.tx_open:
            self._stop_tx(c, "Local" if self.protocol == Protocol.OCPP16 else "EVDisconnected",
                          trigger="EVCommunicationLost")
        self._sync_status(c)
        c.session = None
        if c.pending_unavailable:
            c.unavailable, c.pending_unavailable = True, False
        self._sync_status(c)
        self._wake.set()
        return s.vehicle

    def fault(self, code: str = "GroundFailure", connector: int | None = None, *,
              until: datetime | None = None) -> None:
        """Fault one connector (all when None) until `until` (until `clear_fault` when None)."""
        now = self.clock()
        for c in self.connectors.values() if connector is None else [self._conn(connector)]:
            self._advance(c, now)
            c.fault_code, c.fault_until = code, until
            self._sync_status(c)
        self._wake.set()

    def clear_fault(self, connector: int | None = None) -> None:
        now = self.clock()
        for c in self.connectors.values() if connector is None else [self._conn(connector)]:
            if c.fault_code is not None:
                self._advance(c, now)
                c.fault_code = c.fault_until = None
                c.last_t = now
                self._sync_status(c, cleared=True)
        self._wake.set()

    def set_reject_profiles(self, reject: bool = True) -> None:
        self.reject_profiles = reject

    def send_meter_values(self, connector: int | None = None) -> None:
        """Queue a periodic meter sample now for the connectors in a transaction (tests; the tick does it)."""
        for c in self.connectors.values() if connector is None else [self._conn(connector)]:
            if c.session is not None and c.session.tx_open:
                self._queue_meter(c, "MeterValuePeriodic")

    # ------------------------------------------------------------ periodic work (called by the depot's tick)

    def tick(self, now: datetime, loop_now: float) -> None:
        for c in self.connectors.values():
            self._advance(c, now)
            s = c.session
            if s is not None and s.fault_at is not None and now >= s.fault_at and c.fault_code is None:
                s.fault_at = None
                minutes = self.rng.uniform(10, 45)
                self.fault(self.rng.choice(FAULT_CODES), c.id, until=now + timedelta(minutes=minutes))
            if c.fault_until is not None and now >= c.fault_until:
                self.clear_fault(c.id)
            self._sync_status(c)
            if (self.connected and s is not None and s.tx_open and not s.stopped and loop_now >= c.next_meter):
                self._queue_meter(c, "MeterValuePeriodic")
                c.next_meter = loop_now + self._meter_gap()
        if self.connected and loop_now >= self._next_heartbeat:
            self._next_heartbeat = loop_now + self._heartbeat_gap()
            if not any(o.kind == "Heartbeat" for o in self._outbox):
                self._enqueue(self._heartbeat_payload, kind="Heartbeat")
        if self._on_idle_reset and not any(c.session and c.session.tx_open for c in self.connectors.values()):
            self._on_idle_reset = False
            self._schedule_reset("OnIdle")

    def _meter_gap(self) -> float:
        interval = float(self.config.get("MeterValueSampleInterval", "60") or 60)
        return max(real_seconds(self.clock, interval), self.min_meter_gap)

    def _heartbeat_gap(self) -> float:
        interval = float(self.config.get("HeartbeatInterval", "60") or 60)
        return max(real_seconds(self.clock, interval), self.min_heartbeat_gap)
