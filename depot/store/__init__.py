"""The database: SQLAlchemy 2 models and the query functions the rest of the product calls.

One `Store` per process (the app and every `depot` subcommand build it from `Settings.database_url`).
Each public method is one logical operation in its own session (`with self.session() as s, s.begin()`)
and returns domain values from `depot.model`, never live ORM rows. SQLite runs in WAL mode with a busy
timeout so the OCPP loop thread and the web threads can share one file; any SQLAlchemy URL works.
Schema changes go through Alembic (`depot/store/migrations`); `Store.migrate()` brings a database to every head.
Larger features keep their tables and queries in a module of their own (sharing `Base` and `Store.session`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from depot.errors import NotFound, ValidationError
from depot.model import (
    Capabilities,
    Charger,
    ChargerView,
    Connector,
    ConnectorStatus,
    ConnectorView,
    CurrentType,
    EventRecord,
    IdTag,
    MeterSample,
    Protocol,
    Site,
    SiteSummary,
    TagStatus,
    Transaction,
    Vehicle,
)
from depot.planning.departures import Departure, RosterEntry
from depot.store.db import Base, UTCDateTime

MIGRATIONS = Path(__file__).with_name("migrations")
NO_FLOW = frozenset({ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE})


class SiteRow(Base):
    __tablename__ = "site"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    grid_kw: Mapped[float] = mapped_column(Float)
    safety_margin_kw: Mapped[float] = mapped_column(Float, default=0.0)


class ChargerRow(Base):
    __tablename__ = "chargers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vendor: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    serial: Mapped[str | None] = mapped_column(String(100))
    firmware: Mapped[str | None] = mapped_column(String(100))
    protocol: Mapped[str | None] = mapped_column(String(16))
    current_type: Mapped[str] = mapped_column(String(2), default="AC")
    phases: Mapped[int] = mapped_column(Integer, default=3)
    max_kw: Mapped[float] = mapped_column(Float)
    bay: Mapped[str | None] = mapped_column(String(32))
    commissioned: Mapped[bool] = mapped_column(Boolean, default=True)
    site_meter: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_boot: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_interval: Mapped[int | None] = mapped_column(Integer)
    rate_unit: Mapped[str | None] = mapped_column(String(8))
    max_periods: Mapped[int | None] = mapped_column(Integer)
    max_stack_level: Mapped[int | None] = mapped_column(Integer)
    firmware_status: Mapped[str | None] = mapped_column(String(64))
    diagnostics_status: Mapped[str | None] = mapped_column(String(64))


class ConnectorRow(Base):
    __tablename__ = "connectors"
    charger_id: Mapped[str] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"), primary_key=True)
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default=ConnectorStatus.UNKNOWN.value)
    error_code: Mapped[str | None] = mapped_column(String(64))
    vendor_error_code: Mapped[str | None] = mapped_column(String(64))
    info: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VehicleRow(Base):
    __tablename__ = "vehicles"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    battery_kwh: Mapped[float] = mapped_column(Float)
    max_ac_kw: Mapped[float] = mapped_column(Float, default=11.0)
    max_dc_kw: Mapped[float] = mapped_column(Float, default=150.0)


class IdTagRow(Base):
    __tablename__ = "id_tags"
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    vehicle_id: Mapped[str | None] = mapped_column(ForeignKey("vehicles.id", ondelete="SET NULL"))
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TransactionRow(Base):
    __tablename__ = "transactions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    charger_id: Mapped[str] = mapped_column(String(64), index=True)
    connector_id: Mapped[int] = mapped_column(Integer)
    charger_tx_id: Mapped[str | None] = mapped_column(String(64))
    id_tag: Mapped[str | None] = mapped_column(String(64))
    vehicle_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    meter_start_wh: Mapped[float] = mapped_column(Float, default=0.0)
    meter_stop_wh: Mapped[float | None] = mapped_column(Float)
    stop_reason: Mapped[str | None] = mapped_column(String(64))
    # the latest sample, kept here so the floor plan needs no scan of meter_samples
    last_energy_wh: Mapped[float | None] = mapped_column(Float)
    last_power_w: Mapped[float | None] = mapped_column(Float)
    last_soc: Mapped[float | None] = mapped_column(Float)
    last_sample_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_transactions_charger_tx", "charger_id", "charger_tx_id"),)


class MeterSampleRow(Base):
    __tablename__ = "meter_samples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    charger_id: Mapped[str] = mapped_column(String(64))
    connector_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    energy_wh: Mapped[float | None] = mapped_column(Float)
    power_w: Mapped[float | None] = mapped_column(Float)
    current_a: Mapped[float | None] = mapped_column(Float)
    soc: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_meter_samples_charger_at", "charger_id", "at"),
        Index("ix_meter_samples_tx_at", "transaction_id", "at"),
    )


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    charger_id: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(8))
    action: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_events_charger_at", "charger_id", "at"),)


class DepartureRow(Base):
    """A one-off departure for a shift (the dispatcher's table or a CSV upload)."""

    __tablename__ = "departures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"))
    arrival: Mapped[datetime | None] = mapped_column(UTCDateTime)
    departure: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    energy_kwh: Mapped[float | None] = mapped_column(Float)
    target_soc: Mapped[float | None] = mapped_column(Float)
    arrival_soc: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[int] = mapped_column(Integer, default=1)


