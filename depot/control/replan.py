"""The planning shell: gather what the depot knows, plan it jointly, version the plan in the store.

`Replanner.replan(reason)` runs on the runtime's loop thread (on events and on a timer);
`Replanner.preview(departures)` runs in a web thread for the dispatcher's "Preview" and saves nothing.
The pure parts are `depot.planning.snapshot` (snapshot → problem, plan → readiness) and `depot.planning.planner`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from depot.clock import Clock
from depot.control.sitelimit import Reading, building_forecast, worst_building_kw
from depot.control.steady import Inputs, SteadyPlan, reachable_needs
from depot.costs.tariff_store import active_tariff, planner_prices
from depot.people.maintenance import chargers_in_maintenance
from depot.planning.departures import Departure, shift_departures
from depot.planning.planner import (
    TIME_LIMIT_MARK,
    Plan,
    PlanningProblem,
    ShortfallExplanation,
    explain_shortfall,
    plan,
)
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
from depot.planning.validate import Repair
from depot.settings import Settings
from depot.store import PlanRecord, Store
from depot.store import enforcement as es

log = logging.getLogger(__name__)

HORIZON = timedelta(hours=24)
TIME_LIMIT_S = 20.0  # a safety net only: the planner's work limits decide (same problem, same plan on a busy
# machine); measured idle on 2 cores: 20-vehicle demo 0.1-0.3 s, 40 vehicles 1.2 s, 1,000 vehicles ~1 s


@dataclass(frozen=True)
class PlanOutcome:
    problem: PlanningProblem
    plan: Plan
    planned: tuple[PlannedVehicle, ...]
    readiness: tuple[Readiness, ...]
    explanation: ShortfallExplanation | None
    record: PlanRecord | None = None  # None for a preview
    kept: str = ""  # why the plan in force answered this re-plan (depot.control.steady); "" for a new plan


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


def solve(snap: DepotSnapshot, now: datetime, *, time_limit_s: float = TIME_LIMIT_S,
          health: ReplanHealth | None = None,
          unchanged: Callable[[PlanningProblem], PlanOutcome | None] | None = None,
          prefer_ready: frozenset[str] = frozenset()) -> PlanOutcome:
    """The plan of `snap`; `unchanged(problem)` may answer with the plan in force instead of a solve;
    `prefer_ready`: the vehicles ready in the plan in force stay so among equal choices."""
    problem, planned = build_problem(snap, now=now, demand_charge_per_kw=snap.demand_charge_per_kw,
                                     on_repair=health.repaired if health is not None else None)
    problem = reachable_needs(problem)  # an AC vehicle's last kWh is one slot at 6 A, not "1 kWh short"
    if unchanged is not None and (in_force := unchanged(problem)) is not None:
        return in_force
    result = plan(problem, time_limit_s=time_limit_s, prefer_ready=prefer_ready)
    explanation = explain_shortfall(problem, result) if result.shortfall_kwh > 0 else None
    return PlanOutcome(problem, result, tuple(planned), tuple(readiness(planned, problem, result)), explanation)


class Replanner:
    def __init__(self, store: Store, settings: Settings, *, clock: Clock):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.last: PlanOutcome | None = None
        self.health = ReplanHealth()  # failures and input repairs, for the pages' banner and the alert
        self.steady = SteadyPlan()  # routine re-plans keep the plan in force while its inputs hold

    def replan(self, reason: str) -> PlanOutcome:
        """Plan now and make it the active plan, unless the plan in force still answers (`outcome.kept`)."""
        from depot.planning.json_format import plan_to_json, problem_to_json

        now = self.clock()
        snap = snapshot(self.store, self.settings, now)
        grid = (snap.site.grid_kw, snap.site.safety_margin_kw)
        active_id = self.store.active_plan_id()
        ready = frozenset(v.id for v in self.last.plan.vehicles if v.ready) if self.last else frozenset()
        outcome = solve(snap, now, health=self.health, prefer_ready=ready,
                        unchanged=lambda problem: self._unchanged(reason, problem, grid, active_id, now))
        if outcome.kept:
            return outcome
        inputs = Inputs.of(outcome.problem, grid=grid)
        if self.last is not None and self.steady.keeps(reason, inputs, outcome.problem, outcome.plan,
                                                       active_id=active_id, now=now):
            log.debug("re-plan (%s): no material change, plan %s stays", reason, active_id)
            return replace(self.last, kept="no material change")
        record = self.store.save_plan(created_at=now, reason=reason, status=outcome.plan.status.value,
                                      problem=problem_to_json(outcome.problem), plan=plan_to_json(outcome.plan))
        log.info("plan %d (%s): %d vehicles, %s, %.1f kWh short, %.2f s", record.id, reason,
                 len(outcome.problem.vehicles), outcome.plan.status, outcome.plan.shortfall_kwh,
                 outcome.plan.solve_seconds)
        self.last = PlanOutcome(outcome.problem, outcome.plan, outcome.planned, outcome.readiness,
                                outcome.explanation, record)
        self.steady.adopt(record.id, outcome.problem, outcome.plan, inputs, now=now)
        if outcome.plan.method.endswith(TIME_LIMIT_MARK):
            log.warning("plan %d: the planner's time limit ended a step; the plan may depend on machine load",
                        record.id)
        if self.steady.last_drift:
            log.debug("plan %d: %s", record.id, "; ".join(self.steady.last_drift[:5]))
        return self.last

    def _unchanged(self, reason: str, problem: PlanningProblem, grid: tuple[float, float], active_id: int | None,
                   now: datetime) -> PlanOutcome | None:
        """The plan in force, when a routine re-plan finds its inputs where they were (no solve)."""
        if self.last is None or not self.steady.unchanged(reason, Inputs.of(problem, grid=grid),
                                                          active_id=active_id, now=now):
            return None
        log.debug("re-plan (%s) skipped: inputs unchanged since plan %s", reason, active_id)
        return replace(self.last, kept="inputs unchanged")

    def preview(self, departures: list[Departure]) -> PlanOutcome:
        """What the plan would be with these one-off departures; nothing is saved."""
        now = self.clock()
        return solve(snapshot(self.store, self.settings, now, departures), now)


# ---------------------------------------------------------------- how re-planning goes


@dataclass(frozen=True)
class ReplanFailure:
    """Re-planning has failed `attempts` times in a row since `since`; `reason` is the last error."""

    since: datetime
    last_at: datetime
    attempts: int
    reason: str

    def text(self, plan_id: int | None, plan_at: datetime | None, now: datetime) -> str:
        """The pages' banner and the alert: Re-planning is failing since 22:03 UTC (25 attempts): <reason>.
        The plan in force is #36 from 22:01 UTC (2 h 05 min old)."""
        return (f"Re-planning is failing since {_clock(self.since, now)} UTC ({self.attempts} attempt"
                f"{'' if self.attempts == 1 else 's'}): {self.reason.rstrip('. ') or 'no reason given'}. "
                + plan_in_force_text(plan_id, plan_at, now))


