"""The file of `depot chargers import FILE.csv`, PURE: every line checked before anything is written.

    id,max_kw,bay,security_profile,password,current_type,phases,connectors
    CP-A01,22,A01,1,0f3c…(16 to 40 characters),AC,3,1

`id` and `max_kw` are required; the others may be missing as columns or empty on a line:
`security_profile` 1 (0 none, lab only; 1 Basic auth over ws; 2 over wss; 3 client certificate),
`password` generated for profiles 1 and 2 when empty, `current_type` AC, `phases` 3, `connectors` 1.
Unknown columns are an error (a misspelt `pasword` must not silently give every charger a generated one).

`parse_chargers(text, known=…, check_password=…)` returns the chargers or raises `RowErrors` naming every bad
line (the header is line 1): an id that breaks OCPP's identity rules, already registered or twice in the file,
a rating that is not a number in (0, 1000] kW, a bay over 32 characters, an unknown profile, a password that
breaks the rules (its characters are never repeated in a message), a profile 1/2 id with ':' in it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection
from dataclasses import dataclass

from depot.errors import ValidationError
from depot.model import CurrentType
from depot.ocpp.limits import valid_charger_id
from depot.planning.departures import RowError, RowErrors

COLUMNS = ("id", "max_kw", "bay", "security_profile", "password", "current_type", "phases", "connectors")
REQUIRED = ("id", "max_kw")
MAX_KW = 1000.0  # a charger rated above 1 MW is a typo (kW meant as W, or a missing decimal point)
MAX_BAY = 32  # the chargers.bay column
MAX_CONNECTORS = 32  # as the OCPP server's sanity rules (depot.ocpp.sanity)
MAX_LINES = 100_000


@dataclass(frozen=True)
class ChargerImport:
    line: int
    id: str
    max_kw: float
    bay: str | None = None
    security_profile: int = 1
    password: str | None = None  # None: generated (profiles 1, 2) or none needed (0, 3)
    current_type: CurrentType = CurrentType.AC
    phases: int = 3
    connectors: int = 1


def _number(raw: str, field: str, line: int, errors: list[RowError], *, whole: bool = False) -> float | None:
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        errors.append(RowError(line, field, f"{raw!r} is not a {'whole number' if whole else 'number'}"))
        return None
    if value != value or value in (float("inf"), float("-inf")):
        errors.append(RowError(line, field, f"{raw!r} is not a number"))
        return None
    return value


def _header(reader: csv.DictReader) -> list[str]:
    if reader.fieldnames is None:
        raise RowErrors([RowError(1, "header", "the file is empty; the first line names the columns: "
                                               + ",".join(COLUMNS))])
    header = [(h or "").strip().lower() for h in reader.fieldnames]
    problems = [RowError(1, "header", f"missing column {c!r}") for c in REQUIRED if c not in header]
    problems += [RowError(1, "header", f"unknown column {h!r}; the columns are {', '.join(COLUMNS)}")
                 for h in header if h not in COLUMNS]
    if problems:
        raise RowErrors(problems)
    return header


def _line(n: int, row: dict[str, str], errors: list[RowError], check_password: Callable[[str], str]
          ) -> ChargerImport | None:
    """One line's charger, or None with what is wrong appended to `errors`."""
    before = len(errors)
    cid = row.get("id", "")
    if not valid_charger_id(cid):
        errors.append(RowError(n, "id", f"{cid[:70]!r} is not an OCPP identity (1 to 64 of a-z A-Z 0-9 * - _ = : "
                                        "+ | @ .)" if cid else "is required"))
    kw = _number(row.get("max_kw", ""), "max_kw", n, errors) if row.get("max_kw") else None
    if kw is None and not row.get("max_kw"):
        errors.append(RowError(n, "max_kw", "is required"))
    elif kw is not None and not 0 < kw <= MAX_KW:
        errors.append(RowError(n, "max_kw", f"{kw:g} kW is not in (0, {MAX_KW:g}] kW"))
    bay = row.get("bay") or None
    if bay is not None and len(bay) > MAX_BAY:
        errors.append(RowError(n, "bay", f"has {len(bay)} characters, at most {MAX_BAY}"))
    profile = _number(row.get("security_profile") or "1", "security_profile", n, errors, whole=True)
    if profile is not None and profile not in (0, 1, 2, 3):
        errors.append(RowError(n, "security_profile", f"{profile} is not one of 0, 1, 2, 3"))
    password = row.get("password") or None
    if password is not None:
        try:
            password = check_password(password)
        except ValidationError as exc:
            errors.append(RowError(n, "password", exc.reason))
        if profile in (0, 3):
            errors.append(RowError(n, "password", f"profile {profile} uses no password: leave it empty"))
    if profile in (1, 2) and ":" in cid:
        errors.append(RowError(n, "id", "an id with ':' cannot be an HTTP Basic user name: use profile 0 or 3"))
    kind = (row.get("current_type") or "AC").upper()
    if kind not in ("AC", "DC"):
        errors.append(RowError(n, "current_type", f"{row['current_type']!r} is not AC or DC"))
    phases = _number(row.get("phases") or "3", "phases", n, errors, whole=True)
    if phases is not None and phases not in (1, 2, 3):
        errors.append(RowError(n, "phases", f"{phases} is not 1, 2 or 3"))
    connectors = _number(row.get("connectors") or "1", "connectors", n, errors, whole=True)
    if connectors is not None and not 1 <= connectors <= MAX_CONNECTORS:
        errors.append(RowError(n, "connectors", f"{connectors} is not 1 to {MAX_CONNECTORS}"))
    if len(errors) > before:
        return None
    return ChargerImport(n, cid, float(kw), bay, int(profile), password, CurrentType(kind), int(phases),
                         int(connectors))


def parse_chargers(text: str, *, known: Collection[str], check_password: Callable[[str], str]
                   ) -> list[ChargerImport]:
    """Every charger of the file, or RowErrors naming every bad line. `known`: the ids already registered;
    `check_password`: the store's password rules (returns the password as it will be hashed)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    _header(reader)
    errors: list[RowError] = []
    found: list[ChargerImport] = []
    first_line: dict[str, int] = {}
    for n, raw in enumerate(reader, start=2):
        if n > MAX_LINES + 1:
            raise RowErrors([RowError(n, "file", f"has more than {MAX_LINES:,} chargers: split it")])
        if None in raw:
            errors.append(RowError(n, "line", f"has {len(raw) - 1 + len(raw[None])} values, the header "
                                              f"{len(reader.fieldnames)}"))
            continue
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue  # a blank line
        item = _line(n, row, errors, check_password)
        if item is None:
            continue
        if item.id in known:
            errors.append(RowError(n, "id", f"charger {item.id!r} is registered already "
                                            "(depot chargers set changes it)"))
        elif item.id in first_line:
            errors.append(RowError(n, "id", f"{item.id!r} is on line {first_line[item.id]} too"))
        else:
            first_line[item.id] = n
            found.append(item)
    if errors:
        raise RowErrors(errors)
    if not found:
        raise RowErrors([RowError(2, "file", "has no chargers below its header")])
    return found
