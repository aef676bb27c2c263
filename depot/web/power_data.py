"""Read-only queries of the live power page: charging power per charger group, the site's building/PV/limit
readings, the plan's expected total, prices, the current site limit and enforcement health. Nothing here writes.

Histories are bucketed in the database (`depot/web/power_buckets.py` explains how): buckets of `bucket_s`
seconds aligned to the Unix epoch, power per series, building/PV/limit readings per bucket that count until
they are stale (`fill_s`, the enforcer's stale_after_s) and are unknown (NaN) after.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select

from depot.control.sitelimit import Reading, SiteLimit, site_limit, unset_limit, worst_building_kw
from depot.model import Charger, CurrentType
from depot.planning.snapshot import default_prices
from depot.store import PlanRecord, Store, TransactionRow
from depot.store import enforcement as es
from depot.web.floorplan_bays import UNPLACED, lane_key, lane_title, parse_bay
from depot.web.power_buckets import MAX_HOLD_S, charger_power, reading_series

MAX_SERIES = 20  # more chargers than this are drawn per group (lane, else AC/DC)
MAX_PER_CHARGER = 40  # "per charger" can be asked for up to this many chargers
GROUPINGS = ("auto", "charger", "lane", "type")
PRICE_SLOT_S = 900


# ---------------------------------------------------------------- grouping (pure)


@dataclass(frozen=True)
class Grouping:
    """Which series a charger's power is drawn in."""

    by: str  # "charger", "lane" or "type"
    labels: tuple[str, ...]  # the series, in drawing order (bottom of the stack first)
    of: Mapping[str, int] = field(compare=False)  # charger id -> index in labels
    sizes: tuple[int, ...] = ()  # chargers per series

    @property
    def charger_ids(self) -> list[str]:
        return list(self.of)


def group_chargers(chargers: Iterable[Charger], by: str = "auto", *, max_series: int = MAX_SERIES) -> Grouping:
    """Per charger up to `max_series` chargers; beyond that per lane (the bay's letters) when that gives 2 to
    `max_series` lanes, else per current type (AC/DC). Site meters are not chargers here."""
    chargers = sorted((c for c in chargers if not c.site_meter), key=lambda c: c.id)
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}")
    if by == "charger" and len(chargers) > MAX_PER_CHARGER:
        by = "auto"
    if by == "auto":
        if len(chargers) <= max_series:
            by = "charger"
        else:
            lanes = {_lane(c) for c in chargers}
            by = "lane" if 2 <= len(lanes) <= max_series else "type"
    if by == "charger":
        key = {c.id: c.id for c in chargers}
        labels = [c.id for c in chargers]
    elif by == "lane":
        key = {c.id: _lane(c) for c in chargers}
        labels = sorted(set(key.values()), key=lane_key)
    else:
        key = {c.id: f"{c.current_type.value} chargers" for c in chargers}
        labels = [f"{t.value} chargers" for t in (CurrentType.AC, CurrentType.DC) if f"{t.value} chargers" in
                  set(key.values())]
    index = {label: i for i, label in enumerate(labels)}
    of = {cid: index[label] for cid, label in key.items()}
    sizes = tuple(int(n) for n in np.bincount(list(of.values()), minlength=len(labels))) if of else ()
    if by == "lane":
        labels = [lane_title(lab) for lab in labels]  # as the floor plan names them
    return Grouping(by, tuple(labels), of, sizes)


def _lane(c: Charger) -> str:
    pos = parse_bay(c.bay)
    return UNPLACED if pos is None else pos.lane


# ---------------------------------------------------------------- time buckets


def bucket_seconds(window: timedelta) -> int:
    """2-minute buckets for a day, 15 minutes for a week: ~700 points per series either way."""
    return 120 if window <= timedelta(days=1) else 900


def floor_time(t: datetime, seconds: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class PowerHistory:
    """Power per series in buckets [start + k·bucket, start + (k+1)·bucket), k < buckets."""

    start: datetime
    bucket_s: int
    labels: tuple[str, ...]
    power_kw: np.ndarray  # series × buckets
    building_kw: np.ndarray  # buckets; NaN: nothing read
    pv_kw: np.ndarray
    limit_kw: np.ndarray

    @property
    def buckets(self) -> int:
        return int(self.power_kw.shape[1])

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.bucket_s * self.buckets)

    @property
    def total_kw(self) -> np.ndarray:
        return self.power_kw.sum(axis=0)

    @property
    def empty(self) -> bool:
        return not (np.any(self.power_kw) or np.isfinite(self.building_kw).any() or np.isfinite(self.limit_kw).any())


