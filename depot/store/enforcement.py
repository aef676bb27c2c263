"""Tables and queries of smart-charging enforcement: every charging profile sent and its answer, the site's
building/PV readings, and each charger's enforcement health.

Shares `Base` and `Store.session()` with depot.store; migration branch 0003.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from depot.store import Base, Store, UTCDateTime
from depot.store.db import BIG_ID

UNTRUSTED = frozenset({"rejecting", "overdrawing"})  # health states whose chargers we cannot steer


class CommandRow(Base):
    __tablename__ = "charging_commands"
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    charger_id: Mapped[str] = mapped_column(String(64))
    connector_id: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(32))
    profile_id: Mapped[int] = mapped_column(Integer)
    limit_kw: Mapped[float] = mapped_column(Float)  # the first period's limit, in kW
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="Pending")  # Accepted, Rejected, Failed, Pending
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("ix_charging_commands_charger_at", "charger_id", "at"),)


class SiteReadingRow(Base):
    __tablename__ = "site_readings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    source: Mapped[str] = mapped_column(String(64))
    building_kw: Mapped[float | None] = mapped_column(Float)
    pv_kw: Mapped[float | None] = mapped_column(Float)
    site_limit_kw: Mapped[float | None] = mapped_column(Float)  # the limit in force after this reading
    charging_kw: Mapped[float | None] = mapped_column(Float)  # measured charging power then


class HealthRow(Base):
    __tablename__ = "enforcement_health"
    charger_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # ok, rejecting, overdrawing, offline
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[str | None] = mapped_column(String(255))


@dataclass(frozen=True)
class Command:
    id: int
    at: datetime
    charger_id: str
    connector_id: int
    purpose: str
    profile_id: int
    limit_kw: float
    payload: dict
    status: str
    answered_at: datetime | None
    detail: str | None


@dataclass(frozen=True)
class SiteReading:
    at: datetime
    source: str
    building_kw: float | None
    pv_kw: float | None
    site_limit_kw: float | None = None
    charging_kw: float | None = None


@dataclass(frozen=True)
class Health:
    charger_id: str
    state: str
    since: datetime
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def _command(r: CommandRow) -> Command:
    return Command(r.id, r.at, r.charger_id, r.connector_id, r.purpose, r.profile_id, r.limit_kw,
                   json.loads(r.payload), r.status, r.answered_at, r.detail)


def record_command(store: Store, *, at: datetime, charger_id: str, connector_id: int, purpose: str,
                   profile_id: int, limit_kw: float, payload: dict) -> int:
    with store.session() as s:
        row = CommandRow(at=at, charger_id=charger_id, connector_id=connector_id, purpose=purpose,
                         profile_id=profile_id, limit_kw=limit_kw, payload=json.dumps(payload, separators=(",", ":")))
        s.add(row)
        s.flush()
        return row.id


def record_answer(store: Store, command_id: int, *, status: str, at: datetime, detail: str | None = None) -> None:
    with store.session() as s:
        row = s.get(CommandRow, command_id)
        if row is not None:
            row.status, row.answered_at, row.detail = status, at, (detail or None) and detail[:255]


def record_commands(store: Store, rows: list[dict]) -> list[int]:
    """Several commands in one transaction (an enforcement step sends many at once)."""
    with store.session() as s:
        objs = [CommandRow(at=r["at"], charger_id=r["charger_id"], connector_id=r["connector_id"],
                           purpose=r["purpose"], profile_id=r["profile_id"], limit_kw=r["limit_kw"],
                           payload=json.dumps(r["payload"], separators=(",", ":"))) for r in rows]
        s.add_all(objs)
        s.flush()
        return [o.id for o in objs]


def record_answers(store: Store, answers: list[tuple[int, str, datetime, str | None]]) -> None:
    """(command id, status, answered at, detail) for several commands in one transaction."""
    with store.session() as s:
        for command_id, status, at, detail in answers:
            row = s.get(CommandRow, command_id)
            if row is not None:
                row.status, row.answered_at, row.detail = status, at, (detail or None) and detail[:255]


def commands(store: Store, *, charger_id: str | None = None, since: datetime | None = None,
             limit: int = 500) -> list[Command]:
    with store.session() as s:
        q = select(CommandRow)
        if charger_id is not None:
            q = q.where(CommandRow.charger_id == charger_id)
        if since is not None:
            q = q.where(CommandRow.at >= since)
        return [_command(r) for r in s.scalars(q.order_by(CommandRow.id.desc()).limit(limit))]


def last_accepted(store: Store, charger_id: str, purpose: str) -> Command | None:
    with store.session() as s:
        row = s.scalar(select(CommandRow).where(CommandRow.charger_id == charger_id, CommandRow.purpose == purpose,
                                                CommandRow.status == "Accepted")
                       .order_by(CommandRow.id.desc()).limit(1))
        return None if row is None else _command(row)


def add_reading(store: Store, reading: SiteReading) -> None:
    with store.session() as s:
        s.add(SiteReadingRow(at=reading.at, source=reading.source, building_kw=reading.building_kw,
                             pv_kw=reading.pv_kw, site_limit_kw=reading.site_limit_kw, charging_kw=reading.charging_kw))


def latest_reading(store: Store, *, source: str | None = None) -> SiteReading | None:
    with store.session() as s:
        q = select(SiteReadingRow)
        if source is not None:
            q = q.where(SiteReadingRow.source == source)
        r = s.scalar(q.order_by(SiteReadingRow.id.desc()).limit(1))
        return None if r is None else SiteReading(r.at, r.source, r.building_kw, r.pv_kw, r.site_limit_kw,
                                                  r.charging_kw)


def readings(store: Store, *, since: datetime, until: datetime | None = None) -> list[SiteReading]:
    with store.session() as s:
        q = select(SiteReadingRow).where(SiteReadingRow.at >= since)
        if until is not None:
            q = q.where(SiteReadingRow.at <= until)
        return [SiteReading(r.at, r.source, r.building_kw, r.pv_kw, r.site_limit_kw, r.charging_kw)
                for r in s.scalars(q.order_by(SiteReadingRow.at))]


def set_health(store: Store, charger_id: str, state: str, *, now: datetime, detail: str | None = None) -> Health:
    """Record a charger's enforcement health; `since` moves only when the state changes."""
    with store.session() as s:
        row = s.get(HealthRow, charger_id)
        if row is None:
            row = HealthRow(charger_id=charger_id, state=state, since=now, detail=detail)
            s.add(row)
        elif row.state != state:
            row.state, row.since, row.detail = state, now, detail
        elif detail:
            row.detail = detail
        return Health(row.charger_id, row.state, row.since, row.detail)


def health(store: Store) -> dict[str, Health]:
    with store.session() as s:
        return {r.charger_id: Health(r.charger_id, r.state, r.since, r.detail) for r in s.scalars(select(HealthRow))}
