"""Service jobs on simulated chargers of both versions, through the real central system: diagnostics/log
uploads and firmware updates answer at once and then report each stage, which the store records."""

import asyncio
from datetime import UTC, datetime

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201
from sqlalchemy import select

from depot.model import CurrentType, Protocol
from depot.ocpp.server import CentralSystem
from depot.settings import Settings
from depot.sim.demo import seed_store
from depot.sim.simulator import SimulatedDepot
from depot.sim.specs import SimChargerSpec
from depot.store import Store

CHARGERS = [SimChargerSpec("S-16", Protocol.OCPP16, CurrentType.AC, 22.0, 3, "A01"),
            SimChargerSpec("S-201", Protocol.OCPP201, CurrentType.DC, 50.0, 3, "A02")]


def firmware_and_diagnostics(store: Store, charger_id: str) -> tuple[str | None, str | None]:
    from depot.store import ChargerRow

    with store.session() as s:
        row = s.scalar(select(ChargerRow).where(ChargerRow.id == charger_id))
        return row.firmware_status, row.diagnostics_status


async def _until(predicate, timeout=15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("url, firmware_end, upload_end16, upload_end201", [
    ("https://files.example/fw-2.0.bin", "Installed", "Uploaded", "Uploaded"),
    ("https://files.example/fail/fw-2.0.bin", "InstallationFailed", "UploadFailed", "UploadFailure"),
])
def test_uploads_and_firmware_updates_report_every_stage(db_url, url, firmware_end, upload_end16, upload_end201):
    async def main() -> None:
        store = Store(db_url)
        store.migrate()
        passwords = seed_store(store, CHARGERS, [], grid_kw=100.0)
        settings = Settings(database_url=db_url, ocpp_port=0, simulator=False)
        cs = CentralSystem(store, settings)
        await cs.start()
        sim = SimulatedDepot(f"ws://127.0.0.1:{cs.port}", CHARGERS, [], clock=lambda: datetime.now(UTC),
                             fault_rate=0.0, auto_schedule=False, passwords=passwords)
        await sim.start()
        try:
            await sim.wait_connected(10)
            now = datetime.now(UTC).isoformat()
            assert (await cs.call("S-16", c16.UpdateFirmware(location=url, retrieve_date=now))) is not None
            diag = await cs.call("S-16", c16.GetDiagnostics(location=url))
            assert diag.file_name == "S-16-diagnostics.zip"
            fw = await cs.call("S-201", c201.UpdateFirmware(request_id=7, firmware={
                "location": url, "retrieveDateTime": now}))
            assert fw.status == "Accepted"
            log = await cs.call("S-201", c201.GetLog(log_type="DiagnosticsLog", request_id=8,
                                                    log={"remoteLocation": url}))
            assert log.status == "Accepted"
            await _until(lambda: firmware_and_diagnostics(store, "S-16") == (firmware_end, upload_end16))
            await _until(lambda: firmware_and_diagnostics(store, "S-201") == (firmware_end, upload_end201))
            cs.flush_journal()
            stages = [e.payload for e in reversed(store.recent_events("S-201", action="FirmwareStatusNotification"))
                      if e.direction == "in"]
            assert [s.split('"status":"')[1].split('"')[0] for s in stages][-2:] == ["Installing", firmware_end]
        finally:
            await sim.stop()
            await cs.stop()
            store.dispose()

    asyncio.run(main())
