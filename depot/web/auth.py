"""The web app's guard: sign-in (Flask-Login), CSRF (Flask-WTF), secure cookies, and who may do what.

The server is the guard, the UI only hides:
- anonymous requests reach nothing but static files, the Dash shell and the /login page: a page request is
  redirected to /login, every other request (Dash callbacks, downloads, API) gets 401;
- a signed-in user opening a page the role may not see gets the shell (HTTP 200, so the browser logs no
  failed resource, with the header `X-Depot-Access: denied`) and a "no access" notice instead of the page's
  content (every page layout is wrapped, so the content is never computed);
- every Dash callback that changes something, every download and API route carries `require(*roles)`:
  401 when anonymous, 403 for another role, and the wrapped function does not run;
- every state-changing request (POST: Dash callbacks, sign-in, sign-out) needs the CSRF token: Dash's
  renderer sends it from the `_csrf_token` cookie as the X-CSRFToken header, the forms as a hidden field.
  A request without a valid token is refused with 400 before anything runs.

`init_app(dash_app)` wires this once when the app is built; `configure(dash_app, services)` sets the
per-process parts (signing key, cookie flags, demo users). The role matrix is `PAGE_ROLES` plus the role
tuples below, used by the page modules' guards.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterable
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import dash
import flask
from dash import html
from flask import abort, g, jsonify, redirect, request, session
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from depot.clock import utc_now
from depot.people import demo_accounts
from depot.people import users as people
from depot.people.users import DISPATCHER, MAINTENANCE, MANAGER, ROLE_TEXT, ROLES, VIEWER
from depot.web.context import services

log = logging.getLogger(__name__)

ALL = ROLES
EDIT_PLAN = (MANAGER, DISPATCHER)  # departures, roster, preview, planner downloads
MAINTAIN = (MANAGER, MAINTENANCE)  # alerts, tickets, windows, remote actions
MANAGE = (MANAGER,)  # users, tariffs, site settings
READ_REPORTS = (MANAGER, VIEWER)  # the reports page and its downloads (reading only)
READ_AUDIT = (MANAGER, DISPATCHER, VIEWER)  # plan versus actual and its CSV (reading only)
SEE_ALERTS = MAINTAIN  # the header's alert badge

LOGIN_PATH = "/login"
# Who may open which page. Pages not listed (a new read-only page) are open to every role; each page's
# state-changing callbacks carry their own `require`.
PAGE_ROLES: dict[str, tuple[str, ...]] = {
    "/": ALL,
    "/planner": (MANAGER, DISPATCHER, VIEWER),
    "/audit": READ_AUDIT,
    "/power": ALL,
    "/reports": READ_REPORTS,
    "/tariffs": (MANAGER, VIEWER),
    "/maintenance": MAINTAIN,
    "/users": MANAGE,
}
PLAN_READERS = PAGE_ROLES["/planner"]  # read callbacks of each page: the roles that may open it
TARIFF_READERS = PAGE_ROLES["/tariffs"]
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/static/")
PUBLIC_PATHS = frozenset({"/_favicon.ico", "/_dash-layout", "/_dash-dependencies", "/_reload-hash", LOGIN_PATH,
                          "/logout", "/metrics"})  # /metrics checks its own token or loopback (depot.web.api)
SESSION_HOURS = 12
CSRF_COOKIE = "_csrf_token"  # the name dash-renderer reads

_login_manager = LoginManager()
_csrf = CSRFProtect()


class WebUser:
    """The signed-in user as Flask-Login sees it (a thin wrapper around `people.User`)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: people.User):
        self.user = user

    @property
    def is_active(self) -> bool:
        return not self.user.disabled

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> str:
        return self.user.role

    def get_id(self) -> str:
        # the version changes with a new password or a disabled account: every older session ends
        return f"{self.user.id}.{self.user.session_version}"


# ---------------------------------------------------------------- who is asking


def user() -> WebUser | None:
    """The signed-in user of this request, or None."""
    u = current_user
    return u if u and getattr(u, "is_authenticated", False) else None


def current_name() -> str:
    u = user()
    return u.name if u is not None else "anonymous"


def role() -> str | None:
    u = user()
    return u.role if u is not None else None


def can(roles: Iterable[str]) -> bool:
    return role() in set(roles)


