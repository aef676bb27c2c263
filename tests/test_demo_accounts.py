"""Demo accounts never survive into a real depot (issue 11): marked as demo, made only when the simulator
runs, retired when the server starts without it (on a database that once ran the demo too), and a server
listening beyond loopback refuses to start while an account still has a published demo password. The
start-up cases run `python app.py` as an operator does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import app as depot_app
from depot.people import demo_accounts
from depot.people import users as people
from depot.store import MIGRATIONS, Store, UTCDateTime
from depot.web.context import Services
from tests.auth_helpers import Client
from tests.conftest import NOW

ROOT = Path(__file__).resolve().parents[1]
DEMO = {name: password for _, name, password in people.DEMO_USERS}


@pytest.fixture
def configure(settings):
    """Configure the app like a start-up with or without the simulator; puts the previous services back."""
    previous = depot_app.server.extensions.get("depot")

    def start(store, *, simulator: bool):
        depot_app.configure(Services(replace(settings, simulator=simulator), store, lambda: NOW))
        return depot_app.app

    yield start
    if previous is not None:
        depot_app.server.extensions["depot"] = previous
    else:
        depot_app.server.extensions.pop("depot", None)


def signs_in(store, name: str, password: str) -> bool:
    return people.authenticate(store, name, password, ip="127.0.0.1", now=NOW).user is not None


# ---------------------------------------------------------------- marked, made, retired


def test_demo_accounts_are_marked_and_retired_when_the_server_starts_without_the_simulator(store, configure):
    configure(store, simulator=True)
    users = {u.name: u for u in people.list_users(store)}
    assert set(users) == set(DEMO) and all(u.demo and not u.disabled for u in users.values())
    people.add_user(store, "alice", "manager", "alices own password", now=NOW)
    assert signs_in(store, "manager", "manager-demo")

    configure(store, simulator=False)
    assert not any(signs_in(store, name, password) for name, password in DEMO.items())
    after = {u.name: u for u in people.list_users(store)}
    assert all(after[name].disabled for name in DEMO) and not after["alice"].disabled
    assert signs_in(store, "alice", "alices own password")
    retired = [e for e in people.audit_log(store, action_prefix="user.disable") if e.who == "system"]
    assert {e.target for e in retired} == {f"user:{name}" for name in DEMO}
    assert demo_accounts.published_password_users(store) == []
    configure(store, simulator=False)  # a second start retires nothing more
    assert len([e for e in people.audit_log(store, action_prefix="user.disable") if e.who == "system"]) == len(DEMO)

    configure(store, simulator=True)  # the next demo run brings them back, with their demo passwords
    assert all(signs_in(store, name, password) for name, password in DEMO.items())


def test_a_demo_session_ends_when_its_account_is_retired(store, configure):
    dash_app = configure(store, simulator=True)
    c = Client(dash_app)
    r = c.login("manager", "manager-demo")
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert c.get("/users").status_code == 200
    configure(store, simulator=False)
    assert c.get("/users").status_code == 302  # back to the sign-in page: the session ended


def test_a_demo_account_given_its_own_password_is_kept(store, configure):
    configure(store, simulator=True)
    people.set_password(store, "manager", "the depots real password", now=NOW, by="manager")
    configure(store, simulator=False)
    assert signs_in(store, "manager", "the depots real password")
    assert not people.get_user(store, "manager").demo
    assert not signs_in(store, "viewer", "viewer-demo")


def test_published_passwords_are_found_by_their_hash():
    assert not demo_accounts.beyond_loopback("127.0.0.1") and not demo_accounts.beyond_loopback("127.8.9.10")
    assert not demo_accounts.beyond_loopback("::1") and not demo_accounts.beyond_loopback("[::1]")
    assert not demo_accounts.beyond_loopback("localhost") and not demo_accounts.beyond_loopback("LOCALHOST")
    for host in ("0.0.0.0", "", "::", "192.168.1.20", "10.0.0.1", "depot.example", "2001:db8::1", None):
        assert demo_accounts.beyond_loopback(host), host


def test_the_refusal_checks_hashes_not_names(store):
    listen = [("web app (--host)", "0.0.0.0"), ("OCPP server (--ocpp-host)", "127.0.0.1")]
    people.add_user(store, "manager", "manager", "my own password", now=NOW)
    assert demo_accounts.published_password_refusal(store, listen) is None  # the name alone is not refused
    people.add_user(store, "viewer", "viewer", "dispatcher-demo", now=NOW)  # another demo user's password
    message = demo_accounts.published_password_refusal(store, listen)
    assert message and "published with the demo: viewer." in message  # only the account that has one
    assert "web app (--host) on 0.0.0.0" in message and "OCPP" not in message
    assert demo_accounts.published_password_refusal(store, [("web app (--host)", "127.0.0.1")]) is None
    people.set_disabled(store, "viewer", now=NOW)  # a disabled account cannot sign in: not refused
    assert demo_accounts.published_password_refusal(store, listen) is None


# ---------------------------------------------------------------- a database that ran the demo before


def _schema_without_demo_accounts(store: Store) -> None:
    """The schema as it was before migration 0007_demo_accounts: every head, then that branch one step down
    (its downgrade)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
        command.downgrade(cfg, "demo_accounts@-1")
    with store.engine.connect() as conn:
        assert "demo" not in {c["name"] for c in sa.inspect(conn).get_columns("users")}


@pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)
def test_a_database_that_ran_the_demo_before_the_mark_existed(db_url):
    old = Store(db_url)
    _schema_without_demo_accounts(old)
    users = sa.table("users", *(sa.column(c) for c in ("name", "role", "password_hash", "disabled",
                                                       "session_version")), sa.column("created_at", UTCDateTime()))
    audit = sa.table("audit_log", *(sa.column(c) for c in ("who", "action", "target", "detail", "result", "ok")),
                     sa.column("at", UTCDateTime()))
    with old.engine.begin() as conn:  # what the demo wrote then: its users, and "demo" added them
        for role, name, password in people.DEMO_USERS:
            conn.execute(users.insert().values(name=name, role=role, password_hash=people.hash_password(password),
                                               disabled=False, session_version=1, created_at=NOW))
            conn.execute(audit.insert().values(at=NOW, who="demo", action="user.add", target=f"user:{name}",
                                               detail="{}", result="ok", ok=True))
        conn.execute(users.insert().values(name="alice", role="manager", password_hash=people.hash_password("x" * 9),
                                           disabled=False, session_version=1, created_at=NOW))
    old.dispose()
    store = Store(db_url)
    store.migrate()
    try:
        marked = {u.name for u in people.list_users(store) if u.demo}
        assert marked == set(DEMO)
        demo_accounts.retire_demo_users(store, now=NOW)
        assert not signs_in(store, "manager", "manager-demo") and signs_in(store, "alice", "x" * 9)
    finally:
        store.dispose()


# ---------------------------------------------------------------- python app.py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(tmp_path, *args: str) -> tuple[subprocess.Popen, int]:
    web, ocpp = free_port(), free_port()
    env = {**os.environ, "DEPOT_DATABASE_URL": f"sqlite:///{tmp_path / 'depot.sqlite3'}"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(web), "--ocpp-port", str(ocpp),
                             *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, web


def wait_up(proc: subprocess.Popen, web: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"http://127.0.0.1:{web}/login", timeout=2)
            return
        except requests.ConnectionError:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the web app did not come up"
            time.sleep(0.3)


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out


def login(web: int, name: str, password: str) -> str:
    """Sign in through the real form; returns where the server sends the browser."""
    s = requests.Session()
    s.get(f"http://127.0.0.1:{web}/login", timeout=5)
    r = s.post(f"http://127.0.0.1:{web}/login", data={"username": name, "password": password,
                                                       "csrf_token": s.cookies.get("_csrf_token")},
               allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text[:300]
    return r.headers["Location"]


def test_no_simulator_on_a_database_that_ran_the_demo_refuses_the_demo_passwords(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'depot.sqlite3'}")
    store.migrate()
    demo_accounts.ensure_demo_users(store, now=NOW)  # what `make run` left behind
    people.add_user(store, "alice", "manager", "alices own password", now=NOW)
    store.dispose()
    proc, web = start_app(tmp_path, "--no-simulator")
    try:
        wait_up(proc, web)
        assert "error=invalid" in login(web, "manager", "manager-demo")
        assert "error=invalid" in login(web, "viewer", "viewer-demo")
        assert login(web, "alice", "alices own password") == "/"
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    assert "demo accounts retired" in out


@pytest.mark.parametrize("flags", [["--host", "0.0.0.0"], ["--ocpp-host", "0.0.0.0"]], ids=["web", "ocpp"])
def test_a_server_beyond_loopback_refuses_to_start_while_a_published_password_remains(tmp_path, flags):
    store = Store(f"sqlite:///{tmp_path / 'depot.sqlite3'}")
    store.migrate()
    people.add_user(store, "manager", "manager", "manager-demo", now=NOW, by="cli:someone")  # by hand, not demo
    store.dispose()
    proc, web = start_app(tmp_path, "--no-simulator", *flags)
    proc.wait(timeout=60)
    out = stop(proc)
    assert proc.returncode == 2, out
    assert "refusing to start" in out and "manager" in out and "depot users password NAME" in out
    assert f"{flags[0]}) on 0.0.0.0" in out
    assert "web app on http://" not in out and "Traceback" not in out
    with pytest.raises(requests.ConnectionError):  # nothing ever listened
        requests.get(f"http://127.0.0.1:{web}/login", timeout=2)


def test_the_demo_itself_is_refused_beyond_loopback(tmp_path):
    proc, web = start_app(tmp_path, "--host", "0.0.0.0", "--chargers", "1")
    proc.wait(timeout=60)
    out = stop(proc)
    assert proc.returncode == 2 and "refusing to start" in out and "simulated depot" not in out, out


def test_a_manager_who_chose_their_own_password_for_manager_is_not_refused(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'depot.sqlite3'}")
    store.migrate()
    people.add_user(store, "manager", "manager", "not the published one", now=NOW, by="cli:someone")
    store.dispose()
    proc, web = start_app(tmp_path, "--no-simulator", "--host", "0.0.0.0")
    try:
        wait_up(proc, web)
        assert login(web, "manager", "not the published one") == "/"
    finally:
        out = stop(proc)
    assert proc.returncode == 0 and "refusing" not in out, out
