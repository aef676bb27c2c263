"""Repository of what the floor plan shows: the snapshot of every charger and one charger's detail panel.

The snapshot is each charger with its connectors and running session; the detail panel adds its sessions,
recent errors and raw messages.

A mixin of `Store` (depot.store); reads the chargers', sessions' and event log's tables, writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from depot.errors import NotFound
from depot.model import ChargerView, ConnectorStatus, ConnectorView, SiteSummary, is_online
from depot.store.db import Repository
from depot.store.tables import ChargerRow, ConnectorRow, EventRow, SiteRow, TransactionRow, VehicleRow
from depot.store.values import ChargerDetail, _charger, _connector, _event, _status, _transaction

NO_FLOW = frozenset({ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE})


class FloorRepository(Repository):
    """The floor plan's snapshot and its per-charger detail panel."""

    # ------------------------------------------------------------ what the floor plan shows

    def floor_snapshot(self, now: datetime, *, default_heartbeat: int = 60,
                       charger_id: str | None = None) -> tuple[list[ChargerView], SiteSummary]:
        """Every charger (or just `charger_id`) with its connectors and running session, in three queries."""
        with self.session() as s:
            cq = select(ChargerRow).order_by(ChargerRow.id)
            nq = select(ConnectorRow).order_by(ConnectorRow.charger_id, ConnectorRow.connector_id)
            q = (select(TransactionRow, VehicleRow.name)
                 .outerjoin(VehicleRow, VehicleRow.id == TransactionRow.vehicle_id)
                 .where(TransactionRow.stopped_at.is_(None)).order_by(TransactionRow.id))
            if charger_id is not None:
                cq = cq.where(ChargerRow.id == charger_id)
                nq = nq.where(ConnectorRow.charger_id == charger_id)
                q = q.where(TransactionRow.charger_id == charger_id)
            chargers = [_charger(r) for r in s.scalars(cq)]
            by_charger: dict[str, list[ConnectorRow]] = {}
            for c in s.scalars(nq):
                by_charger.setdefault(c.charger_id, []).append(c)
            running: dict[tuple[str, int], tuple[TransactionRow, str | None]] = {}
            for tx, vname in s.execute(q):  # the newest open session on a connector wins
                running[(tx.charger_id, tx.connector_id)] = (tx, vname)
            site_row = s.get(SiteRow, 1)
        views = []
        for ch in chargers:
            online = is_online(ch, now, default_heartbeat)
            conns = []
            rows = by_charger.get(ch.id, [])
            # 1.6 connector 0 is the charger as a whole: a fault or unavailability there applies to every connector
            whole = next((c for c in rows if c.connector_id == 0 and len(rows) > 1
                          and c.status in (ConnectorStatus.FAULTED.value, ConnectorStatus.UNAVAILABLE.value)), None)
            for c in rows:
                if c.connector_id == 0 and len(rows) > 1:
                    continue
                tx_v = running.get((ch.id, c.connector_id))
                tx, vname = tx_v if tx_v else (None, None)
                status, error = (_status(whole.status), whole.error_code) if whole else (_status(c.status), c.error_code)
                power = None
                if tx is not None and online and tx.last_power_w is not None:
                    power = tx.last_power_w / 1000.0
                    if status in NO_FLOW and (tx.last_sample_at is None or
                                              (c.updated_at is not None and c.updated_at >= tx.last_sample_at)):
                        power = 0.0  # suspended since its last reading: no energy flows (OCPP), whatever it read
                conns.append(ConnectorView(
                    connector_id=c.connector_id, status=status, error_code=error,
                    vehicle_id=tx.vehicle_id if tx else None, vehicle_name=vname,
                    power_kw=power, soc=tx.last_soc if tx else None,
                    session_kwh=((tx.last_energy_wh or tx.meter_start_wh) - tx.meter_start_wh) / 1000.0 if tx else None,
                    transaction_id=tx.id if tx else None,
                ))
            views.append(ChargerView(ch, online, tuple(conns)))
        summary = SiteSummary(
            chargers_total=len(views),
            chargers_online=sum(v.online for v in views),
            charging_now=sum(1 for v in views for c in v.connectors
                             if v.online and c.status == ConnectorStatus.CHARGING),
            site_power_kw=sum(v.power_kw for v in views),
            grid_kw=site_row.grid_kw if site_row else 0.0,
        )
        return views, summary

    def charger_detail(self, charger_id: str, now: datetime, *, default_heartbeat: int = 60,
                       messages: int = 15, errors: int = 5) -> ChargerDetail:
        views, _ = self.floor_snapshot(now, default_heartbeat=default_heartbeat, charger_id=charger_id)
        if not views:
            raise NotFound("charger", charger_id)
        view = views[0]
        with self.session() as s:
            conns = tuple(_connector(r) for r in s.scalars(
                select(ConnectorRow).where(ConnectorRow.charger_id == charger_id).order_by(ConnectorRow.connector_id)))
            sessions = tuple(_transaction(r) for r in s.scalars(
                select(TransactionRow).where(TransactionRow.charger_id == charger_id,
                                             TransactionRow.stopped_at.is_(None)).order_by(TransactionRow.id)))
            faulted = (EventRow.action == "StatusNotification") & EventRow.payload.contains("Faulted")
            reported = EventRow.action.in_(("NotifyEvent", "SecurityEventNotification"))  # 2.0.1 problems
            err_rows = s.scalars(
                select(EventRow).where(EventRow.charger_id == charger_id, EventRow.direction == "in",
                                       EventRow.kind == "call", faulted | reported)
                .order_by(EventRow.id.desc()).limit(errors))
            errs = tuple(_event(r) for r in err_rows)
            msgs = tuple(_event(r) for r in s.scalars(
                select(EventRow).where(EventRow.charger_id == charger_id).order_by(EventRow.id.desc()).limit(messages)))
        return ChargerDetail(view, conns, sessions, errs, msgs)
