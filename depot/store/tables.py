"""The core tables of the depot: equipment, fleet, charging sessions, the OCPP event log and planning.

Site, chargers and their connectors, vehicles and id tags, transactions with their meter samples, the raw
event log, departures, the weekly roster and plans (migration 0001 and its successors).

Other concerns keep their tables in modules of their own (tables_people, tables_costs, enforcement).
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, Time, false
from sqlalchemy.orm import Mapped, mapped_column

from depot.model import ConnectorStatus
from depot.store.db import BIG_ID, Base, UTCDateTime


class SiteRow(Base):
    __tablename__ = "site"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    grid_kw: Mapped[float] = mapped_column(Float)
    safety_margin_kw: Mapped[float] = mapped_column(Float, default=0.0)
    default_departure: Mapped[time | None] = mapped_column(Time, nullable=True)  # UTC; migration 0006
    grid_by_demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # migration 0011


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
    # meterStart was impossible (quarantined): the first good register reading becomes the start (migration 0009)
    meter_start_unknown: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    __table_args__ = (Index("ix_transactions_charger_tx", "charger_id", "charger_tx_id"),)


class MeterSampleRow(Base):
    __tablename__ = "meter_samples"
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
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
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
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

