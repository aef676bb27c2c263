"""A charger's credentials changed over OCPP, and the security events chargers report themselves.

Password rotation (`rotate_password`, on the runtime's loop): a new password (generated unless given) goes to
the connected charger, 1.6 as `ChangeConfiguration` of `AuthorizationKey` (security whitepaper: 16 to 20 bytes
written as 32 to 40 hexadecimal digits, which is what `generate_password` makes: the digits are sent as they
are), 2.0.1 as `SetVariables` of `SecurityCtrlr.BasicAuthPassword`. Only once the charger answered Accepted
(or RebootRequired) is the new password's hash kept, as the *pending* one beside the current one; a charger
that did not answer at all may have taken it, so its hash is kept too ("unconfirmed"). The handshake accepts
either while one is pending and the first handshake with the new one drops the old (`depot.store.security`):
a charger that drops mid-rotation is never locked out. Rejected, NotSupported, a CALLERROR or a request we
could not send leave everything as it was, and the outcome says why. Each step is a "rotation" security event.

Raising the profile (`raise_profile`): 1.6 `ChangeConfiguration` of `SecurityProfile`; once Accepted the
charger's profile here is the new one (it reconnects over wss, A00.FR.002 refuses the old transport after).
2.0.1: `SetNetworkProfile` into a free slot, `OCPPCommCtrlr.NetworkConfigurationPriority` with it first, then
`Reset` OnIdle (`depot.ocpp.network_profile`, use cases B09 + A05); the profile here changes once the station
accepted the first two. Both: upwards only, a "profile" security event per step.

`security_event_notification` stores what a charger sends in a 1.6 (security extension) or 2.0.1
`SecurityEventNotification` as a "charger" security event. `perform` is the web page's way in: it runs one of
these on the loop, audits it as the signed-in user and never raises for a charger-side failure. The password
itself is never logged, audited or stored: only its salted hash. The frame journal (`depot.ocpp.base`) keeps
such requests through `secret_free`, and a filter on the frame logger blanks them (`RedactFrames`).
"""

from __future__ import annotations

import json
import logging
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from depot.errors import CallFailed, ChargerError, ChargerOffline, DepotError, NotFound, ValidationError
from depot.model import Protocol
from depot.ocpp import network_profile
from depot.people.users import audit
from depot.store.security import SecurityEvent, check_password, generate_password

LOGGER = logging.getLogger("depot.ocpp.security")
TOOK_IT = ("Accepted", "RebootRequired")  # the charger has (or will have after its reboot) the new value
PASSWORD_PROFILES = (1, 2)
# OCPP 2.0.1 passwordString (Part 2 §2.1.4): what a BasicAuthPassword may contain
_PASSWORD_STRING = frozenset(string.ascii_letters + string.digits + "*-_=:+|@.")
_HEX = frozenset(string.hexdigits)
REDACTED = "[redacted]"
_SECRET_VARIABLES = frozenset({("SecurityCtrlr", "BasicAuthPassword")})


def _secret_variable(d) -> bool:
    return isinstance(d, dict) and (str((d.get("component") or {}).get("name")),
                                    str((d.get("variable") or {}).get("name"))) in _SECRET_VARIABLES


def secret_free(action: str | None, payload):
    """A CALL's payload (camelCase, as on the wire) fit for the frame journal and the log: the value of a 1.6
    ChangeConfiguration of AuthorizationKey and of a 2.0.1 SetVariables of SecurityCtrlr.BasicAuthPassword
    replaced by "[redacted]"; any other payload as it is."""
    if not isinstance(payload, dict):
        return payload
    if action == "ChangeConfiguration" and payload.get("key") == "AuthorizationKey":
        return {**payload, "value": REDACTED}
    data = payload.get("setVariableData") if action == "SetVariables" else None
    if isinstance(data, list) and any(_secret_variable(d) for d in data):
        return {**payload, "setVariableData": [{**d, "attributeValue": REDACTED} if _secret_variable(d) else d
                                               for d in data]}
    return payload


class RedactFrames(logging.Filter):
    """The `ocpp` package logs every frame it sends at INFO: never a password it carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and ("AuthorizationKey" in a or
                                                                          "BasicAuthPassword" in a)
                                                  for a in record.args):
            record.args = tuple(_redact_frame(a) if isinstance(a, str) else a for a in record.args)
        return True


def _redact_frame(text: str) -> str:
    try:
        frame = json.loads(text)
    except ValueError:
        return text
    if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
        return json.dumps([*frame[:3], secret_free(frame[2], frame[3])], separators=(",", ":"))
    return text


logging.getLogger("depot.ocpp.frames").addFilter(RedactFrames())  # the frame logger of depot.ocpp.base


@dataclass(frozen=True)
class Outcome:
    """What happened, for the page and the audit log (never the password)."""

    ok: bool
    charger_id: str
    what: str  # "rotate password", "raise profile"
    status: str  # the charger's answer (Accepted, Rejected …), "no answer", "not sent"
    summary: str


def rotation_password(protocol: Protocol, password: str | None) -> str:
    """The password to send (generated when None), checked against our rules and the protocol's."""
    password = check_password(generate_password() if password is None else password)
    if protocol is Protocol.OCPP16 and not (set(password) <= _HEX and len(password) % 2 == 0
                                            and 32 <= len(password) <= 40):
        raise ValidationError("password", "a 1.6 AuthorizationKey is 16 to 20 bytes written as 32 to 40 "
                                          "hexadecimal digits: leave it out for a generated one")
    if protocol is Protocol.OCPP201 and not set(password) <= _PASSWORD_STRING:
        raise ValidationError("password", "a 2.0.1 BasicAuthPassword has only letters, digits and *-_=:+|@.")
    return password


