"""PURE: the dispatcher's departures: validation, CSV, weekly roster with one-off overrides.

No I/O, no clock, no database: callers pass `now=` and the vehicles they know. A dispatcher's rows (from
the editable table or a CSV upload) are validated all at once; every bad row is reported with its line
and reason, and the caller saves nothing unless the whole batch is clean.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from depot.model import Vehicle
from depot.text import plural

CSV_COLUMNS = ["vehicle", "arrival", "departure", "energy_kwh", "target_soc", "arrival_soc", "priority"]
ROSTER_COLUMNS = ["vehicle", "weekday", "arrival", "departure", "energy_kwh", "target_soc", "priority"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
DEFAULT_ARRIVAL_SOC = 20.0  # % assumed for an expected arrival whose state of charge nobody gave


@dataclass(frozen=True)
class Departure:
    """One vehicle's need for one shift: be charged by `departure`."""

    vehicle_id: str
    departure: datetime
    arrival: datetime | None = None  # expected arrival; None: already in the depot
    energy_kwh: float | None = None  # energy to add, or …
    target_soc: float | None = None  # … the state of charge (%) to reach
    arrival_soc: float | None = None  # % expected on arrival (for target_soc); None: measured or default
    priority: int = 1
    id: int | None = None
    roster: bool = False  # generated from the weekly roster, not entered for this shift

    def energy_needed(self, battery_kwh: float, current_soc: float | None) -> float:
        """kWh still to deliver: the energy asked for, or what lifts the battery to the target SoC."""
        if self.energy_kwh is not None:
            return self.energy_kwh
        soc = current_soc if current_soc is not None else (
            self.arrival_soc if self.arrival_soc is not None else DEFAULT_ARRIVAL_SOC)
        return max(0.0, (self.target_soc or 0.0) - soc) / 100.0 * battery_kwh


@dataclass(frozen=True)
class RosterEntry:
    """A recurring weekly departure: the vehicle arrives on `weekday` at `arrival` and leaves at
    `departure` (the next day when that time is not later than the arrival)."""

    vehicle_id: str
    weekday: int  # 0 = Monday
    arrival: time
    departure: time
    energy_kwh: float | None = None
    target_soc: float | None = None
    priority: int = 1
    id: int | None = None

    def occurrence(self, day: date) -> Departure:
        start = datetime.combine(day, self.arrival, tzinfo=UTC)
        end = datetime.combine(day, self.departure, tzinfo=UTC)
        if end <= start:
            end += timedelta(days=1)
        return Departure(self.vehicle_id, end, start, self.energy_kwh, self.target_soc, None, self.priority,
                         roster=True)


COLUMN_LABELS = {"vehicle": "Vehicle", "arrival": "Expected arrival", "departure": "Departure",
                 "energy_kwh": "Energy kWh", "target_soc": "Target SoC %", "arrival_soc": "Arrival SoC %",
                 "priority": "Priority"}
"""Field -> the column header the dispatcher sees in the departures grid: what error messages name."""
ROSTER_LABELS = {**COLUMN_LABELS, "arrival": "Arrival", "weekday": "Weekday"}
"""The same for the weekly roster grid."""


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based data line (CSV: the header is line 1, so the first row is line 2)
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.reason}"

    def shown(self, labels: Mapping[str, str] = COLUMN_LABELS, *, csv: bool = False) -> str:
        """The message as a user reads it, naming the column by its header ("line 3, Energy kWh: …"); a
        file's line also names the CSV column ("Energy kWh (energy_kwh)")."""
        label = labels.get(self.field, self.field)
        if csv and label.lower() != self.field.lower():
            label = f"{label} ({self.field})"
        return f"line {self.line}, {label}: {self.reason}"


class RowErrors(Exception):
    def __init__(self, errors: Sequence[RowError]):
        super().__init__("; ".join(map(str, errors)))
        self.errors = list(errors)


# ---------------------------------------------------------------- parsing single values


