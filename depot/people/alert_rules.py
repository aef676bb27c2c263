"""PURE: when is something wrong? Observations in, alert conditions out.

No database, no clock, no asyncio: `depot.people.alerts` gathers what the store knows, passes `now=`, and keeps the
alert table in line with the conditions these rules return (raise, fold, resolve when a condition is gone).

A `Condition` names one problem. Its `key` (kind + charger + connector + vehicle) is what folds repeats:
while an alert with that key is unresolved, a new occurrence raises its count instead of opening another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from depot.text import count as n_of

CRITICAL, WARNING, INFO = "critical", "warning", "info"
SEVERITIES = (CRITICAL, WARNING, INFO)
RANK = {INFO: 1, WARNING: 2, CRITICAL: 3}

CHARGER_FAULT = "charger_fault"
CHARGER_OFFLINE = "charger_offline"
CONNECTOR_STUCK = "connector_stuck"
NO_ENERGY = "no_energy_progress"
PROFILE_REJECTED = "profile_rejected"
PROFILE_NOT_OBEYED = "profile_not_obeyed"
DEPARTURE_AT_RISK = "departure_at_risk"
SITE_POWER = "site_power_near_limit"
FIRMWARE_FAILED = "firmware_failed"
REPLAN_FAILING = "replan_failing"
FAILSAFE_FAILED = "failsafe_failed"
FAILED_LOGIN = "failed_login"
DATA_QUALITY = "data_quality"

# kind -> (label, default severity)
KINDS = {
    CHARGER_FAULT: ("Charger fault", CRITICAL),
    CHARGER_OFFLINE: ("Charger offline", CRITICAL),
    CONNECTOR_STUCK: ("Connector stuck", WARNING),
    NO_ENERGY: ("Charging without energy", WARNING),
    PROFILE_REJECTED: ("Profile rejected", WARNING),
    PROFILE_NOT_OBEYED: ("Profile not obeyed", WARNING),
    DEPARTURE_AT_RISK: ("Departure at risk", WARNING),
    SITE_POWER: ("Site power near limit", WARNING),
    FIRMWARE_FAILED: ("Firmware update failed", WARNING),
    REPLAN_FAILING: ("Re-planning failing", CRITICAL),
    FAILSAFE_FAILED: ("Fail-safe profile missing", CRITICAL),
    FAILED_LOGIN: ("Failed charger logins", WARNING),
    DATA_QUALITY: ("Impossible values quarantined", WARNING),
}

STUCK_AFTER = timedelta(minutes=15)  # Preparing / Finishing longer than this
STUCK_STATUSES = ("Preparing", "Finishing")
NO_PROGRESS_WINDOW = timedelta(minutes=20)  # Charging, and the register moved less than MIN_PROGRESS_WH
MIN_PROGRESS_WH = 50.0
SITE_WARN, SITE_CRITICAL, SITE_CLEAR = 0.95, 1.0, 0.90  # shares of the site limit (with hysteresis)
FIRMWARE_FAILURES = frozenset({"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"})
FAILED_LOGINS_ALERT = 5  # refused handshakes claiming one charger id (or unknown ids) …
FAILED_LOGINS_WINDOW = timedelta(minutes=10)  # … within this long raise the failed-login alert


@dataclass(frozen=True)
class Condition:
    kind: str
    severity: str
    message: str
    charger_id: str | None = None
    connector_id: int | None = None
    vehicle_id: str | None = None
    detail: dict = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        return alert_key(self.kind, self.charger_id, self.connector_id, self.vehicle_id)


def normal_kind(kind: str) -> str:
    """"profile rejected" and "Profile-Rejected" are `profile_rejected`."""
    return (kind or "").strip().lower().replace(" ", "_").replace("-", "_")


def alert_key(kind: str, charger_id: str | None = None, connector_id: int | None = None,
              vehicle_id: str | None = None) -> str:
    return f"{kind}|{charger_id or ''}|{'' if connector_id is None else connector_id}|{vehicle_id or ''}"


def label(kind: str) -> str:
    return KINDS.get(kind, (kind.replace("_", " ").capitalize(), WARNING))[0]


def default_severity(kind: str) -> str:
    return KINDS.get(kind, ("", WARNING))[1]


def worst(severities: Iterable[str]) -> str | None:
    found = [s for s in severities if s in RANK]
    return max(found, key=RANK.__getitem__) if found else None


def _where(charger_id: str, connector_id: int | None) -> str:
    return charger_id if not connector_id else f"{charger_id} connector {connector_id}"


# ---------------------------------------------------------------- charger faults


def fault_condition(charger_id: str, connector_id: int | None, *, status: str | None, error_code: str | None = None,
                    vendor_error_code: str | None = None, info: str | None = None) -> Condition:
    """A StatusNotification with an error (1.6: errorCode / vendorErrorCode; 2.0.1: Faulted, codes come with
    NotifyEvent). Faulted is critical; an error code on a working connector is a warning."""
    code = error_code if error_code not in (None, "", "NoError") else None
    parts = [code or "Faulted"]
    if vendor_error_code:
        parts.append(f"vendor code {vendor_error_code}")
    if info:
        parts.append(info)
    severity = CRITICAL if status == "Faulted" else WARNING
    return Condition(CHARGER_FAULT, severity, f"{_where(charger_id, connector_id)}: {', '.join(parts)}", charger_id,
                     connector_id, detail={"status": status, "error_code": code, "vendor_error_code": vendor_error_code,
                                           "info": info})


def fault_cleared(status: str | None, error_code: str | None = None) -> bool:
    return status not in (None, "Faulted") and error_code in (None, "", "NoError")


@dataclass(frozen=True)
class Problem:
    """One 2.0.1 NotifyEvent report of a component's Problem variable."""

    connector_id: int | None
    active: bool
    tech_code: str | None
    tech_info: str | None