def _event(store, kind: str, charger_id: str, reason: str, **detail) -> None:
    try:
        store.add_security_event(SecurityEvent(detail.pop("at"), kind, charger_id, "-", reason, detail))
    except Exception:  # noqa: BLE001 - the event log must not break the change; say what was lost
        LOGGER.exception("could not record the %s event of %s: %s", kind, charger_id, reason)


def _answer_status(protocol: Protocol, result: Any) -> str:
    if protocol is Protocol.OCPP16:
        return str(result.status)
    results = getattr(result, "set_variable_result", None) or [{}]
    return str(results[0].get("attribute_status") or "no result")


async def _send(central, protocol: Protocol, charger_id: str, key: tuple[str, str] | str, value: str) -> str:
    """The charger's answer, "no answer" (it may have taken the value), or ChargerError / ValidationError."""
    try:
        if protocol is Protocol.OCPP16:
            result = await central.change_configuration(charger_id, key, value)
        else:
            result = await central.set_variables(charger_id, [(*key, value)])
    except ChargerOffline:
        return "no answer"
    except CallFailed as exc:
        if isinstance(exc.__cause__, TimeoutError):
            return "no answer"
        raise
    return _answer_status(protocol, result)


def _connected(central, charger_id: str):
    protocol = central.connected().get(charger_id)
    if protocol is None:
        raise ChargerOffline(charger_id)
    creds = central.store.charger_credentials(charger_id)
    if creds is None:
        raise NotFound("charger", charger_id)
    return protocol, creds


async def rotate_password(central, charger_id: str, password: str | None = None, *, by: str = "system") -> Outcome:
    """On the loop: give a connected profile-1/2 charger a new password over OCPP (see the module docstring)."""
    store, what = central.store, "rotate password"
    protocol, creds = _connected(central, charger_id)
    if creds.profile not in PASSWORD_PROFILES:
        raise ValidationError("security profile", f"profile {creds.profile} has no password to rotate")
    if not creds.has_password:
        raise ValidationError("password", "no password set yet: set one first (it is how the charger gets in)")
    password = rotation_password(protocol, password)
    key = "AuthorizationKey" if protocol is Protocol.OCPP16 else ("SecurityCtrlr", "BasicAuthPassword")
    _event(store, "rotation", charger_id, "new password sent to the charger", step="offered", by=by,
           protocol=protocol.value, at=central.clock())
    try:
        status = await _send(central, protocol, charger_id, key, password)
    except (ChargerError, ValidationError) as exc:
        _event(store, "rotation", charger_id, "failed: the old password stays", step="failed", by=by,
               error=str(exc)[:200], at=central.clock())
        return Outcome(False, charger_id, what, "not sent" if isinstance(exc, ValidationError) else "error",
                       f"failed, the old password stays: {exc}")
    if status in TOOK_IT or status == "no answer":
        state = "accepted" if status in TOOK_IT else "unconfirmed"
        store.set_pending_password(charger_id, password, state=state, now=central.clock())
        _event(store, "rotation", charger_id, f"charger answered {status}: both passwords work until it "
               "reconnects with the new one", step=state, by=by, status=status, at=central.clock())
        summary = (f"{status}: the charger uses the new password from its next connection; the old one works "
                   "until then" if state == "accepted" else "no answer: the charger may have taken the new "
                   "password, so both work until it connects with the new one")
        return Outcome(state == "accepted", charger_id, what, status, summary)
    _event(store, "rotation", charger_id, f"charger answered {status}: the old password stays", step="rejected",
           by=by, status=status, at=central.clock())
    return Outcome(False, charger_id, what, status, f"the charger answered {status}: the old password stays")


