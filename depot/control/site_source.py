"""The building readings the site limit is made of: the configured source read and the limit computed.

Sources (`site_limit_source`): "simulator" (the demo building), "meter" (the chargers marked as site
meters, summed; a missing one is the worst case, not zero), an http(s) URL answering JSON
(depot.control.sitelimit.parse_http_reading), or none. The limit itself is the pure rule of
depot.control.sitelimit: a missing or stale reading counts as the building at its maximum, and no grid
connection configured is no cap (`SiteLimit.unset`), never a cap of zero.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from depot.control.sitelimit import (
    Reading,
    SiteLimit,
    demo_building,
    parse_http_reading,
    site_limit,
    worst_building_kw,
    worst_case_kw,
)
from depot.store import enforcement as es

if TYPE_CHECKING:  # pragma: no cover
    from depot.settings import Settings
    from depot.store import Store

log = logging.getLogger(__name__)


class SiteSource:
    """The building reading and the site limit, per the settings."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings

    def building_max_kw(self, grid_kw: float) -> float:
        return worst_building_kw(self.settings.building_max_kw, grid_kw)

    def worst_case_kw(self) -> float:
        """The least the site limit can be (building at its maximum, when a source is configured); math.inf
        when no grid connection is set."""
        site = self.store.get_site()
        building = self.building_max_kw(site.grid_kw) if self.settings.site_limit_source else 0.0
        return worst_case_kw(site.grid_kw, site.safety_margin_kw, building)

    def current_limit(self, now: datetime) -> SiteLimit:
        """The limit in force from the newest stored reading."""
        site = self.store.get_site()
        source = self.settings.site_limit_source
        reading = None
        if source:
            latest = es.latest_reading(self.store)
            reading = Reading(latest.at, latest.building_kw, latest.pv_kw) if latest else None
        return site_limit(site.grid_kw, site.safety_margin_kw, reading, now=now,
                          stale_after=timedelta(seconds=self.settings.stale_after_s),
                          building_max_kw=self.building_max_kw(site.grid_kw), has_source=bool(source))

    def record(self, reading: Reading, *, charging_kw: float, now: datetime) -> SiteLimit:
        """The limit a fresh reading gives; the reading is stored with it and the charging power then."""
        site = self.store.get_site()
        limit = site_limit(site.grid_kw, site.safety_margin_kw, reading, now=now,
                           stale_after=timedelta(seconds=self.settings.stale_after_s),
                           building_max_kw=self.building_max_kw(site.grid_kw))
        es.add_reading(self.store, es.SiteReading(reading.at, self.settings.site_limit_source or "none",
                                                  reading.building_kw, reading.pv_kw, limit.capped_kw, charging_kw))
        return limit

    def charging_kw(self) -> float:
        """The running sessions' newest readings, summed (one small query: the site poll runs often)."""
        return sum(p for p, _ in self.store.live_readings().values() if p is not None) / 1000.0

    async def read(self, now: datetime) -> Reading | None:
        """The building now, from the configured source; None when there is no fresh reading."""
        source = self.settings.site_limit_source
        if source == "simulator":
            return demo_building(now)
        if source == "meter":
            meters = [c for c in self.store.list_chargers() if c.site_meter]
            samples = [self.store.meter_samples(charger_id=c.id, since=now - timedelta(
                seconds=self.settings.stale_after_s)) for c in meters]
            powers = [s[-1] for s in samples if s and s[-1].power_w is not None]
            if not meters or len(powers) < len(meters):
                return None  # a missing meter is the worst case, not zero
            return Reading(min(p.at for p in powers), sum(p.power_w for p in powers) / 1000.0, None)
        if source.startswith(("http://", "https://")):
            return await asyncio.get_running_loop().run_in_executor(None, http_reading, source, now)
        return None


def http_reading(url: str, now: datetime) -> Reading | None:
    """GET a JSON reading (in an executor thread); any failure means: no fresh reading."""
    import requests

    try:
        response = requests.get(url, timeout=5)
        response.raise_for_status()
        return parse_http_reading(response.json(), now=now)
    except Exception as exc:  # noqa: BLE001 - any failure of the source means: no fresh reading
        log.warning("building reading from %s failed: %s", url, exc)
        return None