def age_text(age: timedelta) -> str:
    """How old, in words: "12 min old", "3 h 05 min old", "4 days old"."""
    minutes = max(0, int(age.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min old"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min old" if hours < 48 else f"{hours // 24} days old"


def _clock(at: datetime, now: datetime) -> str:
    return f"{at:%H:%M}" if at.date() == now.date() else f"{at:%d %b %H:%M}"


def plan_in_force_text(plan_id: int | None, plan_at: datetime | None, now: datetime) -> str:
    """'The plan in force is #37 from 22:01 UTC (12 min old).', or that there is none yet."""
    if plan_id is None or plan_at is None:
        return "No plan is in force yet."
    return f"The plan in force is #{plan_id} from {_clock(plan_at, now)} UTC ({age_text(now - plan_at)})."


class ReplanHealth:
    """The re-planner's state for people: the failure in progress (None when re-plans succeed), the plan in
    force as this process last made it, and the input repairs of the last re-plan. The runtime records each
    attempt (`failed`, `succeeded`); readers (the pages' banner, the alert sweep) read the attributes, each an
    immutable value replaced whole."""

    def __init__(self) -> None:
        self.failure: ReplanFailure | None = None
        self.in_force: tuple[int, datetime] | None = None  # (plan id, made at); None until this process plans
        self.repairs: tuple[Repair, ...] = ()

    def failed(self, exc: BaseException, now: datetime) -> ReplanFailure:
        """A re-plan failed: the last good plan stays in force (nothing was saved)."""
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        f = self.failure
        self.failure = ReplanFailure(f.since if f else now, now, (f.attempts if f else 0) + 1, reason[:300])
        return self.failure

    def succeeded(self, now: datetime, record: PlanRecord | None = None) -> None:
        if self.failure is not None:
            log.warning("re-planning works again (it failed %d times since %s UTC)", self.failure.attempts,
                        f"{self.failure.since:%H:%M}")
        self.failure = None
        if record is not None:
            self.in_force = (record.id, record.created_at)

    def repaired(self, repairs: tuple[Repair, ...]) -> None:
        """Log the repairs of the planner's input before solving: each new one as a warning (a routine one, such
        as a charger offline, as info), those the last re-plan made already (a condition that lasts) at debug."""
        before = {r.text for r in self.repairs}
        for r in repairs:
            level = logging.DEBUG if r.text in before else logging.INFO if r.routine else logging.WARNING
            log.log(level, "planner input repaired: %s", r.text)
        self.repairs = repairs
