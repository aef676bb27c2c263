"""What a simulated charger does when the central system asks, in the terms both OCPP versions share: charging
profiles (install, clear, composite schedule), availability, reset, and service jobs (uploads, firmware).

`ChargerCommands` is mixed into `depot.sim.charger.SimulatedCharger`; the version handlers
(`depot.sim.ocpp16_handlers`, `depot.sim.ocpp201_handlers`) turn each call into one of these methods. Installed
profiles survive disconnects, as in a real charger: a TxProfile runs to the end of its schedule (with no
`duration` its last period holds until the session ends), then the TxDefaultProfile applies; the max profile
caps throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from depot.model import CurrentType
from depot.sim.vehicle import Profile, ProfileError, Purpose, check_profile, composite_schedule, parse_profile

MAX_PERIODS = 24
MAX_STACK_LEVEL = 8
SERVICE_STEP_S = 0.5  # real seconds between the status notifications of a simulated service job
FIRMWARE_OK = ("Downloading", "Downloaded", "Installing", "Installed")


class ChargerCommands:
    """Profiles, availability, reset and service jobs, for both versions' handlers."""

    # ------------------------------------------------------------ profiles (version-neutral)

    def install_profile(self, connector_id: int, payload: dict) -> tuple[str, str | None]:
        """SetChargingProfile: ("Accepted", None) or ("Rejected", reason)."""
        now = self.clock()
        if self.reject_profiles:
            return "Rejected", "set_reject_profiles"
        if connector_id != 0 and connector_id not in self.connectors:
            return "Rejected", f"no connector {connector_id}"
        try:
            prof = parse_profile(connector_id, payload, received_at=now)
            check_profile(prof, allowed_units=[self.rate_unit], max_periods=MAX_PERIODS,
                          max_stack_level=MAX_STACK_LEVEL)
        except (ProfileError, KeyError, TypeError, ValueError) as exc:
            return "Rejected", str(exc)
        if prof.purpose == Purpose.CHARGER_MAX and connector_id != 0:
            return "Rejected", "a max profile belongs on connector 0"
        if prof.purpose == Purpose.TX:
            s = self.connectors[connector_id].session if connector_id else None
            if s is None or not s.tx_open:
                return "Rejected", "no transaction on the connector"
            if s.tx_id is None and prof.transaction_id is not None:
                s.tx_id = prof.transaction_id  # 1.6: the StartTransaction answer is still on its way to us
            if s.tx_id is None:
                return "Rejected", "the transaction has no id yet"
            if prof.transaction_id is not None and prof.transaction_id != s.tx_id:
                return "Rejected", f"transaction {prof.transaction_id} is not the running one ({s.tx_id})"
            prof = replace(prof, transaction_id=s.tx_id)
        self._advance_all(now)
        self.installed = [p for p in self.installed if not (
            p.id == prof.id or (p.stack_level == prof.stack_level and p.purpose == prof.purpose
                                and p.connector_id == prof.connector_id))]
        self.installed.append(prof)
        for c in self.connectors.values():
            self._sync_status(c)
        return "Accepted", None

    def clear_profiles(self, *, profile_id: int | None = None, connector_id: int | None = None,
                       purpose: str | None = None, stack_level: int | None = None) -> bool:
        now = self.clock()

        def match(p: Profile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return ((connector_id is None or p.connector_id == connector_id)
                    and (purpose is None or p.purpose_name == purpose or p.purpose.value == purpose
                         or (purpose == "ChargingStationMaxProfile" and p.purpose == Purpose.CHARGER_MAX))
                    and (stack_level is None or p.stack_level == stack_level))

        gone = [p for p in self.installed if match(p)]
        if not gone:
            return False
        self._advance_all(now)
        self.installed = [p for p in self.installed if not match(p)]
        for c in self.connectors.values():
            self._sync_status(c)
        return True

    def composite(self, connector_id: int, duration: int, unit: str | None) -> tuple[datetime, str, list]:
        now = self.clock()
        unit = unit or self.rate_unit
        c = self.connectors.get(connector_id)
        s = c.session if c else None
        periods = composite_schedule(
            self.installed, now=now, duration=duration, connector_id=connector_id, phases=self.spec.phases,
            current_type=self.spec.current_type, charger_kw=self.spec.max_kw * (1 if c else len(self.connectors)),
            unit=unit, transaction_id=s.tx_id if s and s.tx_open else None, tx_start=s.tx_start if s else None)
        return now, unit, [{"start_period": a, "limit": b} for a, b in periods]

    @property
    def rate_unit(self) -> str:
        return "W" if self.spec.current_type == CurrentType.DC else "A"

    def _drop_tx_profiles(self, tx_id: str | None) -> None:
        if tx_id is not None:
            self.installed = [p for p in self.installed if not (p.purpose == Purpose.TX and p.transaction_id == tx_id)]

    # ------------------------------------------------------------ availability, reset, unlock (version-neutral)

    def change_availability(self, connector_id: int, operative: bool) -> str:
        targets = list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        scheduled = False
        now = self.clock()
        for c in targets:
            self._advance(c, now)
            if operative:
                was, c.unavailable, c.pending_unavailable = c.unavailable, False, False
                if was and c.session is not None and not c.session.tx_open and not c.session.stopped:
                    self._on_plug(c)  # a vehicle waited on the inoperative connector: start its session now
            elif c.session is not None and c.session.tx_open:
                c.pending_unavailable = True
                scheduled = True
            else:
                c.unavailable = True
            self._sync_status(c)
        return "Scheduled" if scheduled else "Accepted"

    def _schedule_reset(self, kind: str) -> None:
        task = asyncio.get_running_loop().create_task(self._reset(kind), name=f"sim-reset-{self.id}")
        self._resets.add(task)
        task.add_done_callback(self._resets.discard)

    async def _reset(self, kind: str) -> None:
        now = self.clock()
        self._replug = []
        for c in self.connectors.values():
            self._advance(c, now)
            s = c.session
            if s is not None:
                if s.tx_open:
                    self._stop_tx(c, self._reset_reason(kind), trigger="ResetCommand")
                self._replug.append((c.id, s.vehicle, s.soc))
                c.session = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drained(), 10)
        self._boot_reason = "RemoteReset"
        ws = self._ws
        if ws is not None:
            await ws.close()

    # ------------------------------------------------------------ service jobs

    def report_steps(self, builds: list[Callable[[], object]], *, every: float = SERVICE_STEP_S) -> None:
        """A service job (diagnostics/log upload, firmware update) reports its progress: one status
        notification every `every` real seconds."""
        loop = asyncio.get_running_loop()
        for i, build in enumerate(builds, 1):
            loop.call_later(every * i, lambda b=build: self._enqueue(b, persistent=True))

    @staticmethod
    def job_fails(location: str | None) -> bool:
        """A URL containing "fail" makes the simulated upload or firmware update fail (for demos and tests)."""
        return "fail" in (location or "").lower()
