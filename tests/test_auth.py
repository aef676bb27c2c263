"""Sign-in: password hashing, throttling, CSRF, cookies, sessions that end, demo users, and `depot users`."""

from __future__ import annotations

import io

import pytest

import app as depot_app
from depot.cli import main as cli
from depot.errors import ValidationError
from depot.people import users as people
from depot.settings import Settings
from depot.web import auth
from depot.web.context import Services
from tests.auth_helpers import Client, client_as, ensure_user, password_for, prop
from tests.conftest import NOW

# ---------------------------------------------------------------- passwords and users


def test_passwords_are_salted_hashes_never_stored_in_clear(store):
    people.add_user(store, "ana", "dispatcher", "correct horse", now=NOW)
    with store.session() as s:
        stored = s.get(people.UserRow, 1).password_hash
    assert "correct horse" not in stored and stored.startswith("scrypt:")
    assert people.hash_password("correct horse") != people.hash_password("correct horse")  # salted
    ok = people.authenticate(store, "ANA", "correct horse", ip="1.2.3.4", now=NOW)  # names are case-insensitive
    assert ok.user is not None and ok.user.role == "dispatcher" and ok.user.last_login_at == NOW
    assert people.authenticate(store, "ana", "wrong horse", ip="1.2.3.4", now=NOW).reason == "invalid"
    assert people.authenticate(store, "nobody", "correct horse", ip="1.2.3.4", now=NOW).reason == "invalid"


def test_user_rules(store):
    with pytest.raises(ValidationError, match="password"):
        people.add_user(store, "bo", "viewer", "short", now=NOW)
    with pytest.raises(ValidationError, match="role"):
        people.add_user(store, "bo", "admin", "long enough", now=NOW)
    with pytest.raises(ValidationError, match="name"):
        people.add_user(store, "b o", "viewer", "long enough", now=NOW)
    people.add_user(store, "boss", "manager", "long enough", now=NOW)
    with pytest.raises(ValidationError, match="exists"):
        people.add_user(store, "BOSS", "viewer", "long enough", now=NOW)
    with pytest.raises(ValidationError, match="last active manager"):
        people.set_role(store, "boss", "viewer", now=NOW)
    with pytest.raises(ValidationError, match="last active manager"):
        people.set_disabled(store, "boss", now=NOW)
    people.add_user(store, "boss2", "manager", "long enough", now=NOW)
    assert people.set_role(store, "boss", "viewer", now=NOW, by="boss2").role == "viewer"
    disabled = people.set_disabled(store, "boss", now=NOW, by="boss2")
    assert disabled.disabled and people.authenticate(store, "boss", "long enough", ip="x", now=NOW).user is None
    actions = [(e.who, e.action, e.target) for e in people.audit_log(store, action_prefix="user.")]
    assert actions[:2] == [("boss2", "user.disable", "user:boss"), ("boss2", "user.set_role", "user:boss")]


# throttling (a growing delay per address and per name at that address, never a lock-out): test_login_throttle.py


# ---------------------------------------------------------------- the web sign-in


def test_sign_in_and_out_through_the_web(configured_app, store):
    c = Client(configured_app)
    assert c.get("/planner").headers["Location"] == "/login?next=%2Fplanner"
    name, password = ensure_user(store, "dispatcher")
    r = c.http.post("/login", data={"username": name, "password": password, "csrf_token": c.token,
                                    "next": "/planner"})
    assert r.status_code == 303 and r.headers["Location"] == "/planner"
    assert c.get("/planner").status_code == 200
    cookies = " ".join(r.headers.getlist("Set-Cookie"))
    assert "depot_session=" in cookies and "HttpOnly" in cookies and "SameSite=Lax" in cookies
    c.refresh_token()
    assert c.post("/logout", data={"csrf_token": c.token}).headers["Location"] == "/login"
    assert c.get("/planner").status_code == 302


def test_wrong_password_and_throttling_on_the_web(configured_app, store):
    name, password = ensure_user(store, "viewer")
    c = Client(configured_app)
    r = c.login(name, "nope")
    assert r.status_code == 303 and "error=invalid" in r.headers["Location"] and "user=test-viewer" in r.headers["Location"]
    for _ in range(people.PER_NAME_AT_ADDRESS.free):
        c.login(name, "nope")
    r = c.login(name, password)
    assert "error=throttled" in r.headers["Location"] and "wait=" in r.headers["Location"]
    assert c.get("/").status_code == 302  # still anonymous
    other = Client(configured_app)  # another user from the same address is not locked out by this one
    assert client_as(configured_app, store, "maintenance").get("/maintenance").status_code == 200
    assert other.get("/login").status_code == 200