class RosterRow(Base):
    """A recurring weekly departure."""

    __tablename__ = "roster"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)
    arrival: Mapped[str] = mapped_column(String(8))  # HH:MM[:SS]
    departure: Mapped[str] = mapped_column(String(8))
    energy_kwh: Mapped[float | None] = mapped_column(Float)
    target_soc: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[int] = mapped_column(Integer, default=1)


class PlanRow(Base):
    """Every plan ever made; the newest is active until the next one supersedes it."""

    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    problem: Mapped[str] = mapped_column(Text)
    plan: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------- conversions (rows -> domain values)


def _charger(r: ChargerRow) -> Charger:
    return Charger(
        id=r.id, max_kw=r.max_kw, current_type=CurrentType(r.current_type), phases=r.phases,
        protocol=Protocol(r.protocol) if r.protocol else None, vendor=r.vendor, model=r.model,
        serial=r.serial, firmware=r.firmware, bay=r.bay, commissioned=r.commissioned,
        site_meter=r.site_meter, last_seen=r.last_seen, last_boot=r.last_boot,
        heartbeat_interval=r.heartbeat_interval,
        capabilities=Capabilities(r.rate_unit, r.max_periods, r.max_stack_level),
    )


def _connector(r: ConnectorRow) -> Connector:
    return Connector(r.charger_id, r.connector_id, _status(r.status), r.error_code, r.vendor_error_code,
                     r.info, r.updated_at)


def _status(value: str) -> ConnectorStatus:
    try:
        return ConnectorStatus(value)
    except ValueError:
        return ConnectorStatus.UNKNOWN


def _transaction(r: TransactionRow) -> Transaction:
    return Transaction(
        id=r.id, charger_id=r.charger_id, connector_id=r.connector_id, id_tag=r.id_tag,
        started_at=r.started_at, meter_start_wh=r.meter_start_wh, charger_tx_id=r.charger_tx_id,
        vehicle_id=r.vehicle_id, stopped_at=r.stopped_at, meter_stop_wh=r.meter_stop_wh,
        stop_reason=r.stop_reason,
    )


def _vehicle(r: VehicleRow, tag: str | None = None) -> Vehicle:
    return Vehicle(r.id, r.name, r.battery_kwh, r.max_ac_kw, r.max_dc_kw, tag)


def _event(r: EventRow) -> EventRecord:
    return EventRecord(r.at, r.charger_id, r.direction, r.kind, r.action, r.payload)


