"""The demo depot: its layout of chargers and vehicles, seeding the store with it, and the demo clock.

`demo_depot(n, seed=, prefix=)` is deterministic (a vehicle's id and id tag do not depend on `n`);
`seed_store(store, chargers, vehicles)` is idempotent (but for the new password it gives each simulated
charger every time: it returns them for the simulator, the store keeps only their hashes); `demo_clock(speed)`
starts just before the first arrivals.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import UTC, datetime, time

from depot.clock import DemoClock, utc_now
from depot.model import Charger, CurrentType, Protocol, Vehicle
from depot.sim.specs import SimChargerSpec, SimVehicleSpec
from depot.store.security import generate_password

_KINDS = [  # (current type, kW, phases): a repeating mix, 5 AC to 3 DC
    (CurrentType.AC, 22.0, 3), (CurrentType.AC, 11.0, 3), (CurrentType.DC, 50.0, 3), (CurrentType.AC, 22.0, 3),
    (CurrentType.AC, 11.0, 3), (CurrentType.DC, 150.0, 3), (CurrentType.AC, 22.0, 3), (CurrentType.DC, 50.0, 3),
]
LANE_SIZE = 20

log = logging.getLogger(__name__)


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
        rng.getrandbits(48)  # the draw the id tag once took: the rest of the depot stays as it was
        vehicles.append(SimVehicleSpec(
            id=f"{prefix}EV-{k + 1:03d}", name=f"{name} {k + 1:03d}", battery_kwh=battery, onboard_ac_kw=ac,
            max_dc_kw=dc, id_tag=demo_tag(k, seed=seed, prefix=prefix), arrival=arrival, departure=departure,
            arrival_soc=float(rng.randrange(15, 56)), charger_id=ch.id,
        ))
    return chargers, vehicles


def demo_tag(k: int, *, seed: int = 7, prefix: str = "") -> str:
    """The id tag of demo vehicle number `k` (0-based): the same whatever the depot's size, so that a demo
    restarted on a used database with another `--chargers` keeps each vehicle's tag."""
    return f"{random.Random(f'{seed}:{prefix}:tag:{k}').getrandbits(48):012X}"


def seed_store(store, chargers: Iterable[SimChargerSpec], vehicles: Iterable[SimVehicleSpec], *,
               grid_kw: float | None = None, site_name: str = "Demo depot") -> dict[str, str]:
    """Add what the store lacks: the chargers (bay, AC/DC, phases, max kW, connectors), the vehicles with their
    id tags, and the site (grid connection `grid_kw`, by default 40 % of the chargers' total power). Idempotent:
    what exists is left alone, except that an explicit `grid_kw` is always applied and that every simulated
    charger gets a new generated password (security profile 1, as a real charger: the store keeps only its
    salted hash). Returns {charger id: password} for `SimulatedDepot(passwords=)`."""
    chargers = list(chargers)
    known = {c.id for c in store.list_chargers()}
    for c in chargers:
        if c.id not in known:
            store.add_charger(Charger(id=c.id, max_kw=c.max_kw, current_type=c.current_type, phases=c.phases,
                                      protocol=c.protocol, bay=c.bay, vendor="DepotSim",
                                      model=f"{c.current_type.value}{c.max_kw:g}"), connectors=c.connectors)
    passwords = {c.id: generate_password() for c in chargers}
    store.set_charger_passwords(passwords, now=utc_now())
    have_vehicles = {v.id for v in store.list_vehicles()}
    have_tags = {t.tag for t in store.list_tags()}
    for v in vehicles:
        if v.id not in have_vehicles:
            store.add_vehicle(Vehicle(v.id, v.name, v.battery_kwh, max_ac_kw=v.onboard_ac_kw, max_dc_kw=v.max_dc_kw,
                                      id_tag=None if v.id_tag in have_tags else v.id_tag))
        elif v.id_tag not in have_tags:
            store.add_tag(v.id_tag, v.id)
    _size_site(store, chargers, grid_kw, site_name)
    return passwords


def _size_site(store, chargers: list[SimChargerSpec], grid_kw: float | None, site_name: str) -> None:
    """An explicit `grid_kw` is the operator's; otherwise the demo sizes the site for the depot it simulates
    (40 % of its chargers' power), also on a used database that it sized for another number of chargers,
    but never over a limit a person set. The log says which."""
    site = store.get_site()
    name = site.name if site.grid_set else site_name
    if grid_kw is not None:
        store.set_site(name, grid_kw, site.safety_margin_kw)
        log.info("site grid connection: %g kW, as --grid-kw asks", grid_kw)
        return
    if site.grid_set and not site.grid_by_demo:
        log.info("site grid connection: %g kW, kept: it was set on purpose (the Site page or `depot site "
                 "--grid-kw` change it)", site.grid_kw)
        return
    total = sum(c.max_kw for c in chargers)
    sized = round(0.4 * total, 1)
    store.set_site(name, sized, site.safety_margin_kw, by_demo=True)
    log.info("site grid connection: %g kW, sized by the demo for its %d chargers (40 %% of their %g kW)%s",
             sized, len(chargers), total, "" if site.grid_kw in (0, sized) else f"; it was {site.grid_kw:g} kW")


def demo_clock(speed: float, *, start: time = time(16, 30), day: datetime | None = None) -> DemoClock:
    """A `DemoClock` at `speed` that starts today (or on `day`) at `start` UTC: just before the first arrivals."""
    base = (day or datetime.now(UTC)).astimezone(UTC)
    return DemoClock(datetime.combine(base.date(), start, tzinfo=UTC), speed)