def test_csrf_is_refused_on_sign_in_and_on_callbacks(configured_app, store):
    name, password = ensure_user(store, "manager")
    c = Client(configured_app)
    r = c.login(name, password, csrf=False)
    assert r.headers["Location"] == "/login?error=expired" and c.get("/").status_code == 302
    c = client_as(configured_app, store, "manager")
    refresh = ("mt-t-grid.rowData", [prop("mt-tabs", "active_tab", "tickets")])
    ok = c.callback("..users-table.children...users-audit.children...users-c-name.options..",
                    [prop("users-version", "data", 0)])
    assert ok.status_code == 200
    bad = c.callback("..users-table.children...users-audit.children...users-c-name.options..",
                     [prop("users-version", "data", 0)], csrf=False)
    assert bad.status_code == 400 and b"CSRF" in bad.data
    forged = c.post("/_dash-update-component", json={"output": refresh[0]}, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400
    before = len(people.list_users(store))
    r = c.callback("..users-add-msg.children...users-version.data...users-new-pw.value...users-new-pw2.value..",
                   [prop("users-add", "n_clicks", 1)],
                   [prop("users-new-name", "value", "mallory"), prop("users-new-role", "value", "manager"),
                    prop("users-new-pw", "value", "long enough"), prop("users-new-pw2", "value", "long enough"),
                    prop("users-version", "data", 0)], csrf=False)
    assert r.status_code == 400 and len(people.list_users(store)) == before


def test_anonymous_gets_401_except_the_sign_in_page(configured_app):
    c = Client(configured_app)
    assert c.get("/login").status_code == 200
    assert c.get("/assets/people.css").status_code == 200
    assert c.get("/_dash-layout").status_code == 200
    assert c.get("/api/alerts").status_code == 401
    r = c.callback(".._pages_content.children..._pages_store.data..",
                   [prop("_pages_location", "pathname", "/login"), prop("_pages_location", "search", "")])
    assert r.status_code == 200 and b"login-form" in r.data
    r = c.callback(".._pages_content.children..._pages_store.data..",
                   [prop("_pages_location", "pathname", "/planner"), prop("_pages_location", "search", "")])
    assert r.status_code == 401


def test_next_is_never_an_open_redirect():
    assert auth.safe_next("/planner?x=1") == "/planner?x=1"
    for bad in ("https://evil.example/", "//evil.example", "/\\evil", "javascript:alert(1)", "planner", "/login"):
        assert auth.safe_next(bad) is None


def test_sessions_end_when_the_user_is_disabled_or_changes_password(configured_app, store):
    viewer = client_as(configured_app, store, "viewer")
    dispatcher = client_as(configured_app, store, "dispatcher")
    assert viewer.get("/").status_code == 200 and dispatcher.get("/").status_code == 200
    people.set_disabled(store, "test-viewer", now=NOW)
    people.set_password(store, "test-dispatcher", "a new password", now=NOW)
    assert viewer.get("/").status_code == 302 and dispatcher.get("/").status_code == 302
    people.set_role(store, "test-viewer", "maintenance", now=NOW)  # a role change applies at the next request
    people.set_disabled(store, "test-viewer", False, now=NOW)
    again = client_as(configured_app, store, "maintenance")
    assert again.get("/maintenance").status_code == 200


def test_secure_cookies_setting_and_a_secret_kept_in_the_database(store, settings):
    from dataclasses import replace

    previous = depot_app.server.extensions.get("depot")
    try:
        depot_app.configure(Services(replace(settings, secure_cookies=True), store, lambda: NOW))
        assert depot_app.server.config["SESSION_COOKIE_SECURE"] is True
        assert depot_app.server.config["SECRET_KEY"] == people.secret_key(store)
        depot_app.configure(Services(replace(settings, secret_key="from-the-environment"), store, lambda: NOW))
        assert depot_app.server.config["SECRET_KEY"] == "from-the-environment"
        assert depot_app.server.config["SESSION_COOKIE_SECURE"] is False
    finally:
        depot_app.server.extensions["depot"] = previous


def test_demo_users_exist_and_show_only_in_demo_mode(store, settings):
    from dataclasses import replace

    previous = depot_app.server.extensions.get("depot")
    try:
        depot_app.configure(Services(replace(settings, simulator=True), store, lambda: NOW))
        assert {u.role for u in people.list_users(store)} == set(people.ROLES)
        login = Client(depot_app.app).callback(
            ".._pages_content.children..._pages_store.data..",
            [prop("_pages_location", "pathname", "/login"), prop("_pages_location", "search", "")])
        assert b"maintenance-demo" in login.data and b"login-demo" in login.data
        depot_app.configure(Services(settings, store, lambda: NOW))  # the same users, not a demo: no passwords
        login = Client(depot_app.app).callback(
            ".._pages_content.children..._pages_store.data..",
            [prop("_pages_location", "pathname", "/login"), prop("_pages_location", "search", "")])
        assert b"maintenance-demo" not in login.data
    finally:
        depot_app.server.extensions["depot"] = previous


# ---------------------------------------------------------------- depot users


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return cli(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_cli_users(db_url, tmp_path, monkeypatch):
    pw = tmp_path / "pw"
    pw.write_text("a long password\n")
    assert run("users", "add", "kim", "--role", "manager", "--password-file", str(pw), "--db", db_url)[0] == 0
    answers = iter(["another password", "another password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run("users", "add", "lee", "--role", "viewer", "--db", db_url) == (0, "added user lee (viewer)\n", "")
    assert run("users", "set-role", "lee", "maintenance", "--db", db_url)[1] == "user lee is now maintenance\n"
    code, _, err = run("users", "disable", "kim", "--db", db_url)
    assert code == 2 and "last active manager" in err
    assert run("users", "disable", "lee", "--db", db_url)[0] == 0
    code, out, _ = run("users", "list", "--db", db_url)
    assert code == 0 and "kim" in out and "lee   maintenance  disabled" in out
    short = tmp_path / "short"
    short.write_text("abc\n")
    code, _, err = run("users", "add", "max", "--role", "viewer", "--password-file", str(short), "--db", db_url)
    assert code == 2 and "password" in err
    from depot.store import Store

    store = Store(db_url)
    try:
        assert people.authenticate(store, "kim", "a long password", ip="x", now=NOW).user is not None
        assert people.audit_log(store, action_prefix="user.add")[0].who.startswith("cli")
    finally:
        store.dispose()


def test_password_for_helper_is_long_enough():
    assert len(password_for("viewer")) >= people.MIN_PASSWORD
    assert Settings().secure_cookies is False