def parse_time_utc(value: object, field: str) -> datetime:
    """An ISO 8601 date-time; a value without a zone is read as UTC (the depot works in UTC)."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value or "").strip()
        if not text:
            raise ValueError("is required")
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{text!r} is not a date and time (use e.g. 2026-11-22 05:30)") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _optional_float(value: object, field: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None


def _priority(value: object) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a whole number ≥ 1") from None
    if number != int(number) or number < 1:
        raise ValueError(f"{value!r} is not a whole number ≥ 1")
    return int(number)


def _time_of_day(value: object, field: str) -> time:
    if isinstance(value, time):
        return value
    text = str(value or "").strip()
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day (use HH:MM)") from None


def _weekday(value: object) -> int:
    text = "" if value is None else str(value).strip()  # 0 is Monday, not empty
    for i, name in enumerate(WEEKDAYS):
        if text.lower().startswith(name.lower()):
            return i
    if text.isdigit() and 0 <= int(text) <= 6:
        return int(text)
    raise ValueError(f"{text!r} is not a weekday (Mon … Sun)")


# ---------------------------------------------------------------- whole batches


def validate_departures(rows: Sequence[Mapping[str, object]], vehicles: Mapping[str, Vehicle], *,
                        now: datetime, first_line: int = 1) -> list[Departure]:
    """Every row checked; all errors raised together as `RowErrors`, else the departures."""
    errors: list[RowError] = []
    out: list[Departure] = []
    seen: dict[tuple[str, datetime], int] = {}
    for offset, row in enumerate(rows):
        line = first_line + offset
        before = len(errors)

        def bad(field: str, reason: str, line: int = line) -> None:
            errors.append(RowError(line, field, reason))

        vehicle_id = str(row.get("vehicle") or "").strip()
        vehicle = vehicles.get(vehicle_id)
        if not vehicle_id:
            bad("vehicle", "is required")
        elif vehicle is None:
            bad("vehicle", f"unknown vehicle {vehicle_id!r}")
        values = _departure_fields(row, bad)
        _check_departure(values, vehicle_id, vehicle, now=now, bad=bad)
        dep = values.get("departure")
        if len(errors) == before and isinstance(dep, datetime):
            key = (vehicle_id, dep)
            if key in seen:
                bad("vehicle", f"duplicate of line {seen[key]} (same vehicle and departure)")
                continue
            seen[key] = line
            rid = row.get("id")
            out.append(Departure(vehicle_id, dep, values.get("arrival"), values.get("energy_kwh"),
                                 values.get("target_soc"), values.get("arrival_soc"), values["priority"],
                                 id=int(rid) if rid not in (None, "") else None))
    if errors:
        raise RowErrors(errors)
    return out


def _departure_fields(row: Mapping[str, object], bad: Callable[[str, str], None]) -> dict[str, object]:
    """A departure row's fields parsed; each one that does not parse is left out and reported to `bad`."""
    values: dict[str, object] = {}
    for field, parse in (("departure", lambda v: parse_time_utc(v, "departure")),
                         ("arrival", lambda v: None if not str(v or "").strip() else parse_time_utc(v, "arrival")),
                         ("energy_kwh", lambda v: _optional_float(v, "energy_kwh")),
                         ("target_soc", lambda v: _optional_float(v, "target_soc")),
                         ("arrival_soc", lambda v: _optional_float(v, "arrival_soc")),
                         ("priority", _priority)):
        try:
            values[field] = parse(row.get(field))
        except ValueError as exc:
            bad(field, str(exc))
    return values


def _check_departure(values: Mapping[str, object], vehicle_id: str, vehicle: Vehicle | None, *, now: datetime,
                     bad: Callable[[str, str], None]) -> None:
    """The rules across a departure row's parsed fields, each broken one reported to `bad`: departure in the
    future and after the arrival, energy or target SoC (one of them), within the battery, percentages 0-100."""
    dep, arr = values.get("departure"), values.get("arrival")
    energy, target, arrival_soc = values.get("energy_kwh"), values.get("target_soc"), values.get("arrival_soc")
    if isinstance(dep, datetime):
        if dep <= now:
            bad("departure", f"{dep:%Y-%m-%d %H:%M} UTC is in the past")
        if isinstance(arr, datetime) and dep <= arr:
            bad("departure", f"must be after the arrival ({arr:%Y-%m-%d %H:%M} UTC)")
    if "energy_kwh" in values and "target_soc" in values:
        if energy is None and target is None:
            bad("energy_kwh", "give the energy needed (kWh) or a target SoC (%)")
        if energy is not None and target is not None:
            bad("target_soc", "give either the energy (kWh) or a target SoC (%), not both")
    if energy is not None:
        if energy < 0:
            bad("energy_kwh", "must not be negative")
        elif vehicle is not None and energy > vehicle.battery_kwh:
            bad("energy_kwh", f"{energy:g} kWh is more than the battery of {vehicle_id} ({vehicle.battery_kwh:g} kWh)")
    for field, pct in (("target_soc", target), ("arrival_soc", arrival_soc)):
        if pct is not None and not (0 <= pct <= 100):
            bad(field, f"{pct:g} % is not between 0 and 100 %")
    if target is not None and arrival_soc is not None and arrival_soc > target:
        bad("arrival_soc", "is above the target SoC")


