"""Tables of charger security: each charger's security profile and password hash, and the security events
(refused, throttled, replaced and accepted handshakes, password rotations, what chargers report). Migrations
`charger_security` and `0010_password_rotation` (the pending password); the queries are in
`depot.store.security`, the handshake policy in `depot.ocpp.security`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from depot.store.db import Base, UTCDateTime


class ChargerCredentialRow(Base):
    """One row per charger that has been given a profile or a password. No row: profile 1 without a
    password, which is refused (what chargers of a database from before this table get)."""

    __tablename__ = "charger_credentials"
    charger_id: Mapped[str] = mapped_column(String(64), ForeignKey("chargers.id", ondelete="CASCADE"),
                                            primary_key=True)
    security_profile: Mapped[int] = mapped_column(Integer, default=1)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # "scrypt$n$r$p$salt$key", never the password
    password_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a rotation over OCPP the charger accepted (or did not answer): accepted beside the current one until the
    # charger connects with it, then it becomes password_hash (depot.store.security)
    pending_hash: Mapped[str | None] = mapped_column(String(255))
    pending_state: Mapped[str | None] = mapped_column(String(16))  # "accepted", "unconfirmed" (no answer)
    pending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SecurityEventRow(Base):
    """A handshake worth remembering. `charger_id` is the id the peer claimed (it may be unknown to us)."""

    __tablename__ = "security_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))  # refused, throttled, replaced, accepted, commissioning,
    # rotation, profile (steps of a change over OCPP), charger (a SecurityEventNotification the charger sent)
    charger_id: Mapped[str] = mapped_column(String(64))
    remote: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (Index("ix_security_events_charger_at", "charger_id", "at"),
                      Index("ix_security_events_remote_at", "remote", "at"))