def page_allowed(user_role: str | None, path: str) -> bool:
    if path == LOGIN_PATH:
        return True
    return user_role is not None and user_role in PAGE_ROLES.get(path.rstrip("/") or "/", ALL)


def check(roles: Iterable[str]) -> WebUser:
    """401 unless signed in, 403 unless the role is one of `roles`."""
    u = user()
    if u is None:
        abort(401)
    if u.role not in set(roles):
        log.warning("refused: %s (%s) may not %s %s", u.name, u.role, request.method, request.path)
        abort(403)
    return u


def require(*roles: str) -> Callable:
    """Decorator for Dash callbacks, Flask routes and download callbacks: the function runs only for a
    signed-in user with one of `roles` (401 / 403 otherwise, nothing changed)."""
    allowed = tuple(roles)

    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            check(allowed)
            return fn(*args, **kwargs)

        guarded.roles = allowed  # type: ignore[attr-defined]
        return guarded

    return deco


# ---------------------------------------------------------------- wiring


def init_app(dash_app: dash.Dash) -> None:
    """Once, when the app is built: sign-in, CSRF, the request gate, routes and page guards."""
    server = dash_app.server
    if server.extensions.get("depot_auth"):
        return
    server.extensions["depot_auth"] = True
    _login_manager.init_app(server)
    _login_manager.user_loader(_load_user)
    server.before_request(_gate)  # before CSRF: an anonymous request is 401 whatever its token
    _csrf.init_app(server)
    server.after_request(_after)
    server.register_error_handler(401, _unauthorized)
    server.register_error_handler(403, _forbidden)
    server.register_error_handler(CSRFError, _csrf_failed)
    server.add_url_rule(LOGIN_PATH, "depot_login", _login, methods=["POST"])
    server.add_url_rule("/logout", "depot_logout", _logout, methods=["POST"])
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", WTF_CSRF_TIME_LIMIT=None,
                         PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS), SESSION_COOKIE_NAME="depot_session")
    guard_pages()


def configure(dash_app: dash.Dash, svc) -> None:
    """Per process: signing key (setting, or one kept in the database), cookie flags, the demo's users: made
    when the simulator runs, retired when it does not (depot.people.demo_accounts)."""
    server = dash_app.server
    init_app(dash_app)
    server.config["SECRET_KEY"] = svc.settings.secret_key or people.secret_key(svc.store)
    secure = bool(getattr(svc.settings, "secure_cookies", False))
    server.config.update(SESSION_COOKIE_SECURE=secure, REMEMBER_COOKIE_SECURE=secure, WTF_CSRF_SSL_STRICT=secure)
    if svc.settings.simulator:
        demo_accounts.ensure_demo_users(svc.store, now=svc.clock())
    else:
        demo_accounts.retire_demo_users(svc.store, now=svc.clock())
    guard_pages()


def guard_pages() -> None:
    """Wrap every registered page's layout so that its content is computed only for a role that may see it."""
    for page in dash.page_registry.values():
        layout = page.get("layout")
        if getattr(layout, "_depot_guarded", False):
            continue
        page["layout"] = _guarded_layout(page["path"], layout)


def _guarded_layout(path: str, layout) -> Callable:
    def guarded(**kwargs):
        if path != LOGIN_PATH:
            u = user()
            if u is None:
                return _login_needed(path)
            if not page_allowed(u.role, path):
                return _no_access(u.name, u.role, path)
        return layout(**kwargs) if callable(layout) else layout

    guarded._depot_guarded = True  # type: ignore[attr-defined]
    return guarded


def _login_needed(path: str) -> html.Div:
    return html.Div([html.H3("Please sign in"),
                     html.P(["This page needs a signed-in user. ",
                             html.A("Sign in", href=f"{LOGIN_PATH}?next={path}")])], className="empty-state")


def _no_access(name: str, role: str, path: str) -> html.Div:
    return html.Div([
        html.H3("No access to this page", className="h4"),
        html.P(f"You are signed in as {name} ({role}: {ROLE_TEXT.get(role, '')}). {path} is not part of that role."),
        html.P(["Ask a manager if you need it. ", html.A("Back to the floor plan", href="/")], className="mb-0"),
    ], className="empty-state", id="no-access")