def problems(payload: dict) -> list[Problem]:
    """The Problem reports in a NotifyEvent payload (camelCase, as on the wire)."""
    out = []
    for ev in payload.get("eventData") or ():
        if not isinstance(ev, dict) or (ev.get("variable") or {}).get("name") != "Problem":
            continue
        evse = (ev.get("component") or {}).get("evse") or {}
        active = str(ev.get("actualValue", "")).lower() == "true" and not ev.get("cleared")
        out.append(Problem(evse.get("id"), active, ev.get("techCode"), ev.get("techInfo")))
    return out


def problem_condition(charger_id: str, p: Problem) -> Condition:
    code = p.tech_code or "Problem"
    text = f"{_where(charger_id, p.connector_id)}: {code}" + (f", {p.tech_info}" if p.tech_info else "")
    return Condition(CHARGER_FAULT, CRITICAL, text, charger_id, p.connector_id,
                     detail={"tech_code": p.tech_code, "tech_info": p.tech_info, "source": "NotifyEvent"})


@dataclass(frozen=True)
class ConnectorState:
    charger_id: str
    connector_id: int
    status: str
    since: datetime | None
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None


def fault_conditions(connectors: Iterable[ConnectorState]) -> list[Condition]:
    """Connectors the store shows faulted now (the ground truth the event listener's alerts are checked against)."""
    return [fault_condition(c.charger_id, c.connector_id, status=c.status, error_code=c.error_code,
                            vendor_error_code=c.vendor_error_code, info=c.info)
            for c in connectors if not fault_cleared(c.status, c.error_code)]


# ---------------------------------------------------------------- offline, stuck, no energy


@dataclass(frozen=True)
class Seen:
    charger_id: str
    last_seen: datetime | None
    online: bool


