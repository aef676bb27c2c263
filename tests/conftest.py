"""Shared fixtures. `app` is imported first: Dash pages need the app to exist before they register."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

import app as depot_app  # noqa: F401  (must come before any layouts import)
from depot.settings import Settings
from depot.store import Store
from depot.web.context import Services
from tests.auth_helpers import no_auto_login, sign_in_browser_tests  # noqa: F401  (dash_duo tests start signed in)

CHROMIUM = "/usr/bin/chromium"

NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)

# `pytestmark = pytest.mark.databases` (or the marker on one test): every test there that uses `db_url` (so
# `store` and `settings`) runs twice, on a SQLite file and on a real PostgreSQL server this run starts itself.
DATABASES = ("sqlite", "postgresql")


def pytest_configure(config):
    """dash[testing] numbers its servers from a fixed port; two test runs on one machine would then talk to
    each other's servers. Start this run's numbering at a port the OS says is free."""
    import socket

    from dash.testing.application_runners import BaseDashRunner

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        BaseDashRunner._next_port = sock.getsockname()[1]
    config.addinivalue_line("markers", "databases: the test's `db_url` runs on SQLite and on PostgreSQL")


def pytest_setup_options():
    """Chrome options for dash[testing]: Debian's Chromium, no network chatter, no download of a browser."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    if os.path.exists(CHROMIUM):
        options.binary_location = CHROMIUM
    for arg in ("--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--window-size=1400,1000"):
        options.add_argument(arg)
    return options


def pytest_generate_tests(metafunc):
    if "db_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("databases"):
        metafunc.parametrize("db_url", DATABASES, indirect=True)


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server per test process (xdist worker), started when a test first needs it
    and stopped at the end of the session whatever happened (tests/pg.py). Missing PostgreSQL fails the tests
    in CI (CI=true) and skips them elsewhere."""
    from tests import pg

    bindir = pg.find_bindir()
    if bindir is None:
        message = f"the PostgreSQL tests need initdb and pg_ctl: {pg.INSTALL_HINT}"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI: {message}", pytrace=False)
        pytest.skip(message)
    server = pg.start(bindir)
    try:
        yield server
    finally:
        server.stop()


def _migrate(url: str) -> None:
    s = Store(url)
    try:
        s.migrate()
    finally:
        s.dispose()


@pytest.fixture
def db_url(request, tmp_path):
    """A fresh database for one test: a SQLite file, or (parametrised "postgresql" by the `databases`
    marker) a database of its own on the PostgreSQL server, copied from one migrated once by `Store.migrate`,
    and dropped after the test."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'depot.sqlite3'}"
        return
    server = request.getfixturevalue("postgres_server")
    name, url = server.create_database(template=server.template("depot_migrated", _migrate))
    yield url
    server.drop_database(name)


@pytest.fixture
def store(db_url) -> Store:
    s = Store(db_url)
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def settings(db_url) -> Settings:
    # the test chargers' timestamps are fixed (tests/ocpp_clients.T0), the central system's clock is the wall:
    # no backlog limit, or every test older than a week would see its timestamps replaced (depot/ocpp/sanity.py)
    return Settings(database_url=db_url, ocpp_port=0, port=0, simulator=False, max_backlog_s=0.0)


@pytest.fixture
def configured_app(store, settings):
    """The Dash app wired to a fresh SQLite file and a fixed clock."""
    previous = depot_app.server.extensions.get("depot")
    depot_app.configure(Services(settings, store, lambda: NOW))
    yield depot_app.app
    if previous is not None:
        depot_app.server.extensions["depot"] = previous
    else:
        depot_app.server.extensions.pop("depot", None)
