"""PURE: the power the chargers may draw now, from the grid connection and the building's readings.

    site limit = grid connection − safety margin − building load + PV

No I/O, no clock. A building reading that is missing or older than `stale_after` is the WORST case
(`building_max_kw`, no PV), never zero: the chargers then get less, never more, than is safe.
No grid connection configured (a fresh install stores 0 kW) is UNSET, never zero: a `SiteLimit` with
`unset=True` and no cap (`limit_kw` = ∞), so each charger may draw its own maximum; `UNSET_TEXT` says so in
the words the banner, the start-up log and `depot site show` share.
Also the validation of the site settings, the demo's building-load and PV profile, and the parser of the
HTTP JSON source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from depot.errors import ValidationError
from depot.model import Site


@dataclass(frozen=True)
class Reading:
    at: datetime
    building_kw: float | None
    pv_kw: float | None = None


UNSET_COMMAND = "depot site set --grid-kw KW"
UNSET_PAGE = "Power"  # the page with the Site card that sets it (layouts/_site_parts.py)
UNSET_TEXT = ("No grid connection limit is set: chargers charge at full power and nothing protects the site's "
              f"connection. Set it with `{UNSET_COMMAND}` or on the {UNSET_PAGE} page.")
UNSET_REASON = "no grid connection limit is set: no site cap, each charger may draw its maximum"


@dataclass(frozen=True)
class SiteLimit:
    limit_kw: float  # math.inf when `unset`: there is no cap to keep under
    building_kw: float
    pv_kw: float
    stale: bool
    reason: str
    unset: bool = False  # no grid connection limit is configured (not: a limit of zero)

    @property
    def capped_kw(self) -> float | None:
        """The limit to show or store; None when there is none."""
        return None if self.unset else self.limit_kw


def unset_limit() -> SiteLimit:
    """The site limit when no grid connection is configured: no cap."""
    return SiteLimit(math.inf, 0.0, 0.0, False, UNSET_REASON, unset=True)


def worst_building_kw(configured_kw: float, grid_kw: float) -> float:
    """The building load assumed when its reading is missing or stale: the configured worst case, or half
    the grid connection when none is configured (a negative setting)."""
    return configured_kw if configured_kw >= 0 else 0.5 * grid_kw


def site_limit(grid_kw: float, margin_kw: float, reading: Reading | None, *, now: datetime,
               stale_after: timedelta, building_max_kw: float, has_source: bool = True) -> SiteLimit:
    if grid_kw <= 0:  # as stored on a fresh install: not configured
        return unset_limit()
    base = max(0.0, grid_kw - margin_kw)
    if not has_source:
        return SiteLimit(base, 0.0, 0.0, False, "no building meter configured: the grid connection is for charging")
    if reading is None or reading.building_kw is None or now - reading.at > stale_after:
        age = "no reading" if reading is None else f"reading {int((now - reading.at).total_seconds())} s old"
        return SiteLimit(max(0.0, base - building_max_kw), building_max_kw, 0.0, True,
                         f"building load unknown ({age}): assumed its maximum {building_max_kw:g} kW")
    pv = max(0.0, reading.pv_kw or 0.0)
    building = max(0.0, reading.building_kw)
    limit = min(base, max(0.0, base - building + pv))  # PV never lifts us above the connection itself
    return SiteLimit(limit, building, pv, False, "measured")


def limit_moved(before: SiteLimit, after: SiteLimit, *, by_kw: float = 1.0) -> bool:
    """Worth an enforcement pass and a re-plan at once: set or unset, or moved by at least `by_kw`."""
    if before.unset or after.unset:
        return before.unset != after.unset
    return abs(before.limit_kw - after.limit_kw) >= by_kw


def worst_case_kw(grid_kw: float, margin_kw: float, building_max_kw: float) -> float:
    """The least the site limit can be (the building at its maximum): what the fail-safe defaults share.
    math.inf when no grid connection is set: then nothing caps a charger below its own rating."""
    if grid_kw <= 0:
        return math.inf
    return max(0.0, grid_kw - margin_kw - building_max_kw)


def check_site(grid_kw: float, margin_kw: float, *, grid_field: str = "grid_kw",
               margin_field: str = "margin_kw") -> None:
    """The grid connection and the safety margin kept free: both ≥ 0 and the margin below the grid (the
    rule of `depot site set` and the Site card)."""
    if not math.isfinite(grid_kw) or grid_kw < 0:
        raise ValidationError(grid_field, "must be a number ≥ 0")
    if not math.isfinite(margin_kw) or margin_kw < 0 or margin_kw >= grid_kw:
        raise ValidationError(margin_field, "must be ≥ 0 and below the grid connection")


def describe_site(site: Site) -> list[str]:
    """The site settings as `depot site show` prints them (and the Site card confirms a save): the grid line,
    the unset warning in the banner's words, the default departure when one is set."""
    lines = [f"site {site.name}: grid {site.grid_kw:g} kW, margin {site.safety_margin_kw:g} kW"
             + ("" if site.grid_set else "  (not set)")]
    if not site.grid_set:
        lines.append(UNSET_TEXT)
    if site.default_departure is not None:
        lines.append(f"default departure: {site.default_departure:%H:%M} UTC (vehicles plugged in without one)")
    return lines


