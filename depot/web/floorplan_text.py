"""The floor plan's words, PURE: connector status labels, CSS names and help texts, and the formatting of kW,
kWh, SoC, times and payloads (the floor plan, its detail panel and the power page use them).

No Dash, no database, no clock: `now` is a parameter. Every time is shown in UTC with its zone.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from depot.model import ConnectorStatus, CurrentType, Protocol

STATUS_LABEL = {
    ConnectorStatus.SUSPENDED_EV: "Suspended EV",
    ConnectorStatus.SUSPENDED_EVSE: "Suspended EVSE",
}
STATUS_HELP = {
    ConnectorStatus.AVAILABLE: "free, nothing plugged in",
    ConnectorStatus.PREPARING: "plugged in, not charging yet",
    ConnectorStatus.CHARGING: "delivering energy",
    ConnectorStatus.SUSPENDED_EV: "the vehicle paused (often full)",
    ConnectorStatus.SUSPENDED_EVSE: "held at 0 by the charger or the charging plan",
    ConnectorStatus.FINISHING: "session ended, still plugged in",
    ConnectorStatus.RESERVED: "reserved",
    ConnectorStatus.FAULTED: "error: needs attention",
    ConnectorStatus.UNAVAILABLE: "taken out of service",
    ConnectorStatus.OFFLINE: "not heard from for two heartbeats",
    ConnectorStatus.UNKNOWN: "no status received yet",
}


def status_label(status: ConnectorStatus) -> str:
    return STATUS_LABEL.get(status, status.value)


def status_slug(status: ConnectorStatus) -> str:
    """CSS name of a status: "SuspendedEVSE" -> "suspended-evse" (classes st-…, variables --st-…)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", status.value).lower()


# ---------------------------------------------------------------- formatting


def fmt_kw(kw: float | None) -> str:
    if kw is None:
        return "–"
    return f"{kw:.0f} kW" if abs(kw) >= 100 else f"{kw:.1f} kW"


def fmt_kwh(kwh: float | None, *, compact: bool = False) -> str:
    """"12.4 kWh"; from 100 kWh (from 10 when `compact`, as on a bay) without decimals."""
    if kwh is None:
        return "–"
    return f"{kwh:.0f} kWh" if abs(kwh) >= (10 if compact else 100) else f"{kwh:.1f} kWh"


def fmt_soc(soc: float | None) -> str:
    return "–" if soc is None else f"{soc:.0f} %"


def fmt_max_kw(kw: float) -> str:
    """A charger's rating: 22, 11.04 -> "11", 7.4 -> "7.4"."""
    return f"{kw:.0f}" if kw >= 10 or float(kw).is_integer() else f"{kw:.1f}"


def fmt_time(at: datetime | None, now: datetime) -> str:
    """"18:00:04 UTC" today, "20 Nov 17:59 UTC" on another day, "never" for None."""
    if at is None:
        return "never"
    at = at.astimezone(now.tzinfo) if at.tzinfo else at
    if at.date() == now.date():
        return at.strftime("%H:%M:%S UTC")
    if at.year == now.year:
        return at.strftime("%d %b %H:%M UTC")
    return at.strftime("%Y-%m-%d %H:%M UTC")


def fmt_age(at: datetime | None, now: datetime) -> str:
    """How long ago: "just now", "45 s ago", "3 min ago", "2 h ago", "4 d ago" ("in …" for the future)."""
    if at is None:
        return "never"
    seconds = (now - at).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 2:
        return "just now"
    if seconds < 60:
        text = f"{seconds:.0f} s"
    elif seconds < 3600:
        text = f"{seconds // 60:.0f} min"
    elif seconds < 86400:
        text = f"{seconds // 3600:.0f} h"
    else:
        text = f"{seconds // 86400:.0f} d"
    return f"in {text}" if ahead else f"{text} ago"


def fmt_when(at: datetime | None, now: datetime) -> str:
    """"18:00:04 UTC (3 min ago)"."""
    return "never" if at is None else f"{fmt_time(at, now)} ({fmt_age(at, now)})"


def short_payload(payload: str, limit: int = 90) -> str:
    """A logged JSON payload on one line, cut at `limit` characters."""
    try:
        text = json.dumps(json.loads(payload), separators=(", ", ": "), ensure_ascii=False)
    except (ValueError, TypeError):
        text = " ".join(payload.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind_label(current_type: CurrentType, max_kw: float) -> str:
    return f"{current_type.value} {fmt_max_kw(max_kw)}"


def protocol_label(protocol: Protocol | None) -> str:
    return {Protocol.OCPP16: "OCPP 1.6J", Protocol.OCPP201: "OCPP 2.0.1"}.get(protocol, "not booted yet")

