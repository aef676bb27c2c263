"""Raising a 2.0.1 charging station's security profile over OCPP: Part 2 use cases B09 (Setting a new
NetworkConnectionProfile) and A05 (Upgrade Charging Station Security Profile).

Three CALLs, each only once the station accepted the one before:

1. `SetNetworkProfile` into a free `configurationSlot`: one not in `OCPPCommCtrlr.NetworkConfigurationPriority`
   (read with `GetVariables` first; the highest slot in use + 1, slot 1 when it cannot be read), with
   connectionData {ocppVersion OCPP20, ocppTransport JSON, ocppCsmsUrl = `Settings.ocpp_public_url`,
   messageTimeout 30, securityProfile N, ocppInterface Wired0}. ocppCsmsUrl is the CSMS's URL *without* the
   station's identity: the station appends "/<its identity>" itself (OCPP-J, Part 4 §3.1), so the setting is
   e.g. "wss://depot.example:9443/ocpp", never ".../ocpp/CS-1".
2. `SetVariables` `OCPPCommCtrlr.NetworkConfigurationPriority` = "<new slot>,<old list>": the new profile is
   tried first and the old one stays as the station's fallback.
3. `Reset` OnIdle: the station reconnects with the new profile (now, or when its transactions end).

The new profile is kept here (`set_security_profile`) once 1 and 2 were accepted and before the Reset, so the
station's reconnection over wss is checked against it. A refusal, a CALLERROR or no answer at 1 or 2 leaves the
profile as it was. `charger_security.raise_profile` checks the preconditions (upwards only, the wss listener, a
client CA for 3, a password for 2, `public_url`) and passes `record`, which writes one "profile" security event
per step. Nothing here raises for a charger-side failure: the result says what happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.v201 import call

from depot.errors import CallFailed, ChargerError, ChargerOffline, ValidationError

COMM, PRIORITY = "OCPPCommCtrlr", "NetworkConfigurationPriority"
MESSAGE_TIMEOUT_S = 30
INTERFACE = "Wired0"
TOOK_IT = ("Accepted", "RebootRequired")
Record = Callable[..., None]  # record(step, reason, **detail): one security event


def public_url(settings, profile: int) -> str:
    """The URL a station raised to `profile` is to reach us at, or ValidationError saying what to set."""
    url = (getattr(settings, "ocpp_public_url", "") or "").strip()
    if not url:
        raise ValidationError("ocpp_public_url", "a 2.0.1 station needs the wss:// URL it is to reach this server "
                                                 "at: set --ocpp-public-url (DEPOT_OCPP_PUBLIC_URL), e.g. "
                                                 "wss://depot.example:9443/ocpp (without the charger id)")
    if not url.startswith("wss://"):
        raise ValidationError("ocpp_public_url", f"profile {profile} needs a wss:// URL, not {url}")
    return url


def parse_slots(value: Any) -> list[int]:
    """"2,1" -> [2, 1]; [] for anything else (empty, not integers)."""
    try:
        slots = [int(s) for s in str(value or "").split(",") if s.strip()]
    except ValueError:
        return []
    return slots if all(s >= 0 for s in slots) else []


def free_slot(in_use: list[int]) -> int:
    return max(in_use) + 1 if in_use else 1


def network_profile_request(slot: int, url: str, profile: int) -> call.SetNetworkProfile:
    return call.SetNetworkProfile(configuration_slot=slot, connection_data={
        "ocpp_version": "OCPP20", "ocpp_transport": "JSON", "ocpp_csms_url": url,
        "message_timeout": MESSAGE_TIMEOUT_S, "security_profile": profile, "ocpp_interface": INTERFACE})


async def _status(request: Awaitable, read: Callable[[Any], str]) -> str:
    """The station's answer through `read`, "no answer" (offline, timed out), or ChargerError/ValidationError."""
    try:
        result = await request
    except ChargerOffline:
        return "no answer"
    except CallFailed as exc:
        if isinstance(exc.__cause__, TimeoutError):
            return "no answer"
        raise
    return read(result)


def _plain(result) -> str:
    return str(getattr(result, "status", None) or "no status")


def _variable(result) -> str:
    results = getattr(result, "set_variable_result", None) or [{}]
    return str(results[0].get("attribute_status") or "no result")


async def slots_in_use(central, charger_id: str) -> list[int]:
    """The station's NetworkConfigurationPriority, or [] when it cannot be read (unknown, refused, no answer)."""
    try:
        result = await central.get_variables(charger_id, [(COMM, PRIORITY)])
    except (ChargerError, ValidationError):
        return []
    found = (getattr(result, "get_variable_result", None) or [{}])[0]
    return parse_slots(found.get("attribute_value")) if found.get("attribute_status") == "Accepted" else []


async def raise_station(central, charger_id: str, old: int, profile: int, url: str,
                        record: Record) -> tuple[bool, str, str]:
    """On the loop: the three steps of the module docstring; (ok, the station's answer, summary)."""
    in_use = await slots_in_use(central, charger_id)
    slot = free_slot(in_use)
    priority = ",".join(str(s) for s in [slot, *in_use])
    stays = f"profile {old} stays"
    record("offered", f"SetNetworkProfile slot {slot} (securityProfile {profile}) sent", slot=slot, url=url,
           priority=priority)
    try:
        status = await _status(central.call(charger_id, network_profile_request(slot, url, profile)), _plain)
        if status != "Accepted":
            record("rejected", f"SetNetworkProfile answered {status}: {stays}", status=status, slot=slot)
            return False, status, f"SetNetworkProfile (slot {slot}): the station answered {status}; {stays}"
        record("slot accepted", f"SetNetworkProfile slot {slot} Accepted; NetworkConfigurationPriority "
               f"{priority} sent", slot=slot, priority=priority)
        status = await _status(central.set_variables(charger_id, [(COMM, PRIORITY, priority)]), _variable)
        if status not in TOOK_IT:
            record("rejected", f"NetworkConfigurationPriority answered {status}: {stays}", status=status,
                   slot=slot, priority=priority)
            return False, status, (f"NetworkConfigurationPriority {priority}: the station answered {status}; "
                                   f"{stays} (slot {slot} holds the new profile, unused)")
    except (ChargerError, ValidationError) as exc:
        record("failed", f"failed: {stays}", error=str(exc)[:200], slot=slot)
        return False, "error", f"failed, {stays}: {exc}"
    central.store.set_security_profile(charger_id, profile, now=central.clock())
    record("accepted", f"station accepted slot {slot} and priority {priority}: profile {profile}", slot=slot,
           priority=priority)
    reset = await _reset(central, charger_id)
    record("reset", f"Reset OnIdle answered {reset}", status=reset)
    then = {"Accepted": "it reconnects over wss now", "Scheduled": "it reconnects over wss once idle"}.get(
        reset, "it uses the new profile from its next restart")
    return True, "Accepted", (f"Accepted: profile {profile} (slot {slot}, priority {priority}); Reset OnIdle "
                              f"answered {reset}: {then}")


async def _reset(central, charger_id: str) -> str:
    try:
        return await _status(central.reset(charger_id, hard=False), _plain)
    except (ChargerError, ValidationError) as exc:
        return f"error ({str(exc)[:100]})"
