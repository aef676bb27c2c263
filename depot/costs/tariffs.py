"""PURE: the supplier tariff: versions, time-of-use periods, seasons and holidays, carbon intensity, validation.

No I/O, no clock, no database: every function takes its inputs as parameters. `depot.costs.prices` looks up a
version's price per slot, `depot.costs.billing` holds what groups are billed, `depot.costs.tariff_io` reads
and writes versions, `depot.costs.tariff_store` keeps them in the store.

Supplier tariff (`TariffVersion`): time-of-use energy prices per kWh by local time of day, for weekdays,
weekends and holidays, optionally per season; a demand charge per kW of the billing period's (local calendar
month's) highest 15-minute average power; a fixed fee per month. A version applies from its `valid_from`
until the next version starts (so versions never overlap). Before the first version the built-in
`DEFAULT_TARIFF` applies: the planner's `DEFAULT_TOU` profile, without demand charge or fees.

Carbon: grams of CO₂ per kWh by local hour, per tariff version, `DEFAULT_CARBON_G_PER_KWH` when not given.

Times of day are local wall-clock times in the version's `timezone`; prices change on quarter hours, so a
15-minute slot has one price (UTC and local quarter hours coincide in every real time zone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from depot.errors import ValidationError
from depot.planning.snapshot import DEFAULT_TOU

SLOT_MINUTES = 15
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
DAY_TYPES = ("weekday", "weekend", "holiday")
PERIOD_DAYS = ("all", *DAY_TYPES)
ALL_SEASONS = "all"

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


# ---------------------------------------------------------------- the seasons' calendar


def season_names(v: TariffVersion) -> list[str]:
    return [s.name for s in v.seasons] or [ALL_SEASONS]


def season_days(s: Season) -> list[tuple[int, int]]:
    """The (month, day) days of a season, from its start to its end (over the new year when it wraps)."""
    days = [(m, d) for m in range(1, 13) for d in range(1, 32) if real_day(m, d)]
    i, j = days.index(s.start), days.index(s.end)
    return days[i:j + 1] if i <= j else days[i:] + days[:j + 1]


def real_day(m: int, d: int) -> bool:
    """Whether (month, day) is a calendar day (29 February is)."""
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
            if not real_day(*md):
                errors.append(FieldError(f"seasons line {i}, {what}", f"{md[0]:02d}-{md[1]:02d} is not a day"))
    if errors:
        return errors
    cover: dict[tuple[int, int], list[str]] = {}
    for s in seasons:
        for md in season_days(s):
            cover.setdefault(md, []).append(s.name)
    days = [(m, d) for m in range(1, 13) for d in range(1, 32) if real_day(m, d)]
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
