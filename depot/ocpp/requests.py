"""The central system's requests to chargers by name, for both OCPP versions: a mixin of `CentralSystem`.

Each method builds the version's request (`depot.ocpp.v16` / `depot.ocpp.v201`) for the charger's open
connection and sends it through `CentralSystem.call`, the one outbound call path (`depot.ocpp.server`).
"""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import TYPE_CHECKING, Any

from depot.errors import CallFailed, ChargerOffline, ProfileRejected
from depot.model import Protocol, Transaction
from depot.ocpp import v16 as ocpp16
from depot.ocpp import v201 as ocpp201

if TYPE_CHECKING:
    from depot.ocpp.base import DepotChargePoint

_REQUESTS: dict[Protocol, ModuleType] = {Protocol.OCPP16: ocpp16, Protocol.OCPP201: ocpp201}


class Requests:
    """Needs `_chargers` (charger id -> its open charge point) and `call(charger_id, request)`."""

    _chargers: dict[str, DepotChargePoint]
    _remote_start_ids: itertools.count

    if TYPE_CHECKING:
        async def call(self, charger_id: str, request) -> Any: ...

    def _charge_point(self, charger_id: str) -> DepotChargePoint:
        cp = self._chargers.get(charger_id)
        if cp is None:
            raise ChargerOffline(charger_id)
        return cp

    def _requests(self, charger_id: str) -> ModuleType:
        return _REQUESTS[self._charge_point(charger_id).protocol]

    def _only(self, charger_id: str, protocol: Protocol, action: str) -> None:
        if self._charge_point(charger_id).protocol is not protocol:
            raise CallFailed(charger_id, action, f"only available over {protocol.value}")

    # ------------------------------------------------------------ convenience requests (both versions)

    async def remote_start(self, charger_id: str, connector_id: int, id_tag: str, *,
                           charging_profile: dict | None = None, token_type: str | None = None):
        """RemoteStartTransaction (1.6) / RequestStartTransaction (2.0.1, connector_id is the evseId)."""
        req = self._requests(charger_id).remote_start(connector_id, id_tag, remote_start_id=next(self._remote_start_ids),
                                                      charging_profile=charging_profile, token_type=token_type)
        return await self.call(charger_id, req)

    async def remote_stop(self, charger_id: str, transaction: Transaction):
        """RemoteStopTransaction with our id (1.6) / RequestStopTransaction with the charger's id (2.0.1)."""
        return await self.call(charger_id, self._requests(charger_id).remote_stop(transaction))

    async def reset(self, charger_id: str, hard: bool):
        """Hard/Soft (1.6) = Immediate/OnIdle (2.0.1)."""
        return await self.call(charger_id, self._requests(charger_id).reset(hard))

    async def change_availability(self, charger_id: str, connector_id: int, operative: bool):
        """connector_id 0 = the whole charger."""
        return await self.call(charger_id, self._requests(charger_id).change_availability(connector_id, operative))

    async def unlock_connector(self, charger_id: str, connector_id: int):
        return await self.call(charger_id, self._requests(charger_id).unlock_connector(connector_id))

    async def trigger_message(self, charger_id: str, what: str, connector_id: int | None = None):
        """`what` is the action to trigger, e.g. "StatusNotification", "MeterValues", "Heartbeat"."""
        return await self.call(charger_id, self._requests(charger_id).trigger_message(what, connector_id))

    async def set_charging_profile(self, charger_id: str, connector_or_evse_id: int, profile: dict):
        """Install `profile` (the version's ChargingProfile payload, camelCase as on the wire); raises
        ProfileRejected unless the charger answers Accepted."""
        api = self._requests(charger_id)
        result = await self.call(charger_id, api.set_charging_profile(connector_or_evse_id, profile))
        if result.status != "Accepted":
            raise ProfileRejected(charger_id, api.profile_id(profile), str(result.status))
        return result

    async def clear_charging_profile(self, charger_id: str, *, profile_id: int | None = None,
                                     connector_id: int | None = None, purpose: str | None = None,
                                     stack_level: int | None = None):
        """Clear by id and/or criteria (connector_id is the evseId in 2.0.1)."""
        req = self._requests(charger_id).clear_charging_profile(profile_id=profile_id, connector_id=connector_id,
                                                                purpose=purpose, stack_level=stack_level)
        return await self.call(charger_id, req)

    async def get_composite_schedule(self, charger_id: str, connector_or_evse_id: int, duration_s: int,
                                     unit: str | None = None):
        req = self._requests(charger_id).get_composite_schedule(connector_or_evse_id, duration_s, unit)
        return await self.call(charger_id, req)

    # ------------------------------------------------------------ configuration (version specific)

    async def get_configuration(self, charger_id: str, keys: list[str] | None = None):
        self._only(charger_id, Protocol.OCPP16, "GetConfiguration")
        return await self.call(charger_id, ocpp16.get_configuration(keys))

    async def change_configuration(self, charger_id: str, key: str, value: str):
        self._only(charger_id, Protocol.OCPP16, "ChangeConfiguration")
        return await self.call(charger_id, ocpp16.change_configuration(key, value))

    async def get_variables(self, charger_id: str, pairs: list[tuple[str, str]]):
        """[(component, variable)] -> the GetVariables result (its get_variable_result list)."""
        self._only(charger_id, Protocol.OCPP201, "GetVariables")
        return await self.call(charger_id, ocpp201.get_variables(pairs))

    async def set_variables(self, charger_id: str, triples: list[tuple[str, str, str]]):
        """[(component, variable, value)]."""
        self._only(charger_id, Protocol.OCPP201, "SetVariables")
        return await self.call(charger_id, ocpp201.set_variables(triples))
