"""PURE: a tariff's price, carbon intensity and demand rate per 15-minute slot; billing months; the planner's prices.

No I/O, no clock: vectorised lookups over slot starts (int epoch seconds, UTC). A slot's local time of day,
day type (weekday, weekend, holiday) and season pick its price from the version in force (`price_table`);
before the first version `DEFAULT_TARIFF` applies. The planner gets its prices from `prices_for`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from depot.costs.tariffs import (
    ALL_SEASONS,
    DAY_TYPES,
    DEFAULT_CARBON_G_PER_KWH,
    DEFAULT_TARIFF,
    SLOT_MINUTES,
    SLOTS_PER_DAY,
    TariffVersion,
    season_days,
    season_names,
)


@dataclass(frozen=True)
class SlotRates:
    """Per slot start (epoch seconds): price per kWh, g CO₂ per kWh, demand charge per kW, and which version
    (index into the sorted versions; -1 = DEFAULT_TARIFF)."""

    price: np.ndarray
    carbon: np.ndarray
    demand_rate: np.ndarray
    version: np.ndarray


def sort_versions(versions: Iterable[TariffVersion]) -> list[TariffVersion]:
    return sorted(versions, key=lambda v: v.valid_from)


def slot_rates(versions: Sequence[TariffVersion], starts: np.ndarray) -> SlotRates:
    """Vectorised tariff lookup for many slot starts (int epoch seconds, UTC)."""
    versions = sort_versions(versions)
    starts = np.asarray(starts, dtype=np.int64)
    bounds = np.array([int(v.valid_from.timestamp()) for v in versions], dtype=np.int64)
    which = np.searchsorted(bounds, starts, side="right") - 1
    price = np.full(len(starts), np.nan)
    carbon = np.zeros(len(starts))
    demand = np.zeros(len(starts))
    for k in np.unique(which):
        v = versions[k] if k >= 0 else DEFAULT_TARIFF
        mask = which == k
        p, c = _lookup(v, starts[mask])
        price[mask], carbon[mask], demand[mask] = p, c, v.demand_charge_per_kw
    return SlotRates(price, carbon, demand, which)


def prices_for(tariffs: Sequence[TariffVersion], start: datetime, slots: int,
               slot_minutes: int = SLOT_MINUTES) -> tuple[float, ...]:
    """The price per kWh at the start of each of `slots` slots from `start` (for the planner)."""
    t0 = int(start.timestamp())
    starts = t0 + np.arange(slots, dtype=np.int64) * slot_minutes * 60
    return tuple(float(p) for p in slot_rates(tariffs, starts).price)


def billing_months(starts: np.ndarray, timezone: str) -> np.ndarray:
    """The local calendar month (YYYYMM) each slot start falls in: the demand charge's billing period."""
    local = pd.to_datetime(np.asarray(starts, dtype=np.int64), unit="s", utc=True).tz_convert(timezone)
    return np.asarray(local.year * 100 + local.month, dtype=np.int64)


def month_label(yyyymm: int) -> str:
    return f"{yyyymm // 100:04d}-{yyyymm % 100:02d}"


def _lookup(v: TariffVersion, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    local = pd.to_datetime(starts, unit="s", utc=True).tz_convert(v.timezone)
    quarter = np.asarray((local.hour * 60 + local.minute) // SLOT_MINUTES, dtype=np.int64)
    ymd = np.asarray(local.year * 10000 + local.month * 100 + local.day, dtype=np.int64)
    holiday_ymd = np.array([d.year * 10000 + d.month * 100 + d.day for d in v.holidays], dtype=np.int64)
    weekend = np.asarray(local.day_of_week >= 5)
    has_holiday = any(p.days == "holiday" for p in v.periods)
    day_type = np.where(weekend, 1, 0)
    if len(holiday_ymd):
        day_type = np.where(np.isin(ymd, holiday_ymd), 2 if has_holiday else 1, day_type)
    season = _season_table(v)[np.asarray(local.month), np.asarray(local.day)]
    price = price_table(v)[season, day_type, quarter]
    carbon = np.asarray(v.carbon_g_per_kwh or DEFAULT_CARBON_G_PER_KWH, dtype=float)[np.asarray(local.hour)]
    return price, carbon


def price_table(v: TariffVersion) -> np.ndarray:
    """Price per (season, day type, quarter hour of the local day); NaN where no period applies."""
    names = season_names(v)
    table = np.full((len(names), len(DAY_TYPES), SLOTS_PER_DAY), np.nan)
    holiday_own = any(p.days == "holiday" for p in v.periods)
    for si, name in enumerate(names):
        for di, day in enumerate(DAY_TYPES):
            as_day = day if day != "holiday" or holiday_own else "weekend"
            for p in v.periods:
                if p.season in (name, ALL_SEASONS) and p.days in (as_day, "all"):
                    for lo, hi in p.minutes():
                        table[si, di, lo // SLOT_MINUTES:hi // SLOT_MINUTES] = p.price
    return table


def _season_table(v: TariffVersion) -> np.ndarray:
    """Season index by [month, day] (13 × 32, index 0 unused)."""
    out = np.zeros((13, 32), dtype=np.int64)
    for si, s in enumerate(v.seasons):
        for m, d in season_days(s):
            out[m, d] = si
    return out
