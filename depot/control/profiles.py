"""PURE: OCPP charging-profile payloads from limits and plans, for 1.6 and 2.0.1.

No I/O, no clock (`now=` is a parameter). Units follow the charger: amps per phase for AC (with
numberPhases), watts for DC, or whatever `ChargingScheduleAllowedChargingRateUnit` / `RateUnit` allows.
Every limit has one decimal (chargers reject 16.67). Schedules are Absolute, start at `now`, and carry at
most the charger's `max_periods` periods: when the plan has more changes, neighbouring periods are merged
into their minimum, so a merged schedule never allows more than the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from depot.model import CurrentType, Protocol, ac_amps

TX_PROFILE_ID_BASE = 100_000  # TxProfile id = base + connector: stable, so each re-plan overwrites it
TX_DEFAULT_PROFILE_ID = 90_000
STATION_MAX_PROFILE_ID = 80_000
TX_STACK_LEVEL = 2
DEFAULT_STACK_LEVEL = 0
DEFAULT_MAX_PERIODS = 20


@dataclass(frozen=True)
class Period:
    start_s: int  # seconds from the schedule start
    limit_kw: float


@dataclass(frozen=True)
class Target:
    """Where a profile goes and in which unit."""

    protocol: Protocol
    current_type: CurrentType
    phases: int
    rate_unit: str | None = None  # from the charger: "A", "W", "A,W" / "Current", "Power"; None: by type
    max_periods: int | None = None

    @property
    def unit(self) -> str:
        allowed = (self.rate_unit or "").replace("Current", "A").replace("Power", "W")
        preferred = "A" if self.current_type == CurrentType.AC else "W"
        if not allowed or preferred in allowed:
            return preferred
        return "W" if "W" in allowed else "A"


def periods_from_plan(power_kw: Sequence[float], *, plan_start: datetime, slot_minutes: float, now: datetime,
                      first_kw: float | None = None, hours: float = 8.0) -> list[Period]:
    """The plan's power from `now` on (the current slot first, optionally replaced by the live allocation
    `first_kw`), as periods relative to `now`, over the next `hours`."""
    slot = timedelta(minutes=slot_minutes)
    k0 = max(0, int((now - plan_start) // slot))
    out: list[Period] = []
    horizon = now + timedelta(hours=hours)
    for k in range(k0, len(power_kw)):
        t = plan_start + k * slot
        if t >= horizon:
            break
        kw = power_kw[k] if not (k == k0 and first_kw is not None) else first_kw
        start_s = max(0, int((t - now).total_seconds()))
        if out and abs(out[-1].limit_kw - kw) < 1e-9:
            continue
        out.append(Period(start_s, kw))
    if not out:
        out.append(Period(0, first_kw if first_kw is not None else 0.0))
    return out


def fit_periods(periods: Sequence[Period], max_periods: int) -> list[Period]:
    """At most `max_periods`: repeatedly merge the neighbouring pair whose limits differ least, keeping the
    smaller limit (conservative: never more than planned)."""
    out = list(periods)
    while len(out) > max(1, max_periods):
        i = min(range(len(out) - 1), key=lambda j: abs(out[j].limit_kw - out[j + 1].limit_kw))
        merged = Period(out[i].start_s, min(out[i].limit_kw, out[i + 1].limit_kw))
        out[i:i + 2] = [merged]
        if i > 0 and abs(out[i - 1].limit_kw - out[i].limit_kw) < 1e-9:
            del out[i]
    return out


def _limit(kw: float, target: Target) -> float:
    if target.unit == "A":
        return float(int(ac_amps(kw, target.phases) * 10 + 1e-6) / 10)  # round DOWN to one decimal
    return float(int(kw * 1000 * 10 + 1e-6) / 10)


def _periods_payload(periods: Sequence[Period], target: Target) -> list[dict]:
    out = []
    for p in periods:
        item = {("startPeriod"): p.start_s, "limit": _limit(p.limit_kw, target)}
        if target.unit == "A" and target.current_type == CurrentType.AC:
            item["numberPhases"] = target.phases
        out.append(item)
    return out


def tx_profile(target: Target, connector_id: int, transaction_id: int | str, periods: Sequence[Period], *,
               now: datetime) -> dict:
    """A TxProfile bound to the running transaction (1.6: our integer id; 2.0.1: the charger's string id)."""
    fitted = fit_periods(periods, target.max_periods or DEFAULT_MAX_PERIODS)
    return _profile(target, TX_PROFILE_ID_BASE + connector_id, TX_STACK_LEVEL, "TxProfile", fitted, now,
                    transaction_id=transaction_id)


def tx_default_profile(target: Target, limit_kw: float, *, now: datetime) -> dict:
    """The fallback for new sessions and for lost communication: the charger's safe share of the site."""
    return _profile(target, TX_DEFAULT_PROFILE_ID, DEFAULT_STACK_LEVEL, "TxDefaultProfile",
                    [Period(0, limit_kw)], now, recurring=True)


def station_max_profile(target: Target, limit_kw: float, *, now: datetime) -> dict:
    purpose = "ChargePointMaxProfile" if target.protocol == Protocol.OCPP16 else "ChargingStationMaxProfile"
    return _profile(target, STATION_MAX_PROFILE_ID, DEFAULT_STACK_LEVEL, purpose, [Period(0, limit_kw)], now,
                    recurring=True)


def _profile(target: Target, profile_id: int, stack: int, purpose: str, periods: Sequence[Period], now: datetime,
             *, transaction_id: int | str | None = None, recurring: bool = False) -> dict:
    start = now.astimezone(UTC).replace(microsecond=0)
    schedule: dict = {"chargingRateUnit": target.unit, "chargingSchedulePeriod": _periods_payload(periods, target)}
    kind = "Absolute"
    if recurring:
        kind = "Recurring"
        schedule["duration"] = 86400
        schedule["startSchedule"] = start.replace(hour=0, minute=0, second=0).isoformat()
    else:
        schedule["startSchedule"] = start.isoformat()
    if target.protocol == Protocol.OCPP16:
        body = {"chargingProfileId": profile_id, "stackLevel": stack, "chargingProfilePurpose": purpose,
                "chargingProfileKind": kind, "chargingSchedule": schedule}
        if recurring:
            body["recurrencyKind"] = "Daily"
        if transaction_id is not None:
            body["transactionId"] = int(transaction_id)
        return body
    schedule["id"] = profile_id
    body = {"id": profile_id, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
            "chargingSchedule": [schedule]}
    if recurring:
        body["recurrencyKind"] = "Daily"
    if transaction_id is not None:
        body["transactionId"] = str(transaction_id)
    return body


def same_schedule(old: dict | None, new: dict, *, old_sent_at: datetime | None, now: datetime) -> bool:
    """True when `new` commands what `old` (sent at `old_sent_at`) still commands from now on: nothing to send."""
    if old is None or old_sent_at is None:
        return False
    return _absolute(old, old_sent_at, now) == _absolute(new, now, now)


def _absolute(profile: dict, sent_at: datetime, now: datetime) -> list[tuple[float, float]]:
    sched = profile["chargingSchedule"]
    sched = sched[0] if isinstance(sched, list) else sched
    shift = (sent_at.replace(microsecond=0) - now.replace(microsecond=0)).total_seconds()
    points = [(p["startPeriod"] + shift, p["limit"]) for p in sched["chargingSchedulePeriod"]]
    # what applies from now on: the last period already begun, clipped to 0, then the later ones
    current = [pt for pt in points if pt[0] <= 0]
    later = [pt for pt in points if pt[0] > 0]
    head = [(0.0, current[-1][1])] if current else []
    return [(round(t), limit) for t, limit in head + later]