def is_online(charger: Charger, now: datetime, default_interval: int) -> bool:
    """A charger is online while it was heard from within twice its heartbeat interval."""
    if charger.last_seen is None:
        return False
    interval = charger.heartbeat_interval or default_interval
    return now - charger.last_seen <= timedelta(seconds=2 * interval)


@dataclass(frozen=True)
class PlanRecord:
    """A stored plan: the problem it solved and the plan, both as the JSON of shared/planning-format.md."""

    id: int
    created_at: datetime
    reason: str
    status: str
    problem: dict
    plan: dict
    superseded_at: datetime | None = None


def _departure(r: DepartureRow) -> Departure:
    return Departure(r.vehicle_id, r.departure, r.arrival, r.energy_kwh, r.target_soc, r.arrival_soc, r.priority,
                     id=r.id)


def _roster(r: RosterRow) -> RosterEntry:
    return RosterEntry(r.vehicle_id, r.weekday, time.fromisoformat(r.arrival), time.fromisoformat(r.departure),
                       r.energy_kwh, r.target_soc, r.priority, id=r.id)


def _plan(r: PlanRow) -> PlanRecord:
    return PlanRecord(r.id, r.created_at, r.reason, r.status, json.loads(r.problem), json.loads(r.plan),
                      r.superseded_at)


@dataclass(frozen=True)
class ChargerDetail:
    """The floor plan's detail panel for one charger."""

    view: ChargerView
    connectors: tuple[Connector, ...]
    sessions: tuple[Transaction, ...]  # the running ones
    errors: tuple[EventRecord, ...]  # the last status notifications that carried an error
    messages: tuple[EventRecord, ...]  # the last raw messages, newest first


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through every SQLite test
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


