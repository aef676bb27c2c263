"""depot.store, the persistence layer: SQLAlchemy 2 tables, one repository per concern, Alembic migrations.
`Store` (built from the repository mixins) is the one way in; this module re-exports what callers import.
It may import only the pure core (depot.model, depot.errors, depot.planning value types) and SQLAlchemy.

One `Store` per process (the app and every `depot` subcommand build it from `Settings.database_url`).
Each public method is one logical operation in its own session (`with self.session() as s, s.begin()`)
and returns domain values from `depot.model`, never live ORM rows. SQLite runs in WAL mode with a busy
timeout so the OCPP loop thread and the web threads can share one file; any SQLAlchemy URL works.
Schema changes go through Alembic (`depot/store/migrations`); `Store.migrate()` brings a database to every head.

Modules: db (Base, UTCDateTime, engine set-up), tables (the core tables), values (row -> value conversions,
PlanRecord, ChargerDetail, dumps), the repository mixins chargers, sessions, floor, plans, security (charger
credentials and security events, tables in tables_security) and quarantine (impossible values chargers sent,
tables in tables_quarantine), and
the larger features' own tables and queries (tables_people, tables_costs, enforcement; sharing `Base` and
`Store.session`). The mixins import from db/tables/values, never from this package's __init__.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from depot import metrics
from depot.store.chargers import ChargerRepository
from depot.store.db import Base, UTCDateTime, make_engine
from depot.store.floor import NO_FLOW, FloorRepository
from depot.store.plans import PlanRepository
from depot.store.quarantine import Quarantined, QuarantineRepository
from depot.store.security import SecurityRepository
from depot.store.sessions import SessionRepository
from depot.store.tables import (
    ChargerRow,
    ConnectorRow,
    DepartureRow,
    EventRow,
    IdTagRow,
    MeterSampleRow,
    PlanRow,
    RosterRow,
    SiteRow,
    TransactionRow,
    VehicleRow,
)
from depot.store.values import ChargerDetail, PlanRecord, dumps

MIGRATIONS = Path(__file__).with_name("migrations")

__all__ = [
    "MIGRATIONS", "NO_FLOW", "Base", "ChargerDetail", "ChargerRow", "ConnectorRow", "DepartureRow",
    "EventRow", "IdTagRow", "MeterSampleRow", "PlanRecord", "PlanRow", "Quarantined", "RosterRow", "SiteRow", "Store",
    "TransactionRow", "UTCDateTime", "VehicleRow", "dumps",
]


class Store(ChargerRepository, SessionRepository, FloorRepository, PlanRepository, SecurityRepository,
            QuarantineRepository):
    """All database access. Thread safe: each call opens its own short session."""

    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------ schema

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")  # each issue's tables may come as their own branch

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        started = time.perf_counter()
        with self._sessions() as s, s.begin():
            yield s
        metrics.STORE_SECONDS.observe(time.perf_counter() - started)  # committed (an error leaves it out)

    # ------------------------------------------------------------ the whole database

    def latest_timestamp(self, *, now: datetime | None = None, skew_s: float = 900.0) -> datetime | None:
        """The newest time this database has seen (the demo clock never starts before it). The central system's
        own times (the frame log, the chargers' last seen) count as stored; a meter sample's time is a charger's
        word and counts only up to `skew_s` past the newest of those (and `now`): a far-future timestamp stored
        before values were screened (`depot.ocpp.sanity`) can neither move nor overflow the demo clock."""
        with self.session() as s:
            own = [s.scalar(select(func.max(EventRow.at))), s.scalar(select(func.max(ChargerRow.last_seen)))]
            trusted = [t for t in (*own, now) if t is not None]
            sample = None
            if trusted:
                newest = max(trusted)
                bound = newest + timedelta(seconds=skew_s) if newest < datetime.max.replace(tzinfo=UTC) - \
                    timedelta(days=1) else newest
                sample = s.scalar(select(func.max(MeterSampleRow.at)).where(MeterSampleRow.at <= bound))
        found = [c for c in (*own, sample) if c is not None]
        return max(found) if found else None

    def count(self, table: str) -> int:
        """Row count of one table (tests and the benchmark use it)."""
        model = {m.__tablename__: m for m in Base.__subclasses__()}[table]
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0
