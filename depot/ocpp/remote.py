"""Remote actions on a charger, for the maintenance page: one function, `perform`, audited every time.

Each action becomes one coroutine on the runtime's loop (`runtime.run(...)`), through the central system's
convenience requests or, for diagnostics and firmware, `central.call(charger_id, request)` with the `ocpp`
package's call classes of the charger's version. The answer comes back as an `ActionResult` (what the page
shows) and as an audit entry: who, when, what (action, charger, parameters), result.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from depot.errors import ChargerError, DepotError, ValidationError
from depot.model import Protocol
from depot.people.users import audit

# action -> (label, the form fields it uses)
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reset_soft": ("Reset (soft)", ()),
    "reset_hard": ("Reset (hard)", ()),
    "unlock": ("Unlock connector", ("connector",)),
    "inoperative": ("Set unavailable (Inoperative)", ("connector",)),
    "operative": ("Set available (Operative)", ("connector",)),
    "trigger_status": ("Trigger StatusNotification", ("connector",)),
    "trigger_meter": ("Trigger MeterValues", ("connector",)),
    "remote_start": ("Remote start", ("connector", "id_tag")),
    "remote_stop": ("Remote stop", ("connector",)),
    "get_config": ("Read configuration / variable", ("key",)),
    "set_config": ("Change configuration / variable", ("key", "value")),
    "diagnostics": ("Request diagnostics / log upload", ("url",)),
    "firmware": ("Update firmware", ("url",)),
}
URL_SCHEMES = ("http", "https", "ftp", "ftps", "sftp")
_request_ids = itertools.count(int(time.time()) % 1_000_000)


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    action: str
    charger_id: str
    summary: str  # "Accepted", "Rejected", "3 keys", "error: …"
    answer: dict  # the charger's answer (snake_case), {} on error
    params: dict
    at: datetime

    @property
    def label(self) -> str:
        return ACTIONS.get(self.action, (self.action,))[0]


def check_params(action: str, params: dict) -> dict:
    """Validated parameters of `action` (ValidationError names the bad field)."""
    if action not in ACTIONS:
        raise ValidationError("action", f"unknown action {action!r}")
    out: dict[str, Any] = {}
    for name in ACTIONS[action][1]:
        value = params.get(name)
        if name == "connector":
            default = 0 if action in ("inoperative", "operative", "trigger_status", "trigger_meter") else 1
            try:
                out[name] = default if value in (None, "") else int(value)
            except (TypeError, ValueError):
                raise ValidationError("connector", "a whole number (0 = the whole charger)") from None
            if out[name] < 0 or (out[name] == 0 and action in ("unlock", "remote_start", "remote_stop")):
                raise ValidationError("connector", "pick a connector (1, 2 …)")
        elif name == "url":
            url = (value or "").strip()
            parts = urlsplit(url)
            if parts.scheme not in URL_SCHEMES or not parts.netloc:
                raise ValidationError("url", f"an absolute {'/'.join(URL_SCHEMES)} URL")
            out[name] = url
        elif name == "id_tag":
            tag = (value or "").strip()
            if not tag or len(tag) > 20:
                raise ValidationError("id_tag", "1–20 characters")
            out[name] = tag
        elif name == "key":
            key = (value or "").strip()
            if action == "set_config" and not key:
                raise ValidationError("key", "which key (1.6) or Component/Variable (2.0.1)")
            if action == "set_config" and _security_key(key):
                raise ValidationError("key", f"{key} changes how the charger signs in: use the Credentials card "
                                             "(rotate the password / raise the profile), which keeps the old one "
                                             "working until the charger uses the new one")
            out[name] = key
        else:
            out[name] = "" if value is None else str(value)
    return out


# what a generic configuration change must not write: the password would bypass the rotation's pending
# password (a lock-out) and land in the audit log; the profile would bypass its checks
_SECURITY_KEYS = frozenset({"authorizationkey", "securityprofile", "basicauthpassword", "networkconfigurationpriority",
                            "securityctrlr"})


def _security_key(key: str) -> bool:
    parts = {part.strip().lower() for part in key.replace(".", "/").split("/")}
    return bool(parts & _SECURITY_KEYS)


def _component(key: str) -> tuple[str, str]:
    for sep in ("/", "."):
        if sep in key:
            component, variable = key.split(sep, 1)
            if component and variable:
                return component, variable
    raise ValidationError("key", "2.0.1 variables are written Component/Variable, e.g. OCPPCommCtrlr/HeartbeatInterval")


async def _execute(runtime, action: str, charger_id: str, p: dict):
    """On the loop: the request for this charger's protocol, sent through the one outbound call path."""
    central = runtime.central
    protocol = central.connected().get(charger_id)
    if protocol is None:
        from depot.errors import ChargerOffline

        raise ChargerOffline(charger_id)
    v16 = protocol is Protocol.OCPP16
    conn = p.get("connector")
    if action in ("reset_soft", "reset_hard"):
        return await central.reset(charger_id, action == "reset_hard")
    if action == "unlock":
        return await central.unlock_connector(charger_id, conn)
    if action in ("inoperative", "operative"):
        return await central.change_availability(charger_id, conn, action == "operative")
    if action in ("trigger_status", "trigger_meter"):
        what = "StatusNotification" if action == "trigger_status" else "MeterValues"
        return await central.trigger_message(charger_id, what, conn or None)
    if action == "remote_start":
        return await central.remote_start(charger_id, conn, p["id_tag"])
    if action == "remote_stop":
        tx = runtime.store.active_transaction_on(charger_id, conn)
        if tx is None:
            raise ValidationError("connector", f"no session is running on connector {conn}")
        return await central.remote_stop(charger_id, tx)
    if action == "get_config":
        if v16:
            return await central.get_configuration(charger_id, [p["key"]] if p["key"] else None)
        return await central.get_variables(charger_id, [_component(p["key"] or "OCPPCommCtrlr/HeartbeatInterval")])
    if action == "set_config":
        if v16:
            return await central.change_configuration(charger_id, p["key"], p["value"])
        component, variable = _component(p["key"])
        return await central.set_variables(charger_id, [(component, variable, p["value"])])
    if action == "diagnostics":
        if v16:
            return await central.call(charger_id, c16.GetDiagnostics(location=p["url"]))
        return await central.call(charger_id, c201.GetLog(log={"remote_location": p["url"]}, log_type="DiagnosticsLog",
                                                          request_id=next(_request_ids)))
    if action == "firmware":
        when = runtime.clock().isoformat()
        if v16:
            return await central.call(charger_id, c16.UpdateFirmware(location=p["url"], retrieve_date=when))
        return await central.call(charger_id, c201.UpdateFirmware(
            request_id=next(_request_ids), firmware={"location": p["url"], "retrieve_date_time": when}))
    raise ValidationError("action", f"unknown action {action!r}")  # pragma: no cover - check_params refuses it


