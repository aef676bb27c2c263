"""Seeded synthetic depots for benchmarks and tests.

PURE: the same arguments give the same problem; randomness comes only from ``numpy.random`` seeded
by the caller, and the start time is a parameter.

A depot: vehicles arrive in the evening (some are already plugged in) and leave in the morning,
each needs 20-200 kWh (no more than its charger could give it in its stay), chargers are a mix of
11/22 kW AC (three phases, whole amps, 6 A minimum) and 50/150 kW DC, some vehicles have priority 2,
prices are time-of-use with an evening peak, and the site limit is a fraction of the chargers'
total power.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from depot.planning.planner import PlanningProblem, VehicleNeed, ac_min_kw, ac_power_kw

DEFAULT_START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

# (share, max kW, phases): AC at 16 A / 32 A on three phases, DC continuous.
CHARGER_MIX = (
    (0.40, ac_power_kw(16, 3), 3),
    (0.25, ac_power_kw(32, 3), 3),
    (0.25, 50.0, None),
    (0.10, 150.0, None),
)


def tou_prices(start: datetime, slots: int, slot_minutes: float) -> tuple[float, ...]:
    """Time-of-use price per kWh by local hour of each slot (UTC here): night cheap, evening peak."""
    out = []
    for k in range(slots):
        hour = (start + timedelta(minutes=slot_minutes * k)).hour
        if 16 <= hour < 21:
            out.append(0.38)
        elif hour >= 23 or hour < 6:
            out.append(0.14)
        elif 6 <= hour < 9:
            out.append(0.27)
        else:
            out.append(0.22)
    return tuple(out)


def synthetic_depot(
    n_vehicles: int,
    *,
    site_fraction: float = 0.3,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    slots: int = 96,
    slot_minutes: float = 15.0,
    priority_share: float = 0.15,
    demand_charge_per_kw: float | None = 0.2,
    site_basis: str = "chargers",
) -> PlanningProblem:
    """A reproducible depot of ``n_vehicles`` with the site limit at ``site_fraction`` of the
    chargers' total power (``site_basis="chargers"``: a congested evening, yet the night is long enough
    for everyone) or of the total demand (``"demand"``: the constant power that would give every vehicle
    its need over the average stay; below 1 the site cannot make everyone ready). ``start`` defaults
    to noon UTC; the horizon is ``slots`` × ``slot_minutes``."""
    rng = np.random.default_rng(seed)
    shares = np.array([c[0] for c in CHARGER_MIX])
    kinds = rng.choice(len(CHARGER_MIX), size=n_vehicles, p=shares / shares.sum())
    plugged_now = rng.random(n_vehicles) < 0.2
    arrive_h = np.clip(rng.normal(18.5, 1.5, n_vehicles), 13.0, 23.5)   # hours after midnight
    depart_h = np.clip(rng.normal(6.5, 1.0, n_vehicles), 4.0, 10.0) + 24.0
    need = rng.uniform(20.0, 200.0, n_vehicles)
    priority = np.where(rng.random(n_vehicles) < priority_share, 2, 1)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    vehicles = []
    for i in range(n_vehicles):
        _, max_kw, phases = CHARGER_MIX[kinds[i]]
        arrival = None if plugged_now[i] else midnight + timedelta(hours=float(arrive_h[i]))
        departure = midnight + timedelta(hours=float(depart_h[i]))
        stay_h = (departure - (arrival or start)).total_seconds() / 3600.0 - 0.5
        vehicles.append(VehicleNeed(
            id=f"V{i:05d}",
            arrival=arrival,
            departure=departure,
            energy_kwh=round(float(min(need[i], 0.9 * max_kw * max(stay_h, 0.5))), 1),
            max_kw=max_kw,
            min_kw=ac_min_kw(phases) if phases else 0.0,
            priority=int(priority[i]),
            phases=phases,
        ))
    if site_basis == "demand":
        stays = [(v.departure - (v.arrival or start)).total_seconds() / 3600.0 for v in vehicles]
        basis_kw = sum(v.energy_kwh for v in vehicles) / max(sum(stays) / max(len(stays), 1), 1e-9)
    elif site_basis == "chargers":
        basis_kw = sum(v.max_kw for v in vehicles)
    else:
        raise ValueError(f"site_basis must be 'chargers' or 'demand', got {site_basis!r}")
    return PlanningProblem(
        start=start,
        vehicles=tuple(vehicles),
        site_limit_kw=round(site_fraction * basis_kw, 1),
        price_per_kwh=tou_prices(start, slots, slot_minutes),
        slot_minutes=slot_minutes,
        slots=slots,
        demand_charge_per_kw=demand_charge_per_kw,
    )
