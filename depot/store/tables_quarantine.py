"""The quarantine table: values chargers sent that passed the OCPP schema but are impossible (issue 11 §2).

Kept for diagnosis, never read by the ledger, a bill, the plan or a chart: those read `meter_samples` and
`transactions`, which quarantined values never reach. Migration `0009_quarantine` (which also adds
`transactions.meter_start_unknown`); the queries are in `depot.store.quarantine`, the rules in
`depot.ocpp.sanity`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from depot.store.db import BIG_ID, Base, UTCDateTime


class QuarantineRow(Base):
    """One impossible value: which charger sent it, when we received it, in which message and field, the value
    as text, why it is impossible, and an excerpt of the message it came in."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    charger_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(255))
    excerpt: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_quarantine_charger_received", "charger_id", "received_at"),)
