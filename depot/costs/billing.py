"""PURE: what a group is billed per session: billing rates, their validation, and one session's bill.

No I/O: `depot.costs.ledger` applies these rates to its sessions. A `BillingRate` is what a group (cost centre,
department, tenant, membership) is billed per session: a session fee, per kWh, per minute plugged in, and an
idle fee per minute after charging completed once a grace period has passed; or nothing at all (`free`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from depot.costs.tariffs import FieldError, TariffErrors

GROUP_KINDS = ("cost centre", "department", "tenant", "membership")


@dataclass(frozen=True)
class BillingRate:
    group: str
    kind: str = "cost centre"
    per_kwh: float = 0.0
    per_minute: float = 0.0  # per minute plugged in
    session_fee: float = 0.0
    idle_fee_per_minute: float = 0.0  # after charging completed and the grace period passed
    idle_grace_minutes: float = 0.0
    free: bool = False


@dataclass(frozen=True)
class Charge:
    """What one session is billed under a rate."""

    session_fee: float
    energy: float
    time: float
    idle: float

    @property
    def total(self) -> float:
        return self.session_fee + self.energy + self.time + self.idle


def billed(rate: BillingRate | None, kwh: float, plugged_minutes: float, idle_minutes: float) -> Charge:
    """One session's bill: nothing without a rate or for a free group; the idle fee counts only the minutes
    after charging completed beyond the grace period."""
    if rate is None or rate.free:
        return Charge(0.0, 0.0, 0.0, 0.0)
    idle = max(0.0, idle_minutes - rate.idle_grace_minutes) * rate.idle_fee_per_minute
    return Charge(rate.session_fee, kwh * rate.per_kwh, plugged_minutes * rate.per_minute, idle)


def billed_frame(rates: Sequence[BillingRate], sessions: pd.DataFrame) -> pd.DataFrame:
    """Vectorised `billed` for a frame with columns billing_group, energy_kwh, plugged_minutes, idle_minutes.
    Returns billed_session_fee, billed_energy, billed_time, billed_idle, billed_total (same index)."""
    cols = ["per_kwh", "per_minute", "session_fee", "idle_fee_per_minute", "idle_grace_minutes"]
    table = pd.DataFrame([{"billing_group": r.group, **{c: 0.0 if r.free else getattr(r, c) for c in cols}}
                          for r in rates], columns=["billing_group", *cols])
    m = sessions[["billing_group"]].merge(table, on="billing_group", how="left")
    m[cols] = m[cols].astype(float).fillna(0.0)
    m.index = sessions.index
    idle = (sessions["idle_minutes"] - m["idle_grace_minutes"]).clip(lower=0.0) * m["idle_fee_per_minute"]
    out = pd.DataFrame({"billed_session_fee": m["session_fee"],
                        "billed_energy": sessions["energy_kwh"] * m["per_kwh"],
                        "billed_time": sessions["plugged_minutes"] * m["per_minute"],
                        "billed_idle": idle}, index=sessions.index)
    out["billed_total"] = out.sum(axis=1)
    return out


# ---------------------------------------------------------------- validation


def validate_rate(r: BillingRate, others: Sequence[BillingRate] = ()) -> list[FieldError]:
    errors: list[FieldError] = []
    if not r.group.strip():
        errors.append(FieldError("group", "is required"))
    if sum(o.group == r.group for o in others) > 1:
        errors.append(FieldError("group", f"{r.group!r} appears more than once"))
    if r.kind not in GROUP_KINDS:
        errors.append(FieldError("kind", f"{r.kind!r} is not one of {', '.join(GROUP_KINDS)}"))
    for name in ("per_kwh", "per_minute", "session_fee", "idle_fee_per_minute", "idle_grace_minutes"):
        if getattr(r, name) < 0:
            errors.append(FieldError(name, f"{getattr(r, name):g} is negative"))
    return errors


def check_rates(rates: Sequence[BillingRate]) -> list[BillingRate]:
    errors = [FieldError(f"line {i}, {e.field}", e.reason)
              for i, r in enumerate(rates, start=1) for e in validate_rate(r, rates)]
    if errors:
        raise TariffErrors(errors)
    return list(rates)