def summarize(action: str, answer: dict) -> str:
    if "status" in answer and answer["status"] is not None:
        return str(answer["status"])
    if "configuration_key" in answer:
        keys = answer.get("configuration_key") or []
        shown = ", ".join(f"{k.get('key')}={k.get('value')}" for k in keys[:3])
        unknown = answer.get("unknown_key") or []
        return (f"{len(keys)} key{'s' if len(keys) != 1 else ''}" + (f": {shown}" if shown else "")
                + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    for name in ("get_variable_result", "set_variable_result"):
        if name in answer:
            parts = [f"{(r.get('variable') or {}).get('name')}: {r.get('attribute_status')}"
                     + (f" = {r['attribute_value']}" if r.get("attribute_value") is not None else "")
                     for r in answer[name] or []]
            return "; ".join(parts) or "no result"
    if action == "diagnostics":
        return f"file {answer.get('file_name')}" if answer.get("file_name") else "accepted (no file to upload)"
    return "answered"


REFUSALS = frozenset({"Rejected", "NotSupported", "UnknownConnector", "UnlockFailed", "Failed", "NotImplemented",
                      "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType", "OngoingAuthorizedTransaction",
                      "InvalidCertificate", "RevokedCertificate", "AcceptedCanceled"})


def answered_ok(answer: dict) -> bool:
    """Did the charger do what was asked? (It answered in every case; this says whether it agreed.)"""
    if answer.get("status") in REFUSALS:
        return False
    for name in ("get_variable_result", "set_variable_result"):
        if any((r or {}).get("attribute_status") != "Accepted" for r in answer.get(name) or []):
            return False
    return not answer.get("unknown_key")


def perform(runtime, store, action: str, charger_id: str, params: dict, *, by: str, now: datetime) -> ActionResult:
    """Validate, send, wait for the answer, audit. Never raises for a charger-side failure: the result says it."""
    try:
        p = check_params(action, params)
    except ValidationError as exc:
        audit(store, by, f"charger.{action}", target=f"charger:{charger_id}", detail=dict(params),
              result=f"refused: {exc}", ok=False, now=now)
        raise
    if runtime is None or getattr(runtime, "central", None) is None:
        result = ActionResult(False, action, charger_id, "error: no charger connection in this process "
                              "(the depot service, depot serve, owns them)", {}, p, now)
    else:
        try:
            answer = runtime.run(_execute(runtime, action, charger_id, p))
            plain = dataclasses.asdict(answer) if dataclasses.is_dataclass(answer) else {"answer": answer}
            plain = {k: v for k, v in plain.items() if v is not None}
            summary = summarize(action, plain)
            ok = answered_ok(plain)
            result = ActionResult(ok, action, charger_id, summary, plain, p, now)
        except (ChargerError, ValidationError, DepotError) as exc:
            result = ActionResult(False, action, charger_id, f"error: {exc}", {}, p, now)
        except TimeoutError:
            result = ActionResult(False, action, charger_id, "error: no answer in time", {}, p, now)
    audit(store, by, f"charger.{action}", target=f"charger:{charger_id}", detail=p, result=result.summary,
          ok=result.ok, now=now)
    return result
