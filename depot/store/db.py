"""The shared SQLAlchemy base (`Base`, `UTCDateTime`), the engine set-up and the repositories' common base.

Every table of every concern derives from `Base`; timestamps are `UTCDateTime`. `make_engine` builds the
engine (SQLite in WAL mode with a busy timeout); `Repository` is what each mixin of `Store` relies on:
`self.session()`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer, TypeDecorator, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session


class UTCDateTime(TypeDecorator):
    """Stores UTC without a zone (SQLite has none) and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: every timestamp must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


# The id of a table that grows without end (raw frames, meter samples, charging commands): 64 bits. SQLite's
# INTEGER PRIMARY KEY is already its 64-bit rowid (and only that spelling autoincrements); PostgreSQL's
# INTEGER is 32 bits, which a few hundred chargers' frames fill within a year (migration 0008_bigint_ids).
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Repository:
    """Base of the repository mixins: `Store` provides the session (one short one per logical operation)."""

    def session(self) -> AbstractContextManager[Session]:
        raise NotImplementedError  # Store.session overrides it


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite files are shared between threads (WAL, busy timeout)."""
    kwargs: dict = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through every SQLite test
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