class Store:
    """All database access. Thread safe: each call opens its own short session."""

    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        kwargs: dict = {"echo": echo}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        self.engine = create_engine(url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            _configure_sqlite(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------ schema

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")  # each issue's tables may come as their own branch

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    # ------------------------------------------------------------ site

    def get_site(self) -> Site:
        with self.session() as s:
            row = s.get(SiteRow, 1)
            if row is None:
                return Site(name="Depot", grid_kw=0.0)
            return Site(row.name, row.grid_kw, row.safety_margin_kw)

    def set_site(self, name: str, grid_kw: float, safety_margin_kw: float = 0.0) -> Site:
        if grid_kw < 0:
            raise ValidationError("grid_kw", "must be ≥ 0")
        with self.session() as s:
            row = s.get(SiteRow, 1)
            if row is None:
                row = SiteRow(id=1, name=name, grid_kw=grid_kw, safety_margin_kw=safety_margin_kw)
                s.add(row)
            else:
                row.name, row.grid_kw, row.safety_margin_kw = name, grid_kw, safety_margin_kw
        return Site(name, grid_kw, safety_margin_kw)

    # ------------------------------------------------------------ chargers

    def add_charger(self, charger: Charger, *, connectors: int = 1) -> Charger:
        if not charger.id or "/" in charger.id:
            raise ValidationError("id", "a charger id must be non-empty and contain no '/'")
        if charger.max_kw <= 0:
            raise ValidationError("max_kw", "must be > 0")
        if charger.phases not in (1, 2, 3):
            raise ValidationError("phases", "must be 1, 2 or 3")
        with self.session() as s:
            if s.get(ChargerRow, charger.id) is not None:
                raise ValidationError("id", f"charger {charger.id!r} already exists")
            s.add(ChargerRow(
                id=charger.id, vendor=charger.vendor, model=charger.model, serial=charger.serial,
                firmware=charger.firmware, protocol=charger.protocol.value if charger.protocol else None,
                current_type=charger.current_type.value, phases=charger.phases, max_kw=charger.max_kw,
                bay=charger.bay, commissioned=charger.commissioned, site_meter=charger.site_meter,
                heartbeat_interval=charger.heartbeat_interval,
            ))
            for n in range(1, connectors + 1):
                s.add(ConnectorRow(charger_id=charger.id, connector_id=n))
        return charger

    def update_charger(self, charger_id: str, **changes) -> Charger:
        allowed = {"max_kw", "phases", "bay", "commissioned", "site_meter", "heartbeat_interval", "current_type"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValidationError(", ".join(sorted(unknown)), "cannot be changed here")
        with self.session() as s:
            row = self._charger_row(s, charger_id)
            for key, value in changes.items():
                setattr(row, key, value.value if isinstance(value, CurrentType) else value)
            return _charger(row)

    def remove_charger(self, charger_id: str) -> None:
        with self.session() as s:
            self._charger_row(s, charger_id)
            s.execute(delete(ConnectorRow).where(ConnectorRow.charger_id == charger_id))
            s.execute(delete(ChargerRow).where(ChargerRow.id == charger_id))

    def get_charger(self, charger_id: str) -> Charger | None:
        with self.session() as s:
            row = s.get(ChargerRow, charger_id)
            return None if row is None else _charger(row)

    def list_chargers(self) -> list[Charger]:
        with self.session() as s:
            return [_charger(r) for r in s.scalars(select(ChargerRow).order_by(ChargerRow.id))]

    def record_boot(self, charger_id: str, *, protocol: Protocol, now: datetime, vendor: str | None = None,
                    model: str | None = None, serial: str | None = None, firmware: str | None = None,
                    heartbeat_interval: int | None = None) -> Charger:
        """A BootNotification: identity fields, protocol, last boot. Creates an uncommissioned charger
        when the id is new (commissioning mode already let it connect)."""
        with self.session() as s:
            row = s.get(ChargerRow, charger_id)
            if row is None:
                row = ChargerRow(id=charger_id, max_kw=22.0, commissioned=False, current_type="AC", phases=3)
                s.add(row)
            row.vendor, row.model, row.serial, row.firmware = vendor, model, serial, firmware
            row.protocol = protocol.value
            row.last_boot = row.last_seen = now
            if heartbeat_interval:
                row.heartbeat_interval = heartbeat_interval
            return _charger(row)

    def register_unknown(self, charger_id: str, protocol: Protocol, now: datetime) -> Charger:
        """Commissioning mode: record a charger that connected with an id we did not know."""
        with self.session() as s:
            row = s.get(ChargerRow, charger_id)
            if row is None:
                row = ChargerRow(id=charger_id, max_kw=22.0, commissioned=False, current_type="AC", phases=3,
                                 protocol=protocol.value, last_seen=now)
                s.add(row)
            return _charger(row)

    def touch(self, charger_id: str, now: datetime) -> None:
        with self.session() as s:
            row = s.get(ChargerRow, charger_id)
            if row is not None:
                row.last_seen = now

    def set_capabilities(self, charger_id: str, caps: Capabilities) -> None:
        with self.session() as s:
            row = self._charger_row(s, charger_id)
            row.rate_unit, row.max_periods, row.max_stack_level = caps.rate_unit, caps.max_periods, caps.max_stack_level

    def set_charger_status_field(self, charger_id: str, *, firmware_status: str | None = None,
                                 diagnostics_status: str | None = None) -> None:
        with self.session() as s:
            row = self._charger_row(s, charger_id)
            if firmware_status is not None:
                row.firmware_status = firmware_status
            if diagnostics_status is not None:
                row.diagnostics_status = diagnostics_status

    def set_connector_status(self, charger_id: str, connector_id: int, status: ConnectorStatus, *,
                             now: datetime, error_code: str | None = None, vendor_error_code: str | None = None,
                             info: str | None = None) -> Connector:
        """Record a connector's state. Connector 0 (the whole charger in 1.6) is stored like any other."""
        with self.session() as s:
            row = s.get(ConnectorRow, (charger_id, connector_id))
            if row is None:
                row = ConnectorRow(charger_id=charger_id, connector_id=connector_id)
                s.add(row)
            row.status = status.value
            row.error_code = None if error_code in (None, "NoError") else error_code
            row.vendor_error_code = vendor_error_code
            row.info = info
            row.updated_at = now
            return _connector(row)

    def connectors(self, charger_id: str) -> list[Connector]:
        with self.session() as s:
            rows = s.scalars(select(ConnectorRow).where(ConnectorRow.charger_id == charger_id)
                             .order_by(ConnectorRow.connector_id))
            return [_connector(r) for r in rows]

    @staticmethod
    def _charger_row(s: Session, charger_id: str) -> ChargerRow:
        row = s.get(ChargerRow, charger_id)
        if row is None:
            raise NotFound("charger", charger_id)
        return row

    # ------------------------------------------------------------ vehicles and id tags

    def add_vehicle(self, vehicle: Vehicle) -> Vehicle:
        if vehicle.battery_kwh <= 0:
            raise ValidationError("battery_kwh", "must be > 0")
        with self.session() as s:
            if s.get(VehicleRow, vehicle.id) is not None:
                raise ValidationError("id", f"vehicle {vehicle.id!r} already exists")
            s.add(VehicleRow(id=vehicle.id, name=vehicle.name, battery_kwh=vehicle.battery_kwh,
                             max_ac_kw=vehicle.max_ac_kw, max_dc_kw=vehicle.max_dc_kw))
            if vehicle.id_tag:
                s.flush()
                self._upsert_tag(s, vehicle.id_tag, vehicle.id)
        return vehicle

    def list_vehicles(self) -> list[Vehicle]:
        with self.session() as s:
            tags = {t.vehicle_id: t.tag for t in s.scalars(select(IdTagRow).where(IdTagRow.vehicle_id.is_not(None)))}
            return [_vehicle(r, tags.get(r.id)) for r in s.scalars(select(VehicleRow).order_by(VehicleRow.id))]

    def get_vehicle(self, vehicle_id: str) -> Vehicle | None:
        with self.session() as s:
            row = s.get(VehicleRow, vehicle_id)
            if row is None:
                return None
            tag = s.scalar(select(IdTagRow.tag).where(IdTagRow.vehicle_id == vehicle_id))
            return _vehicle(row, tag)

    def add_tag(self, tag: str, vehicle_id: str | None = None) -> IdTag:
        if not tag or len(tag) > 36:
            raise ValidationError("tag", "must be 1 to 36 characters (OCPP 1.6 chargers accept at most 20)")
        with self.session() as s:
            if vehicle_id is not None and s.get(VehicleRow, vehicle_id) is None:
                raise NotFound("vehicle", vehicle_id)
            if s.get(IdTagRow, tag) is not None:
                raise ValidationError("tag", f"id tag {tag!r} already exists")
            self._upsert_tag(s, tag, vehicle_id)
        return IdTag(tag, vehicle_id)

    @staticmethod
    def _upsert_tag(s: Session, tag: str, vehicle_id: str | None) -> None:
        row = s.get(IdTagRow, tag)
        if row is None:
            s.add(IdTagRow(tag=tag, vehicle_id=vehicle_id, blocked=False))
        else:
            row.vehicle_id = vehicle_id

    def block_tag(self, tag: str, blocked: bool = True) -> IdTag:
        with self.session() as s:
            row = s.get(IdTagRow, tag)
            if row is None:
                raise NotFound("id tag", tag)
            row.blocked = blocked
            return IdTag(row.tag, row.vehicle_id, row.blocked, row.expires_at)

    def list_tags(self) -> list[IdTag]:
        with self.session() as s:
            return [IdTag(r.tag, r.vehicle_id, r.blocked, r.expires_at)
                    for r in s.scalars(select(IdTagRow).order_by(IdTagRow.tag))]

    def tag_status(self, tag: str, now: datetime) -> TagStatus:
        with self.session() as s:
            row = s.get(IdTagRow, tag)
            if row is None:
                return TagStatus.INVALID
            if row.blocked:
                return TagStatus.BLOCKED
            if row.expires_at is not None and row.expires_at <= now:
                return TagStatus.EXPIRED
            return TagStatus.ACCEPTED

    # ------------------------------------------------------------ transactions and meter values

    def start_transaction(self, charger_id: str, connector_id: int, id_tag: str | None, *, started_at: datetime,
                          meter_start_wh: float = 0.0, charger_tx_id: str | None = None) -> Transaction:
        """Open a session. 1.6 uses the returned `id` as its transactionId; 2.0.1 keys on `charger_tx_id`.
        A second start for the same 2.0.1 transaction returns the first (chargers resend after reconnects)."""
        with self.session() as s:
            if charger_tx_id is not None:
                existing = s.scalar(select(TransactionRow).where(
                    TransactionRow.charger_id == charger_id, TransactionRow.charger_tx_id == charger_tx_id))
                if existing is not None:
                    return _transaction(existing)
            vehicle_id = s.scalar(select(IdTagRow.vehicle_id).where(IdTagRow.tag == id_tag)) if id_tag else None
            row = TransactionRow(charger_id=charger_id, connector_id=connector_id, id_tag=id_tag,
                                 vehicle_id=vehicle_id, started_at=started_at, meter_start_wh=meter_start_wh,
                                 charger_tx_id=charger_tx_id, last_energy_wh=meter_start_wh)
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
        if charger_tx_id is not None:
            return s.scalar(select(TransactionRow).where(TransactionRow.charger_id == charger_id,
                                                         TransactionRow.charger_tx_id == charger_tx_id))
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
            if row.stopped_at is None:
                row.stopped_at = stopped_at
                row.meter_stop_wh = meter_stop_wh if meter_stop_wh is not None else row.last_energy_wh
                row.stop_reason = reason
                row.last_power_w = 0.0
            return _transaction(row)

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
            rows = s.scalars(q.order_by(MeterSampleRow.at).limit(limit))
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

    # ------------------------------------------------------------ what the floor plan shows

    def floor_snapshot(self, now: datetime, *, default_heartbeat: int = 60,
                       charger_id: str | None = None) -> tuple[list[ChargerView], SiteSummary]:
        """Every charger (or just `charger_id`) with its connectors and running session, in three queries."""
        with self.session() as s:
            cq = select(ChargerRow).order_by(ChargerRow.id)
            nq = select(ConnectorRow).order_by(ConnectorRow.charger_id, ConnectorRow.connector_id)
            q = (select(TransactionRow, VehicleRow.name)
                 .outerjoin(VehicleRow, VehicleRow.id == TransactionRow.vehicle_id)
                 .where(TransactionRow.stopped_at.is_(None)).order_by(TransactionRow.id))
            if charger_id is not None:
                cq = cq.where(ChargerRow.id == charger_id)
                nq = nq.where(ConnectorRow.charger_id == charger_id)
                q = q.where(TransactionRow.charger_id == charger_id)
            chargers = [_charger(r) for r in s.scalars(cq)]
            by_charger: dict[str, list[ConnectorRow]] = {}
            for c in s.scalars(nq):
                by_charger.setdefault(c.charger_id, []).append(c)
            running: dict[tuple[str, int], tuple[TransactionRow, str | None]] = {}
            for tx, vname in s.execute(q):  # the newest open session on a connector wins
                running[(tx.charger_id, tx.connector_id)] = (tx, vname)
            site_row = s.get(SiteRow, 1)
        views = []
        for ch in chargers:
            online = is_online(ch, now, default_heartbeat)
            conns = []
            rows = by_charger.get(ch.id, [])
            # 1.6 connector 0 is the charger as a whole: a fault or unavailability there applies to every connector
            whole = next((c for c in rows if c.connector_id == 0 and len(rows) > 1
                          and c.status in (ConnectorStatus.FAULTED.value, ConnectorStatus.UNAVAILABLE.value)), None)
            for c in rows:
                if c.connector_id == 0 and len(rows) > 1:
                    continue
                tx_v = running.get((ch.id, c.connector_id))
                tx, vname = tx_v if tx_v else (None, None)
                status, error = (_status(whole.status), whole.error_code) if whole else (_status(c.status), c.error_code)
                power = None
                if tx is not None and online and tx.last_power_w is not None:
                    power = tx.last_power_w / 1000.0
                    if status in NO_FLOW and (tx.last_sample_at is None or
                                              (c.updated_at is not None and c.updated_at >= tx.last_sample_at)):
                        power = 0.0  # suspended since its last reading: no energy flows (OCPP), whatever it read
                conns.append(ConnectorView(
                    connector_id=c.connector_id, status=status, error_code=error,
                    vehicle_id=tx.vehicle_id if tx else None, vehicle_name=vname,
                    power_kw=power, soc=tx.last_soc if tx else None,
                    session_kwh=((tx.last_energy_wh or tx.meter_start_wh) - tx.meter_start_wh) / 1000.0 if tx else None,
                    transaction_id=tx.id if tx else None,
                ))
            views.append(ChargerView(ch, online, tuple(conns)))
        summary = SiteSummary(
            chargers_total=len(views),
            chargers_online=sum(v.online for v in views),
            charging_now=sum(1 for v in views for c in v.connectors
                             if v.online and c.status == ConnectorStatus.CHARGING),
            site_power_kw=sum(v.power_kw for v in views),
            grid_kw=site_row.grid_kw if site_row else 0.0,
        )
        return views, summary

    def charger_detail(self, charger_id: str, now: datetime, *, default_heartbeat: int = 60,
                       messages: int = 15, errors: int = 5) -> ChargerDetail:
        views, _ = self.floor_snapshot(now, default_heartbeat=default_heartbeat, charger_id=charger_id)
        if not views:
            raise NotFound("charger", charger_id)
        view = views[0]
        with self.session() as s:
            conns = tuple(_connector(r) for r in s.scalars(
                select(ConnectorRow).where(ConnectorRow.charger_id == charger_id).order_by(ConnectorRow.connector_id)))
            sessions = tuple(_transaction(r) for r in s.scalars(
                select(TransactionRow).where(TransactionRow.charger_id == charger_id,
                                             TransactionRow.stopped_at.is_(None))))
            faulted = (EventRow.action == "StatusNotification") & EventRow.payload.contains("Faulted")
            reported = EventRow.action.in_(("NotifyEvent", "SecurityEventNotification"))  # 2.0.1 problems
            err_rows = s.scalars(
                select(EventRow).where(EventRow.charger_id == charger_id, EventRow.direction == "in",
                                       EventRow.kind == "call", faulted | reported)
                .order_by(EventRow.id.desc()).limit(errors))
            errs = tuple(_event(r) for r in err_rows)
            msgs = tuple(_event(r) for r in s.scalars(
                select(EventRow).where(EventRow.charger_id == charger_id).order_by(EventRow.id.desc()).limit(messages)))
        return ChargerDetail(view, conns, sessions, errs, msgs)

    # ------------------------------------------------------------ departures, roster and plans

    def replace_departures(self, departures: Sequence[Departure], *, now: datetime) -> list[Departure]:
        """The dispatcher's table is the whole set of coming one-off departures: replace them in one
        transaction (past ones stay as history). All or nothing."""
        with self.session() as s:
            s.execute(delete(DepartureRow).where(DepartureRow.departure > now))
            rows = [DepartureRow(vehicle_id=d.vehicle_id, arrival=d.arrival, departure=d.departure,
                                 energy_kwh=d.energy_kwh, target_soc=d.target_soc, arrival_soc=d.arrival_soc,
                                 priority=d.priority) for d in departures]
            s.add_all(rows)
            s.flush()
            return [_departure(r) for r in rows]

    def departures(self, *, after: datetime | None = None, until: datetime | None = None) -> list[Departure]:
        with self.session() as s:
            q = select(DepartureRow)
            if after is not None:
                q = q.where(DepartureRow.departure > after)
            if until is not None:
                q = q.where(DepartureRow.departure <= until)
            return [_departure(r) for r in s.scalars(q.order_by(DepartureRow.departure, DepartureRow.vehicle_id))]

    def replace_roster(self, entries: Sequence[RosterEntry]) -> list[RosterEntry]:
        with self.session() as s:
            s.execute(delete(RosterRow))
            rows = [RosterRow(vehicle_id=e.vehicle_id, weekday=e.weekday, arrival=e.arrival.isoformat("minutes"),
                              departure=e.departure.isoformat("minutes"), energy_kwh=e.energy_kwh,
                              target_soc=e.target_soc, priority=e.priority) for e in entries]
            s.add_all(rows)
            s.flush()
            return [_roster(r) for r in rows]

    def roster(self) -> list[RosterEntry]:
        with self.session() as s:
            return [_roster(r) for r in s.scalars(select(RosterRow).order_by(RosterRow.vehicle_id, RosterRow.weekday))]

    def save_plan(self, *, created_at: datetime, reason: str, status: str, problem: dict, plan: dict) -> PlanRecord:
        """Store a new plan and make it the active one (the previous one is superseded now)."""
        with self.session() as s:
            s.execute(update(PlanRow).where(PlanRow.superseded_at.is_(None)).values(superseded_at=created_at))
            row = PlanRow(created_at=created_at, reason=reason[:200], status=status,
                          problem=json.dumps(problem, separators=(",", ":")),
                          plan=json.dumps(plan, separators=(",", ":")))
            s.add(row)
            s.flush()
            return _plan(row)

    def active_plan(self, at: datetime | None = None) -> PlanRecord | None:
        """The plan in force at `at` (default: the current one)."""
        with self.session() as s:
            q = select(PlanRow)
            if at is None:
                q = q.where(PlanRow.superseded_at.is_(None))
            else:
                q = q.where(PlanRow.created_at <= at).where(
                    (PlanRow.superseded_at.is_(None)) | (PlanRow.superseded_at > at))
            row = s.scalar(q.order_by(PlanRow.id.desc()).limit(1))
            return None if row is None else _plan(row)

    def active_plan_id(self) -> int | None:
        """The id of the plan in force, without reading the plan (for pages that poll for a newer one)."""
        with self.session() as s:
            return s.scalar(select(PlanRow.id).where(PlanRow.superseded_at.is_(None)).order_by(PlanRow.id.desc())
                            .limit(1))

    def plan_history(self, limit: int = 50) -> list[PlanRecord]:
        with self.session() as s:
            return [_plan(r) for r in s.scalars(select(PlanRow).order_by(PlanRow.id.desc()).limit(limit))]

    def latest_timestamp(self) -> datetime | None:
        """The newest time this database has seen (the demo clock never starts before it)."""
        with self.session() as s:
            candidates = [s.scalar(select(func.max(EventRow.at))), s.scalar(select(func.max(MeterSampleRow.at))),
                          s.scalar(select(func.max(ChargerRow.last_seen)))]
        found = [c for c in candidates if c is not None]
        return max(found) if found else None

    def count(self, table: str) -> int:
        """Row count of one table (tests and the benchmark use it)."""
        model = {m.__tablename__: m for m in Base.__subclasses__()}[table]
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0


def dumps(payload: object) -> str:
    """Compact JSON for the event log."""
    return json.dumps(payload, separators=(",", ":"), default=str)