def power_history(store: Store, grouping: Grouping, *, since: datetime, until: datetime, bucket_s: int,
                  fill_s: float = 120.0) -> PowerHistory:
    """Bucketed power per series and site readings for [since, until) (both rounded down to a bucket)."""
    first = int(floor_time(since, bucket_s).timestamp()) // bucket_s
    last = max(first, int(floor_time(until, bucket_s).timestamp()) // bucket_s)  # the bucket in progress is not done
    start = datetime.fromtimestamp(first * bucket_s, UTC)
    fill = math.ceil(max(0.0, fill_s) / bucket_s)
    lookback = max(fill, MAX_HOLD_S // bucket_s)  # a sample before `since` may hold into the first buckets
    power = charger_power(store, grouping.of, len(grouping.labels), first - lookback, last, bucket_s,
                          fill)[:, lookback:]
    building, pv, limit = (a[fill:] for a in reading_series(store, first - fill, last, bucket_s, fill))
    return PowerHistory(start, bucket_s, grouping.labels, power, building, pv, limit)


# ---------------------------------------------------------------- now


@dataclass(frozen=True)
class LivePoint:
    """The site now: charging power per series (running sessions' newest samples that are not stale), the
    newest building/PV reading (None when stale or absent), the site limit and what the chargers were told."""

    at: datetime
    series_kw: tuple[float, ...]
    building_kw: float | None
    pv_kw: float | None
    reading_at: datetime | None
    limit: SiteLimit | None
    limit_source: str  # "enforcer" (the running service's), "computed" (here, from the newest reading), "none"
    commanded_kw: float | None  # None: no enforcement service runs in this process
    commanded_n: int = 0

    @property
    def charging_kw(self) -> float:
        return float(sum(self.series_kw))

    @property
    def limit_kw(self) -> float | None:
        """None when unknown or not set (no cap: nothing to draw or compare against)."""
        return None if self.limit is None else self.limit.capped_kw

    @property
    def headroom_kw(self) -> float | None:
        return None if self.limit_kw is None else self.limit_kw - self.charging_kw


def live_series(store: Store, grouping: Grouping, *, now: datetime, stale_s: float) -> tuple[float, ...]:
    """kW per series from the running sessions' newest samples (one GROUP BY over the running transactions)."""
    out = np.zeros(len(grouping.labels))
    if not grouping.of:
        return tuple(out)
    t = TransactionRow
    q = (select(t.charger_id, func.sum(t.last_power_w))
         .where(t.stopped_at.is_(None), t.last_sample_at >= now - timedelta(seconds=stale_s),
                t.last_power_w.is_not(None))
         .group_by(t.charger_id))
    with store.session() as s:
        rows = [(cid, w) for cid, w in s.execute(q) if cid in grouping.of]
    if rows:
        np.add.at(out, [grouping.of[cid] for cid, _ in rows], [w / 1000.0 for _, w in rows])
    return tuple(float(v) for v in out)


def site_limit_now(store: Store, settings, runtime, *, now: datetime,
                   latest: es.SiteReading | None = None) -> tuple[SiteLimit | None, str]:
    """The site limit in force: the running enforcement service's, else computed here from the newest reading
    with the same pure rule (a missing or stale building reading is its maximum, never zero; no grid
    connection set is `SiteLimit.unset`: no cap)."""
    enforcer = getattr(runtime, "enforcer", None)
    if enforcer is not None and enforcer.limit is not None:
        return enforcer.limit, "enforcer"
    site = store.get_site()
    if not site.grid_set:
        return unset_limit(), "none"  # no grid connection limit: no cap (the page says so), never 0 kW
    reading = Reading(latest.at, latest.building_kw, latest.pv_kw) if latest is not None else None
    limit = site_limit(site.grid_kw, site.safety_margin_kw, reading, now=now,
                       stale_after=timedelta(seconds=settings.stale_after_s),
                       building_max_kw=worst_building_kw(settings.building_max_kw, site.grid_kw),
                       has_source=bool(settings.site_limit_source))
    return limit, "computed"


def commanded_now(runtime) -> tuple[float | None, int]:
    """Sum and count of the limits the chargers accepted (the enforcer's own record), None without one."""
    enforcer = getattr(runtime, "enforcer", None)
    if enforcer is None:
        return None, 0
    commanded = dict(enforcer.commanded)  # one C-level copy: the loop thread may be writing it
    return float(sum(commanded.values())), len(commanded)


def live_point(store: Store, settings, runtime, grouping: Grouping, *, now: datetime) -> LivePoint:
    stale = timedelta(seconds=settings.stale_after_s)
    latest = es.latest_reading(store)
    fresh = latest is not None and now - latest.at <= stale
    limit, source = site_limit_now(store, settings, runtime, now=now, latest=latest)
    commanded, n = commanded_now(runtime)
    return LivePoint(now, live_series(store, grouping, now=now, stale_s=settings.stale_after_s),
                     latest.building_kw if fresh else None, latest.pv_kw if fresh else None,
                     latest.at if latest else None, limit, source, commanded, n)


# ---------------------------------------------------------------- plan and prices


@dataclass(frozen=True)
class PlanSeries:
    """The active plan's expected site total and the limit it planned against, per slot."""

    plan_id: int
    created_at: datetime
    start: datetime
    slot_s: int
    total_kw: np.ndarray
    limit_kw: np.ndarray
    prices: np.ndarray

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.slot_s * len(self.total_kw))


def plan_series(record: PlanRecord | None) -> PlanSeries | None:
    """The stored plan (docs/planning-format.md) summed over vehicles; None without a plan."""
    if record is None:
        return None
    problem, plan = record.problem, record.plan
    slots = int(problem["slots"])
    start = datetime.fromisoformat(str(problem["start"]).replace("Z", "+00:00")).astimezone(UTC)
    powers = [v.get("power_kw") or [] for v in plan.get("vehicles", [])]
    powers = [p for p in powers if len(p) == slots]
    total = np.asarray(powers, dtype=float).sum(axis=0) if powers else np.zeros(slots)
    return PlanSeries(record.id, record.created_at, start, int(problem["slot_minutes"]) * 60, total,
                      _per_slot(problem.get("site_limit_kw"), slots), _per_slot(problem.get("price_per_kwh"), slots))


def _per_slot(value: Any, slots: int) -> np.ndarray:
    if isinstance(value, Sequence) and not isinstance(value, str):
        arr = np.asarray([np.nan if v is None else v for v in value], dtype=float)
        return arr if len(arr) == slots else np.resize(arr, slots)
    return np.full(slots, np.nan if value is None else float(value))


@dataclass(frozen=True)
class PriceBand:
    """Price per kWh in slots of `slot_s` from `start`: the active plan's prices where it has them, the
    default time-of-use profile elsewhere."""

    start: datetime
    slot_s: int
    prices: np.ndarray
    from_plan: np.ndarray  # bool per slot


def price_band(since: datetime, until: datetime, plan: PlanSeries | None, *, slot_s: int = PRICE_SLOT_S) -> PriceBand:
    start = floor_time(since, slot_s)
    slots = max(1, math.ceil((until - start).total_seconds() / slot_s))
    prices = np.asarray(default_prices(start, slots, slot_s // 60), dtype=float)
    from_plan = np.zeros(slots, dtype=bool)
    if plan is not None and len(plan.prices):
        at = (int(start.timestamp()) + slot_s * np.arange(slots) - int(plan.start.timestamp())) // plan.slot_s
        inside = (at >= 0) & (at < len(plan.prices))
        inside[inside] &= np.isfinite(plan.prices[at[inside]])
        prices[inside] = plan.prices[at[inside]]
        from_plan = inside
    return PriceBand(start, slot_s, prices, from_plan)


# ---------------------------------------------------------------- enforcement health


def flagged_chargers(store: Store) -> list[es.Health]:
    """Chargers whose enforcement health is not ok, longest-standing first."""
    return sorted((h for h in es.health(store).values() if not h.ok), key=lambda h: (h.since, h.charger_id))
