"""Repository of the depot's equipment and fleet: site, chargers, connectors, capabilities, vehicles, id tags.

A mixin of `Store` (depot.store); every method is one logical operation in its own `self.session()`.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from depot.errors import NotFound, ValidationError
from depot.model import (
    Capabilities,
    Charger,
    Connector,
    ConnectorStatus,
    CurrentType,
    IdTag,
    Protocol,
    Site,
    TagStatus,
    Vehicle,
)
from depot.store.db import Repository
from depot.store.tables import ChargerRow, ConnectorRow, IdTagRow, SiteRow, VehicleRow
from depot.store.values import _charger, _connector, _vehicle


class ChargerRepository(Repository):
    """The site, chargers and their connectors, vehicles and the id tags that identify them."""

    # ------------------------------------------------------------ site

    def get_site(self) -> Site:
        with self.session() as s:
            row = s.get(SiteRow, 1)
            if row is None:
                return Site(name="Depot", grid_kw=0.0)
            return _site(row)

    def set_site(self, name: str, grid_kw: float, safety_margin_kw: float = 0.0, *, by_demo: bool = False) -> Site:
        """Name, grid connection limit and margin. `by_demo`: the demo sized the limit for the depot it simulates
        (it may size it again); a person's new limit is theirs and the demo leaves it alone from then on."""
        if grid_kw < 0:
            raise ValidationError("grid_kw", "must be ≥ 0")
        with self.session() as s:
            row = s.get(SiteRow, 1)
            if row is None:
                row = SiteRow(id=1, name=name, grid_kw=grid_kw, safety_margin_kw=safety_margin_kw,
                              grid_by_demo=by_demo)
                s.add(row)
            else:
                row.grid_by_demo = by_demo or (bool(row.grid_by_demo) and row.grid_kw == grid_kw)
                row.name, row.grid_kw, row.safety_margin_kw = name, grid_kw, safety_margin_kw
            return _site(row)

    def set_default_departure(self, departure: time | None) -> Site:
        """The UTC time of day a vehicle plugged in without a departure is planned to leave (None: it charges
        now, at what the site allows after the scheduled vehicles)."""
        if departure is not None and departure.tzinfo is not None:
            raise ValidationError("default_departure", "a UTC time of day without a zone")
        with self.session() as s:
            row = s.get(SiteRow, 1)
            if row is None:
                row = SiteRow(id=1, name="Depot", grid_kw=0.0, safety_margin_kw=0.0)
                s.add(row)
            row.default_departure = departure
            return _site(row)

    # ------------------------------------------------------------ chargers

    def add_charger(self, charger: Charger, *, connectors: int = 1) -> Charger:
        if not charger.id or "/" in charger.id:
            raise ValidationError("id", "a charger id must be non-empty and contain no '/'")
        if len(charger.id) > 64:  # the column's width (PostgreSQL enforces it, SQLite would not)
            raise ValidationError("id", f"a charger id has at most 64 characters, not {len(charger.id)}")
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


def _site(row: SiteRow) -> Site:
    return Site(row.name, row.grid_kw, row.safety_margin_kw, row.default_departure, bool(row.grid_by_demo))
