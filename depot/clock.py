"""Clocks. Time is a parameter: every component that needs "now" takes a `Clock` (a zero-argument callable
returning an aware UTC datetime); pure code takes `now=` instead.

The demo depot runs on a `DemoClock`, a compressed clock shared by the OCPP server, the runtime and the
simulator, so that a night of charging passes in minutes while energy = power × time stays consistent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class DemoClock:
    """`speed` clock seconds pass per real second, starting at `start` (aware UTC)."""

    def __init__(self, start: datetime, speed: float, *, monotonic: Callable[[], float] = time.monotonic):
        if start.tzinfo is None:
            raise ValueError("DemoClock start must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._monotonic = monotonic
        self._t0 = monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._t0) * self.speed)

    def real_seconds(self, clock_seconds: float) -> float:
        """How long `clock_seconds` of this clock take in real time."""
        return clock_seconds / self.speed


def real_seconds(clock: Clock, clock_seconds: float) -> float:
    """Real time for a span of clock time: the identity except on a DemoClock."""
    return clock.real_seconds(clock_seconds) if isinstance(clock, DemoClock) else clock_seconds


DEMO_EVENING = (16, 30)  # the demo night starts at 16:30 UTC: vehicles arrive in the evening
DEMO_MORNING = (6, 0)


DEMO_MAX_AHEAD = timedelta(days=365 * 100)  # a demo clock runs ahead of the wall, but never this far


def demo_clock_start(latest: datetime | None, now: datetime) -> datetime:
    """Where the demo clock starts: the evening after the newest data in the store (so a restarted demo never
    writes timestamps older than what it wrote before), or right where it left off if that was during the night.
    A `latest` more than `DEMO_MAX_AHEAD` past `now` is no demo's doing (a stored year 9999): it is ignored."""
    if latest is not None and latest - now > DEMO_MAX_AHEAD:
        latest = None
    base = max(latest, now) if latest is not None else now
    evening = base.replace(hour=DEMO_EVENING[0], minute=DEMO_EVENING[1], second=0, microsecond=0)
    morning = base.replace(hour=DEMO_MORNING[0], minute=DEMO_MORNING[1], second=0, microsecond=0)
    if base >= evening or base < morning:
        return base  # already in the night
    return evening
