"""Which chargers the enforcer trusts: enforcement health bookkeeping.

A charger that rejects profiles (several in a row: one can be a race, the vehicle left between our snapshot
and the charger's answer), or draws above its limit beyond a tolerance for longer than a grace time, is
flagged: stored as its enforcement health, alerted, re-planned around, and its draw reserved instead of
steered until it recovers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from depot.control.allocation import ConnectorState
from depot.control.decision import Key, Session
from depot.store import enforcement as es

if TYPE_CHECKING:  # pragma: no cover
    from depot.runtime import Runtime

log = logging.getLogger(__name__)

REJECTS_TO_FLAG = 2  # consecutive rejections before a charger counts as rejecting (one can be a race:
#                      the vehicle left between our snapshot and the charger's answer)


class Trust:
    """The enforcement health of every charger, as the enforcer keeps it current."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.store = runtime.store
        self.settings = runtime.settings
        self.clock = runtime.clock
        self.health: dict[str, es.Health] = {}  # read once per pass, kept current by set_health
        self.rejects: dict[str, int] = {}  # consecutive rejected profiles per charger
        self.overdraw_since: dict[Key, datetime] = {}

    def reload(self) -> None:
        """Read the stored health (once per pass)."""
        self.health = es.health(self.store)

    def untrusted(self, sessions: Iterable[Session]) -> set[Key]:
        return {s.key for s in sessions
                if s.charger.id in self.health and self.health[s.charger.id].state in es.UNTRUSTED}

    def forget(self, key: Key) -> None:
        """The session ended: its overdraw, if any, ended with it."""
        self.overdraw_since.pop(key, None)

    # ------------------------------------------------------------ answers to profiles

    def accepted(self, charger_id: str, *, recovered: bool = False) -> None:
        """A profile was accepted; with `recovered` a charger flagged as rejecting counts as ok again."""
        self.rejects.pop(charger_id, None)
        current = self.health.get(charger_id)
        if recovered and current is not None and current.state == "rejecting":
            self.set_health(charger_id, "ok", "accepts profiles again")

    def rejected(self, charger_id: str, detail: str) -> None:
        self.rejects[charger_id] = self.rejects.get(charger_id, 0) + 1
        if self.rejects[charger_id] >= REJECTS_TO_FLAG:
            self.flag(charger_id, "rejecting", f"{detail} ({self.rejects[charger_id]} in a row)")

    # ------------------------------------------------------------ verification

    def verify(self, states: Sequence[ConnectorState], commanded: dict[Key, float], now: datetime) -> None:
        """Flag chargers drawing above their accepted limit for longer than the grace time; clear those
        drawing within it again."""
        grace = timedelta(seconds=self.settings.obey_grace_s)
        stale = timedelta(seconds=self.settings.stale_after_s)
        for st in states:
            limit = commanded.get(st.key)
            if limit is None or st.measured_kw is None or st.measured_at is None or now - st.measured_at > stale:
                continue
            tolerance = max(self.settings.obey_tolerance_kw, 0.05 * limit)
            if st.measured_kw > limit + tolerance:
                since = self.overdraw_since.setdefault(st.key, now)
                if now - since >= grace:
                    self.flag(st.charger_id, "overdrawing",
                              f"draws {st.measured_kw:.1f} kW above its limit {limit:.1f} kW since {since:%H:%M}")
            else:
                self.overdraw_since.pop(st.key, None)
                current = self.health.get(st.charger_id)
                if current is None or current.state == "overdrawing":
                    self.set_health(st.charger_id, "ok", "draws within its limit")

    def flag(self, charger_id: str, state: str, detail: str) -> None:
        before = self.health.get(charger_id)
        self.set_health(charger_id, state, detail)
        if before is None or before.state != state:
            log.warning("charger %s: %s (%s)", charger_id, state, detail)
            self.runtime.request_replan(f"{charger_id} {state}")
            _alert(self.store, "profile rejected" if state == "rejecting" else "profile not obeyed", charger_id,
                   detail, self.clock())

    def set_health(self, charger_id: str, state: str, detail: str) -> None:
        self.health[charger_id] = es.set_health(self.store, charger_id, state, now=self.clock(), detail=detail)


def _alert(store, kind: str, charger_id: str, message: str, now: datetime) -> None:
    """Raise an alert when the alerts module is there (it comes with the people-and-maintenance feature)."""
    try:
        from depot.people import alerts
    except ImportError:
        return
    raise_alert = getattr(alerts, "raise_alert", None)
    if raise_alert is not None:
        try:
            raise_alert(store, kind, charger_id=charger_id, severity="warning", message=message, now=now)
        except Exception:  # noqa: BLE001 - an alert failing must not stop enforcement
            log.exception("could not raise alert %s for %s", kind, charger_id)
