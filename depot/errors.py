"""The small error tree of the depot package.

    DepotError
    ├── ConfigError          a setting is missing or malformed (names the setting)
    ├── ValidationError      user input is invalid (names the field or line and the reason)
    ├── NotFound             a charger, tag, vehicle … id that the store does not know
    ├── InfeasiblePlan       the planner cannot meet every need (carries the explanation)
    └── ChargerError         a charger-side failure
        ├── ChargerOffline       no websocket connection for that charger id
        ├── CallFailed           the charger answered a CALL with a CALLERROR (or timed out)
        └── ProfileRejected      a SetChargingProfile was answered Rejected

Every error carries the ids and values that explain it; nothing is swallowed silently.
"""

from __future__ import annotations


class DepotError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(DepotError):
    def __init__(self, setting: str, reason: str):
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class ValidationError(DepotError):
    """Invalid user input. `field` names where (a JSON path, a form field or "line 7")."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(DepotError):
    def __init__(self, kind: str, ident: object):
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class InfeasiblePlan(DepotError):
    def __init__(self, explanation: str):
        super().__init__(explanation)
        self.explanation = explanation


class ChargerError(DepotError):
    def __init__(self, charger_id: str, message: str):
        super().__init__(f"{charger_id}: {message}")
        self.charger_id = charger_id


class ChargerOffline(ChargerError):
    def __init__(self, charger_id: str):
        super().__init__(charger_id, "not connected")


class CallFailed(ChargerError):
    def __init__(self, charger_id: str, action: str, detail: str):
        super().__init__(charger_id, f"{action} failed: {detail}")
        self.action = action
        self.detail = detail


class ProfileRejected(ChargerError):
    def __init__(self, charger_id: str, profile_id: int, status: str):
        super().__init__(charger_id, f"charging profile {profile_id} answered {status}")
        self.profile_id = profile_id
        self.status = status
