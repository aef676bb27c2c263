"""PURE: reading OCPP values (date-times, meter values, configuration values) into domain values.

No I/O, no clock, no store: the only effect is a logged warning for each value it skips. Whether a value is
possible (a finite, non-negative register, a plausible timestamp …) is `depot.ocpp.sanity`'s to say. Both versions arrive here with
the `ocpp` package's snake_case keys: 1.6 sampled values are strings with a `unit`, 2.0.1 values are numbers
with a `unit_of_measure` {unit, multiplier}.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from depot.model import MeterSample
from depot.ocpp.sanity import Reading

LOGGER = logging.getLogger("depot.ocpp")


def parse_time(value: Any, fallback: datetime) -> datetime:
    """An OCPP date-time as aware UTC; a missing zone is read as UTC; garbage gives `fallback`."""
    if not isinstance(value, str):
        return fallback
    try:
        t = datetime.fromisoformat(value)
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    except (ValueError, OverflowError):  # not a date-time, or one the zone moves out of range
        return fallback


ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
SOC = "SoC"
_UNITS = {ENERGY: {"Wh": 1.0, "kWh": 1000.0}, POWER: {"W": 1.0, "kW": 1000.0}, CURRENT: {"A": 1.0},
          SOC: {"Percent": 1.0}}
_DEFAULT_UNIT = {ENERGY: "Wh", POWER: "W", CURRENT: "A", SOC: "Percent"}
_LOCATION_RANK = {None: 0, "Outlet": 0, "Inlet": 1}  # the outlet meter wins; EV/Cable/Body are not the charge


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def _raw_number(value: Any) -> float | None:
    """A number as a float, infinite or NaN included (None: not a number at all)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
    except OverflowError:  # an integer beyond float: infinite for our purposes
        return math.inf


_FIELDS = {ENERGY: "energy_wh", POWER: "power_w", CURRENT: "current_a", SOC: "soc"}


def _sampled(sv: dict) -> tuple[str, int, str | None, float] | None:
    """(measurand, location rank, phase, value in Wh/W/A/%) of one sampledValue, or None to skip it. The value
    may be infinite or NaN (a number out of range): the caller reports those, never stores them."""
    measurand = sv.get("measurand") or ENERGY
    if measurand not in _UNITS:
        return None
    rank = 0 if measurand == SOC else _LOCATION_RANK.get(sv.get("location"), None)
    if rank is None:
        return None
    value = _raw_number(sv.get("value"))
    uom = sv.get("unit_of_measure")  # 2.0.1: {"unit": ..., "multiplier": ...}
    if isinstance(uom, dict):
        unit, multiplier = uom.get("unit") or _DEFAULT_UNIT[measurand], _number(uom.get("multiplier")) or 0
    else:  # 1.6: "unit"
        unit, multiplier = sv.get("unit") or _DEFAULT_UNIT[measurand], 0
    scale = _UNITS[measurand].get(unit)
    if value is None or scale is None:
        LOGGER.warning("skipping sampled value %r (value or unit not understood)", sv)
        return None
    phase = sv.get("phase")
    if phase is not None and (not isinstance(phase, str) or not phase.startswith(("L1", "L2", "L3"))
                              or phase[2:] not in ("", "-N")):
        return None  # neutral and line-to-line readings are not part of the charge
    try:
        scaled = value * scale * 10.0 ** multiplier
    except OverflowError:
        scaled = math.inf
    return measurand, rank, phase[:2] if phase else None, scaled


def _combine(measurand: str, readings: Iterable[tuple[int, str | None, float]]) -> float | None:
    readings = list(readings)
    if not readings:
        return None
    best = min(r for r, _, _ in readings)
    readings = [(p, v) for r, p, v in readings if r == best]
    totals = [v for p, v in readings if p is None]
    if totals:
        return totals[-1]
    per_phase = {p: v for p, v in readings}
    if measurand == CURRENT:
        return max(per_phase.values())  # the most loaded phase: what a per-phase limit constrains
    return sum(per_phase.values())


def read_meter_values(meter_values: Iterable[dict] | None) -> list[Reading]:
    """OCPP meterValue entries (snake_case keys, 1.6 string or 2.0.1 number values) -> one `Reading` each, its
    timestamp as sent (`depot.ocpp.sanity` judges it) and its values in Wh / W / A / %.

    Energy in Wh and power in W (kWh/kW and 2.0.1 multipliers converted); a reading without phase is the
    total, otherwise phases are summed; current is per phase (the highest phase when phases are given);
    a sampledValue without measurand is Energy.Active.Import.Register. A value that is not finite (or becomes
    so by its unit) is not used: it is named in `Reading.unreadable`."""
    out = []
    for mv in meter_values or ():
        if not isinstance(mv, dict):
            continue
        found: dict[str, list[tuple[int, str | None, float]]] = {m: [] for m in _UNITS}
        unreadable = []
        for sv in mv.get("sampled_value") or ():
            parsed = _sampled(sv) if isinstance(sv, dict) else None
            if parsed is None:
                continue
            measurand, rank, phase, value = parsed
            if math.isfinite(value):
                found[measurand].append((rank, phase, value))
            else:
                unreadable.append((_FIELDS[measurand], str(sv.get("value"))[:60]))
        values = {m: _combine(m, r) for m, r in found.items()}
        if any(v is not None for v in values.values()) or unreadable:
            out.append(Reading(mv.get("timestamp"), energy_wh=values[ENERGY], power_w=values[POWER],
                               current_a=values[CURRENT], soc=values[SOC], unreadable=tuple(unreadable)))
    return out


def parse_meter_values(meter_values: Iterable[dict] | None, fallback: datetime) -> list[MeterSample]:
    """`read_meter_values` as samples, unscreened: a timestamp that cannot be read is `fallback`, values that
    are not finite are left out (the central system screens them instead: `depot.ocpp.screening`)."""
    return [MeterSample(parse_time(r.timestamp, fallback), energy_wh=r.energy_wh, power_w=r.power_w,
                        current_a=r.current_a, soc=r.soc)
            for r in read_meter_values(meter_values)
            if any(v is not None for v in (r.energy_wh, r.power_w, r.current_a, r.soc))]


def sample_detail(samples: list[MeterSample]) -> dict:
    """The newest sample as the detail of a "meter" event."""
    last = max(samples, key=lambda s: s.at)
    return {"at": last.at.isoformat(), "energy_wh": last.energy_wh, "power_w": last.power_w,
            "current_a": last.current_a, "soc": last.soc, "samples": len(samples)}


def rate_unit(value: str | None) -> str | None:
    """"Current,Power" (1.6) or "A,W" (2.0.1 member list) -> "A,W"; unknown words are dropped."""
    if not value:
        return None
    words = {w.strip().lower() for w in value.replace(";", ",").split(",")}
    units = [u for u, names in (("A", {"a", "current"}), ("W", {"w", "power"})) if words & names]
    return ",".join(units) or None


def as_int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
