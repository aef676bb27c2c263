"""The planning shell: gather what the depot knows, plan it jointly, version the plan in the store.

`Replanner.replan(reason)` runs on the runtime's loop thread (on events and on a timer);
`Replanner.preview(departures)` runs in a web thread for the dispatcher's "Preview" and saves nothing.
The pure parts are `depot.planning.snapshot` (snapshot → problem, plan → readiness) and `depot.planning.planner`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from depot.clock import Clock
from depot.control.sitelimit import Reading, building_forecast, worst_building_kw
from depot.costs.tariff_store import active_tariff, planner_prices
from depot.people.maintenance import chargers_in_maintenance
from depot.planning.departures import Departure, shift_departures
from depot.planning.planner import Plan, PlanningProblem, ShortfallExplanation, explain_shortfall, plan
from depot.planning.snapshot import (
    SLOT_MINUTES,
    SLOTS,
    DepotSnapshot,
    LiveSession,
    PlannedVehicle,
    Readiness,
    build_problem,
    readiness,
    slot_start,
)
from depot.settings import Settings
from depot.store import PlanRecord, Store
from depot.store import enforcement as es

log = logging.getLogger(__name__)

HORIZON = timedelta(hours=24)
TIME_LIMIT_S = 5.0


@dataclass(frozen=True)
class PlanOutcome:
    problem: PlanningProblem
    plan: Plan
    planned: tuple[PlannedVehicle, ...]
    readiness: tuple[Readiness, ...]
    explanation: ShortfallExplanation | None
    record: PlanRecord | None = None  # None for a preview


def snapshot(store: Store, settings: Settings, now: datetime,
             departures: list[Departure] | None = None) -> DepotSnapshot:
    """Everything the planner needs, read in a handful of queries. `departures` replaces the stored one-offs
    (a preview of the dispatcher's unsaved edits)."""
    views, _ = store.floor_snapshot(now, default_heartbeat=settings.heartbeat_interval)
    txs = {t.id: t for t in store.active_transactions()}
    untrusted = {cid for cid, h in es.health(store).items() if h.state in es.UNTRUSTED}
    resting = chargers_in_maintenance(store, now)  # out of service (depot.people.maintenance): planned without
    sessions = []
    steady_kw = 0.0  # what chargers that do not obey draw: a load the plan must work around, not steer
    for v in views:
        for c in v.connectors:
            tx = txs.get(c.transaction_id) if c.transaction_id is not None else None
            if tx is None:
                continue
            if v.charger.id in untrusted or v.charger.id in resting:
                steady_kw += c.power_kw if c.power_kw is not None else v.charger.max_kw
                continue
            sessions.append(LiveSession(tx, v.charger, c.status, v.online, c.soc, c.session_kwh or 0.0))
    one_offs = store.departures(after=now) if departures is None else departures
    shift = shift_departures(store.roster(), one_offs, now=now, horizon=HORIZON)
    vehicles = {v.id: v for v in store.list_vehicles()}
    site = store.get_site()
    building = _building(store, settings, site, now)
    if steady_kw:
        building = tuple(b + steady_kw for b in (building or (0.0,) * SLOTS))
    views = [v for v in views if v.charger.id not in resting]
    prices = planner_prices(store, slot_start(now, SLOT_MINUTES), SLOTS, SLOT_MINUTES)  # None: no tariff yet
    tariff = active_tariff(store, now)
    return DepotSnapshot(site, tuple(views), tuple(sessions), vehicles, tuple(shift), building_kw=building,
                         prices=prices, demand_charge_per_kw=tariff.demand_charge_per_kw if tariff else None)


def _building(store: Store, settings: Settings, site, now: datetime) -> tuple[float, ...] | None:
    latest = es.latest_reading(store) if settings.site_limit_source else None
    worst = worst_building_kw(settings.building_max_kw, site.grid_kw)
    return building_forecast(settings.site_limit_source,
                             Reading(latest.at, latest.building_kw, latest.pv_kw) if latest else None,
                             start=slot_start(now, SLOT_MINUTES), slots=SLOTS, slot_minutes=SLOT_MINUTES, now=now,
                             stale_after=timedelta(seconds=settings.stale_after_s), building_max_kw=worst)


def solve(snap: DepotSnapshot, now: datetime, *, time_limit_s: float = TIME_LIMIT_S) -> PlanOutcome:
    problem, planned = build_problem(snap, now=now, demand_charge_per_kw=snap.demand_charge_per_kw)
    result = plan(problem, time_limit_s=time_limit_s)
    explanation = explain_shortfall(problem, result) if result.shortfall_kwh > 0 else None
    return PlanOutcome(problem, result, tuple(planned), tuple(readiness(planned, problem, result)), explanation)


class Replanner:
    def __init__(self, store: Store, settings: Settings, *, clock: Clock):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.last: PlanOutcome | None = None

    def replan(self, reason: str) -> PlanOutcome:
        """Plan now and make it the active plan."""
        from depot.planning.json_format import plan_to_json, problem_to_json

        now = self.clock()
        outcome = solve(snapshot(self.store, self.settings, now), now)
        record = self.store.save_plan(created_at=now, reason=reason, status=outcome.plan.status.value,
                                      problem=problem_to_json(outcome.problem), plan=plan_to_json(outcome.plan))
        log.info("plan %d (%s): %d vehicles, %s, %.1f kWh short, %.2f s", record.id, reason,
                 len(outcome.problem.vehicles), outcome.plan.status, outcome.plan.shortfall_kwh,
                 outcome.plan.solve_seconds)
        self.last = PlanOutcome(outcome.problem, outcome.plan, outcome.planned, outcome.readiness,
                                outcome.explanation, record)
        return self.last

    def preview(self, departures: list[Departure]) -> PlanOutcome:
        """What the plan would be with these one-off departures; nothing is saved."""
        now = self.clock()
        return solve(snapshot(self.store, self.settings, now, departures), now)
