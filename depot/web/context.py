"""What a Dash page or Flask route may reach: the services of this process.

`app.configure(services)` stores them on the Flask app; page layouts and callbacks call `services()`
inside their request. Nothing is kept in module globals: tests configure their own store and clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import flask
from sqlalchemy.exc import SQLAlchemyError

from depot.clock import Clock
from depot.settings import Settings
from depot.store import Store

if TYPE_CHECKING:  # pragma: no cover
    from depot.runtime import Runtime

EXTENSION = "depot"
STORE_ERRORS = (SQLAlchemyError, OSError)
"""What a page catches when the database is unreachable, locked, or its file is missing: a message, never a
broken page."""


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    clock: Clock
    runtime: Runtime | None = None


def services(app: Any = None) -> Services:
    """The services of the running app (inside a request, or of `app` when given)."""
    server = app if app is not None else flask.current_app
    try:
        return server.extensions[EXTENSION]
    except KeyError as exc:  # pragma: no cover - a programming error, not a user one
        raise RuntimeError("the app was not configured: call app.configure(services) first") from exc