def _load_user(ident: str) -> WebUser | None:
    try:
        user_id, version = (int(x) for x in ident.split(".", 1))
    except ValueError:
        return None
    u = people.get_user_by_id(services().store, user_id)
    if u is None or u.disabled or u.session_version != version:
        return None
    return WebUser(u)


# ---------------------------------------------------------------- the request gate


def _public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_PATHS


def _is_page(path: str) -> bool:
    return not path.startswith(("/_", "/api/", "/download/"))


def _login_router_call() -> bool:
    """Dash's page router asking for the /login page (all an anonymous browser may ask of Dash)."""
    body = request.get_json(silent=True) or {}
    outputs = body.get("outputs") or []
    ids = {o.get("id") for o in (outputs if isinstance(outputs, list) else [outputs]) if isinstance(o, dict)}
    if ids != {"_pages_content", "_pages_store"}:
        return False
    pathname = next((i.get("value") for i in body.get("inputs") or () if isinstance(i, dict)
                     and i.get("id") == "_pages_location" and i.get("property") == "pathname"), None)
    return pathname == LOGIN_PATH


def _gate():
    path = request.path
    if _public(path):
        return None
    u = user()
    if u is not None:
        if request.method == "GET" and _is_page(path) and not page_allowed(u.role, path):
            # the shell renders a "no access" notice (the page's content is never computed); the status stays
            # 200 so the browser logs no failed resource, and every callback of the page still answers 403
            g.depot_forbidden = True
        return None
    if path == "/_dash-update-component" and _login_router_call():
        return None
    if request.method == "GET" and _is_page(path):
        target = request.full_path.rstrip("?") if request.query_string else path
        return redirect(f"{LOGIN_PATH}?{urlencode({'next': target})}" if path != "/" else LOGIN_PATH)
    abort(401)


def _after(resp: flask.Response) -> flask.Response:
    if getattr(g, "depot_forbidden", False):
        resp.headers["X-Depot-Access"] = "denied"
    if request.method == "GET" and not request.path.startswith(PUBLIC_PREFIXES) and flask.current_app.secret_key:
        resp.set_cookie(CSRF_COOKIE, generate_csrf(), samesite="Strict", httponly=False,
                        secure=flask.current_app.config.get("SESSION_COOKIE_SECURE", False))
    return resp


def _wants_json() -> bool:
    return not (request.method == "GET" and _is_page(request.path))


def _unauthorized(_exc):
    if _wants_json():
        return jsonify(error="sign in first", login=LOGIN_PATH), 401
    return redirect(LOGIN_PATH)


def _forbidden(_exc):
    body = {"error": "your role may not do this", "role": role()}
    return (jsonify(body), 403) if _wants_json() else (f"403: {body['error']}", 403)


def _csrf_failed(exc: CSRFError):
    log.warning("CSRF refused: %s %s (%s)", request.method, request.path, exc.description)
    if request.path == LOGIN_PATH:
        return redirect(f"{LOGIN_PATH}?error=expired", 303)
    return jsonify(error=f"refused: {exc.description} Reload the page."), 400


# ---------------------------------------------------------------- sign in and out


def safe_next(target: str | None) -> str | None:
    """Only a path of this site (no scheme, no host, no //): never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target if parts.path != LOGIN_PATH else None


def _login():
    svc = services()
    name = (request.form.get("username") or "").strip()
    nxt = safe_next(request.form.get("next"))
    result = people.authenticate(svc.store, name, request.form.get("password") or "", ip=request.remote_addr or "?",
                                 now=svc.clock(), wall=utc_now())
    if result.user is None:
        query = {"error": result.reason, "user": name[:64]}
        if result.retry_after is not None:  # whole seconds, rounded up: waiting that long is enough
            query["wait"] = max(1, math.ceil(result.retry_after.total_seconds()))
        if nxt:
            query["next"] = nxt
        return redirect(f"{LOGIN_PATH}?{urlencode(query)}", 303)
    session.clear()  # a new session on sign-in: nothing of the anonymous one (its CSRF token included) carries over
    login_user(WebUser(result.user))
    session.permanent = True
    log.info("%s (%s) signed in from %s", result.user.name, result.user.role, request.remote_addr)
    return redirect(nxt or "/", 303)


def _logout():
    u = user()
    if u is not None:
        svc = services()
        people.audit(svc.store, u.name, "logout", now=svc.clock())
        logout_user()
    session.clear()
    return redirect(LOGIN_PATH, 303)