def validate_roster(rows: Sequence[Mapping[str, object]], vehicles: Mapping[str, Vehicle], *,
                    first_line: int = 1) -> list[RosterEntry]:
    errors: list[RowError] = []
    out: list[RosterEntry] = []
    seen: dict[tuple[str, int], int] = {}
    for offset, row in enumerate(rows):
        line = first_line + offset
        before = len(errors)
        vehicle_id = str(row.get("vehicle") or "").strip()
        vehicle = vehicles.get(vehicle_id)
        if vehicle is None:
            errors.append(RowError(line, "vehicle", f"unknown vehicle {vehicle_id!r}" if vehicle_id else "is required"))
        parsed: dict[str, object] = {}
        for field, parse in (("weekday", _weekday), ("arrival", lambda v: _time_of_day(v, "arrival")),
                             ("departure", lambda v: _time_of_day(v, "departure")),
                             ("energy_kwh", lambda v: _optional_float(v, "energy_kwh")),
                             ("target_soc", lambda v: _optional_float(v, "target_soc")), ("priority", _priority)):
            try:
                parsed[field] = parse(row.get(field))
            except ValueError as exc:
                errors.append(RowError(line, field, str(exc)))
        energy, target = parsed.get("energy_kwh"), parsed.get("target_soc")
        if "energy_kwh" in parsed and "target_soc" in parsed and (energy is None) == (target is None):
            errors.append(RowError(line, "energy_kwh", "give either the energy needed (kWh) or a target SoC (%)"))
        if target is not None and not (0 <= target <= 100):
            errors.append(RowError(line, "target_soc", f"{target:g} % is not between 0 and 100 %"))
        if energy is not None and vehicle is not None and not (0 <= energy <= vehicle.battery_kwh):
            errors.append(RowError(line, "energy_kwh", f"must be between 0 and the battery ({vehicle.battery_kwh:g} kWh)"))
        if len(errors) == before:
            key = (vehicle_id, parsed["weekday"])
            if key in seen:
                errors.append(RowError(line, "weekday", f"duplicate of line {seen[key]} (one roster entry per vehicle and day)"))
                continue
            seen[key] = line
            rid = row.get("id")
            out.append(RosterEntry(vehicle_id, parsed["weekday"], parsed["arrival"], parsed["departure"],
                                   energy, target, parsed["priority"], id=int(rid) if rid not in (None, "") else None))
    if errors:
        raise RowErrors(errors)
    return out


def shift_departures(roster: Iterable[RosterEntry], one_offs: Iterable[Departure], *, now: datetime,
                     horizon: timedelta = timedelta(hours=24)) -> list[Departure]:
    """The departures of the coming shift: one-offs departing in (now, now + horizon], and roster occurrences
    in that window for vehicles that have no one-off there (a one-off overrides the roster)."""
    end = now + horizon
    chosen = [d for d in one_offs if now < d.departure <= end]
    overridden = {d.vehicle_id for d in chosen}
    for entry in roster:
        for back in (1, 0, -1):  # yesterday's evening roster may depart this morning
            day = (now - timedelta(days=back)).date()
            if day.weekday() != entry.weekday:
                continue
            occ = entry.occurrence(day)
            if now < occ.departure <= end and entry.vehicle_id not in overridden:
                chosen.append(occ)
    # a vehicle leaves once per shift in the plan: keep its earliest departure
    first: dict[str, Departure] = {}
    for d in sorted(chosen, key=lambda d: d.departure):
        first.setdefault(d.vehicle_id, d)
    return sorted(first.values(), key=lambda d: (d.departure, d.vehicle_id))


# ---------------------------------------------------------------- CSV


def read_csv(text: str, columns: Sequence[str] = CSV_COLUMNS) -> list[dict[str, str]]:
    """Rows of a CSV whose header names the columns (any order; unknown columns ignored)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None:
        raise RowErrors([RowError(1, "header", "the file is empty")])
    header = [h.strip().lower() for h in reader.fieldnames]
    missing = [c for c in ("vehicle", "departure") if c in columns and c not in header]
    if missing:
        raise RowErrors([RowError(1, "header", f"missing {plural(len(missing), 'column')}: {', '.join(missing)}; "
                                               f"expected {', '.join(columns)}")])
    rows = []
    for raw in reader:
        rows.append({(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None})
    return rows


def departures_to_csv(departures: Iterable[Departure]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for d in departures:
        w.writerow([d.vehicle_id, _iso(d.arrival), _iso(d.departure), _num(d.energy_kwh), _num(d.target_soc),
                    _num(d.arrival_soc), d.priority])
    return buf.getvalue()


def template_csv(vehicles: Sequence[Vehicle], *, now: datetime) -> str:
    """A filled-in example the dispatcher can download, edit and upload."""
    tomorrow = (now + timedelta(days=1)).date()
    rows = []
    for i, v in enumerate(vehicles[:3] or [Vehicle("BUS-01", "Bus 1", 300.0)]):
        arrival = datetime.combine(now.date(), time(17, 30 + 10 * i), tzinfo=UTC)
        depart = datetime.combine(tomorrow, time(5, 30), tzinfo=UTC)
        rows.append(Departure(v.id, depart, arrival, None if i % 2 else round(v.battery_kwh * 0.5),
                              90.0 if i % 2 else None, 25.0 if i % 2 else None, 2 if i == 0 else 1))
    return departures_to_csv(rows)


def replace_ids(departures: Iterable[Departure], ids: Iterable[int]) -> list[Departure]:
    return [replace(d, id=i) for d, i in zip(departures, ids, strict=True)]


def _iso(dt: datetime | None) -> str:
    return "" if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"
