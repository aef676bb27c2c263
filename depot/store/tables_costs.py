"""Tables of what the energy cost: tariff versions, billing and vehicle groups, session costs, ledger slots
and billing periods (migration 0004). Their logic lives in depot.costs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from depot.store.db import Base, UTCDateTime


class TariffVersionRow(Base):
    __tablename__ = "tariff_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    demand_charge_per_kw: Mapped[float] = mapped_column(Float, default=0.0)
    fixed_fee_per_month: Mapped[float] = mapped_column(Float, default=0.0)
    definition: Mapped[str] = mapped_column(Text)  # JSON: periods, seasons, holidays, carbon profile
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

class BillingGroupRow(Base):
    __tablename__ = "billing_groups"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="cost centre")
    per_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    per_minute: Mapped[float] = mapped_column(Float, default=0.0)
    session_fee: Mapped[float] = mapped_column(Float, default=0.0)
    idle_fee_per_minute: Mapped[float] = mapped_column(Float, default=0.0)
    idle_grace_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    free: Mapped[bool] = mapped_column(Boolean, default=False)

class VehicleGroupRow(Base):
    __tablename__ = "vehicle_groups"
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"), primary_key=True)
    cost_centre: Mapped[str | None] = mapped_column(String(100))
    route: Mapped[str | None] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(100))
    billing_group: Mapped[str | None] = mapped_column(String(100))

class SessionCostRow(Base):
    __tablename__ = "session_costs"
    transaction_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    charger_id: Mapped[str] = mapped_column(String(64))
    connector_id: Mapped[int] = mapped_column(Integer)
    vehicle_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stopped_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    local_day: Mapped[str] = mapped_column(String(10), index=True)  # plug-in day in the billing time zone
    charging_ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    energy_kwh: Mapped[float] = mapped_column(Float)
    energy_cost: Mapped[float] = mapped_column(Float)
    demand_cost: Mapped[float] = mapped_column(Float)
    peak_kw: Mapped[float] = mapped_column(Float)  # this session's power in a month's peak slot (0: none)
    peak_month: Mapped[str | None] = mapped_column(String(7))
    co2_kg: Mapped[float] = mapped_column(Float)
    plugged_minutes: Mapped[float] = mapped_column(Float)
    charging_minutes: Mapped[float] = mapped_column(Float)
    idle_minutes: Mapped[float] = mapped_column(Float)
    uc_energy_cost: Mapped[float] = mapped_column(Float)  # unmanaged: full power from plug-in
    uc_demand_cost: Mapped[float] = mapped_column(Float)
    billing_group: Mapped[str | None] = mapped_column(String(100))
    billed_session_fee: Mapped[float] = mapped_column(Float)
    billed_energy: Mapped[float] = mapped_column(Float)
    billed_time: Mapped[float] = mapped_column(Float)
    billed_idle: Mapped[float] = mapped_column(Float)
    billed_total: Mapped[float] = mapped_column(Float)
    tariff_version_id: Mapped[int | None] = mapped_column(Integer)  # in force at plug-in (None: default)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)

class LedgerSlotRow(Base):
    __tablename__ = "ledger_slots"
    at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    energy_kwh: Mapped[float] = mapped_column(Float)
    energy_cost: Mapped[float] = mapped_column(Float)
    co2_kg: Mapped[float] = mapped_column(Float)
    uc_energy_kwh: Mapped[float] = mapped_column(Float)
    sessions: Mapped[int] = mapped_column(Integer)

class BillingPeriodRow(Base):
    __tablename__ = "billing_periods"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # local calendar month, YYYY-MM
    peak_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    peak_kw: Mapped[float] = mapped_column(Float, default=0.0)
    demand_rate: Mapped[float] = mapped_column(Float, default=0.0)
    demand_charge: Mapped[float] = mapped_column(Float, default=0.0)
    uc_peak_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uc_peak_kw: Mapped[float] = mapped_column(Float, default=0.0)
    uc_demand_charge: Mapped[float] = mapped_column(Float, default=0.0)
    fixed_fee: Mapped[float] = mapped_column(Float, default=0.0)
    energy_kwh: Mapped[float] = mapped_column(Float, default=0.0)
    energy_cost: Mapped[float] = mapped_column(Float, default=0.0)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
