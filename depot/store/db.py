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
    """An engine for any SQLAlchemy URL; SQLite files are shared between threads (WAL, busy timeout); a
    server database's pooled connections are checked before use (they survive a server restart)."""
    kwargs: dict = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    event.listen(engine, "before_cursor_execute", _storable_text, retval=True)
    return engine


def storable(value: str) -> str:
    """Text any database keeps: NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8) become U+FFFD."""
    if value.isascii() and "\x00" not in value:
        return value
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    return value


def _clean(params):
    if isinstance(params, dict):
        return {k: storable(v) if isinstance(v, str) else v for k, v in params.items()}
    if isinstance(params, tuple | list):
        return type(params)(storable(v) if isinstance(v, str) else v for v in params)
    return params


def _storable_text(conn, cursor, statement, parameters, context, executemany):
    """Every text a statement binds is made storable: what a charger or an upload sends is untrusted, and one
    unstorable string must not cost a batch (a NUL in one frame lost the whole raw-frame batch on PostgreSQL)."""
    if executemany and isinstance(parameters, list):
        return statement, [_clean(p) for p in parameters]
    return statement, _clean(parameters)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through every SQLite test
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