async def raise_profile(central, charger_id: str, profile: int, *, by: str = "system") -> Outcome:
    """On the loop: to a higher profile, 1.6 by `ChangeConfiguration SecurityProfile` (once Accepted the
    charger has that profile here too: it must reconnect over wss), 2.0.1 by `depot.ocpp.network_profile`.
    Never lower: the whitepaper and A05 forbid it."""
    store, what = central.store, "raise profile"
    protocol, creds = _connected(central, charger_id)
    if not creds.profile < profile <= 3:
        raise ValidationError("security profile", f"only upwards: {creds.profile} to a higher one (at most 3)")
    if not central.settings.ocpp_tls_cert:
        raise ValidationError("security profile", "no wss listener here (--ocpp-tls-cert): the charger could not "
                                                  "reconnect")
    if profile == 3 and not central.settings.ocpp_client_ca:
        raise ValidationError("security profile", "profile 3 needs --ocpp-client-ca")
    if profile == 2 and not creds.has_password:
        raise ValidationError("password", "profile 2 needs a password: set one first")
    if protocol is Protocol.OCPP201:
        url = network_profile.public_url(central.settings, profile)

        def record(step: str, reason: str, **detail) -> None:
            _event(store, "profile", charger_id, reason, step=step, by=by, at=central.clock(), **detail)

        ok, status, summary = await network_profile.raise_station(central, charger_id, creds.profile, profile, url,
                                                                  record)
        return Outcome(ok, charger_id, what, status, summary)
    _event(store, "profile", charger_id, f"SecurityProfile {profile} sent", step="offered", by=by, at=central.clock())
    try:
        status = await _send(central, protocol, charger_id, "SecurityProfile", str(profile))
    except (ChargerError, ValidationError) as exc:
        _event(store, "profile", charger_id, "failed: the profile stays", step="failed", by=by, error=str(exc)[:200],
               at=central.clock())
        return Outcome(False, charger_id, what, "error", f"failed, profile {creds.profile} stays: {exc}")
    if status in TOOK_IT:
        store.set_security_profile(charger_id, profile, now=central.clock())
        _event(store, "profile", charger_id, f"charger answered {status}: profile {profile}", step="accepted", by=by,
               at=central.clock())
        return Outcome(True, charger_id, what, status, f"{status}: profile {profile}; the charger reconnects over wss")
    _event(store, "profile", charger_id, f"charger answered {status}: profile {creds.profile} stays",
           step="rejected", by=by, status=status, at=central.clock())
    return Outcome(False, charger_id, what, status, f"the charger answered {status}: profile {creds.profile} stays")


def security_event_notification(cp, type: str, timestamp: str, tech_info: str | None, answer):
    """A charger's SecurityEventNotification (1.6 security extension or 2.0.1): stored as a "charger" security
    event (its type, its timestamp as sent, techInfo; `at` is when we received it), then `answer` is returned."""
    LOGGER.warning("charger %s: security event %s at %s %s", cp.id, type, timestamp, (tech_info or "")[:255])
    remote = str((getattr(cp._connection, "remote_address", None) or ("?",))[0])
    cp.store.add_security_event(SecurityEvent(cp.now(), "charger", cp.id, remote, str(type)[:64], {
        "source": "charger", "type": str(type)[:50], "timestamp": str(timestamp)[:40],
        "tech_info": (tech_info or "")[:255]}))
    return answer


# ---------------------------------------------------------------- the web page's way in


def perform(runtime, store, what: str, charger_id: str, *, by: str, now: datetime, profile: int | None = None,
            timeout: float | None = None) -> Outcome:
    """Run "rotate" or "raise" for the page on the runtime's loop, audited as `by`; a charger-side failure or
    a refused precondition is an unsuccessful Outcome, not an exception."""
    action = {"rotate": "charger.rotate_password", "raise": "charger.raise_profile"}[what]
    label = "rotate password" if what == "rotate" else "raise profile"
    central = getattr(runtime, "central", None) if runtime is not None else None
    if central is None:
        outcome = Outcome(False, charger_id, label, "not sent", "no charger connections in this process (the "
                          "depot service, depot serve, owns them)")
    else:
        coro = rotate_password(central, charger_id, by=by) if what == "rotate" else \
            raise_profile(central, charger_id, int(profile or 0), by=by)
        try:
            outcome = runtime.run(coro, timeout)
        except DepotError as exc:
            outcome = Outcome(False, charger_id, label, "not sent", f"not sent: {exc}")
        except TimeoutError:
            outcome = Outcome(False, charger_id, label, "no answer", "no answer in time")
        except RuntimeError as exc:  # the runtime is not running
            outcome = Outcome(False, charger_id, label, "not sent", f"not sent: {exc}")
    said = outcome.summary if outcome.summary.startswith(outcome.status) else f"{outcome.status}: {outcome.summary}"
    audit(store, by, action, target=f"charger:{charger_id}", now=now, ok=outcome.ok,
          detail={"profile": profile} if what == "raise" else {}, result=said[:200])
    return outcome


def set_password_by_hand(store, charger_id: str, *, by: str, now: datetime) -> str:
    """A new generated password for a charger (to be entered on it by hand): returned once, kept as its hash."""
    password = generate_password()
    store.set_charger_password(charger_id, password, now=now)
    audit(store, by, "charger.set_password", target=f"charger:{charger_id}", now=now, detail={"generated": True})
    return password


def set_profile_by_hand(store, charger_id: str, profile: int, *, by: str, now: datetime):
    creds = store.set_security_profile(charger_id, profile, now=now)
    audit(store, by, "charger.set_profile", target=f"charger:{charger_id}", now=now,
          detail={"security_profile": profile})
    return creds