def parse_default_departure(value: object, field: str = "default_departure") -> time | None:
    """HH:MM (UTC) → a time of day; empty or "none" → None (vehicles without a departure charge now)."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", "none", "off", "-"):
        return None
    try:
        parsed = time.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a time of day (use HH:MM, UTC, or 'none')") from None
    if parsed.tzinfo is not None:
        raise ValidationError(field, "a UTC time of day, without a zone")
    return parsed.replace(second=0, microsecond=0)


def demo_building(now: datetime) -> Reading:
    """The demo depot's offices and workshop: 25 kW at night, up to 90 kW in the working day with an evening
    bump, and PV up to 60 kW around noon (UTC)."""
    h = now.astimezone(UTC).hour + now.minute / 60.0
    work = 55.0 * math.exp(-(((h - 11.0) / 3.5) ** 2))
    evening = 25.0 * math.exp(-(((h - 18.0) / 1.5) ** 2))
    pv = max(0.0, 60.0 * math.sin(math.pi * (h - 7.0) / 10.0)) if 7.0 <= h <= 17.0 else 0.0
    return Reading(now, round(25.0 + work + evening, 1), round(pv, 1))


def parse_http_reading(data: object, *, now: datetime) -> Reading:
    """The JSON an HTTP building meter returns: {"building_kw": 42.0, "pv_kw": 10.0, "at": ISO (optional)}."""
    if not isinstance(data, dict):
        raise ValidationError("body", "expected a JSON object with building_kw")
    try:
        building = float(data["building_kw"])
    except (KeyError, TypeError, ValueError):
        raise ValidationError("building_kw", "missing or not a number") from None
    pv = data.get("pv_kw")
    try:
        pv_kw = None if pv is None else float(pv)
    except (TypeError, ValueError):
        raise ValidationError("pv_kw", "not a number") from None
    at = now
    if data.get("at"):
        try:
            at = datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("at", "not an ISO 8601 date-time") from None
        if at.tzinfo is None:
            raise ValidationError("at", "must carry a time zone")
    if building < 0 or (pv_kw is not None and pv_kw < 0):
        raise ValidationError("building_kw", "readings must not be negative")
    return Reading(at, building, pv_kw)


def building_forecast(source: str, latest: Reading | None, *, start: datetime, slots: int, slot_minutes: float,
                      now: datetime, stale_after: timedelta, building_max_kw: float) -> tuple[float, ...] | None:
    """The building's net load (load − PV) per planning slot, for the planner's site limit.

    No source: None (the connection is for charging). The demo: its profile. A meter or HTTP source: the
    latest reading held flat (a persistence forecast), or the worst case when it is missing or stale."""
    if not source:
        return None
    times = [start + timedelta(minutes=slot_minutes * k) for k in range(slots)]
    if source == "simulator":
        return tuple((r.building_kw or 0.0) - (r.pv_kw or 0.0) for r in map(demo_building, times))
    if latest is None or latest.building_kw is None or now - latest.at > stale_after:
        return tuple(building_max_kw for _ in times)
    return tuple(latest.building_kw - (latest.pv_kw or 0.0) for _ in times)
