"""PURE: which values a charger sent are possible. Values that pass the OCPP schema can still be impossible.

No I/O, no clock, no store: the caller (`depot.ocpp.screening`) passes the receive time as `now`, the charger's
rating and the transaction's last good register reading, and gets back what to keep and what to quarantine
(`Reject`: field, value as text, reason). Impossible are:

- a timestamp that is not a date-time, lies more than `clock_skew_s` ahead of `now`, before `EARLIEST`, or more
  than `max_backlog_s` behind `now` (chargers legitimately send messages queued offline hours late): it is
  replaced by `now` and the original is quarantined with a reason that begins with `TIME_REPLACED`;
- an energy register that is not finite, negative, above `max_register_wh`, running backwards within a
  transaction, or rising faster than `power_factor` × the rating + `power_margin_kw` (plus `jump_slack_wh`
  for meters that count in coarse steps) over the time since the last good reading;
- power above that same bound (or importing less than −`power_margin_kw`), an SoC outside 0..100 %;
- a connector / EVSE id above `max_connector_id` (or below 0).

A charger without a rating (`max_kw` None or ≤ 0, e.g. a site meter) gets no power-based checks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from depot.model import MeterSample

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # no charger that speaks OCPP has a clock before this
TIME_REPLACED = "timestamp replaced"
NOT_FINITE = "not a finite number"


@dataclass(frozen=True)
class Limits:
    clock_skew_s: float = 900.0
    max_backlog_s: float = 30 * 86400.0  # 0: no backlog limit (EARLIEST still holds)
    max_connector_id: int = 32
    max_register_wh: float = 1e9  # 1 GWh: no vehicle charger's meter counts that far
    power_factor: float = 1.5
    power_margin_kw: float = 1.0
    jump_slack_wh: float = 1000.0  # meters that count in 0.1 / 1 kWh steps jump by a step at once
    backwards_tolerance_wh: float = 1.0  # kWh and Wh readings of one register round differently


@dataclass(frozen=True)
class Reject:
    """One impossible value: where it was (`field`), what it was (as text) and why it is impossible."""

    field: str
    value: str
    reason: str


@dataclass(frozen=True)
class Register:
    """A good energy register reading: the transaction's last one (or its start)."""

    at: datetime
    energy_wh: float


@dataclass(frozen=True)
class Context:
    now: datetime  # the receive time
    max_kw: float | None = None  # the charger's rating
    last: Register | None = None  # the transaction's last good register reading, None outside a transaction
    limits: Limits = field(default_factory=Limits)

    def power_bound_w(self) -> float | None:
        if not self.max_kw or self.max_kw <= 0:
            return None
        return (self.limits.power_factor * self.max_kw + self.limits.power_margin_kw) * 1000.0


@dataclass(frozen=True)
class Reading:
    """One meterValue entry as `depot.ocpp.values.read_meter_values` read it: the raw timestamp, the values in
    Wh / W / A / %, and the sampled values whose number was not finite (field, raw text)."""

    timestamp: object
    energy_wh: float | None = None
    power_w: float | None = None
    current_a: float | None = None
    soc: float | None = None
    unreadable: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Screened:
    samples: list[MeterSample]
    rejects: list[Reject]


def text(value: object, limit: int = 120) -> str:
    return (value if isinstance(value, str) else repr(value))[:limit]


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 date-time as aware UTC (no zone: UTC), or None when it is none or out of range."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def check_time(value: object, now: datetime, limits: Limits,
               name: str = "timestamp") -> tuple[datetime, Reject | None]:
    """(the time to use, the reject or None): an impossible timestamp gives `now` (the receive time)."""
    t = parse_time(value)
    if t is None:
        return now, Reject(name, text(value), f"{TIME_REPLACED}: not a date-time")
    ahead = (t - now).total_seconds()
    if ahead > limits.clock_skew_s:
        return now, Reject(name, text(value), f"{TIME_REPLACED}: {ahead:.0f} s ahead of the receive time "
                                              f"(more than {limits.clock_skew_s:g} s)")
    if t < EARLIEST:
        return now, Reject(name, text(value), f"{TIME_REPLACED}: before {EARLIEST.year}")
    if limits.max_backlog_s > 0 and t < now - timedelta(seconds=limits.max_backlog_s):
        return now, Reject(name, text(value), f"{TIME_REPLACED}: {-ahead:.0f} s before the receive time "
                                              f"(more than {limits.max_backlog_s:g} s)")
    return t, None


