"""PURE parts of the simulated depot: battery physics and charging-profile evaluation.

No sockets, no asyncio, no clock: every function takes `now=` (aware UTC) or a span in seconds, so the
simulator's behaviour can be tested without a network. `depot.sim.simulator` is the imperative shell.

Battery: a vehicle accepts its full power up to `TAPER_START_SOC` (80 %), then linearly less, down to
`TAPER_END_FACTOR` (10 %) of it at 100 %; a full battery takes nothing. Energy is power × time: the
simulator integrates in sub-steps of at most `MAX_STEP_S` clock seconds with the power of the step's
start, and the meter register counts exactly the energy that went into the battery (no losses).

Charging profiles (OCPP 1.6 and 2.0.1, parsed from the snake_case payloads the `ocpp` package hands to a
handler into `Profile` values):
- within a purpose, the valid profile with the highest stack level whose schedule runs at `now` prevails
  (a profile whose schedule has ended or not begun gives way to the next lower stack level);
- a TxProfile (bound to the running transaction) replaces the TxDefaultProfile; a TxDefaultProfile on the
  connector replaces one on connector 0; the charger-wide max profile (ChargePointMaxProfile /
  ChargingStationMaxProfile) caps the result: effective = min(max profile, Tx or TxDefault);
- rates in A are per phase: W = A × phases × 230 V (phases = the period's numberPhases, at most the
  charger's); an AC limit below 6 A per phase means 0 (IEC 61851 has no current between 0 and 6 A).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from ocpp.charge_point import camel_to_snake_case

from depot.model import NOMINAL_VOLTS, CurrentType

TAPER_START_SOC = 80.0
TAPER_END_FACTOR = 0.1
MAX_STEP_S = 60.0
MIN_AC_AMPS = 6.0
DC_VOLTS = 400.0  # nominal battery voltage, only used to report Current.Import of a DC charge


# ---------------------------------------------------------------- battery


def vehicle_max_kw(soc: float, max_kw: float) -> float:
    """What the vehicle accepts at `soc` % given its limit `max_kw`: flat to 80 %, then tapering to 10 %."""
    if soc >= 100.0 or max_kw <= 0:
        return 0.0
    if soc <= TAPER_START_SOC:
        return max_kw
    frac = (soc - TAPER_START_SOC) / (100.0 - TAPER_START_SOC)
    return max_kw * (1.0 - (1.0 - TAPER_END_FACTOR) * frac)


def draw_kw(soc: float, vehicle_kw: float, limit_kw: float | None) -> float:
    """The power a charge runs at: the vehicle's tapered acceptance, capped by the charger's limit."""
    p = vehicle_max_kw(soc, vehicle_kw)
    return p if limit_kw is None else max(0.0, min(p, limit_kw))


@dataclass(frozen=True)
class ChargeStep:
    energy_kwh: float
    soc: float
    power_kw: float  # the power at the end of the span


def integrate(soc: float, battery_kwh: float, vehicle_kw: float, limit_kw: float | None, seconds: float, *,
              max_step: float = MAX_STEP_S) -> ChargeStep:
    """Charge for `seconds` under a constant cap `limit_kw` (the caller splits the span where the cap changes).

    Each sub-step of at most `max_step` s runs at the power of its start; energy = power × time, capped at
    what the battery still holds."""
    if battery_kwh <= 0:
        raise ValueError("battery_kwh must be > 0")
    energy = 0.0
    left = max(0.0, seconds)
    while left > 1e-9:
        dt = min(max_step, left)
        p = draw_kw(soc, vehicle_kw, limit_kw)
        if p <= 0:
            break
        e = min(p * dt / 3600.0, battery_kwh * (100.0 - soc) / 100.0)
        energy += e
        soc = min(100.0, soc + e / battery_kwh * 100.0)
        left -= dt
    return ChargeStep(energy, soc, draw_kw(soc, vehicle_kw, limit_kw))


def amps_for(kw: float, phases: int, current_type: CurrentType) -> float:
    """Current.Import as a meter reports it: per phase for AC, the DC current at the nominal battery voltage."""
    if current_type == CurrentType.DC:
        return kw * 1000.0 / DC_VOLTS
    return kw * 1000.0 / (phases * NOMINAL_VOLTS)


# ---------------------------------------------------------------- profiles


class Purpose(StrEnum):
    CHARGER_MAX = "ChargePointMaxProfile"  # 2.0.1 ChargingStationMaxProfile
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


_PURPOSES = {
    "ChargePointMaxProfile": Purpose.CHARGER_MAX,
    "ChargingStationMaxProfile": Purpose.CHARGER_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}


@dataclass(frozen=True)
class Period:
    start: int  # seconds from the start of the schedule
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True)
class Profile:
    """One installed charging profile, version-neutral. `connector_id` is the 1.6 connectorId / 2.0.1 evseId
    (0 = the whole charger); `transaction_id` is a string for both versions."""

    id: int
    connector_id: int
    stack_level: int
    purpose: Purpose
    kind: str  # Absolute, Relative, Recurring
    rate_unit: str  # A or W
    periods: tuple[Period, ...]
    received_at: datetime
    start_schedule: datetime | None = None
    duration: int | None = None
    recurrency: str | None = None  # Daily, Weekly
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    min_rate: float | None = None
    purpose_name: str = ""  # as received (ChargingStationMaxProfile …)


class ProfileError(ValueError):
    """A charging profile this charger cannot install (the reason is the message)."""


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float | Decimal | str) else float("nan")


def parse_profile(connector_id: int, payload: Mapping, *, received_at: datetime) -> Profile:
    """A 1.6 `csChargingProfiles` or a 2.0.1 `chargingProfile`, camelCase or snake_case, as a `Profile`.
    2.0.1 schedules come as a list: the first one is used (the simulator announces one schedule per profile)."""
    p = camel_to_snake_case(dict(payload))
    purpose_name = p["charging_profile_purpose"]
    if purpose_name not in _PURPOSES:
        raise ProfileError(f"purpose {purpose_name} cannot be set by a central system")
    sched = p["charging_schedule"]
    if isinstance(sched, list):
        if len(sched) != 1:
            raise ProfileError(f"{len(sched)} charging schedules; this charger takes exactly one")
        sched = sched[0]
    periods = tuple(
        Period(int(x["start_period"]), _num(x["limit"]), x.get("number_phases"))
        for x in sched["charging_schedule_period"]
    )
    if not periods:
        raise ProfileError("no charging schedule periods")
    tx = p.get("transaction_id")
    min_rate = sched.get("min_charging_rate")
    return Profile(
        id=int(p["charging_profile_id"] if "charging_profile_id" in p else p["id"]),
        connector_id=connector_id,
        stack_level=int(p["stack_level"]),
        purpose=_PURPOSES[purpose_name],
        kind=p["charging_profile_kind"],
        rate_unit=sched["charging_rate_unit"],
        periods=periods,
        received_at=received_at,
        start_schedule=parse_time(sched.get("start_schedule")),
        duration=int(sched["duration"]) if sched.get("duration") is not None else None,
        recurrency=p.get("recurrency_kind"),
        valid_from=parse_time(p.get("valid_from")),
        valid_to=parse_time(p.get("valid_to")),
        transaction_id=None if tx is None else str(tx),
        min_rate=None if min_rate is None else _num(min_rate),
        purpose_name=purpose_name,
    )


def check_profile(profile: Profile, *, allowed_units: Sequence[str], max_periods: int, max_stack_level: int,
                  one_decimal: bool = True) -> None:
    """Raise `ProfileError` for what a strict charger rejects: unit not supported, too many periods, stack level
    too high, periods out of order or not starting at 0, limits with more than one decimal or negative."""
    if profile.rate_unit not in allowed_units:
        raise ProfileError(f"rate unit {profile.rate_unit} not supported (use {', '.join(allowed_units)})")
    if len(profile.periods) > max_periods:
        raise ProfileError(f"{len(profile.periods)} periods, at most {max_periods}")
    if not 0 <= profile.stack_level <= max_stack_level:
        raise ProfileError(f"stack level {profile.stack_level} outside 0..{max_stack_level}")
    starts = [x.start for x in profile.periods]
    if starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        raise ProfileError(f"period starts {starts} must begin at 0 and increase")
    for x in profile.periods:
        if x.limit < 0 or x.limit != x.limit:
            raise ProfileError(f"limit {x.limit} is not a rate")
        if one_decimal and abs(round(x.limit, 1) - x.limit) > 1e-9:
            raise ProfileError(f"limit {x.limit} has more than one decimal")
        if x.number_phases is not None and x.number_phases not in (1, 2, 3):
            raise ProfileError(f"numberPhases {x.number_phases}")
    if profile.kind == "Recurring" and profile.recurrency not in ("Daily", "Weekly"):
        raise ProfileError("a Recurring profile needs recurrencyKind Daily or Weekly")


def _schedule_start(profile: Profile, tx_start: datetime | None) -> datetime | None:
    if profile.kind == "Relative":
        if profile.purpose == Purpose.CHARGER_MAX:
            return profile.received_at
        return tx_start
    return profile.start_schedule or profile.valid_from or profile.received_at


def schedule_offset(profile: Profile, now: datetime, tx_start: datetime | None = None) -> float | None:
    """Seconds into the profile's schedule at `now`, or None when it does not run then (not valid yet or any
    more, not started, ended after `duration`, or Relative without a transaction)."""
    if profile.valid_from is not None and now < profile.valid_from:
        return None
    if profile.valid_to is not None and now >= profile.valid_to:
        return None
    start = _schedule_start(profile, tx_start)
    if start is None:
        return None
    offset = (now - start).total_seconds()
    if profile.kind == "Recurring":
        span = 7 * 86400 if profile.recurrency == "Weekly" else 86400
        offset %= span
    if offset < 0:
        return None
    if profile.duration is not None and offset >= profile.duration:
        return None
    return offset


def period_at(profile: Profile, offset: float) -> Period | None:
    found = None
    for x in profile.periods:
        if x.start <= offset:
            found = x
        else:
            break
    return found


@dataclass(frozen=True)
class Limit:
    """A rate cap at one instant: watts on `phases` phases."""

    watts: float
    phases: int

    @property
    def kw(self) -> float:
        return self.watts / 1000.0


def to_limit(period: Period, unit: str, phases: int) -> Limit:
    n = min(period.number_phases or phases, phases)
    if unit == "A":
        return Limit(period.limit * n * NOMINAL_VOLTS, n)
    return Limit(period.limit, n)


def _prevailing(profiles: Iterable[Profile], now: datetime, tx_start: datetime | None, phases: int) -> Limit | None:
    for prof in sorted(profiles, key=lambda p: -p.stack_level):
        offset = schedule_offset(prof, now, tx_start)
        if offset is None:
            continue
        period = period_at(prof, offset)
        if period is not None:
            return to_limit(period, prof.rate_unit, phases)
    return None


def effective_limit(profiles: Iterable[Profile], *, now: datetime, connector_id: int, phases: int,
                    current_type: CurrentType, transaction_id: str | None = None,
                    tx_start: datetime | None = None, share: int = 1) -> Limit | None:
    """The profile cap on one connector at `now` (None: no profile limits it). See the module docstring.
    The charger-wide max profile limits the whole charger: it is shared equally by `share` charging connectors."""
    profiles = list(profiles)
    cap = _prevailing((p for p in profiles if p.purpose == Purpose.CHARGER_MAX), now, tx_start, phases)
    if cap is not None and share > 1:
        cap = Limit(cap.watts / share, cap.phases)
    chosen = None
    if transaction_id is not None:
        chosen = _prevailing((p for p in profiles if p.purpose == Purpose.TX and p.connector_id == connector_id
                              and p.transaction_id in (None, transaction_id)), now, tx_start, phases)
    if chosen is None:
        defaults = [p for p in profiles if p.purpose == Purpose.TX_DEFAULT]
        chosen = _prevailing((p for p in defaults if p.connector_id == connector_id), now, tx_start, phases)
        if chosen is None:
            chosen = _prevailing((p for p in defaults if p.connector_id == 0), now, tx_start, phases)
    limits = [x for x in (cap, chosen) if x is not None]
    if not limits:
        return None
    result = min(limits, key=lambda x: x.watts)
    result = Limit(result.watts, min(x.phases for x in limits))
    if current_type == CurrentType.AC and result.watts < MIN_AC_AMPS * result.phases * NOMINAL_VOLTS - 1e-6:
        return Limit(0.0, result.phases)
    return result


def limit_kw(profiles: Iterable[Profile], *, now: datetime, connector_id: int, phases: int,
             current_type: CurrentType, charger_kw: float, transaction_id: str | None = None,
             tx_start: datetime | None = None, share: int = 1) -> float:
    """What the charger may deliver on a connector at `now`: min(profile cap, the connector's rating)."""
    lim = effective_limit(profiles, now=now, connector_id=connector_id, phases=phases, current_type=current_type,
                          transaction_id=transaction_id, tx_start=tx_start, share=share)
    return charger_kw if lim is None else min(charger_kw, lim.kw)


def next_change(profiles: Iterable[Profile], *, now: datetime, tx_start: datetime | None = None,
                horizon_s: float = 7 * 86400) -> datetime | None:
    """The first instant after `now` at which some profile's schedule may change the cap (a period begins, a
    schedule or a validity starts or ends), within `horizon_s`; None if none does."""
    end = now + timedelta(seconds=horizon_s)
    best: datetime | None = None

    def consider(t: datetime | None) -> None:
        nonlocal best
        if t is not None and now < t <= end and (best is None or t < best):
            best = t

    for prof in profiles:
        consider(prof.valid_from)
        consider(prof.valid_to)
        start = _schedule_start(prof, tx_start)
        if start is None:
            continue
        marks = [x.start for x in prof.periods] + ([prof.duration] if prof.duration is not None else [])
        if prof.kind == "Recurring":
            span = 7 * 86400 if prof.recurrency == "Weekly" else 86400
            cycle = (now - start).total_seconds() // span
            for k in (cycle, cycle + 1):
                base = start + timedelta(seconds=k * span)
                for m in marks:
                    consider(base + timedelta(seconds=m))
        else:
            for m in marks:
                consider(start + timedelta(seconds=m))
    return best


def composite_schedule(profiles: Sequence[Profile], *, now: datetime, duration: int, connector_id: int,
                       phases: int, current_type: CurrentType, charger_kw: float, unit: str,
                       transaction_id: str | None = None, tx_start: datetime | None = None
                       ) -> list[tuple[int, float]]:
    """(startPeriod, limit) pairs in `unit` (A per phase, or W) over [now, now + duration]: what the charger will
    allow on the connector (connector 0: the whole charger), merged where the limit stays the same."""
    out: list[tuple[int, float]] = []
    t = now
    end = now + timedelta(seconds=duration)
    while t < end:
        kw = limit_kw(profiles, now=t, connector_id=connector_id, phases=phases, current_type=current_type,
                      charger_kw=charger_kw, transaction_id=transaction_id, tx_start=tx_start)
        value = round(kw * 1000.0 / (phases * NOMINAL_VOLTS), 1) if unit == "A" else round(kw * 1000.0, 1)
        start = int((t - now).total_seconds())
        if not out or out[-1][1] != value:
            out.append((start, value))
        nxt = next_change(profiles, now=t, tx_start=tx_start, horizon_s=(end - t).total_seconds())
        if nxt is None:
            break
        t = nxt
    return out
