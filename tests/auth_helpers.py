"""Signing in from tests: a Flask test client per role, a browser sign-in for dash_duo, and the fixture that
signs every dash_duo test in as a manager unless it asks for `no_auto_login`.

    client = client_as(configured_app, store, "dispatcher")       # a signed-in test client
    client.callback(output, inputs=[...], state=[...])           # a Dash callback request, CSRF header included
    login_as(dash_duo, store, "maintenance")                     # the real sign-in form in Chromium
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from depot.people import users as people
from depot.web.context import services

WHEN = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def password_for(role: str) -> str:
    return f"{role}-test-password"


def ensure_user(store, role: str, name: str | None = None) -> tuple[str, str]:
    """A user of `role` (named after the role unless `name`); returns (name, password)."""
    name = name or f"test-{role}"
    if people.get_user(store, name) is None:
        people.add_user(store, name, role, password_for(role), now=WHEN, by="test")
    return name, password_for(role)


class Client:
    """A Flask test client that knows the CSRF token of its session."""

    def __init__(self, app):
        self.app = app
        self.http = app.server.test_client()
        self.http.get("/login")  # a session and its CSRF cookie

    @property
    def token(self) -> str:
        cookie = self.http.get_cookie("_csrf_token")
        return cookie.value if cookie is not None else ""

    def refresh_token(self) -> None:
        self.http.get("/_dash-layout")

    def get(self, path: str, **kw):
        return self.http.get(path, **kw)

    def post(self, path: str, *, csrf: bool = True, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if csrf:
            headers.setdefault("X-CSRFToken", self.token)
        return self.http.post(path, headers=headers, **kw)

    def login(self, name: str, password: str, *, csrf: bool = True):
        data = {"username": name, "password": password}
        if csrf:
            data["csrf_token"] = self.token
        response = self.http.post("/login", data=data)
        self.refresh_token()
        return response

    def output_key(self, output: str) -> str:
        """The registered spelling of `output`: outputs with allow_duplicate carry an "@hash" suffix."""
        import re

        if output in self.app.callback_map:
            return output
        plain = re.compile(r"@[0-9a-f]+")
        self.http.get("/_dash-dependencies")  # Dash fills its callback map on the first request
        found = [k for k in self.app.callback_map if plain.sub("", k) == output]
        return found[0] if found else output

    def callback(self, output: str, inputs: list[dict] | None = None, state: list[dict] | None = None, *,
                 csrf: bool = True):
        """POST /_dash-update-component for the callback whose output string is `output`
        ("id.prop" or "..id.prop...id2.prop2.." as Dash spells multiple outputs)."""
        output = self.output_key(output)
        outputs = [{"id": o.split(".", 1)[0], "property": o.split(".", 1)[1]}
                   for o in output.strip(".").split("...")]
        body = {"output": output, "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": inputs or [], "state": state or [],
                "changedPropIds": [f"{i['id']}.{i['property']}" for i in (inputs or [])[:1]]}
        return self.post("/_dash-update-component", data=json.dumps(body), content_type="application/json", csrf=csrf)


def client_as(app, store, role: str | None) -> Client:
    """A test client signed in with `role` (None: anonymous)."""
    c = Client(app)
    if role is not None:
        name, password = ensure_user(store, role)
        r = c.login(name, password)
        assert r.status_code == 303 and "error" not in r.headers["Location"], r.headers.get("Location")
    return c


def prop(ident: str, prop_: str, value) -> dict:
    return {"id": ident, "property": prop_, "value": value}


def login_as(dash_duo, store, role: str, *, next_path: str = "/") -> str:
    """Sign in through the real form in the browser; returns the user name."""
    name, password = ensure_user(store, role)
    base = dash_duo.server.url.rstrip("/")
    dash_duo.driver.get(f"{base}/login?next={next_path}")
    dash_duo.wait_for_element("#login-user", timeout=15)
    dash_duo.find_element("#login-user").send_keys(name)
    dash_duo.find_element("#login-password").send_keys(password)
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#react-entry-point", timeout=15)
    dash_duo.wait_for_element("#hdr-user-menu", timeout=15)
    return name


@pytest.fixture
def no_auto_login():
    """Ask for this fixture to start a dash_duo test anonymous."""
    return True


@pytest.fixture(autouse=True)
def sign_in_browser_tests(request):
    """Every dash_duo test's `start_server` signs in as a manager before it opens the app (pages need a user);
    tests that request `no_auto_login` start anonymous."""
    if "dash_duo" not in request.fixturenames or "no_auto_login" in request.fixturenames:
        yield
        return
    duo = request.getfixturevalue("dash_duo")
    original = duo.start_server

    def start_server(app, navigate=True, **kwargs):
        original(app, navigate=False, **kwargs)
        login_as(duo, services(app.server).store, people.MANAGER)
        if navigate:
            duo.server_url = duo.server.url

    duo.start_server = start_server
    yield