def check_connector(connector_id: object, limits: Limits, name: str = "connector_id") -> Reject | None:
    if isinstance(connector_id, int) and not isinstance(connector_id, bool) and \
            0 <= connector_id <= limits.max_connector_id:
        return None
    return Reject(name, text(connector_id), f"connector id outside 0..{limits.max_connector_id}")


def check_register(energy_wh: float, at: datetime, ctx: Context, name: str = "energy_wh") -> Reject | None:
    """An energy register reading (a sample, meterStart, meterStop) against the bounds and `ctx.last`."""
    lim = ctx.limits
    if not math.isfinite(energy_wh):
        return Reject(name, text(energy_wh), NOT_FINITE)
    if energy_wh < 0:
        return Reject(name, f"{energy_wh:g}", "negative energy register")
    if energy_wh > lim.max_register_wh:
        return Reject(name, f"{energy_wh:g}", f"energy register above {lim.max_register_wh:g} Wh")
    last = ctx.last
    if last is None:
        return None
    if at < last.at:  # an older reading arriving late: it cannot be above a newer one
        if energy_wh > last.energy_wh + lim.backwards_tolerance_wh:
            return Reject(name, f"{energy_wh:g}", f"above the later reading {last.energy_wh:g} Wh")
        return None
    if energy_wh < last.energy_wh - lim.backwards_tolerance_wh:
        return Reject(name, f"{energy_wh:g}", f"register runs backwards (was {last.energy_wh:g} Wh)")
    bound = ctx.power_bound_w()
    seconds = (at - last.at).total_seconds()
    if bound is not None and energy_wh - last.energy_wh > bound * seconds / 3600.0 + lim.jump_slack_wh:
        return Reject(name, f"{energy_wh:g}", f"rises {energy_wh - last.energy_wh:g} Wh in {seconds:.0f} s: more "
                                              f"than {ctx.max_kw:g} kW can charge")
    return None


def check_power(power_w: float, ctx: Context) -> Reject | None:
    bound = ctx.power_bound_w()
    if not math.isfinite(power_w):
        return Reject("power_w", text(power_w), NOT_FINITE)
    if power_w < -ctx.limits.power_margin_kw * 1000.0:
        return Reject("power_w", f"{power_w:g}", "negative import power")
    if bound is not None and power_w > bound:
        return Reject("power_w", f"{power_w:g}", f"power far above the charger's {ctx.max_kw:g} kW")
    return None


def check_soc(soc: float) -> Reject | None:
    if math.isfinite(soc) and 0.0 <= soc <= 100.0:
        return None
    return Reject("soc", f"{soc:g}", "state of charge outside 0..100 %")


def screen_readings(readings: Iterable[Reading], ctx: Context) -> Screened:
    """Meter readings → the samples to store (impossible values left out, impossible timestamps replaced by
    `ctx.now`) and the rejects. Readings are screened in time order, each register against the last good one."""
    rejects: list[Reject] = []
    timed = []
    for r in readings:
        at, bad = check_time(r.timestamp, ctx.now, ctx.limits)
        if bad is not None:
            rejects.append(bad)
        rejects.extend(Reject(name, value, NOT_FINITE) for name, value in r.unreadable)
        timed.append((at, r))
    kept = []
    last = ctx.last
    for at, r in sorted(timed, key=lambda p: p[0]):
        here = replace(ctx, last=last)
        energy = _keep(r.energy_wh, lambda v, at=at, here=here: check_register(v, at, here), rejects)
        power = _keep(r.power_w, lambda v, here=here: check_power(v, here), rejects)
        soc = _keep(r.soc, check_soc, rejects)
        if energy is not None and (last is None or at >= last.at):
            last = Register(at, energy)
        if any(v is not None for v in (energy, power, r.current_a, soc)):
            kept.append(MeterSample(at, energy_wh=energy, power_w=power, current_a=r.current_a, soc=soc))
    return Screened(kept, rejects)


def _keep(value: float | None, check, rejects: list[Reject]) -> float | None:
    if value is None:
        return None
    bad = check(value)
    if bad is None:
        return value
    rejects.append(bad)
    return None
