"""PURE: what energy costs. Supplier tariff versions, internal and driver billing rates, grid carbon intensity.

No I/O, no clock, no database: every function takes its inputs (and `now`, where one is needed) as
parameters. `depot.costs.ledger` stores these values and applies them to meter data; `depot.costs.costing` turns meter
samples into slot energies; the planner gets its prices from `prices_for`.

Supplier tariff (`TariffVersion`): time-of-use energy prices per kWh by local time of day, for weekdays,
weekends and holidays, optionally per season; a demand charge per kW of the billing period's (local calendar
month's) highest 15-minute average power; a fixed fee per month. A version applies from its `valid_from`
until the next version starts (so versions never overlap). Before the first version the built-in
`DEFAULT_TARIFF` applies: the planner's `DEFAULT_TOU` profile, without demand charge or fees.

Billing (`BillingRate`): what a group (cost centre, department, tenant, membership) is billed per session:
a session fee, per kWh, per minute plugged in, and an idle fee per minute after charging completed once a
grace period has passed; or nothing at all (`free`).

Carbon: grams of CO₂ per kWh by local hour, per tariff version, `DEFAULT_CARBON_G_PER_KWH` when not given.

Times of day are local wall-clock times in the version's `timezone`; prices change on quarter hours, so a
15-minute slot has one price (UTC and local quarter hours coincide in every real time zone).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from depot.errors import ValidationError
from depot.planning.snapshot import DEFAULT_TOU

SLOT_MINUTES = 15
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
DAY_TYPES = ("weekday", "weekend", "holiday")
PERIOD_DAYS = ("all", *DAY_TYPES)
ALL_SEASONS = "all"
GROUP_KINDS = ("cost centre", "department", "tenant", "membership")

# A typical grid mix by local hour, g CO₂ per kWh: cleaner at night and around midday (solar), dirtiest in
# the evening peak. Replace it per tariff version with your grid operator's or supplier's figures.
DEFAULT_CARBON_G_PER_KWH = (330.0, 320.0, 315.0, 310.0, 315.0, 330.0, 365.0, 395.0, 385.0, 345.0, 305.0, 280.0,
                            270.0, 275.0, 290.0, 325.0, 375.0, 425.0, 445.0, 435.0, 410.0, 380.0, 355.0, 340.0)


# ---------------------------------------------------------------- value types


@dataclass(frozen=True)
class TouPeriod:
    """One price for local times [start, end) on some days. `end <= start` wraps past midnight (22:00–06:00);
    00:00–24:00 is the whole day. Minutes since local midnight, on quarter hours."""

    start_min: int
    end_min: int
    price: float  # per kWh
    days: str = "all"  # all | weekday | weekend | holiday
    season: str = ALL_SEASONS

    def minutes(self) -> list[tuple[int, int]]:
        if self.end_min > self.start_min:
            return [(self.start_min, self.end_min)]
        return [(self.start_min, 24 * 60), (0, self.end_min)]


@dataclass(frozen=True)
class Season:
    """Local calendar days from `start` to `end` inclusive, as (month, day); may wrap over the new year."""

    name: str
    start: tuple[int, int]
    end: tuple[int, int]


@dataclass(frozen=True)
class TariffVersion:
    name: str
    valid_from: datetime  # aware; the version applies from here until the next version's valid_from
    periods: tuple[TouPeriod, ...]
    timezone: str = "UTC"
    currency: str = "EUR"
    seasons: tuple[Season, ...] = ()
    holidays: tuple[date, ...] = ()
    demand_charge_per_kw: float = 0.0  # per kW of the month's highest 15-minute average power
    fixed_fee_per_month: float = 0.0
    carbon_g_per_kwh: tuple[float, ...] = ()  # 24 values by local hour; () = DEFAULT_CARBON_G_PER_KWH
    id: int | None = None


@dataclass(frozen=True)
class BillingRate:
    group: str
    kind: str = "cost centre"
    per_kwh: float = 0.0
    per_minute: float = 0.0  # per minute plugged in
    session_fee: float = 0.0
    idle_fee_per_minute: float = 0.0  # after charging completed and the grace period passed
    idle_grace_minutes: float = 0.0
    free: bool = False


@dataclass(frozen=True)
class Charge:
    """What one session is billed under a rate."""

    session_fee: float
    energy: float
    time: float
    idle: float

    @property
    def total(self) -> float:
        return self.session_fee + self.energy + self.time + self.idle


@dataclass(frozen=True)
class FieldError:
    field: str  # where: "demand_charge_per_kw", "periods line 3, price", "seasons"
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class TariffErrors(ValidationError):
    """Every problem found in a tariff or billing rate at once (a form shows them all)."""

    def __init__(self, errors: Sequence[FieldError]):
        self.errors = list(errors)
        first = self.errors[0] if self.errors else FieldError("tariff", "invalid")
        super().__init__(first.field, "; ".join(str(e) for e in self.errors))


def _default_tariff() -> TariffVersion:
    periods = tuple(TouPeriod(lo * 60, (hi % 24) * 60, price) for lo, hi, price in DEFAULT_TOU)
    return TariffVersion("Default time-of-use (no tariff configured)", datetime(1970, 1, 1, tzinfo=UTC), periods)


DEFAULT_TARIFF = _default_tariff()


# ---------------------------------------------------------------- billing


def billed(rate: BillingRate | None, kwh: float, plugged_minutes: float, idle_minutes: float) -> Charge:
    """One session's bill: nothing without a rate or for a free group; the idle fee counts only the minutes
    after charging completed beyond the grace period."""
    if rate is None or rate.free:
        return Charge(0.0, 0.0, 0.0, 0.0)
    idle = max(0.0, idle_minutes - rate.idle_grace_minutes) * rate.idle_fee_per_minute
    return Charge(rate.session_fee, kwh * rate.per_kwh, plugged_minutes * rate.per_minute, idle)


def billed_frame(rates: Sequence[BillingRate], sessions: pd.DataFrame) -> pd.DataFrame:
    """Vectorised `billed` for a frame with columns billing_group, energy_kwh, plugged_minutes, idle_minutes.
    Returns billed_session_fee, billed_energy, billed_time, billed_idle, billed_total (same index)."""
    cols = ["per_kwh", "per_minute", "session_fee", "idle_fee_per_minute", "idle_grace_minutes"]
    table = pd.DataFrame([{"billing_group": r.group, **{c: 0.0 if r.free else getattr(r, c) for c in cols}}
                          for r in rates], columns=["billing_group", *cols])
    m = sessions[["billing_group"]].merge(table, on="billing_group", how="left")
    m[cols] = m[cols].astype(float).fillna(0.0)
    m.index = sessions.index
    idle = (sessions["idle_minutes"] - m["idle_grace_minutes"]).clip(lower=0.0) * m["idle_fee_per_minute"]
    out = pd.DataFrame({"billed_session_fee": m["session_fee"],
                        "billed_energy": sessions["energy_kwh"] * m["per_kwh"],
                        "billed_time": sessions["plugged_minutes"] * m["per_minute"],
                        "billed_idle": idle}, index=sessions.index)
    out["billed_total"] = out.sum(axis=1)
    return out


# ---------------------------------------------------------------- prices, carbon and billing months per slot


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


def season_names(v: TariffVersion) -> list[str]:
    return [s.name for s in v.seasons] or [ALL_SEASONS]


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
        for m, d in _season_days(s):
            out[m, d] = si
    return out


def _season_days(s: Season) -> list[tuple[int, int]]:
    days = [(m, d) for m in range(1, 13) for d in range(1, 32) if _real_day(m, d)]
    i, j = days.index(s.start), days.index(s.end)
    return days[i:j + 1] if i <= j else days[i:] + days[:j + 1]


def _real_day(m: int, d: int) -> bool:
    try:
        date(2024, m, d)  # a leap year: 29 February is a day of some season
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- validation


def validate_tariff(v: TariffVersion, others: Sequence[TariffVersion] = ()) -> list[FieldError]:
    """Every problem of one version (and its clash with `others`): negative prices and charges, unknown time
    zone or season, periods that overlap or leave a gap on some day type and season, seasons that overlap or
    leave days uncovered, a second version starting at the same instant."""
    errors: list[FieldError] = []
    if not v.name.strip():
        errors.append(FieldError("name", "is required"))
    if v.valid_from.tzinfo is None:
        errors.append(FieldError("valid_from", "must carry a time zone"))
    for o in others:
        if o.id != v.id and o.valid_from == v.valid_from:
            errors.append(FieldError("valid_from", f"version {o.name!r} already starts at "
                                                   f"{v.valid_from:%Y-%m-%d %H:%M %Z}; versions apply one after another"))
    try:
        ZoneInfo(v.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError("timezone", f"unknown time zone {v.timezone!r} (e.g. Europe/Berlin)"))
    if len(v.currency) != 3 or not v.currency.isalpha():
        errors.append(FieldError("currency", f"{v.currency!r} is not a 3-letter currency code"))
    for name in ("demand_charge_per_kw", "fixed_fee_per_month"):
        if getattr(v, name) < 0:
            errors.append(FieldError(name, f"{getattr(v, name):g} is negative"))
    if v.carbon_g_per_kwh and (len(v.carbon_g_per_kwh) != 24 or min(v.carbon_g_per_kwh) < 0):
        errors.append(FieldError("carbon_g_per_kwh", "needs 24 values ≥ 0 (one per local hour) or none"))
    if not v.periods:
        errors.append(FieldError("periods", "at least one price period is required"))
    names = [s.name for s in v.seasons]
    for i, p in enumerate(v.periods, start=1):
        where = f"periods line {i}"
        if p.price < 0:
            errors.append(FieldError(f"{where}, price", f"{p.price:g} per kWh is negative"))
        if p.days not in PERIOD_DAYS:
            errors.append(FieldError(f"{where}, days", f"{p.days!r} is not one of {', '.join(PERIOD_DAYS)}"))
        if p.season != ALL_SEASONS and p.season not in names:
            known = ", ".join(names) if names else "none defined: use all"
            errors.append(FieldError(f"{where}, season", f"unknown season {p.season!r} ({known})"))
        for what, m in (("start", p.start_min), ("end", p.end_min)):
            if m % SLOT_MINUTES or not 0 <= m <= 24 * 60:
                errors.append(FieldError(f"{where}, {what}", f"{hhmm(m)} is not a quarter hour of the day"))
        if p.start_min == p.end_min:
            errors.append(FieldError(f"{where}, end", "equals the start: the period is empty"))
    errors += _season_errors(v.seasons)
    if not any(e.field.startswith("periods") for e in errors):
        errors += _coverage_errors(v)
    return errors


def check_tariff(v: TariffVersion, others: Sequence[TariffVersion] = ()) -> TariffVersion:
    errors = validate_tariff(v, others)
    if errors:
        raise TariffErrors(errors)
    return v


def validate_rate(r: BillingRate, others: Sequence[BillingRate] = ()) -> list[FieldError]:
    errors: list[FieldError] = []
    if not r.group.strip():
        errors.append(FieldError("group", "is required"))
    if sum(o.group == r.group for o in others) > 1:
        errors.append(FieldError("group", f"{r.group!r} appears more than once"))
    if r.kind not in GROUP_KINDS:
        errors.append(FieldError("kind", f"{r.kind!r} is not one of {', '.join(GROUP_KINDS)}"))
    for name in ("per_kwh", "per_minute", "session_fee", "idle_fee_per_minute", "idle_grace_minutes"):
        if getattr(r, name) < 0:
            errors.append(FieldError(name, f"{getattr(r, name):g} is negative"))
    return errors


def check_rates(rates: Sequence[BillingRate]) -> list[BillingRate]:
    errors = [FieldError(f"line {i}, {e.field}", e.reason)
              for i, r in enumerate(rates, start=1) for e in validate_rate(r, rates)]
    if errors:
        raise TariffErrors(errors)
    return list(rates)


def _coverage_errors(v: TariffVersion) -> list[FieldError]:
    errors = []
    holiday_own = any(p.days == "holiday" for p in v.periods)
    days = DAY_TYPES if holiday_own else DAY_TYPES[:2]
    for season in season_names(v):
        for day in days:
            owners: list[list[int]] = [[] for _ in range(SLOTS_PER_DAY)]
            for i, p in enumerate(v.periods, start=1):
                if p.season in (season, ALL_SEASONS) and p.days in (day, "all"):
                    for lo, hi in p.minutes():
                        for q in range(lo // SLOT_MINUTES, hi // SLOT_MINUTES):
                            owners[q].append(i)
            label = day if season == ALL_SEASONS else f"{day}, {season}"
            for lo, hi, who in _runs(owners):
                if not who:
                    errors.append(FieldError("periods", f"no price for {label} {hhmm(lo)}–{hhmm(hi)} (a gap)"))
                elif len(who) > 1:
                    lines = " and ".join(str(i) for i in who)
                    errors.append(FieldError(f"periods lines {lines}", f"overlap on {label} {hhmm(lo)}–{hhmm(hi)}"))
    return errors


def _runs(owners: list[list[int]]) -> list[tuple[int, int, list[int]]]:
    """Maximal runs of quarter hours with the same owners that are not exactly one owner."""
    out = []
    q = 0
    while q < len(owners):
        r = q
        while r + 1 < len(owners) and owners[r + 1] == owners[q]:
            r += 1
        if len(owners[q]) != 1:
            out.append((q * SLOT_MINUTES, (r + 1) * SLOT_MINUTES, owners[q]))
        q = r + 1
    return out


def _season_errors(seasons: Sequence[Season]) -> list[FieldError]:
    if not seasons:
        return []
    errors = []
    names = [s.name for s in seasons]
    for i, s in enumerate(seasons, start=1):
        if not s.name.strip() or s.name == ALL_SEASONS:
            errors.append(FieldError(f"seasons line {i}, name", "is required (and may not be 'all')"))
        elif names.count(s.name) > 1:
            errors.append(FieldError(f"seasons line {i}, name", f"{s.name!r} appears more than once"))
        for what, md in (("start", s.start), ("end", s.end)):
            if not _real_day(*md):
                errors.append(FieldError(f"seasons line {i}, {what}", f"{md[0]:02d}-{md[1]:02d} is not a day"))
    if errors:
        return errors
    cover: dict[tuple[int, int], list[str]] = {}
    for s in seasons:
        for md in _season_days(s):
            cover.setdefault(md, []).append(s.name)
    days = [(m, d) for m in range(1, 13) for d in range(1, 32) if _real_day(m, d)]
    owners = [cover.get(md, []) for md in days]
    q = 0
    while q < len(days):
        r = q
        while r + 1 < len(days) and owners[r + 1] == owners[q]:
            r += 1
        span = f"{days[q][0]:02d}-{days[q][1]:02d}…{days[r][0]:02d}-{days[r][1]:02d}"
        if not owners[q]:
            errors.append(FieldError("seasons", f"{span} belongs to no season (a gap)"))
        elif len(owners[q]) > 1:
            errors.append(FieldError("seasons", f"{' and '.join(owners[q])} overlap on {span}"))
        q = r + 1
    return errors


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
