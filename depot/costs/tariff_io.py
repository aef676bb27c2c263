"""PURE: tariffs and billing rates to and from what people type and what the store keeps (JSON).

No I/O: `parse_tariff` / `parse_rates` read the rows of the /tariffs page (strings or numbers) and raise
`TariffErrors` naming every bad field at once; `tariff_to_json` / `tariff_from_json` are the store's format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from depot.costs.billing import BillingRate, check_rates
from depot.costs.tariffs import (
    ALL_SEASONS,
    FieldError,
    Season,
    TariffErrors,
    TariffVersion,
    TouPeriod,
    hhmm,
    validate_tariff,
)


def parse_hhmm(text: object, field: str, errors: list[FieldError]) -> int:
    raw = str(text or "").strip()
    if raw in ("24:00", "24"):
        return 24 * 60
    try:
        t = time.fromisoformat(raw if len(raw) > 2 else f"{int(raw):02d}:00")
    except ValueError:
        errors.append(FieldError(field, f"{raw!r} is not a time of day (HH:MM)" if raw else "is required"))
        return 0
    return t.hour * 60 + t.minute


def _number(value: object, field: str, errors: list[FieldError], default: float | None = 0.0) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            errors.append(FieldError(field, "is required"))
            return 0.0
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        errors.append(FieldError(field, f"{value!r} is not a number"))
        return 0.0


def _month_day(value: object, field: str, errors: list[FieldError]) -> tuple[int, int]:
    raw = str(value or "").strip()
    try:
        m, d = (int(x) for x in raw.split("-"))
    except ValueError:
        errors.append(FieldError(field, f"{raw!r} is not a day of the year (MM-DD, e.g. 10-01)"))
        return (1, 1)
    return (m, d)


def parse_tariff(form: Mapping[str, object], periods: Sequence[Mapping[str, object]],
                 seasons: Sequence[Mapping[str, object]] = (), *, others: Sequence[TariffVersion] = (),
                 version_id: int | None = None) -> TariffVersion:
    """A version from what a manager typed (strings or numbers), validated as a whole: TariffErrors names
    every bad field. `valid_from` is a local date (YYYY-MM-DD): the version starts at its local midnight."""
    errors: list[FieldError] = []
    tz = str(form.get("timezone") or "UTC").strip()
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    raw_from = str(form.get("valid_from") or "").strip()
    try:
        day = date.fromisoformat(raw_from[:10])
        valid_from = datetime(day.year, day.month, day.day, tzinfo=zone)
    except ValueError:
        errors.append(FieldError("valid_from", f"{raw_from!r} is not a date (YYYY-MM-DD)" if raw_from else "is required"))
        valid_from = datetime(1970, 1, 1, tzinfo=UTC)
    holidays = []
    for item in str(form.get("holidays") or "").replace(";", ",").replace("\n", ",").split(","):
        if item.strip():
            try:
                holidays.append(date.fromisoformat(item.strip()))
            except ValueError:
                errors.append(FieldError("holidays", f"{item.strip()!r} is not a date (YYYY-MM-DD)"))
    carbon: tuple[float, ...] = ()
    raw_carbon = str(form.get("carbon_g_per_kwh") or "").strip()
    if raw_carbon:
        try:
            carbon = tuple(float(x) for x in raw_carbon.replace(";", ",").split(",") if x.strip())
        except ValueError:
            errors.append(FieldError("carbon_g_per_kwh", "must be 24 numbers separated by commas"))
    tou = []
    for i, row in enumerate(periods, start=1):
        where = f"periods line {i}"
        tou.append(TouPeriod(parse_hhmm(row.get("start"), f"{where}, start", errors),
                             parse_hhmm(row.get("end"), f"{where}, end", errors),
                             _number(row.get("price"), f"{where}, price", errors, None),
                             str(row.get("days") or "all").strip().lower(),
                             str(row.get("season") or ALL_SEASONS).strip() or ALL_SEASONS))
    seas = tuple(Season(str(row.get("name") or "").strip(),
                        _month_day(row.get("start"), f"seasons line {i}, start", errors),
                        _month_day(row.get("end"), f"seasons line {i}, end", errors))
                 for i, row in enumerate(seasons, start=1))
    v = TariffVersion(
        name=str(form.get("name") or "").strip(), valid_from=valid_from, periods=tuple(tou), timezone=tz,
        currency=str(form.get("currency") or "EUR").strip().upper(), seasons=seas, holidays=tuple(sorted(holidays)),
        demand_charge_per_kw=_number(form.get("demand_charge_per_kw"), "demand_charge_per_kw", errors),
        fixed_fee_per_month=_number(form.get("fixed_fee_per_month"), "fixed_fee_per_month", errors),
        carbon_g_per_kwh=carbon, id=version_id)
    errors += [e for e in validate_tariff(v, others) if e not in errors]
    if errors:
        raise TariffErrors(errors)
    return v


def parse_rates(rows: Sequence[Mapping[str, object]]) -> list[BillingRate]:
    errors: list[FieldError] = []
    rates = []
    for i, row in enumerate(rows, start=1):
        where = f"line {i}"
        rates.append(BillingRate(
            group=str(row.get("group") or "").strip(), kind=str(row.get("kind") or "cost centre").strip().lower(),
            per_kwh=_number(row.get("per_kwh"), f"{where}, per_kwh", errors),
            per_minute=_number(row.get("per_minute"), f"{where}, per_minute", errors),
            session_fee=_number(row.get("session_fee"), f"{where}, session_fee", errors),
            idle_fee_per_minute=_number(row.get("idle_fee_per_minute"), f"{where}, idle_fee_per_minute", errors),
            idle_grace_minutes=_number(row.get("idle_grace_minutes"), f"{where}, idle_grace_minutes", errors),
            free=str(row.get("free")).strip().lower() in ("true", "1", "yes")))
    if errors:
        raise TariffErrors(errors)
    return check_rates(rates)


def tariff_to_json(v: TariffVersion) -> dict:
    """The parts of a version kept as one JSON document (the rest are columns of their own)."""
    return {"periods": [{"start": hhmm(p.start_min), "end": hhmm(p.end_min), "price": p.price, "days": p.days,
                         "season": p.season} for p in v.periods],
            "seasons": [{"name": s.name, "start": f"{s.start[0]:02d}-{s.start[1]:02d}",
                         "end": f"{s.end[0]:02d}-{s.end[1]:02d}"} for s in v.seasons],
            "holidays": [d.isoformat() for d in v.holidays],
            "carbon_g_per_kwh": list(v.carbon_g_per_kwh)}


def tariff_from_json(doc: Mapping, *, name: str, valid_from: datetime, timezone: str, currency: str,
                     demand_charge_per_kw: float, fixed_fee_per_month: float, id: int | None = None) -> TariffVersion:
    def minutes(s: str) -> int:
        h, m = s.split(":")
        return int(h) * 60 + int(m)

    def md(s: str) -> tuple[int, int]:
        m, d = s.split("-")
        return int(m), int(d)

    return TariffVersion(
        name=name, valid_from=valid_from, timezone=timezone, currency=currency,
        periods=tuple(TouPeriod(minutes(p["start"]), minutes(p["end"]), float(p["price"]), p.get("days", "all"),
                                p.get("season", ALL_SEASONS)) for p in doc.get("periods", [])),
        seasons=tuple(Season(s["name"], md(s["start"]), md(s["end"])) for s in doc.get("seasons", [])),
        holidays=tuple(date.fromisoformat(d) for d in doc.get("holidays", [])),
        demand_charge_per_kw=demand_charge_per_kw, fixed_fee_per_month=fixed_fee_per_month,
        carbon_g_per_kwh=tuple(float(x) for x in doc.get("carbon_g_per_kwh", [])), id=id)