def offline_conditions(chargers: Iterable[Seen], now: datetime) -> list[Condition]:
    """Chargers heard from before but silent past twice their heartbeat (never-seen ones are not alerted)."""
    out = []
    for c in chargers:
        if c.online or c.last_seen is None:
            continue
        minutes = int((now - c.last_seen).total_seconds() // 60)
        out.append(Condition(CHARGER_OFFLINE, CRITICAL, f"{c.charger_id}: no message for {minutes} min "
                             "(missed heartbeats)", c.charger_id, detail={"last_seen": c.last_seen.isoformat()}))
    return out


def stuck_conditions(connectors: Iterable[ConnectorState], now: datetime, *,
                     after: timedelta = STUCK_AFTER) -> list[Condition]:
    out = []
    for c in connectors:
        if c.status in STUCK_STATUSES and c.since is not None and now - c.since >= after:
            minutes = int((now - c.since).total_seconds() // 60)
            out.append(Condition(CONNECTOR_STUCK, WARNING, f"{_where(c.charger_id, c.connector_id)}: {c.status} for "
                                 f"{minutes} min", c.charger_id, c.connector_id, detail={"status": c.status}))
    return out


@dataclass(frozen=True)
class ChargingSession:
    charger_id: str
    connector_id: int
    vehicle_id: str | None
    status: str
    started_at: datetime
    samples: tuple[tuple[datetime, float], ...]  # (at, energy register Wh), any order


def no_progress_conditions(sessions: Iterable[ChargingSession], now: datetime, *,
                           window: timedelta = NO_PROGRESS_WINDOW,
                           min_wh: float = MIN_PROGRESS_WH) -> list[Condition]:
    """Sessions reported Charging whose energy register moved less than `min_wh` over the last `window`, with
    readings covering that window (no readings is stale data, not this alert)."""
    out = []
    for s in sessions:
        if s.status != "Charging" or now - s.started_at < window:
            continue
        pts = sorted(p for p in s.samples if p[1] is not None)
        if len(pts) < 2:
            continue
        before = [p for p in pts if p[0] <= now - window]
        if not before or now - pts[-1][0] > window / 2:
            continue  # readings do not cover the window, or they stopped coming
        delta = pts[-1][1] - before[-1][1]
        if delta < min_wh:
            out.append(Condition(NO_ENERGY, WARNING, f"{_where(s.charger_id, s.connector_id)}: charging but "
                                 f"{delta / 1000:.2f} kWh in {int(window.total_seconds() // 60)} min",
                                 s.charger_id, s.connector_id, s.vehicle_id, detail={"delta_wh": delta}))
    return out


# ---------------------------------------------------------------- site, firmware, departures


def site_power_condition(site_kw: float, limit_kw: float, *, active: bool) -> Condition | None:
    """Site power at ≥ 95 % of the limit (critical at ≥ 100 %); once raised, it holds until below 90 %."""
    if limit_kw <= 0:
        return None
    share = site_kw / limit_kw
    if share < (SITE_CLEAR if active else SITE_WARN):
        return None
    severity = CRITICAL if share >= SITE_CRITICAL else WARNING
    return Condition(SITE_POWER, severity, f"site draws {site_kw:.0f} kW of {limit_kw:.0f} kW ({share:.0%})",
                     detail={"site_kw": round(site_kw, 1), "limit_kw": limit_kw})


def firmware_conditions(statuses: Iterable[tuple[str, str | None]]) -> list[Condition]:
    return [Condition(FIRMWARE_FAILED, WARNING, f"{cid}: firmware update {status}", cid, detail={"status": status})
            for cid, status in statuses if status in FIRMWARE_FAILURES]


def profile_conditions(health: Iterable[tuple[str, str, str | None]]) -> list[Condition]:
    """From the enforcement engine's health per charger (charger, state, detail): "rejecting" → profile
    rejected, "overdrawing" → profile not obeyed."""
    kinds = {"rejecting": PROFILE_REJECTED, "overdrawing": PROFILE_NOT_OBEYED}
    return [Condition(kinds[state], WARNING, f"{cid}: {detail or state}", cid, detail={"state": state})
            for cid, state, detail in health if state in kinds]


def failsafe_condition(charger_id: str, failure: str, attempts: int) -> Condition:
    """The fail-safe defaults (TxDefaultProfile, station max) did not go in after every retry: were this
    server to stop, that charger would not keep to its share of the site limit."""
    return Condition(FAILSAFE_FAILED, CRITICAL, f"{charger_id}: fail-safe profile not installed after {attempts} "
                     f"attempts ({failure})"[:500], charger_id, detail={"failure": failure[:300], "attempts": attempts})


def readiness_conditions(readiness: Sequence) -> list[Condition]:
    """From the planner's forecast (`depot.planning.snapshot.Readiness`): "will miss" is critical, "at risk" a warning."""
    out = []
    for r in readiness:
        if r.badge not in ("will miss", "at risk"):
            continue
        who = r.vehicle_id or r.key
        severity = CRITICAL if r.badge == "will miss" else WARNING
        out.append(Condition(DEPARTURE_AT_RISK, severity, f"{who}: {r.text} (departure {r.departure:%H:%M} UTC)",
                             r.charger_id, None, who, detail={"badge": r.badge, "shortfall_kwh": r.shortfall_kwh}))
    return out


# ---------------------------------------------------------------- charger logins


def failed_login_condition(charger_id: str | None, failures: Sequence[tuple[datetime, str, str, str]],
                           now: datetime, *, threshold: int = FAILED_LOGINS_ALERT,
                           window: timedelta = FAILED_LOGINS_WINDOW) -> Condition | None:
    """Refused handshakes (at, remote address, claimed charger id, reason) of one charger, or with `charger_id`
    None those of one address claiming unknown or several ids (one alert for all of those): `threshold` or more
    within `window` before `now` give "5 failed logins for CP-A07 from 10.0.3.4 in 10 min (last: wrong
    password)", naming the address most came from. Never a password in it."""
    recent = sorted(f for f in failures if now - window < f[0] <= now)
    if len(recent) < threshold:
        return None
    by_address: dict[str, int] = {}
    for _, remote, _, _ in recent:
        by_address[remote] = by_address.get(remote, 0) + 1
    top = max(by_address, key=lambda a: (by_address[a], a))
    where = top if len(by_address) == 1 else f"{top} and {len(by_address) - 1} other address(es)"
    ids = len({f[2] for f in recent})
    who = charger_id if charger_id is not None else f"{ids} unknown or different charger id{'s' * (ids > 1)}"
    minutes = int(window.total_seconds() // 60)
    return Condition(FAILED_LOGIN, WARNING, f"{len(recent)} failed logins for {who} from {where} in {minutes} min "
                     f"(last: {recent[-1][3]})", charger_id,
                     detail={"failures": len(recent), "addresses": by_address, "last_reason": recent[-1][3]})


# ---------------------------------------------------------------- data quality


def data_quality_condition(charger_id: str, *, action: str | None, count: int, field: str | None = None,
                           value: str | None = None, reason: str | None = None) -> Condition:
    """A message from the charger carried `count` values that passed the schema but are impossible (negative
    energy, a register running backwards, a timestamp in the year 9999 …): they were quarantined, not stored.
    One alert per charger; each further message folds into it."""
    what = f"{field} {value}: {reason}" if field else (reason or "impossible values")
    message = f"{charger_id}: {n_of(count, 'impossible value')} in {action or 'a message'} quarantined " \
              f"({what})"
    return Condition(DATA_QUALITY, WARNING, message[:500], charger_id,
                     detail={"action": action, "count": count, "field": field, "value": value, "reason": reason})


# ---------------------------------------------------------------- re-planning

REPLAN_ALERT_AFTER = 2  # failed re-plans in a row before the alert (the pages' banner shows the first)


def replan_condition(attempts: int, message: str, *, after: int = REPLAN_ALERT_AFTER,
                     detail: dict | None = None) -> Condition | None:
    """Re-planning failed `attempts` times in a row (`message` says since when, why, and which plan stays in
    force, depot.control.replan): critical from the `after`-th, as the plan in force grows old."""
    return None if attempts < after else Condition(REPLAN_FAILING, CRITICAL, message[:500], detail=detail or {})


# ---------------------------------------------------------------- uptime


def uptime(frames: Sequence[datetime], faults: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime,
           *, heartbeat_s: float) -> float | None:
    """Share of [start, end) the charger was up: online (a message within 2 × heartbeat before) and not faulted.
    `frames` are the times of messages received, `faults` the (from, to) spans a connector reported Faulted.
    The period starts at the first message if that is later (a charger is not down before it was installed).
    None when nothing was ever heard."""
    if not frames:
        return None
    frames = sorted(frames)
    start = max(start, frames[0])
    if end <= start:
        return None
    cover = timedelta(seconds=2 * heartbeat_s)
    online = _union([(t, t + cover) for t in frames], start, end)
    down = _union(list(faults), start, end)
    up = sum((b - a).total_seconds() for a, b in online) - _intersection(online, down)
    return max(0.0, min(1.0, up / (end - start).total_seconds()))


def _union(spans: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        a, b = max(a, start), min(b, end)
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _intersection(xs: list[tuple[datetime, datetime]], ys: list[tuple[datetime, datetime]]) -> float:
    total, i, j = 0.0, 0, 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if b > a:
            total += (b - a).total_seconds()
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return total
