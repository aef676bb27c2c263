"""Sending charging profiles and confirming them: what the chargers accepted is what is in force.

- TxProfiles of the running sessions, several at once: recorded in one transaction, sent concurrently,
  answers recorded in one transaction;
- after a charger boots or connects, the fail-safe defaults: a TxDefaultProfile with its safe share of the
  worst-case site limit (so the limit holds if this server stops; its own maximum when no grid connection
  limit is set: unset is no cap, never 0 A) and, when enabled, a station max profile
  at its rated power (sent only when it changes: it wears charger flash); each built at send time for the
  protocol of the connection it goes out on (depot.control.failsafe retries them and alerts);
- every profile sent and its answer is stored; rejections and acceptances go to the trust bookkeeping.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from depot import metrics
from depot.control.allocation import Allocation, ConnectorState, quantize
from depot.control.decision import Entry, Key, target_of, tx_payload
from depot.control.profiles import (
    STATION_MAX_PROFILE_ID,
    TX_DEFAULT_PROFILE_ID,
    TX_PROFILE_ID_BASE,
    same_schedule,
    station_max_profile,
    tx_default_profile,
)
from depot.errors import ChargerError, ProfileRejected, ValidationError
from depot.model import Charger, Protocol
from depot.store import enforcement as es

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from depot.control.profiles import Target
    from depot.control.site_source import SiteSource
    from depot.control.trust import Trust
    from depot.runtime import Runtime


class ProfileSender:
    """SetChargingProfile through the runtime's central system, and the record of what was accepted."""

    def __init__(self, runtime: Runtime, trust: Trust, site: SiteSource):
        self.runtime = runtime
        self.store = runtime.store
        self.settings = runtime.settings
        self.clock = runtime.clock
        self.trust = trust
        self.site = site
        self.commanded: dict[Key, float] = {}  # limits the chargers accepted, kW
        self.sent: dict[Key, tuple[dict, datetime]] = {}  # last accepted TxProfile and when
        self.defaults: dict[str, float] = {}  # TxDefaultProfile limit accepted per charger
        self.defaults_on: dict[str, Protocol] = {}  # … and the protocol it was accepted over
        self._share_cache: tuple[tuple[float, int], float] | None = None

    def forget_ended(self, live: set[Key]) -> list[Key]:
        """Drop the sessions that ended (their TxProfile went with them); returns their keys."""
        ended = [k for k in self.commanded if k not in live]
        for key in ended:
            self.commanded.pop(key, None)
            self.sent.pop(key, None)
        return ended

    # ------------------------------------------------------------ defaults after boot

    def default_share_kw(self, charger: Charger, now: datetime) -> float:
        """A charger's safe share of the worst-case site limit, for when we cannot talk to it."""
        return min(charger.max_kw, self.site_share_kw(now))

    def site_share_kw(self, now: datetime) -> float:
        """The worst-case site limit divided over every connector (a TxDefaultProfile limits each connector);
        math.inf when no grid connection limit is set: each charger then defaults to its own maximum."""
        worst = self.site.worst_case_kw()
        if math.isinf(worst):
            return math.inf
        key = (worst, self.store.count("chargers"))
        if self._share_cache is None or self._share_cache[0] != key:
            views, _ = self.store.floor_snapshot(now, default_heartbeat=self.settings.heartbeat_interval)
            connectors = sum(len(v.connectors) or 1 for v in views if not v.charger.site_meter)
            self._share_cache = (key, worst / max(1, connectors))
        return self._share_cache[1]

    def protocol_of(self, charger_id: str) -> Protocol | None:
        """The protocol of the charger's open connection now (None: not connected)."""
        central = self.runtime.central
        return None if central is None else central.connected().get(charger_id)

    async def apply_defaults(self, charger_id: str, *, force: bool = False) -> list[str]:
        """The fail-safe defaults of a charger that booted or connected; returns what did not go in ([] when
        all is in force, nothing was due, or the charger is not connected). Each profile is built at send
        time for the protocol of the connection it goes out on (`protocol_of`), never the stored protocol: a
        charger id may reconnect speaking the other version before (or without) a BootNotification.
        depot.control.failsafe retries what failed and alerts."""
        charger = self.store.get_charger(charger_id)
        if charger is None or charger.site_meter or self.protocol_of(charger_id) is None:
            return []
        now = self.clock()
        failed: list[str] = []
        probe = ConnectorState(charger.id, 0, charger.current_type, charger.phases, charger.max_kw, 0.0)
        share, _ = quantize(probe, self.default_share_kw(charger, now))
        due = self.defaults.get(charger_id) != share or self.defaults_on.get(charger_id) != self.protocol_of(charger_id)
        if force or due:
            protocol, status, detail = await self._send_default(
                charger, TX_DEFAULT_PROFILE_ID, share, lambda t: tx_default_profile(t, share, now=now), now)
            if status == "Accepted":
                self.defaults[charger_id], self.defaults_on[charger_id] = share, protocol
            else:
                failed.append(f"TxDefaultProfile {status.lower()}: {detail}")
        protocol = self.protocol_of(charger_id)
        if self.settings.station_max and protocol is not None:
            purpose = "ChargePointMaxProfile" if protocol == Protocol.OCPP16 else "ChargingStationMaxProfile"
            last = es.last_accepted(self.store, charger_id, purpose)
            if last is None or abs(last.limit_kw - charger.max_kw) > 0.05:
                _, status, detail = await self._send_default(
                    charger, STATION_MAX_PROFILE_ID, charger.max_kw,
                    lambda t: station_max_profile(t, charger.max_kw, now=now), now)
                if status != "Accepted":
                    failed.append(f"{purpose} {status.lower()}: {detail}")
        return failed

    async def _send_default(self, charger: Charger, profile_id: int, limit_kw: float,
                            build: Callable[[Target], dict], now: datetime) -> tuple[Protocol | None, str, str | None]:
        """Build one default profile for the protocol the charger speaks now, and send it."""
        protocol = self.protocol_of(charger.id)
        if protocol is None:
            return None, "Failed", "not connected"
        payload = build(replace(target_of(charger), protocol=protocol))
        status, detail = await self._send(charger, 0, payload["chargingProfilePurpose"], profile_id, limit_kw,
                                          payload, now)
        return protocol, status, detail

    # ------------------------------------------------------------ TxProfiles

    def payload(self, entry: Entry, alloc: Allocation, now: datetime) -> dict:
        return tx_payload(entry, alloc, now=now, hours=self.settings.profile_hours)

    def schedule_current(self, entry: Entry, alloc: Allocation, now: datetime) -> bool:
        """The accepted TxProfile already says what this one would (its later periods too)."""
        old = self.sent.get(entry.session.key)
        return old is not None and same_schedule(old[0], self.payload(entry, alloc, now), old_sent_at=old[1],
                                                 now=now)

    async def apply_all(self, items: list[tuple[Entry, Allocation]], now: datetime) -> list[bool | None]:
        """TxProfiles for several sessions at once: recorded in one transaction, sent concurrently, answers
        recorded in one transaction. Per item: True accepted, False rejected, None failed or not sendable."""
        sendable = [(entry, a) for entry, a in items
                    if not (entry.session.charger.protocol == Protocol.OCPP201 and not entry.session.charger_tx_id)]
        payloads = [self.payload(entry, a, now) for entry, a in sendable]
        ids = es.record_commands(self.store, [
            {"at": now, "charger_id": e.session.charger.id, "connector_id": e.session.key[1], "purpose": "TxProfile",
             "profile_id": TX_PROFILE_ID_BASE + e.session.key[1], "limit_kw": a.limit_kw, "payload": p}
            for (e, a), p in zip(sendable, payloads, strict=True)])
        outcomes = await asyncio.gather(*(self.call(e.session.charger, e.session.key[1], p) for (e, _), p in
                                          zip(sendable, payloads, strict=True)))
        answered = self.clock()
        es.record_answers(self.store, [(cid, status, answered, detail)
                                       for cid, (status, detail) in zip(ids, outcomes, strict=True)])
        by_entry: dict[int, bool | None] = {}
        for (entry, a), payload, (status, detail) in zip(sendable, payloads, outcomes, strict=True):
            session = entry.session
            if status == "Accepted":
                self.commanded[session.key] = a.limit_kw
                self.sent[session.key] = (payload, now)
                self.trust.accepted(session.charger.id, recovered=True)
            elif status == "Rejected":
                self.trust.rejected(session.charger.id, f"TxProfile {detail}")
            by_entry[id(entry)] = {"Accepted": True, "Rejected": False}.get(status)
        return [by_entry.get(id(entry)) for entry, _ in items]

    # ------------------------------------------------------------ one message

    async def call(self, charger: Charger, connector_id: int, payload: dict) -> tuple[str, str | None]:
        try:
            await self.runtime.central.set_charging_profile(charger.id, connector_id, payload)
        except ProfileRejected as exc:
            metrics.PROFILES.labels("rejected").inc()
            return "Rejected", exc.status
        except (ChargerError, ValidationError) as exc:  # ValidationError: the payload breaks this protocol's schema
            metrics.PROFILES.labels("failed").inc()
            return "Failed", str(exc)
        metrics.PROFILES.labels("accepted").inc()
        return "Accepted", None

    async def send(self, charger: Charger, connector_id: int, purpose: str, profile_id: int, limit_kw: float,
                   payload: dict, now: datetime) -> bool | None:
        """One SetChargingProfile (defaults, station max), stored with its answer. True accepted, False
        rejected, None failed."""
        status, _ = await self._send(charger, connector_id, purpose, profile_id, limit_kw, payload, now)
        return {"Accepted": True, "Rejected": False}.get(status)

    async def _send(self, charger: Charger, connector_id: int, purpose: str, profile_id: int, limit_kw: float,
                    payload: dict, now: datetime) -> tuple[str, str | None]:
        cid = es.record_command(self.store, at=now, charger_id=charger.id, connector_id=connector_id,
                                purpose=purpose, profile_id=profile_id, limit_kw=limit_kw, payload=payload)
        status, detail = await self.call(charger, connector_id, payload)
        es.record_answer(self.store, cid, status=status, at=self.clock(), detail=detail)
        if status == "Rejected":
            self.trust.rejected(charger.id, f"{purpose} {detail}")
        elif status == "Accepted":
            self.trust.accepted(charger.id)
        return status, detail
