"""Screening what a charger sent before anything is stored: the glue between the handlers and PURE `sanity`.

One `Screen` per message, made at the top of a handler (its `now` is the receive time). The handler asks it
for the time to use (`time`: an impossible timestamp gives the receive time), whether a connector id is
possible (`connector`), which meter samples to keep (`samples`) and whether a meterStart / meterStop register
is possible (`register`); what is impossible is collected. `done()`, called before the answer goes out, writes
those rejects to the quarantine (`Store.add_quarantine`, one write) and emits a `data_quality` event, from
which the alert watcher raises or folds the charger's data-quality alert (`depot.people.alert_watch`). The
answer itself stays what the protocol prescribes: the charger is never told.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from depot.model import MeterSample, Transaction
from depot.ocpp.base import LOGGER
from depot.ocpp.sanity import (
    Context,
    Limits,
    Register,
    Reject,
    check_connector,
    check_register,
    check_time,
    screen_readings,
    text,
)
from depot.ocpp.values import read_meter_values

if TYPE_CHECKING:
    from depot.ocpp.base import DepotChargePoint
    from depot.settings import Settings

EXCERPT_CHARS = 1000


def limits(settings: Settings) -> Limits:
    return Limits(clock_skew_s=settings.clock_skew_s, max_backlog_s=settings.max_backlog_s,
                  max_connector_id=settings.max_connector_id)


def rating_kw(cp: DepotChargePoint) -> float | None:
    """The charger's rating (kW), read once per connection; None for a site meter (it meters a building)."""
    cached = cp.__dict__.get("_rating_kw", ...)
    if cached is ...:
        charger = cp.store.get_charger(cp.id)  # type: ignore[attr-defined]
        cached = None if charger is None or charger.site_meter or charger.max_kw <= 0 else charger.max_kw
        cp.__dict__["_rating_kw"] = cached
    return cached


class Screen:
    """The screening of one message from one charger (see the module)."""

    def __init__(self, cp: DepotChargePoint, action: str, **payload):
        self.cp, self.action, self.payload = cp, action, payload
        self.now = cp.now()
        self.limits = limits(cp.hub.settings)
        self.rejects: list[Reject] = []
        self.connector_id: int | None = None
        self.time_replaced = False  # the message's own timestamp was impossible: a resend cannot be told by it

    def time(self, value: object, name: str = "timestamp") -> datetime:
        """The message's time: `value`, or the receive time when that is impossible (then quarantined)."""
        at, bad = check_time(value, self.now, self.limits, name)
        self._add(bad)
        self.time_replaced = self.time_replaced or bad is not None
        return at

    def connector(self, connector_id: object, name: str = "connector_id") -> bool:
        """Whether the connector / EVSE id is possible (if not, it is quarantined)."""
        bad = check_connector(connector_id, self.limits, name)
        self._add(bad)
        if bad is None and isinstance(connector_id, int) and self.connector_id is None:
            self.connector_id = connector_id
        return bad is None

    def context(self, tx: Transaction | None) -> Context:
        last = self.cp.store.last_register(tx.id) if tx is not None else None
        return Context(self.now, rating_kw(self.cp), Register(*last) if last else None, self.limits)

    def samples(self, meter_values: list | None, tx: Transaction | None) -> list[MeterSample]:
        """The meter samples to store (of transaction `tx`, or outside one): the impossible values left out."""
        if not meter_values:
            return []
        screened = screen_readings(read_meter_values(meter_values), self.context(tx))
        self.rejects.extend(screened.rejects)
        return screened.samples

    def register(self, value: object, at: datetime, tx: Transaction | None, name: str) -> float | None:
        """A meterStart / meterStop in Wh, or None when it is impossible (then quarantined)."""
        try:
            wh = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            self.reject(name, text(value), "not a number")
            return None
        bad = check_register(wh, at, self.context(tx), name)
        self._add(bad)
        return wh if bad is None else None

    def reject(self, name: str, value: str, reason: str) -> None:
        self.rejects.append(Reject(name, value, reason))

    def _add(self, bad: Reject | None) -> None:
        if bad is not None:
            self.rejects.append(bad)

    def done(self) -> None:
        """Quarantine what was impossible (before the answer) and tell the runtime. Nothing to do when all was
        possible."""
        if not self.rejects:
            return
        cp = self.cp
        cp.store.add_quarantine(cp.id, received_at=self.now, action=self.action,  # type: ignore[attr-defined]
                                rejects=[(r.field, r.value, r.reason) for r in self.rejects],
                                excerpt=json.dumps(self.payload, default=str, separators=(",", ":"))[:EXCERPT_CHARS])
        first = self.rejects[0]
        LOGGER.warning("charger %s: %d impossible value(s) in %s quarantined (%s %s: %s)", cp.id,  # type: ignore[attr-defined]
                       len(self.rejects), self.action, first.field, first.value, first.reason)
        cp.emit("data_quality", self.connector_id, action=self.action, count=len(self.rejects),
                fields=sorted({r.field for r in self.rejects}), field=first.field, value=first.value,
                reason=first.reason)
