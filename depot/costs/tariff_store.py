"""The stored tariff admin: supplier tariff versions, billing groups and each vehicle's groups, read and written.

Tables (`depot.store.tables_costs`, migration 0004): `tariff_versions` (each applies from `valid_from` until
the next one), `billing_groups` (internal / driver billing rates by group), `vehicle_groups` (a vehicle's
cost centre, route, department and billing group; reports group by these).

Writing here does not touch the ledger: `depot.costs.ledger.save_tariff` and friends write through these
functions and then recompute or re-bill the ledger. `write_tariff` and `drop_tariff` say from when.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from depot.costs import billing, prices, tariffs
from depot.costs.billing import BillingRate
from depot.costs.tariff_io import tariff_from_json, tariff_to_json
from depot.costs.tariffs import TariffVersion
from depot.errors import NotFound, ValidationError
from depot.store import Store, VehicleRow
from depot.store.tables_costs import BillingGroupRow, TariffVersionRow, VehicleGroupRow


@dataclass(frozen=True)
class VehicleGroups:
    vehicle_id: str
    cost_centre: str | None = None
    route: str | None = None
    department: str | None = None
    billing_group: str | None = None


# ---------------------------------------------------------------- tariff versions


def _version(r: TariffVersionRow) -> TariffVersion:
    return tariff_from_json(json.loads(r.definition), name=r.name, valid_from=r.valid_from, timezone=r.timezone,
                            currency=r.currency, demand_charge_per_kw=r.demand_charge_per_kw,
                            fixed_fee_per_month=r.fixed_fee_per_month, id=r.id)


def list_tariffs(store: Store) -> list[TariffVersion]:
    """Every tariff version, oldest first."""
    with store.session() as s:
        return [_version(r) for r in s.scalars(select(TariffVersionRow).order_by(TariffVersionRow.valid_from))]


def active_tariff(store: Store, at: datetime) -> TariffVersion | None:
    versions = [v for v in list_tariffs(store) if v.valid_from <= at]
    return versions[-1] if versions else None


def site_timezone(versions: Sequence[TariffVersion]) -> str:
    """The billing calendar's time zone: the newest version's (UTC without tariffs)."""
    return prices.sort_versions(versions)[-1].timezone if versions else "UTC"


def write_tariff(store: Store, version: TariffVersion, *, now: datetime) -> tuple[TariffVersion, datetime | None]:
    """Validate against the other versions, insert (id None) or replace. Returns the saved version and where
    the ledger must be recomputed from: the earlier of the old and new start (None: everything, when the
    billing time zone changed)."""
    others = list_tariffs(store)
    tariffs.check_tariff(version, others)
    since: datetime | None = version.valid_from
    tz_before = site_timezone(others)
    with store.session() as s:
        row = s.get(TariffVersionRow, version.id) if version.id is not None else None
        if version.id is not None and row is None:
            raise NotFound("tariff version", version.id)
        if row is None:
            row = TariffVersionRow()
            s.add(row)
        else:
            since = min(since, row.valid_from)
        row.name, row.valid_from, row.timezone, row.currency = (version.name, version.valid_from, version.timezone,
                                                                 version.currency)
        row.demand_charge_per_kw, row.fixed_fee_per_month = version.demand_charge_per_kw, version.fixed_fee_per_month
        row.definition = json.dumps(tariff_to_json(version), separators=(",", ":"))
        row.updated_at = now
        s.flush()
        saved = _version(row)
    if site_timezone(list_tariffs(store)) != tz_before:
        since = None  # billing months and days move with the time zone: everything again
    return saved, since


def drop_tariff(store: Store, version_id: int) -> datetime | None:
    """Delete a version; returns where the ledger must be recomputed from (None: everything)."""
    with store.session() as s:
        row = s.get(TariffVersionRow, version_id)
        if row is None:
            raise NotFound("tariff version", version_id)
        since: datetime | None = row.valid_from
        tz_before = site_timezone(_all_versions(s))
        s.delete(row)
        s.flush()
        if site_timezone(_all_versions(s)) != tz_before:
            since = None
    return since


def _all_versions(s) -> list[TariffVersion]:
    return [_version(r) for r in s.scalars(select(TariffVersionRow))]


def planner_prices(store: Store, start: datetime, slots: int, slot_minutes: int) -> tuple[float, ...] | None:
    """The configured tariff's price per slot for the planner; None without tariff (→ the planner's default)."""
    versions = list_tariffs(store)
    return prices.prices_for(versions, start, slots, slot_minutes) if versions else None


# ---------------------------------------------------------------- billing groups and vehicle assignment


def list_rates(store: Store) -> list[BillingRate]:
    with store.session() as s:
        return [BillingRate(r.name, r.kind, r.per_kwh, r.per_minute, r.session_fee, r.idle_fee_per_minute,
                            r.idle_grace_minutes, r.free)
                for r in s.scalars(select(BillingGroupRow).order_by(BillingGroupRow.name))]


def write_rates(store: Store, rates: Sequence[BillingRate]) -> None:
    """Replace every billing group (validated as a whole); vehicles of a group that is gone lose it."""
    billing.check_rates(rates)
    with store.session() as s:
        s.execute(delete(BillingGroupRow))
        s.add_all([BillingGroupRow(name=r.group, kind=r.kind, per_kwh=r.per_kwh, per_minute=r.per_minute,
                                   session_fee=r.session_fee, idle_fee_per_minute=r.idle_fee_per_minute,
                                   idle_grace_minutes=r.idle_grace_minutes, free=r.free) for r in rates])
        names = {r.group for r in rates}
        for vg in s.scalars(select(VehicleGroupRow).where(VehicleGroupRow.billing_group.is_not(None))):
            if vg.billing_group not in names:
                vg.billing_group = None


def vehicle_groups(store: Store) -> list[VehicleGroups]:
    """Every known vehicle with its groups (empty groups for a vehicle not assigned yet)."""
    with store.session() as s:
        assigned = {r.vehicle_id: r for r in s.scalars(select(VehicleGroupRow))}
        out = []
        for vid in s.scalars(select(VehicleRow.id).order_by(VehicleRow.id)):
            r = assigned.get(vid)
            out.append(VehicleGroups(vid, r.cost_centre, r.route, r.department, r.billing_group) if r
                       else VehicleGroups(vid))
        return out


def write_vehicle_groups(store: Store, rows: Sequence[VehicleGroups]) -> None:
    """Set these vehicles' groups (others keep theirs): known vehicles and billing groups only."""
    with store.session() as s:
        vehicles = set(s.scalars(select(VehicleRow.id)))
        groups = set(s.scalars(select(BillingGroupRow.name)))
        for i, g in enumerate(rows, start=1):
            if g.vehicle_id not in vehicles:
                raise ValidationError(f"line {i}, vehicle", f"unknown vehicle {g.vehicle_id!r}")
            if g.billing_group and g.billing_group not in groups:
                raise ValidationError(f"line {i}, billing_group", f"unknown billing group {g.billing_group!r}")
        for g in rows:
            row = s.get(VehicleGroupRow, g.vehicle_id) or VehicleGroupRow(vehicle_id=g.vehicle_id)
            row.cost_centre, row.route = _blank(g.cost_centre), _blank(g.route)
            row.department, row.billing_group = _blank(g.department), _blank(g.billing_group)
            s.add(row)


def _blank(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else value
