"""Repository of the planner's inputs and outputs: one-off departures, the weekly roster and every plan made.

A mixin of `Store` (depot.store); every method is one logical operation in its own `self.session()`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update

from depot.planning.departures import Departure, RosterEntry
from depot.store.db import Repository
from depot.store.tables import DepartureRow, PlanRow, RosterRow
from depot.store.values import PlanRecord, _departure, _plan, _roster


class PlanRepository(Repository):
    """Departures (replaced as a whole by the dispatcher), the roster, and plans with their supersession."""

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
