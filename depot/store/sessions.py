"""Repository of what the chargers report: sessions (transactions), meter samples and the raw event log.

A mixin of `Store` (depot.store); every method is one logical operation in its own `self.session()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from depot.errors import NotFound
from depot.model import EventRecord, MeterSample, Transaction
from depot.store.db import Repository
from depot.store.tables import ChargerRow, EventRow, IdTagRow, MeterSampleRow, TransactionRow
from depot.store.tables_costs import SessionCostRow
from depot.store.values import _event, _transaction

INFERRED = "closed: "
"""How the stop reason of a session the central system closed on its own inference begins ("closed: connector
reported Available after restart"). The charger's own StopTransaction / TransactionEvent Ended, should it come
later, corrects such a stop with the charger's time, meter reading and reason."""


def inferred_stop(tx: Transaction) -> bool:
    """The session was closed by the central system's inference, not by the charger."""
    return not tx.active and (tx.stop_reason or "").startswith(INFERRED)


def _start_from_first_reading(row: TransactionRow, samples: Sequence[MeterSample]) -> None:
    """A session whose start register is unknown starts at its first good register reading."""
    if not row.meter_start_unknown:
        return
    first = next((m for m in sorted(samples, key=lambda m: m.at) if m.energy_wh is not None), None)
    if first is not None:
        row.meter_start_wh, row.meter_start_unknown = first.energy_wh, False
        if row.last_energy_wh is None:
            row.last_energy_wh = first.energy_wh


class SessionRepository(Repository):
    """Transactions from start to stop, their meter samples and every OCPP message in and out."""

    # ------------------------------------------------------------ transactions and meter values

    def start_transaction(self, charger_id: str, connector_id: int, id_tag: str | None, *, started_at: datetime,
                          meter_start_wh: float | None = 0.0, charger_tx_id: str | None = None) -> Transaction:
        """Open a session. 1.6 uses the returned `id` as its transactionId; 2.0.1 keys on `charger_tx_id`.
        A second start for the same 2.0.1 transaction (same id, same start) returns the first (chargers resend
        after reconnects); a later start with an id used before is a new session (a restarted charger may
        count its ids from the start again), and that id then names the newest session.
        `meter_start_wh` None: the start register is unknown (it was impossible, or not sent): the first good
        register reading (`add_meter_samples`) becomes it, and without one the session meters nothing."""
        with self.session() as s:
            if charger_tx_id is not None:
                existing = self._tx_row(s, charger_id, None, charger_tx_id)
                if existing is not None and existing.started_at == started_at:
                    return _transaction(existing)
            vehicle_id = s.scalar(select(IdTagRow.vehicle_id).where(IdTagRow.tag == id_tag)) if id_tag else None
            unknown = meter_start_wh is None
            row = TransactionRow(charger_id=charger_id, connector_id=connector_id, id_tag=id_tag,
                                 vehicle_id=vehicle_id, started_at=started_at,
                                 meter_start_wh=0.0 if unknown else meter_start_wh, charger_tx_id=charger_tx_id,
                                 last_energy_wh=meter_start_wh, meter_start_unknown=unknown or None)
            s.add(row)
            s.flush()
            return _transaction(row)

    def find_transaction(self, charger_id: str, *, transaction_id: int | None = None,
                         charger_tx_id: str | None = None) -> Transaction | None:
        with self.session() as s:
            row = self._tx_row(s, charger_id, transaction_id, charger_tx_id)
            return None if row is None else _transaction(row)

    @staticmethod
    def _tx_row(s: Session, charger_id: str, transaction_id: int | None, charger_tx_id: str | None):
        if transaction_id is not None:
            row = s.get(TransactionRow, transaction_id)
            return row if row is not None and row.charger_id == charger_id else None
        if charger_tx_id is not None:  # the newest session with that id (see start_transaction)
            return s.scalar(select(TransactionRow).where(TransactionRow.charger_id == charger_id,
                                                         TransactionRow.charger_tx_id == charger_tx_id)
                            .order_by(TransactionRow.id.desc()).limit(1))
        return None

    def set_transaction_tag(self, transaction_id: int, id_tag: str) -> Transaction:
        """2.0.1 sends the idToken in a later TransactionEvent than the one that opened the transaction."""
        with self.session() as s:
            row = s.get(TransactionRow, transaction_id)
            if row is None:
                raise NotFound("transaction", transaction_id)
            row.id_tag = id_tag
            row.vehicle_id = s.scalar(select(IdTagRow.vehicle_id).where(IdTagRow.tag == id_tag))
            return _transaction(row)

    def stop_transaction(self, charger_id: str, *, stopped_at: datetime, transaction_id: int | None = None,
                         charger_tx_id: str | None = None, meter_stop_wh: float | None = None,
                         reason: str | None = None) -> Transaction:
        with self.session() as s:
            row = self._tx_row(s, charger_id, transaction_id, charger_tx_id)
            if row is None:
                raise NotFound("transaction", transaction_id if transaction_id is not None else charger_tx_id)
            corrected = row.stopped_at is not None and (row.stop_reason or "").startswith(INFERRED) and \
                not (reason or "").startswith(INFERRED)
            if row.stopped_at is None or corrected:  # the charger's word replaces what we inferred
                row.stopped_at = max(stopped_at, row.started_at)  # never before it started
                row.meter_stop_wh = meter_stop_wh if meter_stop_wh is not None else row.last_energy_wh
                if row.meter_start_unknown and row.meter_stop_wh is not None:  # no good reading since the start:
                    row.meter_start_wh, row.meter_start_unknown = row.meter_stop_wh, False  # nothing metered
                row.stop_reason = reason
                row.last_power_w = 0.0
            if corrected:  # costed with the inferred stop: the ledger costs it again
                s.execute(delete(SessionCostRow).where(SessionCostRow.transaction_id == row.id))
            return _transaction(row)

    def open_sessions(self, *, charger_id: str | None = None, connector_id: int | None = None,
                      vehicle_id: str | None = None) -> list[Transaction]:
        """Open sessions, oldest first: of one charger (and connector), or of one vehicle."""
        with self.session() as s:
            q = select(TransactionRow).where(TransactionRow.stopped_at.is_(None))
            if charger_id is not None:
                q = q.where(TransactionRow.charger_id == charger_id)
            if connector_id is not None:
                q = q.where(TransactionRow.connector_id == connector_id)
            if vehicle_id is not None:
                q = q.where(TransactionRow.vehicle_id == vehicle_id)
            return [_transaction(r) for r in s.scalars(q.order_by(TransactionRow.id))]

    def close_sessions(self, transaction_ids: Sequence[int], *, stopped_at: datetime, reason: str,
                       now: datetime | None = None) -> list[Transaction]:
        """Close open sessions the chargers never closed (reconciliation), in one write: stopped at `stopped_at`
        but never before their start or their last sample (one not after `now`, when given: a far-future time
        stored before values were screened stops nothing), at their last meter reading, with `reason` (it must
        begin with INFERRED). Sessions closed already are left alone; returns those this call closed."""
        if not reason.startswith(INFERRED):
            raise ValueError(f"an inferred stop reason begins with {INFERRED!r}")
        if not transaction_ids:
            return []
        with self.session() as s:
            rows = list(s.scalars(select(TransactionRow).where(TransactionRow.id.in_(list(transaction_ids)),
                                                               TransactionRow.stopped_at.is_(None))))
            for row in rows:
                last = row.last_sample_at if row.last_sample_at is not None and (
                    now is None or row.last_sample_at <= now) else row.started_at
                row.stopped_at = max(stopped_at, row.started_at, last)
                row.meter_stop_wh = row.last_energy_wh if row.last_energy_wh is not None else row.meter_start_wh
                row.stop_reason = reason[:64]
                row.last_power_w = 0.0
            return [_transaction(r) for r in rows]

    def active_transactions(self) -> list[Transaction]:
        with self.session() as s:
            rows = s.scalars(select(TransactionRow).where(TransactionRow.stopped_at.is_(None))
                             .order_by(TransactionRow.id))
            return [_transaction(r) for r in rows]

    def live_readings(self) -> dict[int, tuple[float | None, datetime | None]]:
        """Running sessions' newest power (W) and when it was measured, by transaction id."""
        with self.session() as s:
            rows = s.execute(select(TransactionRow.id, TransactionRow.last_power_w, TransactionRow.last_sample_at)
                             .where(TransactionRow.stopped_at.is_(None)))
            return {tid: (power, at) for tid, power, at in rows}

    def active_transaction_on(self, charger_id: str, connector_id: int) -> Transaction | None:
        with self.session() as s:
            row = s.scalar(select(TransactionRow).where(
                TransactionRow.charger_id == charger_id, TransactionRow.connector_id == connector_id,
                TransactionRow.stopped_at.is_(None)).order_by(TransactionRow.id.desc()).limit(1))
            return None if row is None else _transaction(row)

    def add_meter_samples(self, charger_id: str, connector_id: int, samples: Sequence[MeterSample], *,
                          transaction_id: int | None = None) -> None:
        """Store samples; the newest also updates its transaction's live values."""
        if not samples:
            return
        with self.session() as s:
            s.add_all([
                MeterSampleRow(charger_id=charger_id, connector_id=connector_id, transaction_id=transaction_id,
                               at=m.at, energy_wh=m.energy_wh, power_w=m.power_w, current_a=m.current_a, soc=m.soc)
                for m in samples
            ])
            if transaction_id is not None:
                row = s.get(TransactionRow, transaction_id)
                if row is not None:
                    _start_from_first_reading(row, samples)
                    for m in sorted(samples, key=lambda m: m.at):
                        if row.last_sample_at is not None and m.at < row.last_sample_at:
                            continue
                        row.last_sample_at = m.at
                        if m.energy_wh is not None:
                            row.last_energy_wh = m.energy_wh
                        if m.power_w is not None:
                            row.last_power_w = m.power_w
                        if m.soc is not None:
                            row.last_soc = m.soc

    def last_register(self, transaction_id: int) -> tuple[datetime, float] | None:
        """The transaction's newest energy register reading (at, Wh): its newest sample with energy, else its
        start (None while the start register is unknown), the reference `depot.ocpp.sanity` screens against."""
        with self.session() as s:
            found = s.execute(select(MeterSampleRow.at, MeterSampleRow.energy_wh).where(
                MeterSampleRow.transaction_id == transaction_id, MeterSampleRow.energy_wh.is_not(None))
                .order_by(MeterSampleRow.at.desc(), MeterSampleRow.id.desc()).limit(1)).first()
            if found is not None:
                return found[0], found[1]
            row = s.get(TransactionRow, transaction_id)
            if row is None or row.meter_start_unknown:
                return None
            return row.started_at, row.meter_start_wh

    def meter_samples(self, *, transaction_id: int | None = None, charger_id: str | None = None,
                      since: datetime | None = None, limit: int = 10_000) -> list[MeterSample]:
        with self.session() as s:
            q = select(MeterSampleRow)
            if transaction_id is not None:
                q = q.where(MeterSampleRow.transaction_id == transaction_id)
            if charger_id is not None:
                q = q.where(MeterSampleRow.charger_id == charger_id)
            if since is not None:
                q = q.where(MeterSampleRow.at >= since)
            rows = s.scalars(q.order_by(MeterSampleRow.at, MeterSampleRow.id).limit(limit))  # ties: as stored
            return [MeterSample(r.at, r.energy_wh, r.power_w, r.current_a, r.soc) for r in rows]

    # ------------------------------------------------------------ raw event log

    def log_event(self, rec: EventRecord) -> None:
        with self.session() as s:
            s.add(EventRow(at=rec.at, charger_id=rec.charger_id, direction=rec.direction, kind=rec.kind,
                           action=rec.action, payload=rec.payload))

    def write_journal(self, events: Sequence[EventRecord], seen: dict[str, datetime]) -> None:
        """Many raw messages and the chargers' last-seen times in one transaction (the OCPP server batches
        them: one commit per batch instead of two per frame)."""
        if not events and not seen:
            return
        with self.session() as s:
            if events:
                s.execute(insert(EventRow), [
                    {"at": e.at, "charger_id": e.charger_id, "direction": e.direction, "kind": e.kind,
                     "action": e.action, "payload": e.payload} for e in events])
            for charger_id, at in seen.items():
                s.execute(update(ChargerRow).where(ChargerRow.id == charger_id).values(last_seen=at))

    def recent_events(self, charger_id: str | None = None, *, limit: int = 50,
                      action: str | None = None) -> list[EventRecord]:
        with self.session() as s:
            q = select(EventRow)
            if charger_id is not None:
                q = q.where(EventRow.charger_id == charger_id)
            if action is not None:
                q = q.where(EventRow.action == action)
            rows = s.scalars(q.order_by(EventRow.id.desc()).limit(limit))
            return [_event(r) for r in rows]
