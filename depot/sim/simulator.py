"""The simulated depot: all simulated chargers on one clock, the vehicles' daily schedule, and `depot simulate`.

Vehicles follow a daily schedule on the shared clock (arrive in the evening, leave in the morning; every time is
UTC, the demo clock starts at 16:30 UTC), plug into their assigned charger (or another free compatible one),
authorize with their id tag, charge under the charging profiles the central system set, and leave.

Public API: `SimulatedDepot(base_url, chargers, vehicles, clock=, fault_rate=, seed=)` with `start()`, `stop()`,
`wait_connected()`, `settle()`, `charger(id)` (a `depot.sim.charger.SimulatedCharger`) and the hooks `plug_in`,
`unplug`, `fault`, `clear_fault`, `set_reject_profiles`; `make_charger(spec, ...)`; `night_of(now, arrival,
departure)`; `run_standalone(...)` and `main(argv)` for `depot simulate`. With `passwords=` ({charger id:
password}, what `seed_store` returns) each charger sends HTTP Basic credentials (security profile 1); `depot
simulate` takes them with `--password-file FILE` (lines `CHARGER-ID PASSWORD`) and/or one `--password PW`
for every charger (a test rig), the file winning. The specs are in `depot.sim.specs`, the
demo layout (`demo_depot`, `seed_store`, `demo_clock`) in `depot.sim.demo`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from depot.clock import Clock
from depot.model import ConnectorStatus, CurrentType, Protocol
from depot.sim.charger import SimulatedCharger
from depot.sim.demo import demo_clock, demo_depot
from depot.sim.ocpp16 import Charger16
from depot.sim.ocpp201 import Charger201
from depot.sim.specs import SimChargerSpec, SimVehicleSpec
from depot.text import count

log = logging.getLogger(__name__)


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


def make_charger(spec: SimChargerSpec, **kwargs) -> SimulatedCharger:
    cls = Charger16 if spec.protocol == Protocol.OCPP16 else Charger201
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
                 response_timeout: float = 30.0, passwords: Mapping[str, str] | None = None):
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
        for cid, ch in self._chargers.items():
            ch.password = (passwords or {}).get(cid)
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
                         prefix: str = "SIM-", seconds: float | None = None, out=None,
                         passwords: Mapping[str, str] | None = None) -> None:
    """Run a simulated depot against the central system at `url` until cancelled (or for `seconds`)."""
    out = out or sys.stdout
    chargers, vehicles = demo_depot(n_chargers, seed=seed, prefix=prefix)
    clock = demo_clock(speed)
    print(f"simulated depot: {count(len(chargers), 'charger')}, {count(len(vehicles), 'vehicle')}, clock {clock():%Y-%m-%d %H:%M} UTC "
          f"× {speed:g}, fault rate {fault_rate:g}", file=out)
    print("charger ids (the server must know them, or run in commissioning mode):", file=out)
    for c in chargers:
        print(f"  {c.id}  {c.protocol.value:9s} {c.current_type.value} {c.max_kw:g} kW  bay {c.bay}", file=out)
    print("vehicles and their id tags (unknown tags are refused unless the server accepts any tag):", file=out)
    for v in vehicles:
        print(f"  {v.id}  tag {v.id_tag}  {v.battery_kwh:g} kWh  charger {v.charger_id}  "
              f"{v.arrival:%H:%M}–{v.departure:%H:%M} UTC", file=out)
    sim = SimulatedDepot(url, chargers, vehicles, clock=clock, fault_rate=fault_rate, seed=seed, passwords=passwords)
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
    p.add_argument("--password-file", dest="password_file", metavar="FILE",
                   help="the chargers' passwords, one 'CHARGER-ID PASSWORD' per line (# comments)")
    p.add_argument("--password", help="one password for every charger not in --password-file (test rigs; "
                                      "visible in the process list)")
    return p


def read_passwords(path: str | None, shared: str | None, ids: Iterable[str]) -> dict[str, str]:
    """{charger id: password} for `ids`: the file's lines `CHARGER-ID PASSWORD`, else the shared password."""
    found: dict[str, str] = {}
    if path:
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{path}:{n}: expected 'CHARGER-ID PASSWORD'")
            found[parts[0]] = parts[1]
    return {cid: found.get(cid, shared) for cid in ids if found.get(cid, shared) is not None}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.chargers < 0 or args.speed <= 0 or not 0 <= args.fault_rate <= 1:
        print("depot simulate: --chargers ≥ 0, --speed > 0 and 0 ≤ --fault-rate ≤ 1", file=sys.stderr)
        return 2
    try:
        ids = [c.id for c in demo_depot(args.chargers, seed=args.seed, prefix=args.prefix)[0]]
        passwords = read_passwords(args.password_file, args.password, ids)
    except (OSError, ValueError) as exc:
        print(f"depot simulate: --password-file: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_standalone(args.url, args.chargers, args.speed, args.fault_rate, args.seed,
                                   prefix=args.prefix, seconds=args.seconds, passwords=passwords))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
