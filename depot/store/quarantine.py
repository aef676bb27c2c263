"""Repository of quarantined values: what chargers sent that passed the schema but is impossible (issue 11 §2).

A mixin of `Store` (depot.store). The OCPP handlers write here instead of into `meter_samples` / `transactions`
(`depot.ocpp.screening`); the maintenance page shows a charger's latest rows. Nothing that bills, plans or
draws reads this table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from depot.store.db import Repository
from depot.store.tables_quarantine import QuarantineRow

EXCERPT_CHARS = 1000


@dataclass(frozen=True)
class Quarantined:
    id: int
    charger_id: str
    received_at: datetime
    action: str
    field: str
    value: str
    reason: str
    excerpt: str


class QuarantineRepository(Repository):
    """Impossible values, kept for diagnosis."""

    def add_quarantine(self, charger_id: str, *, received_at: datetime, action: str,
                       rejects: Sequence[tuple[str, str, str]], excerpt: str = "") -> None:
        """Keep the rejects (field, value, reason) of one message, in one write."""
        if not rejects:
            return
        with self.session() as s:
            s.execute(insert(QuarantineRow), [
                {"charger_id": charger_id[:64], "received_at": received_at, "action": action[:64],
                 "field": field[:64], "value": value[:500], "reason": reason[:255],
                 "excerpt": excerpt[:EXCERPT_CHARS]} for field, value, reason in rejects])

    def quarantined(self, charger_id: str | None = None, *, limit: int = 50) -> list[Quarantined]:
        """The newest quarantined values, of one charger or all, newest first."""
        with self.session() as s:
            q = select(QuarantineRow)
            if charger_id is not None:
                q = q.where(QuarantineRow.charger_id == charger_id)
            rows = s.scalars(q.order_by(QuarantineRow.id.desc()).limit(limit))
            return [Quarantined(r.id, r.charger_id, r.received_at, r.action, r.field, r.value, r.reason, r.excerpt)
                    for r in rows]
