"""Sessions reconciled with what the chargers report, so that a restart of either side leaves no stale session.

`Reconciling` is mixed in before `DepotChargePoint` by both versions' charge points. Its rules, each applied in
the handler of the message that shows it (so the write is done before the answer goes out):

- a connector that reports it is free (Available; in 1.6 also Finishing: the transaction is over) has no open
  session: one still open there is closed;
- a new transaction on a connector closes the sessions still open on that connector (at the new start, but never
  before their own start or last sample: a start sent late is no reason for a session to stop before it began),
  and so does (2.0.1) a new transaction that reuses the transactionId of an older session (a restarted charger
  counting from the start);
- a vehicle (an id tag that names a vehicle) is on one connector at a time: its session on another connector
  is closed, unless that charger is connected and still reports the connector running (Charging, SuspendedEV,
  SuspendedEVSE, reported since its last boot), or that session started after this one: those are kept and
  logged (the planner keeps the newest, `depot.planning.validate`);
- after a BootNotification the charger's first status report per connector settles its open sessions; a
  connector with an open session that has not reported within `VERIFY_AFTER_BOOT_S` is asked to
  (TriggerMessage StatusNotification). Nothing is closed without a report that says so.

Every such stop reason begins with `depot.store.sessions.INFERRED` ("closed: connector reported Available after
restart"); the charger's own StopTransaction / TransactionEvent Ended, should it come later, corrects it. A tag
that names no vehicle (a shared depot card) is never taken for one vehicle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from depot.errors import DepotError
from depot.model import ConnectorStatus, Transaction
from depot.ocpp.base import LOGGER, ChargerEvent
from depot.store.sessions import INFERRED

if TYPE_CHECKING:
    from depot.ocpp.base import Hub
    from depot.store import Store

RUNNING = frozenset({ConnectorStatus.CHARGING, ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE})


class Reconciling:
    """The reconciliation rules of one charger's connection (mixed into its charge point)."""

    id: str
    hub: Hub
    closed: asyncio.Event
    store: Store  # (annotations only: DepotChargePoint provides them)
    now: Callable[[], datetime]
    FREE: frozenset[ConnectorStatus] = frozenset({ConnectorStatus.AVAILABLE})  # a version's "no transaction here"
    VERIFY_AFTER_BOOT_S = 10.0  # real seconds

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._reported: set[int] = set()  # connectors that reported a status since this connection or boot

    # ------------------------------------------------------------ the rules

    def reconcile_status(self, connector_id: int, status: ConnectorStatus) -> list[Transaction]:
        """A connector reported `status`: if that says it is free, close its open sessions. The reason says
        "after restart" for the connector's first report on this connection or since the charger booted."""
        first = connector_id not in self._reported
        self._reported.add(connector_id)
        if connector_id == 0 or status not in self.FREE:
            return []
        stale = self.store.open_sessions(charger_id=self.id, connector_id=connector_id)
        reason = f"{INFERRED}connector reported {status.value}" + (" after restart" if first else "")
        # Finishing before StopTransaction is a normal order for some chargers: not worth a warning
        return self._close_inferred(stale, reason, quiet=status is not ConnectorStatus.AVAILABLE and not first)

    def supersede(self, connector_id: int, at: datetime) -> list[Transaction]:
        """A new transaction starts on the connector (call before opening it): what is open there is over."""
        stale = self.store.open_sessions(charger_id=self.id, connector_id=connector_id)
        return self._close_inferred(stale, f"{INFERRED}new transaction on the connector", at=at)

    def reused_transaction_id(self, old: Transaction) -> list[Transaction]:
        """A 2.0.1 Started (not a resend: another start time) names the transactionId of an older session, as a
        restarted charger that counts its ids from the start again does: that older session is over."""
        return self._close_inferred([old] if old.active else [], f"{INFERRED}its transaction id was used again")

    def one_connector_per_vehicle(self, tx: Transaction) -> list[Transaction]:
        """`tx` is where its vehicle is now: close the vehicle's other open sessions (see the module's rules)."""
        if not tx.active or not tx.vehicle_id:
            return []
        others = [t for t in self.store.open_sessions(vehicle_id=tx.vehicle_id) if t.id != tx.id]
        if not others:
            return []
        connected = self.hub.connected()
        stale = []
        for t in others:
            status = self._reported_status(t.charger_id, t.connector_id) if t.charger_id in connected else None
            if t.started_at > tx.started_at or status in RUNNING:
                LOGGER.warning("vehicle %s: session %s on %s/%s and session %s on %s/%s (%s) are both open; kept",
                               tx.vehicle_id, tx.id, tx.charger_id, tx.connector_id, t.id, t.charger_id,
                               t.connector_id, f"still {status.value}" if status in RUNNING else "the newer one")
                continue
            stale.append(t)
        return self._close_inferred(stale, f"{INFERRED}vehicle now on {tx.charger_id}/{tx.connector_id}")

    def reconcile_on_boot(self) -> None:
        """A BootNotification: the statuses that follow are the charger's first reports after its restart."""
        self._reported.clear()

    async def verify_after_boot(self) -> None:
        """After the boot's answer: ask connectors with an open session that have not reported yet."""
        await asyncio.sleep(self.VERIFY_AFTER_BOOT_S)
        if self.closed.is_set():
            return
        waiting = sorted({t.connector_id for t in self.store.open_sessions(charger_id=self.id)} - self._reported)
        for connector_id in waiting:
            LOGGER.warning("charger %s: connector %s has an open session but reported no status since its boot; "
                           "asking it to", self.id, connector_id)
            try:
                await self.hub.trigger_message(self.id, "StatusNotification", connector_id)
            except DepotError as exc:
                LOGGER.warning("charger %s: status of connector %s not asked: %s (its session stays open)",
                               self.id, connector_id, exc)

    # ------------------------------------------------------------ helpers

    def _reported_status(self, charger_id: str, connector_id: int) -> ConnectorStatus | None:
        """The connector's status as its charger reported it since its last boot (None: not since then)."""
        conn = next((c for c in self.store.connectors(charger_id) if c.connector_id == connector_id), None)
        charger = self.store.get_charger(charger_id)
        booted = charger.last_boot if charger is not None else None
        if conn is None or (booted is not None and conn.updated_at is not None and conn.updated_at < booted):
            return None
        return conn.status

    def _close_inferred(self, sessions: Sequence[Transaction], reason: str, *, at: datetime | None = None,
               quiet: bool = False) -> list[Transaction]:
        if not sessions:
            return []
        now = self.now()
        closed = self.store.close_sessions([t.id for t in sessions], stopped_at=at or now, reason=reason, now=now)
        for tx in closed:
            (LOGGER.info if quiet else LOGGER.warning)(
                "charger %s: session %s (%s) on connector %s %s", tx.charger_id, tx.id,
                tx.vehicle_id or tx.id_tag or "no tag", tx.connector_id, tx.stop_reason)
            self.hub.emit(ChargerEvent(tx.charger_id, "tx_stopped", now, tx.connector_id, {
                "transaction_id": tx.id, "charger_tx_id": tx.charger_tx_id, "reason": tx.stop_reason,
                "meter_stop_wh": tx.meter_stop_wh, "inferred": True,
                "energy_wh": (tx.meter_stop_wh or tx.meter_start_wh) - tx.meter_start_wh}))
        return closed
