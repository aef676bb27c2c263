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


def pytest_configure(config):
    """dash[testing] numbers its servers from a fixed port; two test runs on one machine would then talk to
    each other's servers. Start this run's numbering at a port the OS says is free."""
    import socket

    from dash.testing.application_runners import BaseDashRunner

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        BaseDashRunner._next_port = sock.getsockname()[1]


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


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'depot.sqlite3'}"


@pytest.fixture
def store(db_url) -> Store:
    s = Store(db_url)
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def settings(db_url) -> Settings:
    return Settings(database_url=db_url, ocpp_port=0, port=0, simulator=False)


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
