"""The simulated depot: chargers and vehicles as real OCPP clients over websockets.

Each `SimulatedCharger` is an OCPP 1.6J or 2.0.1 client (`{base_url}/{charger_id}`, subprotocol `ocpp1.6` or
`ocpp2.0.1`) built on the `ocpp` package. Vehicles follow a daily schedule on the shared clock (arrive in the
evening, leave in the morning; every time is UTC, the demo clock starts at 16:30 UTC), plug into their
assigned charger (or another free compatible one), authorize with their id tag, charge under the charging
profiles the central system set, and leave. The pure parts (battery physics, profile evaluation) live in
`depot.sim.vehicle`; this module is the shell that owns sockets, tasks and the clock.

Session life, 1.6: Available → Preparing → Authorize → StartTransaction → Charging → (SuspendedEVSE when a
profile allows nothing, SuspendedEV when full) → StopTransaction → Finishing → Available.
Session life, 2.0.1: StatusNotification Occupied, TransactionEvent Started (CablePluggedIn, no token) →
Authorize → Updated (Authorized, idToken) → Updated (ChargingStateChanged …) and Updated
(MeterValuePeriodic) with meter values → Ended (EVCommunicationLost / Remote …) → Available. 2.0.1 sends its
meter values inside TransactionEvent, as the specification has it; 1.6 sends MeterValues.

Messages: one sender task per charger sends an outbox in order, one CALL at a time. Transaction messages
(Start/Stop/TransactionEvent, Authorize) stay in the outbox while the server is away and go out after the
next BootNotification; status, heartbeat and meter messages are dropped then (status is re-sent on boot).
A 1.6 vehicle that arrives while the server is away starts charging at once (LocalAuthorizeOffline); its
StartTransaction is sent, with the transaction's original time, after the reconnect.
Heartbeats follow the interval of the BootNotification answer (clock seconds → real seconds); periodic meter
values go out every MeterValueSampleInterval / TxUpdatedInterval clock seconds but at most one per connector
every `min_meter_gap` real seconds. Installed profiles survive disconnects, as in a real charger: a TxProfile
runs to the end of its schedule (with no `duration` its last period holds until the session ends), then the
TxDefaultProfile applies; the max profile caps throughout.

Public API: `SimChargerSpec`, `SimVehicleSpec`, `demo_depot(n, seed=)`, `seed_store(store, chargers, vehicles)`,
`SimulatedDepot(base_url, chargers, vehicles, clock=, fault_rate=, seed=)` with `start()`, `stop()`,
`wait_connected()`, `settle()`, `charger(id)` (a `SimulatedCharger`: `.connected`, `.status(n)`, `.power_kw(n)`,
`.limit_kw(n)`, `.soc(n)`, `.energy_wh(n)`, `.transaction_id(n)`, `.profiles`) and the hooks `plug_in`,
`unplug`, `fault`, `clear_fault`, `set_reject_profiles`; `run_standalone(...)` and `main(argv)` for
`depot simulate`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from depot.clock import Clock, DemoClock, real_seconds
from depot.model import Charger, ConnectorStatus, CurrentType, Protocol, Vehicle
from depot.sim.vehicle import (
    Profile,
    ProfileError,
    Purpose,
    amps_for,
    check_profile,
    composite_schedule,
    draw_kw,
    integrate,
    next_change,
    parse_profile,
)
from depot.sim.vehicle import (
    limit_kw as profile_limit_kw,
)

log = logging.getLogger(__name__)
_ocpp_log = logging.getLogger("depot.sim.simulator.ocpp")
_ocpp_log.setLevel(logging.WARNING)  # the ocpp package logs every frame at INFO

FAULT_CODES = ("GroundFailure", "OverCurrentFailure", "EVCommunicationError")
MAX_PERIODS = 24
MAX_STACK_LEVEL = 8
TX_ATTEMPTS = 3  # TransactionMessageAttempts


# ---------------------------------------------------------------- specs and the demo layout


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


_KINDS = [  # (current type, kW, phases): a repeating mix, 5 AC to 3 DC
    (CurrentType.AC, 22.0, 3), (CurrentType.AC, 11.0, 3), (CurrentType.DC, 50.0, 3), (CurrentType.AC, 22.0, 3),
    (CurrentType.AC, 11.0, 3), (CurrentType.DC, 150.0, 3), (CurrentType.AC, 22.0, 3), (CurrentType.DC, 50.0, 3),
]
LANE_SIZE = 20
SERVICE_STEP_S = 0.5  # real seconds between the status notifications of a simulated service job
FIRMWARE_OK = ("Downloading", "Downloaded", "Installing", "Installed")


def bay_name(index: int) -> str:
    """Bays in lanes of 20: 0 → A01, 19 → A20, 20 → B01 … past Z the lanes are AA, AB …"""
    lane, pos = divmod(index, LANE_SIZE)
    letters = ""
    lane += 1
    while lane:
        lane, r = divmod(lane - 1, 26)
        letters = chr(ord("A") + r) + letters
    return f"{letters}{pos + 1:02d}"


def demo_depot(n_chargers: int, *, seed: int = 7, prefix: str = "") -> tuple[list[SimChargerSpec], list[SimVehicleSpec]]:
    """A deterministic depot: `n_chargers` chargers in lanes (ids `{prefix}CP-A01` …, a repeating mix of AC 11/22 kW
    and DC 50/150 kW, about half OCPP 1.6 and half 2.0.1) and about 0.9 vehicles per charger (ids
    `{prefix}EV-001` …), each assigned to a charger of its kind, arriving 17:00–19:45 and leaving 05:00–07:30 UTC."""
    if n_chargers < 0:
        raise ValueError("n_chargers must be ≥ 0")
    rng = random.Random(f"{seed}:{prefix}")
    chargers = []
    for i in range(n_chargers):
        ct, kw, phases = _KINDS[i % len(_KINDS)]
        protocol = Protocol.OCPP16 if rng.random() < 0.5 else Protocol.OCPP201
        bay = bay_name(i)
        chargers.append(SimChargerSpec(f"{prefix}CP-{bay}", protocol, ct, kw, phases, bay))
    n_vehicles = n_chargers if n_chargers < 5 else round(n_chargers * 0.9)
    order = list(range(n_chargers))
    rng.shuffle(order)
    vehicles = []
    for k, ci in enumerate(sorted(order[:n_vehicles])):
        ch = chargers[ci]
        if ch.current_type == CurrentType.DC:
            name, battery, ac, dc = "Truck", rng.choice([210.0, 280.0, 350.0]), 22.0, rng.choice([120.0, 150.0, 250.0])
        else:
            name, battery, ac, dc = "Van", rng.choice([50.0, 75.0, 90.0]), rng.choice([7.4, 11.0, 11.0, 22.0]), 80.0
        arrival = time(17 + rng.randrange(3), rng.choice([0, 15, 30, 45]))
        departure = time(5 + rng.randrange(3), rng.choice([0, 15, 30]))
        vehicles.append(SimVehicleSpec(
            id=f"{prefix}EV-{k + 1:03d}", name=f"{name} {k + 1:03d}", battery_kwh=battery, onboard_ac_kw=ac,
            max_dc_kw=dc, id_tag=f"{rng.getrandbits(48):012X}", arrival=arrival, departure=departure,
            arrival_soc=float(rng.randrange(15, 56)), charger_id=ch.id,
        ))
    return chargers, vehicles


def seed_store(store, chargers: Iterable[SimChargerSpec], vehicles: Iterable[SimVehicleSpec], *,
               grid_kw: float | None = None, site_name: str = "Demo depot") -> None:
    """Add what the store lacks: the chargers (bay, AC/DC, phases, max kW, connectors), the vehicles with their
    id tags, and the site (grid connection `grid_kw`, by default 40 % of the chargers' total power). Idempotent:
    what exists is left alone, except that an explicit `grid_kw` is always applied."""
    chargers = list(chargers)
    known = {c.id for c in store.list_chargers()}
    for c in chargers:
        if c.id not in known:
            store.add_charger(Charger(id=c.id, max_kw=c.max_kw, current_type=c.current_type, phases=c.phases,
                                      protocol=c.protocol, bay=c.bay, vendor="DepotSim",
                                      model=f"{c.current_type.value}{c.max_kw:g}"), connectors=c.connectors)
    have_vehicles = {v.id for v in store.list_vehicles()}
    have_tags = {t.tag for t in store.list_tags()}
    for v in vehicles:
        if v.id not in have_vehicles:
            store.add_vehicle(Vehicle(v.id, v.name, v.battery_kwh, max_ac_kw=v.onboard_ac_kw, max_dc_kw=v.max_dc_kw,
                                      id_tag=None if v.id_tag in have_tags else v.id_tag))
        elif v.id_tag not in have_tags:
            store.add_tag(v.id_tag, v.id)
    site = store.get_site()
    if grid_kw is not None:
        store.set_site(site.name if site.grid_kw > 0 else site_name, grid_kw, site.safety_margin_kw)
    elif site.grid_kw <= 0:
        total = sum(c.max_kw for c in store.list_chargers() if not c.site_meter)
        store.set_site(site_name, round(0.4 * total, 1))


def demo_clock(speed: float, *, start: time = time(16, 30), day: datetime | None = None) -> DemoClock:
    """A `DemoClock` at `speed` that starts today (or on `day`) at `start` UTC: just before the first arrivals."""
    base = (day or datetime.now(UTC)).astimezone(UTC)
    return DemoClock(datetime.combine(base.date(), start, tzinfo=UTC), speed)


def night_of(now: datetime, arrival: time, departure: time):
    """The date of the evening whose stay covers `now` (arrival … departure the next morning), or None when the
    vehicle is away at `now`. A window with departure after arrival is a same-day stay."""
    tod = now.timetz().replace(tzinfo=None)
    if arrival > departure:
        if tod >= arrival:
            return now.date()
        if tod < departure:
            return now.date() - timedelta(days=1)
        return None
    return now.date() if arrival <= tod < departure else None


# ---------------------------------------------------------------- charger state


def _ts(dt: datetime) -> str:
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
class _Out:
    build: Callable[[], object | None]
    done: Callable[[object | None], None] | None = None
    persistent: bool = False
    kind: str = ""
    payload: object | None = None
    attempts: int = 0


class SimulatedCharger:
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
        self._outbox: deque[_Out] = deque()
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

    # ------------------------------------------------------------ outbox

    def _enqueue(self, build: Callable[[], object | None], done: Callable[[object | None], None] | None = None, *,
                 persistent: bool = False, kind: str = "", front: bool = False) -> None:
        if not persistent and self._ws is None:
            return  # dropped while offline; the next boot re-sends the state
        item = _Out(build, done, persistent, kind)
        if front:
            self._outbox.appendleft(item)
        else:
            self._outbox.append(item)
        self._idle.clear()
        self._wake.set()

    def report_steps(self, builds: list[Callable[[], object]], *, every: float = SERVICE_STEP_S) -> None:
        """A service job (diagnostics/log upload, firmware update) reports its progress: one status
        notification every `every` real seconds."""
        loop = asyncio.get_running_loop()
        for i, build in enumerate(builds, 1):
            loop.call_later(every * i, lambda b=build: self._enqueue(b, persistent=True))

    @staticmethod
    def job_fails(location: str | None) -> bool:
        """A URL containing "fail" makes the simulated upload or firmware update fail (for demos and tests)."""
        return "fail" in (location or "").lower()

    async def drained(self) -> None:
        """Wait until every queued message was sent and answered (or dropped)."""
        while self._outbox:
            self._idle.clear()
            await self._idle.wait()

    async def _sender(self, cp) -> None:
        while True:
            if not self._outbox:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._outbox[0]
            if item.payload is None:
                item.payload = item.build()
                if item.payload is None:
                    self._outbox.popleft()
                    continue
            item.attempts += 1
            self.sent += 1
            try:
                result = await cp.call(item.payload, suppress=False)
            except OCPPError as exc:
                self.errors += 1
                self.last_error = f"{type(item.payload).__name__}: {exc}"
                log.warning("%s: %s answered with an error: %s", self.id, type(item.payload).__name__, exc)
                result = None
            except TimeoutError:
                self.errors += 1
                self.last_error = f"{type(item.payload).__name__}: no answer"
                if item.persistent and item.attempts < TX_ATTEMPTS:
                    continue
                result = None
            else:
                self.answered += 1
            if self._outbox and self._outbox[0] is item:
                self._outbox.popleft()
            if item.done is not None:
                try:
                    item.done(result)
                except Exception:  # a bug in a continuation must not kill the connection
                    log.exception("%s: handling the answer to %s", self.id, type(item.payload).__name__)

    # ------------------------------------------------------------ connection

    def start(self) -> asyncio.Task:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sim-{self.id}")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._task, *self._resets) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._task = None
        self._resets.clear()

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stopping:
            try:
                async with connect(self.url, subprotocols=[self.protocol.value], open_timeout=10,
                                   close_timeout=2, ping_interval=20, ping_timeout=20, max_queue=64) as ws:
                    if ws.subprotocol != self.protocol.value:
                        raise InvalidHandshake(f"server chose subprotocol {ws.subprotocol!r}")
                    backoff = 0.5
                    await self._connection(ws)
            except asyncio.CancelledError:
                raise
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
                log.debug("%s: connection: %s", self.id, exc)
            except Exception:
                log.exception("%s: connection failed", self.id)
            finally:
                self._ws = self._cp = None
                self.accepted = False
            if self._stopping:
                break
            await asyncio.sleep(backoff * (0.5 + self.rng.random()))
            backoff = min(backoff * 2, 30.0)

    async def _connection(self, ws) -> None:
        cp = self._cp_class(self.id, ws, response_timeout=self.response_timeout, logger=_ocpp_log)
        cp.sim = self
        self._ws, self._cp = ws, cp
        # stale state messages are not worth sending now; transaction messages are
        self._outbox = deque(o for o in self._outbox if o.persistent)
        receiver = asyncio.create_task(cp.start(), name=f"sim-recv-{self.id}")
        session = asyncio.create_task(self._boot_and_send(cp), name=f"sim-send-{self.id}")
        try:
            done, _ = await asyncio.wait({receiver, session}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()
        finally:
            for t in (receiver, session):
                t.cancel()
            await asyncio.gather(receiver, session, return_exceptions=True)

    async def _boot_and_send(self, cp) -> None:
        while True:
            self.sent += 1
            res = await cp.call(self._boot_payload(), suppress=False)
            self.answered += 1
            interval = int(res.interval or 0)
            if res.status == "Accepted":
                break
            await asyncio.sleep(max(1.0, real_seconds(self.clock, interval or 10)))
        self.boots += 1
        self._boot_reason = "PowerUp"
        if interval > 0:
            self.config["HeartbeatInterval"] = str(interval)
        self.accepted = True
        loop_now = asyncio.get_running_loop().time()
        self._next_heartbeat = loop_now + self._heartbeat_gap()
        for c in self.connectors.values():
            c.reported = None
            c.next_meter = loop_now + self.rng.uniform(0.2, 1.0) * self._meter_gap()
        statuses: list[_Out] = []
        self._status_sink = statuses
        try:
            self._initial_status()
            for c in self.connectors.values():
                self._sync_status(c)
        finally:
            self._status_sink = None
        self._outbox.extendleft(reversed(statuses))
        for n, vehicle, soc in self._replug:
            if self.connectors[n].session is None:
                self.plug_in(vehicle, soc, n, manual=False)
        self._replug.clear()
        await self._sender(cp)

    _status_sink: list | None = None

    def _enqueue_status(self, build: Callable[[], object], kind: str = "StatusNotification") -> None:
        if self._status_sink is not None:
            self._status_sink.append(_Out(build, None, False, kind))
        else:
            self._enqueue(build, kind=kind)

    # ------------------------------------------------------------ profiles (version-neutral)

    def install_profile(self, connector_id: int, payload: dict) -> tuple[str, str | None]:
        """SetChargingProfile: ("Accepted", None) or ("Rejected", reason)."""
        now = self.clock()
        if self.reject_profiles:
            return "Rejected", "set_reject_profiles"
        if connector_id != 0 and connector_id not in self.connectors:
            return "Rejected", f"no connector {connector_id}"
        try:
            prof = parse_profile(connector_id, payload, received_at=now)
            check_profile(prof, allowed_units=[self.rate_unit], max_periods=MAX_PERIODS,
                          max_stack_level=MAX_STACK_LEVEL)
        except (ProfileError, KeyError, TypeError, ValueError) as exc:
            return "Rejected", str(exc)
        if prof.purpose == Purpose.CHARGER_MAX and connector_id != 0:
            return "Rejected", "a max profile belongs on connector 0"
        if prof.purpose == Purpose.TX:
            s = self.connectors[connector_id].session if connector_id else None
            if s is None or not s.tx_open:
                return "Rejected", "no transaction on the connector"
            if s.tx_id is None and prof.transaction_id is not None:
                s.tx_id = prof.transaction_id  # 1.6: the StartTransaction answer is still on its way to us
            if s.tx_id is None:
                return "Rejected", "the transaction has no id yet"
            if prof.transaction_id is not None and prof.transaction_id != s.tx_id:
                return "Rejected", f"transaction {prof.transaction_id} is not the running one ({s.tx_id})"
            prof = replace(prof, transaction_id=s.tx_id)
        self._advance_all(now)
        self.installed = [p for p in self.installed if not (
            p.id == prof.id or (p.stack_level == prof.stack_level and p.purpose == prof.purpose
                                and p.connector_id == prof.connector_id))]
        self.installed.append(prof)
        for c in self.connectors.values():
            self._sync_status(c)
        return "Accepted", None

    def clear_profiles(self, *, profile_id: int | None = None, connector_id: int | None = None,
                       purpose: str | None = None, stack_level: int | None = None) -> bool:
        now = self.clock()

        def match(p: Profile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return ((connector_id is None or p.connector_id == connector_id)
                    and (purpose is None or p.purpose_name == purpose or p.purpose.value == purpose
                         or (purpose == "ChargingStationMaxProfile" and p.purpose == Purpose.CHARGER_MAX))
                    and (stack_level is None or p.stack_level == stack_level))

        gone = [p for p in self.installed if match(p)]
        if not gone:
            return False
        self._advance_all(now)
        self.installed = [p for p in self.installed if not match(p)]
        for c in self.connectors.values():
            self._sync_status(c)
        return True

    def composite(self, connector_id: int, duration: int, unit: str | None) -> tuple[datetime, str, list]:
        now = self.clock()
        unit = unit or self.rate_unit
        c = self.connectors.get(connector_id)
        s = c.session if c else None
        periods = composite_schedule(
            self.installed, now=now, duration=duration, connector_id=connector_id, phases=self.spec.phases,
            current_type=self.spec.current_type, charger_kw=self.spec.max_kw * (1 if c else len(self.connectors)),
            unit=unit, transaction_id=s.tx_id if s and s.tx_open else None, tx_start=s.tx_start if s else None)
        return now, unit, [{"start_period": a, "limit": b} for a, b in periods]

    @property
    def rate_unit(self) -> str:
        return "W" if self.spec.current_type == CurrentType.DC else "A"

    def _drop_tx_profiles(self, tx_id: str | None) -> None:
        if tx_id is not None:
            self.installed = [p for p in self.installed if not (p.purpose == Purpose.TX and p.transaction_id == tx_id)]

    # ------------------------------------------------------------ availability, reset, unlock (version-neutral)

    def change_availability(self, connector_id: int, operative: bool) -> str:
        targets = list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        scheduled = False
        now = self.clock()
        for c in targets:
            self._advance(c, now)
            if operative:
                was, c.unavailable, c.pending_unavailable = c.unavailable, False, False
                if was and c.session is not None and not c.session.tx_open and not c.session.stopped:
                    self._on_plug(c)  # a vehicle waited on the inoperative connector: start its session now
            elif c.session is not None and c.session.tx_open:
                c.pending_unavailable = True
                scheduled = True
            else:
                c.unavailable = True
            self._sync_status(c)
        return "Scheduled" if scheduled else "Accepted"

    def _schedule_reset(self, kind: str) -> None:
        task = asyncio.get_running_loop().create_task(self._reset(kind), name=f"sim-reset-{self.id}")
        self._resets.add(task)
        task.add_done_callback(self._resets.discard)

    async def _reset(self, kind: str) -> None:
        now = self.clock()
        self._replug = []
        for c in self.connectors.values():
            self._advance(c, now)
            s = c.session
            if s is not None:
                if s.tx_open:
                    self._stop_tx(c, self._reset_reason(kind), trigger="ResetCommand")
                self._replug.append((c.id, s.vehicle, s.soc))
                c.session = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drained(), 10)
        self._boot_reason = "RemoteReset"
        ws = self._ws
        if ws is not None:
            await ws.close()

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


# ---------------------------------------------------------------- OCPP 1.6


class _Cp16(Cp16):
    sim: _Charger16

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
            status="Accepted", connector_id=connector_id, schedule_start=_ts(now),
            charging_schedule={"duration": duration, "start_schedule": _ts(now), "charging_rate_unit": unit,
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
        return r16.ChangeConfiguration(status=self.sim.change_configuration(key, value))

    @on("ClearCache")
    def _clear_cache(self, **_):
        return r16.ClearCache(status="Accepted")

    @on("DataTransfer")
    def _data_transfer(self, vendor_id, **_):
        return r16.DataTransfer(status="UnknownVendorId")


class _Charger16(SimulatedCharger):
    protocol = Protocol.OCPP16
    _cp_class = _Cp16

    _READ_ONLY = ("ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
                  "ChargeProfileMaxStackLevel", "NumberOfConnectors", "MaxChargingProfilesInstalled",
                  "SupportedFeatureProfiles", "ChargingScheduleMaxPeriods")

    def _config_values(self) -> dict[str, tuple[str, bool]]:
        values = {
            "HeartbeatInterval": (self.config["HeartbeatInterval"], False),
            "MeterValueSampleInterval": (self.config["MeterValueSampleInterval"], False),
            "MeterValuesSampledData": ("Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC", False),
            "ChargingScheduleAllowedChargingRateUnit": ("Power" if self.rate_unit == "W" else "Current", True),
            "ChargingScheduleMaxPeriods": (str(MAX_PERIODS), True),
            "ChargeProfileMaxStackLevel": (str(MAX_STACK_LEVEL), True),
            "MaxChargingProfilesInstalled": ("16", True),
            "NumberOfConnectors": (str(len(self.connectors)), True),
            "SupportedFeatureProfiles": ("Core,SmartCharging,RemoteTrigger", True),
            "AuthorizeRemoteTxRequests": ("false", True),
            "LocalAuthorizeOffline": ("true", True),
            "StopTransactionOnEVSideDisconnect": ("true", True),
        }
        return values

    def get_configuration(self, keys: list[str] | None) -> tuple[list[dict], list[str]]:
        values = self._config_values()
        wanted = list(values) if not keys else keys
        known = [{"key": k, "readonly": values[k][1], "value": values[k][0]} for k in wanted if k in values]
        return known, [k for k in wanted if k not in values]

    def change_configuration(self, key: str, value: str) -> str:
        values = self._config_values()
        if key not in values:
            return "NotSupported"
        if values[key][1]:
            return "Rejected"
        if key in ("HeartbeatInterval", "MeterValueSampleInterval"):
            try:
                if int(value) <= 0:
                    return "Rejected"
            except ValueError:
                return "Rejected"
            self.config[key] = str(int(value))
            if key == "HeartbeatInterval":
                self._next_heartbeat = 0.0
            return "Accepted"
        return "Accepted"

    def _boot_payload(self):
        return c16.BootNotification(
            charge_point_model=f"Sim{self.spec.current_type.value}{self.spec.max_kw:g}", charge_point_vendor="DepotSim",
            charge_point_serial_number=self.id[-25:], firmware_version="sim-1.0")

    def _heartbeat_payload(self):
        return c16.Heartbeat()

    def _initial_status(self) -> None:
        ts = _ts(self.clock())
        self._enqueue_status(lambda: c16.StatusNotification(connector_id=0, error_code="NoError", status="Available",
                                                            timestamp=ts))

    def _sync_status(self, c: ConnectorState, *, cleared: bool = False) -> None:
        now = self.clock()
        status = self._desired(c, now)
        key = f"{status.value}/{c.fault_code}"
        if key == c.reported:
            return
        c.reported = key
        ts = _ts(now)
        code = c.fault_code or "NoError"
        info = f"simulated {c.fault_code}" if c.fault_code else None
        self._enqueue_status(lambda: c16.StatusNotification(connector_id=c.id, error_code=code, status=status.value,
                                                            timestamp=ts, info=info))

    def _on_plug(self, c: ConnectorState) -> None:
        s = c.session
        if self._ws is None:  # LocalAuthorizeOffline: start now, tell the server later
            self._begin_tx(c, s.vehicle.id_tag)
            return

        def authorized(res) -> None:
            if c.session is not s or s.tx_open:
                return
            if res is not None and res.id_tag_info.get("status") == "Accepted":
                self._begin_tx(c, s.vehicle.id_tag)
            else:
                s.auth_failed = True
            self._sync_status(c)

        self._enqueue(lambda: c16.Authorize(id_tag=s.vehicle.id_tag), authorized, persistent=True, kind="Authorize")

    def _begin_tx(self, c: ConnectorState, id_tag: str, profile: dict | None = None) -> None:
        s = c.session
        now = self.clock()
        self._advance(c, now)
        s.id_tag, s.authorized, s.tx_open, s.stopped = id_tag, True, True, False
        s.tx_id, s.tx_start, s.meter_start_wh = None, now, c.energy_wh
        s.pending_profile = profile
        c.last_t = now
        ts, meter = _ts(now), round(c.energy_wh)

        def started(res) -> None:
            if res is None:
                return
            s.tx_id = str(res.transaction_id)
            if res.id_tag_info.get("status") != "Accepted" and c.session is s and s.tx_open:
                self._stop_tx(c, "DeAuthorized")
            elif s.pending_profile is not None and c.session is s:
                status, reason = self.install_profile(c.id, {**s.pending_profile, "transaction_id": res.transaction_id})
                if reason:
                    log.info("%s: RemoteStart profile %s: %s", self.id, status, reason)
            s.pending_profile = None
            self._sync_status(c)

        self._enqueue(lambda: c16.StartTransaction(connector_id=c.id, id_tag=id_tag, meter_start=meter, timestamp=ts),
                      started, persistent=True, kind="StartTransaction")
        c.next_meter = asyncio.get_running_loop().time() + self._meter_gap()
        self._sync_status(c)

    def _stop_tx(self, c: ConnectorState, reason: str, *, trigger: str = "") -> None:
        s = c.session
        now = self.clock()
        self._advance(c, now)
        s.tx_open, s.stopped = False, True
        ts, meter = _ts(now), round(c.energy_wh)
        tag = s.id_tag
        data = [{"timestamp": ts, "sampled_value": [{"value": str(meter), "measurand": "Energy.Active.Import.Register",
                                                     "unit": "Wh", "context": "Transaction.End"}]}]

        def build():
            if s.tx_id is None:
                return None  # the start was never acknowledged: nothing to stop on the server
            return c16.StopTransaction(meter_stop=meter, timestamp=ts, transaction_id=int(s.tx_id), reason=reason,
                                       id_tag=tag, transaction_data=data)

        def stopped(_res) -> None:
            self._drop_tx_profiles(s.tx_id)

        self._enqueue(build, stopped, persistent=True, kind="StopTransaction")
        self._sync_status(c)

    def _queue_meter(self, c: ConnectorState, trigger: str) -> None:
        s = c.session
        now = self.clock()
        context = "Trigger" if trigger == "Trigger" else "Sample.Periodic"
        mv = [{"timestamp": _ts(now), "sampled_value": self._sampled(c, now, context, as_text=True)}]

        def build():
            tx = s.tx_id if s is not None and s.tx_open else None
            return c16.MeterValues(connector_id=c.id, meter_value=mv, transaction_id=int(tx) if tx else None)

        self._enqueue(build, kind="MeterValues")

    def _reset_reason(self, kind: str) -> str:
        return "HardReset" if kind == "Hard" else "SoftReset"

    def remote_start(self, id_tag: str, connector_id: int | None, profile: dict | None) -> str:
        for c in self.connectors.values() if connector_id in (None, 0) else [self.connectors.get(connector_id)]:
            if c is None or c.session is None or c.session.tx_open or c.fault_code or c.unavailable:
                continue
            if profile is not None and profile.get("charging_profile_purpose") != "TxProfile":
                return "Rejected"
            c.session.stopped = False
            self._begin_tx(c, id_tag, profile)
            return "Accepted"
        return "Rejected"

    def remote_stop(self, tx_id: str) -> str:
        for c in self.connectors.values():
            s = c.session
            if s is not None and s.tx_open and s.tx_id == tx_id:
                self._stop_tx(c, "Remote")
                return "Accepted"
        return "Rejected"

    def unlock(self, connector_id: int) -> None:
        c = self.connectors[connector_id]
        if c.session is not None and c.session.tx_open:
            self._stop_tx(c, "UnlockCommand")

    def trigger(self, what: str, connector_id: int | None) -> None:
        targets = [c for n, c in self.connectors.items() if connector_id in (None, 0, n)]
        if what == "BootNotification":
            self._enqueue(self._boot_payload, kind="BootNotification")
        elif what == "Heartbeat":
            self._enqueue(self._heartbeat_payload, kind="Heartbeat")
        elif what == "MeterValues":
            for c in targets:
                self._queue_meter(c, "Trigger")
        elif what == "StatusNotification":
            for c in targets:
                c.reported = None
                self._sync_status(c)


# ---------------------------------------------------------------- OCPP 2.0.1


class _Cp201(Cp201):
    sim: _Charger201

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
            "evse_id": evse_id, "duration": duration, "schedule_start": _ts(now), "charging_rate_unit": unit,
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

    @on("GetVariables")
    def _get_variables(self, get_variable_data, **_):
        return r201.GetVariables(get_variable_result=[self.sim.get_variable(d) for d in get_variable_data])

    @on("SetVariables")
    def _set_variables(self, set_variable_data, **_):
        return r201.SetVariables(set_variable_result=[self.sim.set_variable(d) for d in set_variable_data])

    @on("ClearCache")
    def _clear_cache(self, **_):
        return r201.ClearCache(status="Accepted")


class _Charger201(SimulatedCharger):
    protocol = Protocol.OCPP201
    _cp_class = _Cp201

    def _variables(self) -> dict[tuple[str, str], tuple[str, bool]]:
        return {
            ("SmartChargingCtrlr", "Enabled"): ("true", True),
            ("SmartChargingCtrlr", "Available"): ("true", True),
            ("SmartChargingCtrlr", "RateUnit"): (self.rate_unit, True),
            ("SmartChargingCtrlr", "PeriodsPerSchedule"): (str(MAX_PERIODS), True),
            ("SmartChargingCtrlr", "ProfileStackLevel"): (str(MAX_STACK_LEVEL), True),
            ("SmartChargingCtrlr", "Entries"): (str(len(self.installed)), True),
            ("OCPPCommCtrlr", "HeartbeatInterval"): (self.config["HeartbeatInterval"], False),
            ("SampledDataCtrlr", "TxUpdatedInterval"): (self.config["MeterValueSampleInterval"], False),
            ("SampledDataCtrlr", "TxUpdatedMeasurands"):
                ("Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC", True),
            ("AuthCtrlr", "AuthorizeRemoteStart"): ("false", True),
            ("AuthCtrlr", "LocalAuthorizeOffline"): ("true", True),
            ("TxCtrlr", "TxStartPoint"): ("EVConnected", True),
            ("TxCtrlr", "TxStopPoint"): ("EVConnected", True),
        }

    _CONFIG_KEY = {("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
                   ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval"}

    def _lookup(self, d: dict) -> tuple[tuple[str, str] | None, str | None]:
        comp, var = d["component"]["name"], d["variable"]["name"]
        table = self._variables()
        if not any(k[0] == comp for k in table):
            return None, "UnknownComponent"
        if (comp, var) not in table:
            return None, "UnknownVariable"
        if d.get("attribute_type", "Actual") != "Actual":
            return None, "NotSupportedAttributeType"
        return (comp, var), None

    def get_variable(self, d: dict) -> dict:
        key, error = self._lookup(d)
        out = {"component": d["component"], "variable": d["variable"]}
        if d.get("attribute_type"):
            out["attribute_type"] = d["attribute_type"]
        if key is None:
            return {"attribute_status": error, **out}
        return {"attribute_status": "Accepted", "attribute_value": self._variables()[key][0], **out}

    def set_variable(self, d: dict) -> dict:
        key, error = self._lookup(d)
        out = {"component": d["component"], "variable": d["variable"]}
        if d.get("attribute_type"):
            out["attribute_type"] = d["attribute_type"]
        if key is None:
            return {"attribute_status": error, **out}
        if self._variables()[key][1]:
            return {"attribute_status": "Rejected", **out}
        try:
            value = int(d["attribute_value"])
        except ValueError:
            value = 0
        if value <= 0:
            return {"attribute_status": "Rejected", **out}
        self.config[self._CONFIG_KEY[key]] = str(value)
        if key[1] == "HeartbeatInterval":
            self._next_heartbeat = 0.0
        return {"attribute_status": "Accepted", **out}

    def _boot_payload(self):
        return c201.BootNotification(
            charging_station={"model": f"Sim{self.spec.current_type.value}{self.spec.max_kw:g}",
                              "vendor_name": "DepotSim", "serial_number": self.id[-25:], "firmware_version": "sim-1.0"},
            reason=self._boot_reason)

    def _heartbeat_payload(self):
        return c201.Heartbeat()

    @staticmethod
    def _connector_status(status: ConnectorStatus) -> str:
        if status in (ConnectorStatus.AVAILABLE, ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE):
            return status.value
        return "Occupied"

    @staticmethod
    def _charging_state(status: ConnectorStatus) -> str:
        return {ConnectorStatus.CHARGING: "Charging", ConnectorStatus.SUSPENDED_EV: "SuspendedEV",
                ConnectorStatus.PREPARING: "EVConnected"}.get(status, "SuspendedEVSE")

    def _sync_status(self, c: ConnectorState, *, cleared: bool = False) -> None:
        now = self.clock()
        status = self._desired(c, now)
        wire = self._connector_status(status)
        ts = _ts(now)
        if wire != c.reported:
            previous, c.reported = c.reported, wire
            self._enqueue_status(lambda: c201.StatusNotification(timestamp=ts, connector_status=wire, evse_id=c.id,
                                                                 connector_id=1))
            if wire == "Faulted" or (previous == "Faulted" and cleared):
                self._notify_fault(c, ts, cleared=wire != "Faulted")
        s = c.session
        if s is not None and s.tx_open and s.authorized:
            state = self._charging_state(status)
            if state != s.reported_state:
                s.reported_state = state
                self._tx_event(c, "Updated", "ChargingStateChanged", now, state=state)

    def _notify_fault(self, c: ConnectorState, ts: str, *, cleared: bool) -> None:
        self._event_id += 1
        event = {"event_id": self._event_id, "timestamp": ts, "trigger": "Delta",
                 "actual_value": "false" if cleared else "true", "event_notification_type": "HardWiredNotification",
                 "component": {"name": "Connector", "evse": {"id": c.id, "connector_id": 1}},
                 "variable": {"name": "Problem"}}
        if cleared:
            event["cleared"] = True
        elif c.fault_code:
            event["tech_code"] = c.fault_code
            event["tech_info"] = f"simulated {c.fault_code}"
        s = c.session
        if s is not None and s.tx_open:
            event["transaction_id"] = s.tx_id
        self._enqueue_status(lambda: c201.NotifyEvent(generated_at=ts, seq_no=0, event_data=[event]), kind="NotifyEvent")

    def _tx_event(self, c: ConnectorState, event_type: str, trigger: str, now: datetime, *, state: str | None = None,
                  token: str | None = None, reason: str | None = None, meter_context: str | None = None,
                  remote_start_id: int | None = None) -> None:
        s = c.session
        info: dict = {"transaction_id": s.tx_id}
        if state:
            info["charging_state"] = state
        if reason:
            info["stopped_reason"] = reason
        if remote_start_id is not None:
            info["remote_start_id"] = remote_start_id
        seq = s.seq_no
        s.seq_no += 1
        meter = None
        if meter_context:
            meter = [{"timestamp": _ts(now), "sampled_value": self._sampled(c, now, meter_context, as_text=False)}]
        offline = True if self._ws is None else None
        ts = _ts(now)
        payload = c201.TransactionEvent(
            event_type=event_type, timestamp=ts, trigger_reason=trigger, seq_no=seq, transaction_info=info,
            meter_value=meter, offline=offline, evse={"id": c.id, "connector_id": 1} if event_type == "Started" else None,
            id_token={"id_token": token, "type": "ISO14443"} if token else None,
            number_of_phases_used=self.spec.phases if event_type == "Started" and self.rate_unit == "A" else None)

        def done(res) -> None:
            info = getattr(res, "id_token_info", None) or {}
            if token and info.get("status") not in (None, "Accepted") and c.session is s and s.tx_open:
                s.authorized = False
                self._end_tx(c, "DeAuthorized", "Deauthorized")

        persistent = meter_context is None or event_type != "Updated"
        self._enqueue(lambda: payload, done, persistent=persistent, kind="TransactionEvent")

    def _on_plug(self, c: ConnectorState) -> None:
        s = c.session
        now = self.clock()
        s.tx_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        s.tx_open, s.tx_start, s.meter_start_wh = True, now, c.energy_wh
        self._tx_event(c, "Started", "CablePluggedIn", now, state="EVConnected", meter_context="Transaction.Begin")
        s.reported_state = "EVConnected"
        if self._ws is None:  # LocalAuthorizeOffline
            self._authorized(c, s.vehicle.id_tag, "Authorized")
            return

        def answered(res) -> None:
            if c.session is not s or not s.tx_open or s.authorized:
                return
            if res is not None and res.id_token_info.get("status") == "Accepted":
                self._authorized(c, s.vehicle.id_tag, "Authorized")
            else:
                s.auth_failed = True

        self._enqueue(lambda: c201.Authorize(id_token={"id_token": s.vehicle.id_tag, "type": "ISO14443"}), answered,
                      persistent=True, kind="Authorize")

    def _authorized(self, c: ConnectorState, token: str, trigger: str, remote_start_id: int | None = None) -> None:
        s = c.session
        now = self.clock()
        self._advance(c, now)
        s.authorized, s.id_tag = True, token
        c.last_t = now
        status = self._desired(c, now)
        state = self._charging_state(status)
        s.reported_state = state
        self._tx_event(c, "Updated", trigger, now, state=state, token=token, remote_start_id=remote_start_id)
        c.next_meter = asyncio.get_running_loop().time() + self._meter_gap()
        self._sync_status(c)

    def _end_tx(self, c: ConnectorState, reason: str, trigger: str) -> None:
        s = c.session
        now = self.clock()
        self._advance(c, now)
        tx = s.tx_id
        self._tx_event(c, "Ended", trigger, now, state="Idle" if trigger == "EVCommunicationLost" else "EVConnected",
                       reason=reason, meter_context="Transaction.End")
        s.tx_open, s.stopped = False, True
        self._drop_tx_profiles(tx)
        self._sync_status(c)

    def _stop_tx(self, c: ConnectorState, reason: str, *, trigger: str = "StopAuthorized") -> None:
        self._end_tx(c, reason, trigger)

    def _queue_meter(self, c: ConnectorState, trigger: str) -> None:
        s = c.session
        now = self.clock()
        if s is not None and s.tx_open:
            self._tx_event(c, "Updated", trigger, now, meter_context="Trigger" if trigger == "Trigger"
                           else "Sample.Periodic")
        else:
            mv = [{"timestamp": _ts(now), "sampled_value": self._sampled(c, now, "Trigger", as_text=False)}]
            self._enqueue(lambda: c201.MeterValues(evse_id=c.id, meter_value=mv), kind="MeterValues")

    def _reset_reason(self, kind: str) -> str:
        return "ImmediateReset"

    def request_start(self, id_token: dict, remote_start_id: int, evse_id: int | None,
                      profile: dict | None) -> tuple[str, str | None]:
        token = id_token.get("id_token")
        for c in self.connectors.values() if evse_id in (None, 0) else [self.connectors.get(evse_id)]:
            s = c.session if c else None
            if s is None or c.fault_code or c.unavailable or (s.tx_open and s.authorized):
                continue
            if profile is not None and profile.get("charging_profile_purpose") != "TxProfile":
                return "Rejected", None
            if not s.tx_open:  # the previous transaction ended while the vehicle stayed: open another
                now = self.clock()
                self._advance(c, now)
                s.tx_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                s.tx_open, s.stopped, s.tx_start, s.seq_no = True, False, now, 0
                s.meter_start_wh = c.energy_wh
                self._tx_event(c, "Started", "RemoteStart", now, state="EVConnected",
                               meter_context="Transaction.Begin", remote_start_id=remote_start_id)
            self._authorized(c, token, "RemoteStart", remote_start_id)
            if profile is not None:
                status, reason = self.install_profile(c.id, {**profile, "transaction_id": s.tx_id})
                if reason:
                    log.info("%s: RequestStart profile %s: %s", self.id, status, reason)
            return "Accepted", s.tx_id
        return "Rejected", None

    def request_stop(self, tx_id: str) -> str:
        for c in self.connectors.values():
            s = c.session
            if s is not None and s.tx_open and s.tx_id == tx_id:
                self._end_tx(c, "Remote", "RemoteStop")
                return "Accepted"
        return "Rejected"

    def trigger(self, what: str, evse_id: int | None) -> None:
        targets = [c for n, c in self.connectors.items() if evse_id in (None, 0, n)]
        if what == "BootNotification":
            self._enqueue(self._boot_payload, kind="BootNotification")
        elif what == "Heartbeat":
            self._enqueue(self._heartbeat_payload, kind="Heartbeat")
        elif what in ("MeterValues", "TransactionEvent"):
            for c in targets:
                if what == "MeterValues" or (c.session and c.session.tx_open):
                    self._queue_meter(c, "Trigger")
        elif what == "StatusNotification":
            for c in targets:
                c.reported = None
                self._sync_status(c)


def make_charger(spec: SimChargerSpec, **kwargs) -> SimulatedCharger:
    cls = _Charger16 if spec.protocol == Protocol.OCPP16 else _Charger201
    return cls(spec, **kwargs)


# ---------------------------------------------------------------- the depot


@dataclass
class _VehicleState:
    spec: SimVehicleSpec
    charger_id: str | None = None
    connector: int | None = None
    night: object | None = None  # the evening (date) of the stay it is plugged for
    last_night: object | None = None
    manual: bool = False


class SimulatedDepot:
    """All simulated chargers and the vehicles' schedule, on one clock, on the running event loop.

    `auto_schedule=False` leaves the vehicles to the test hooks (`plug_in`, `unplug`)."""

    def __init__(self, base_url: str, chargers: Iterable[SimChargerSpec], vehicles: Iterable[SimVehicleSpec], *,
                 clock: Clock, fault_rate: float = 0.02, seed: int = 7, auto_schedule: bool = True,
                 tick_seconds: float = 1.0, meter_interval: int = 60, min_meter_gap: float = 5.0,
                 response_timeout: float = 30.0):
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        self.base_url = base_url
        self.charger_specs = list(chargers)
        self.vehicle_specs = list(vehicles)
        self.clock = clock
        self.fault_rate = fault_rate
        self.seed = seed
        self.auto_schedule = auto_schedule
        self.tick_seconds = tick_seconds
        self.meter_interval = meter_interval
        self.min_meter_gap = min_meter_gap
        self.response_timeout = response_timeout
        self._rng = random.Random(seed)
        self._chargers = {
            s.id: make_charger(s, base_url=base_url, clock=clock, rng=random.Random(f"{seed}:{s.id}"),
                               fault_rate=fault_rate, meter_interval=meter_interval, min_meter_gap=min_meter_gap,
                               response_timeout=response_timeout)
            for s in self.charger_specs
        }
        self._vehicles = {v.id: _VehicleState(v) for v in self.vehicle_specs}
        self._tick_task: asyncio.Task | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect every charger and start the schedule; returns at once (see `wait_connected`)."""
        for ch in self._chargers.values():
            ch.start()
        if self._tick_task is None:
            self._tick_task = asyncio.get_running_loop().create_task(self._ticker(), name="sim-depot-tick")

    async def stop(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
            self._tick_task = None
        await asyncio.gather(*(ch.stop() for ch in self._chargers.values()))

    async def wait_connected(self, timeout: float | None = None, ids: Iterable[str] | None = None) -> None:
        """Until every charger (or those of `ids`) has an accepted BootNotification; TimeoutError after `timeout`."""
        targets = [self._chargers[i] for i in ids] if ids is not None else list(self._chargers.values())

        async def wait() -> None:
            while not all(c.connected for c in targets):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(wait(), timeout)

    async def settle(self, timeout: float | None = 30.0) -> None:
        """Run one tick now and wait until every connected charger's outbox is sent and answered."""
        self.tick()
        await asyncio.wait_for(asyncio.gather(*(c.drained() for c in self._chargers.values() if c.connected)),
                               timeout)

    async def _ticker(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("simulated depot tick")
            await asyncio.sleep(self.tick_seconds)

    def tick(self) -> None:
        now = self.clock()
        loop_now = asyncio.get_running_loop().time()
        if self.auto_schedule:
            self._schedule(now)
        for ch in self._chargers.values():
            ch.tick(now, loop_now)

    # ------------------------------------------------------------ vehicles

    def _schedule(self, now: datetime) -> None:
        for st in self._vehicles.values():
            if st.manual:
                continue
            v = st.spec
            night = night_of(now, v.arrival, v.departure)
            if st.charger_id is not None:
                if night != st.night:
                    self._unplug_vehicle(st)
                continue
            if night is None or night == st.last_night:
                continue
            target = self._pick_charger(v)
            if target is None:
                continue
            soc = max(5.0, min(95.0, v.arrival_soc + self._rng.uniform(-5.0, 5.0)))
            st.connector = target.plug_in(v, soc, target.free_connector(), manual=False)
            st.charger_id, st.night, st.last_night = target.id, night, night

    def _pick_charger(self, v: SimVehicleSpec) -> SimulatedCharger | None:
        assigned = self._chargers.get(v.charger_id) if v.charger_id else None
        if assigned is not None and assigned.free_connector() is not None:
            return assigned
        kind = assigned.spec.current_type if assigned else CurrentType.AC
        others = [c for c in self._chargers.values() if c.free_connector() is not None and v.max_kw(c.spec.current_type) > 0]
        others.sort(key=lambda c: c.spec.current_type != kind)
        return others[0] if others else None

    def _unplug_vehicle(self, st: _VehicleState) -> None:
        ch = self._chargers[st.charger_id]
        c = ch.connectors[st.connector]
        if c.session is not None and c.session.vehicle.id == st.spec.id:
            ch.unplug(st.connector)
        st.charger_id = st.connector = st.night = None

    # ------------------------------------------------------------ inspection and test hooks

    def charger(self, charger_id: str) -> SimulatedCharger:
        return self._chargers[charger_id]

    @property
    def chargers(self) -> list[SimulatedCharger]:
        return list(self._chargers.values())

    def vehicle(self, vehicle_id: str) -> SimVehicleSpec:
        return self._vehicles[vehicle_id].spec

    def plug_in(self, charger_id: str, vehicle_id: str, soc: float | None = None, connector: int | None = None) -> int:
        st = self._vehicles[vehicle_id]
        if st.charger_id is not None:
            self._unplug_vehicle(st)
        ch = self._chargers[charger_id]
        n = ch.plug_in(st.spec, st.spec.arrival_soc if soc is None else soc, connector)
        st.charger_id, st.connector, st.manual = charger_id, n, True
        return n

    def unplug(self, charger_id: str, connector: int | None = None) -> None:
        ch = self._chargers[charger_id]
        c = ch.connectors[connector or 1]
        if c.session is not None:
            st = self._vehicles.get(c.session.vehicle.id)
            if st is not None:
                st.last_night = st.night if st.night is not None else night_of(
                    self.clock(), st.spec.arrival, st.spec.departure)
                st.charger_id = st.connector = st.night = None
                st.manual = False
        ch.unplug(c.id)

    def fault(self, charger_id: str, code: str = "GroundFailure", connector: int | None = None) -> None:
        self._chargers[charger_id].fault(code, connector)

    def clear_fault(self, charger_id: str, connector: int | None = None) -> None:
        self._chargers[charger_id].clear_fault(connector)

    def set_reject_profiles(self, charger_id: str, reject: bool = True) -> None:
        self._chargers[charger_id].set_reject_profiles(reject)

    def stats(self) -> dict[str, int]:
        cs = self._chargers.values()
        return {"chargers": len(self._chargers), "connected": sum(c.connected for c in cs),
                "plugged": sum(1 for c in cs for k in c.connectors.values() if k.session is not None),
                "charging": sum(1 for c in cs for k in c.connectors.values()
                                if c.status(k.id) == ConnectorStatus.CHARGING),
                "sent": sum(c.sent for c in cs), "answered": sum(c.answered for c in cs),
                "errors": sum(c.errors for c in cs)}


# ---------------------------------------------------------------- standalone entry


async def run_standalone(url: str, n_chargers: int, speed: float, fault_rate: float, seed: int, *,
                         prefix: str = "SIM-", seconds: float | None = None, out=None) -> None:
    """Run a simulated depot against the central system at `url` until cancelled (or for `seconds`)."""
    out = out or sys.stdout
    chargers, vehicles = demo_depot(n_chargers, seed=seed, prefix=prefix)
    clock = demo_clock(speed)
    print(f"simulated depot: {len(chargers)} chargers, {len(vehicles)} vehicles, clock {clock():%Y-%m-%d %H:%M} UTC "
          f"× {speed:g}, fault rate {fault_rate:g}", file=out)
    print("charger ids (the server must know them, or run in commissioning mode):", file=out)
    for c in chargers:
        print(f"  {c.id}  {c.protocol.value:9s} {c.current_type.value} {c.max_kw:g} kW  bay {c.bay}", file=out)
    print("vehicles and their id tags (unknown tags are refused unless the server accepts any tag):", file=out)
    for v in vehicles:
        print(f"  {v.id}  tag {v.id_tag}  {v.battery_kwh:g} kWh  charger {v.charger_id}  "
              f"{v.arrival:%H:%M}–{v.departure:%H:%M} UTC", file=out)
    sim = SimulatedDepot(url, chargers, vehicles, clock=clock, fault_rate=fault_rate, seed=seed)
    await sim.start()
    loop = asyncio.get_running_loop()
    t_end = None if seconds is None else loop.time() + seconds
    try:
        while t_end is None or loop.time() < t_end:
            await asyncio.sleep(min(10.0, t_end - loop.time()) if t_end is not None else 10.0)
            st = sim.stats()
            print(f"{clock():%H:%M} UTC  connected {st['connected']}/{st['chargers']}  plugged {st['plugged']}  "
                  f"charging {st['charging']}  messages {st['sent']} (errors {st['errors']})", file=out, flush=True)
    finally:
        await sim.stop()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="depot simulate", description="Run a simulated depot of OCPP chargers and vehicles.")
    p.add_argument("--url", required=True, help="central system base URL, e.g. ws://127.0.0.1:9000")
    p.add_argument("--chargers", type=int, default=20, help="number of chargers (default 20)")
    p.add_argument("--speed", type=float, default=60.0, help="clock speed-up (default 60: an hour per minute)")
    p.add_argument("--fault-rate", dest="fault_rate", type=float, default=0.02,
                   help="probability that a charging session faults (default 0.02)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--prefix", default="SIM-", help="id prefix of chargers and vehicles (default SIM-)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many real seconds")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.chargers < 0 or args.speed <= 0 or not 0 <= args.fault_rate <= 1:
        print("depot simulate: --chargers ≥ 0, --speed > 0 and 0 ≤ --fault-rate ≤ 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_standalone(args.url, args.chargers, args.speed, args.fault_rate, args.seed,
                                   prefix=args.prefix, seconds=args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
