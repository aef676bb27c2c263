"""The role matrix: every page, every callback that changes something, every download and API route, for every
role and for an anonymous visitor. Allowed ones work; the others get 401 (anonymous) or 403 (role) and change
nothing. The matrix as data: depot/web/auth.py (PAGE_ROLES and the role tuples the pages' guards use).

    page / action                              manager  dispatcher  maintenance  viewer   anonymous
    floor plan, power                          view     view        view         view     → /login
    planner                                    edit     edit        -            view     → /login
    planner: save/preview/upload/roster/CSV    yes      yes         403          403      401
    plan vs actual (page, its day, its CSV)    yes      yes         -            yes      401
    maintenance page, alerts, remote actions   yes      -           yes          -        401
    users, audit log (page and CSV)            yes      -           -            -        401
    tariffs                                    edit     -           -            view     → /login
    power: the Site card (grid limit)          edit     view        view         view     401
    reports and their downloads                yes      -           -            yes      401
    GET /api/alerts                            yes      403         yes          403      401
"""

from __future__ import annotations

import base64
import itertools
from datetime import timedelta

import dash
import pytest

from depot.costs import tariff_store
from depot.people import alerts, maintenance
from depot.people import users as people
from depot.people.users import MAINTENANCE, MANAGER, ROLES
from depot.web import auth
from tests.auth_helpers import client_as, prop
from tests.conftest import NOW
from tests.test_planner_page import seed

WHO = (None, *ROLES)
ROUTER = ".._pages_content.children..._pages_store.data.."
_n = itertools.count(1)


def _other_role(store, name: str) -> str:
    """A role the user does not have now, so an allowed change always changes something."""
    current = next(u.role for u in people.list_users(store) if u.name == name)
    return "maintenance" if current != "maintenance" else "viewer"


@pytest.fixture
def clients(configured_app, store):
    seed(store, vehicles=2, plugged=1)
    store.add_charger(__import__("depot.model", fromlist=["Charger"]).Charger("CP-M", 22.0))
    return {who: client_as(configured_app, store, who) for who in WHO}


def expected(who, allowed) -> int:
    return 401 if who is None else 200 if who in allowed else 403


# ---------------------------------------------------------------- pages


def test_every_page_for_every_role(clients):
    paths = sorted(p["path"] for p in dash.page_registry.values())
    assert {"/", "/planner", "/maintenance", "/users", "/login"} <= set(paths)
    for path in paths:
        allowed = WHO if path == auth.LOGIN_PATH else auth.PAGE_ROLES.get(path, auth.ALL)
        for who, c in clients.items():
            r = c.get(path)
            if path == auth.LOGIN_PATH:
                assert r.status_code == 200, (path, who)
            elif who is None:
                assert r.status_code == 302 and r.headers["Location"].startswith("/login"), (path, who)
            else:
                # a page the role may not see: the shell (200, no failed resource in the console), its content
                # a "no access" notice (below), every callback of the page 403
                assert r.status_code == 200, (path, who, r.status_code)
                assert (r.headers.get("X-Depot-Access") == "denied") == (who not in allowed), (path, who)
            content = c.callback(ROUTER, [prop("_pages_location", "pathname", path), prop("_pages_location", "search", "")])
            if who is None and path != auth.LOGIN_PATH:
                assert content.status_code == 401, (path, who)
                continue
            assert content.status_code == 200, (path, who)
            assert (b'"no-access"' in content.data) == (who not in allowed), (path, who)


def test_navigation_shows_only_what_the_role_may_open(clients):
    for who, c in clients.items():
        layout = c.get("/_dash-layout").get_data(as_text=True)
        assert ('"Maintenance"' in layout) == (who in auth.MAINTAIN), who
        assert ('"Planner"' in layout) == (who in auth.PLAN_READERS), who
        assert ('"Plan vs actual"' in layout) == (who in auth.READ_AUDIT), who
        assert ("hdr-alert-badge" in layout) == (who in auth.SEE_ALERTS), who
        assert ("Users and audit log" in layout) == (who == MANAGER), who
        assert (f"role-{who}" in layout) == (who is not None), who


# ---------------------------------------------------------------- state-changing callbacks and downloads


def _fresh_alert(store):
    return alerts.raise_alert(store, "connector stuck", charger_id="CP-M", connector_id=next(_n), now=NOW).id


def _rows(k):
    when = (NOW + timedelta(hours=2, minutes=k)).strftime("%Y-%m-%d %H:%M")
    return [{"_rid": f"r{k}", "vehicle": "BUS-01", "arrival": "", "departure": when, "energy_kwh": None,
             "target_soc": 90, "arrival_soc": None, "priority": 1}]


def _roster(k):
    return [{"_rid": f"x{k}", "vehicle": "BUS-02", "weekday": k % 7, "arrival": "18:00", "departure": "06:00",
             "energy_kwh": None, "target_soc": 80, "priority": 1}]


def _csv(k):
    when = (NOW + timedelta(hours=3, minutes=k)).strftime("%Y-%m-%d %H:%M")
    text = f"vehicle,departure,target_soc\nBUS-02,{when},85\n"
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode()


def _pending(k):
    when = (NOW + timedelta(hours=4, minutes=k)).strftime("%Y-%m-%d %H:%M")
    return prop("planner-upload-pending", "data", {"rows": [{"vehicle": "BUS-02", "departure": when,
                                                             "target_soc": "85"}], "filename": "d.csv"})


_UPLOADED = ("..planner-msg.children...planner-plan.children...planner-grid.rowData...planner-view.data..."
             "planner-shift-note.children...planner-upload-box.hidden...planner-upload-pending.data..")
READ_ONLY = {"preview a plan", "preview an upload", "see plan vs actual"}


def _departures(store):
    return [(d.vehicle_id, d.departure) for d in store.departures(after=NOW)]


def _users(store):
    return [(u.name, u.role, u.disabled) for u in people.list_users(store)]


def _charger_audit(store):
    return len(people.audit_log(store, target="charger:CP-M"))


CASES = [
    # name, allowed roles, output, inputs(k, store), state(k, store), what must not change
    ("acknowledge an alert", auth.MAINTAIN,
     "..mt-a-msg.children...mt-version.data...mt-a-note.value...hdr-alert-bump.data..",
     lambda k, s: [prop("mt-a-ack", "n_clicks", 1), prop("mt-a-resolve", "n_clicks", None),
                   prop("mt-a-assign", "n_clicks", None), prop("mt-a-ticket", "n_clicks", None)],
     lambda k, s: [prop("mt-alert-grid", "selectedRows", [{"id": _fresh_alert(s)}]), prop("mt-a-note", "value", "x"),
                   prop("mt-a-assignee", "value", None), prop("mt-version", "data", 0),
                   prop("hdr-alert-bump", "data", 0)],
     lambda s: [a.status for a in alerts.list_alerts(s, status=None)].count("acknowledged")),
    ("send a remote action", auth.MAINTAIN,
     "..mt-confirm.is_open...mt-r-result.children...mt-version.data..",
     lambda k, s: [prop("mt-confirm-ok", "n_clicks", 1), prop("mt-confirm-cancel", "n_clicks", None)],
     lambda k, s: [prop("mt-r-pending", "data", {"action": "reset_hard", "charger": "CP-M", "params": {}}),
                   prop("mt-version", "data", 0)],
     _charger_audit),
    ("open a ticket", auth.MAINTAIN,
     "..mt-t-msg.children...mt-version.data...mt-t-title.value..",
     lambda k, s: [prop("mt-t-create", "n_clicks", 1)],
     lambda k, s: [prop("mt-t-charger", "value", "CP-M"), prop("mt-t-title", "value", f"broken {k}"),
                   prop("mt-t-assignee", "value", None), prop("mt-t-note", "value", None), prop("mt-version", "data", 0)],
     lambda s: len(maintenance.list_tickets(s))),
    ("add a maintenance window", auth.MAINTAIN,
     "..mt-w-msg.children...mt-version.data..",
     lambda k, s: [prop("mt-w-add", "n_clicks", 1), prop("mt-w-cancel", "n_clicks", None)],
     lambda k, s: [prop("mt-w-charger", "value", "CP-M"),
                   prop("mt-w-start", "value", (NOW + timedelta(days=k)).strftime("%Y-%m-%d %H:%M")),
                   prop("mt-w-end", "value", (NOW + timedelta(days=k, hours=1)).strftime("%Y-%m-%d %H:%M")),
                   prop("mt-w-reason", "value", "x"), prop("mt-w-grid", "selectedRows", None), prop("mt-version", "data", 0)],
     lambda s: len(maintenance.list_windows(s))),
    ("add a user", auth.MANAGE,
     "..users-add-msg.children...users-version.data...users-new-pw.value...users-new-pw2.value..",
     lambda k, s: [prop("users-add", "n_clicks", 1)],
     lambda k, s: [prop("users-new-name", "value", f"new{k}"), prop("users-new-role", "value", "manager"),
                   prop("users-new-pw", "value", "long enough"), prop("users-new-pw2", "value", "long enough"),
                   prop("users-version", "data", 0)],
     _users),
    ("change a role", auth.MANAGE,
     "..users-c-msg.children...users-version.data...users-c-pw.value..",
     lambda k, s: [prop("users-set-role", "n_clicks", 1), prop("users-set-pw", "n_clicks", None),
                   prop("users-disable", "n_clicks", None), prop("users-enable", "n_clicks", None)],
     lambda k, s: [prop("users-c-name", "value", "test-viewer"),
                   prop("users-c-role", "value", _other_role(s, "test-viewer")), prop("users-c-pw", "value", ""),
                   prop("users-version", "data", 0)],
     _users),
    ("save departures", auth.EDIT_PLAN,
     "..planner-msg.children...planner-plan.children...planner-grid.rowData...planner-view.data...planner-shift-note.children..",
     lambda k, s: [prop("planner-save", "n_clicks", 1)], lambda k, s: [prop("planner-grid", "rowData", _rows(k))],
     _departures),
    ("preview an upload", auth.EDIT_PLAN,
     "..planner-msg.children...planner-upload-box.hidden...planner-upload-summary.children...planner-upload-pending.data..."
     "planner-upload.contents..",
     lambda k, s: [prop("planner-upload", "contents", _csv(k))], lambda k, s: [prop("planner-upload", "filename", "d.csv")],
     _departures),
    ("merge an uploaded file", auth.EDIT_PLAN, _UPLOADED,
     lambda k, s: [prop("planner-upload-merge", "n_clicks", 1)], lambda k, s: [_pending(k)], _departures),
    ("replace with an uploaded file", auth.EDIT_PLAN, _UPLOADED,
     lambda k, s: [prop("planner-upload-replace", "n_clicks", 1)], lambda k, s: [_pending(k)], _departures),
    ("cancel an upload", auth.EDIT_PLAN,
     "..planner-upload-box.hidden...planner-upload-pending.data...planner-msg.children..",
     lambda k, s: [prop("planner-upload-cancel", "n_clicks", 1)], lambda k, s: [], None),
    ("save the roster", auth.EDIT_PLAN,
     "..planner-roster-msg.children...planner-plan.children...planner-roster.rowData...planner-view.data..."
     "planner-shift-note.children..",
     lambda k, s: [prop("planner-roster-save", "n_clicks", 1)], lambda k, s: [prop("planner-roster", "rowData", _roster(k))],
     lambda s: [(e.vehicle_id, e.weekday) for e in s.roster()]),
    ("preview a plan", auth.EDIT_PLAN,
     "..planner-msg.children...planner-plan.children...planner-view.data..",
     lambda k, s: [prop("planner-preview", "n_clicks", 1)], lambda k, s: [prop("planner-grid", "rowData", _rows(k))],
     lambda s: s.active_plan_id()),
    ("download departures CSV", auth.EDIT_PLAN, "planner-export-dl.data",
     lambda k, s: [prop("planner-export", "n_clicks", 1)], lambda k, s: [], None),
    ("download the CSV template", auth.EDIT_PLAN, "planner-template-dl.data",
     lambda k, s: [prop("planner-template", "n_clicks", 1)], lambda k, s: [], None),
    ("download the audit log", auth.MANAGE, "users-audit-dl.data",
     lambda k, s: [prop("users-audit-csv", "n_clicks", 1)], lambda k, s: [], None),
    ("save billing groups", auth.MANAGE, "tf-rates-msg.children",
     lambda k, s: [prop("tf-rates-save", "n_clicks", 1)],
     lambda k, s: [prop("tf-rates", "rowData", [{"group": f"Tenant {k}", "kind": "tenant", "per_kwh": 0.3,
                                                 "idle_grace_minutes": 60, "free": False}])],
     lambda s: [r.group for r in tariff_store.list_rates(s)]),
    ("download a report", auth.READ_REPORTS, "rep-download.data",
     lambda k, s: [prop("rep-csv", "n_clicks", 1), prop("rep-xlsx", "n_clicks", None), prop("rep-pdf", "n_clicks", None)],
     lambda k, s: [prop("rep-query", "data", {"from": "2026-11-01", "to": "2026-11-21", "by": "vehicle"})], None),
    ("see plan vs actual", auth.READ_AUDIT,
     "..audit-msg.children...audit-kpis.children...audit-grid.rowData...audit-grid.style...audit-misses.children..."
     "audit-day.data..",
     lambda k, s: [prop("audit-date", "date", "2026-11-21")], lambda k, s: [], _departures),
    ("download plan vs actual", auth.READ_AUDIT, "audit-download.data",
     lambda k, s: [prop("audit-csv", "n_clicks", 1)], lambda k, s: [prop("audit-day", "data", "2026-11-21")], None),
    ("refresh the alert badge", auth.SEE_ALERTS,
     "..hdr-alert-badge.children...hdr-alert-badge.className...hdr-alert-badge.title..",
     lambda k, s: [prop("hdr-alert-tick", "n_intervals", 1), prop("hdr-alert-bump", "data", 0)], lambda k, s: [],
     None),
    ("set the site's grid connection", auth.MANAGE, "..site-msg.children...site-banner.children..",
     lambda k, s: [prop("site-save", "n_clicks", 1)],
     lambda k, s: [prop("site-grid", "value", 100 + k), prop("site-margin", "value", 5),
                   prop("site-departure", "value", "")],
     lambda s: s.get_site()),
    ("refresh the site banner", auth.ALL, "site-banner.children",
     lambda k, s: [prop("url", "pathname", "/power")], lambda k, s: [], None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_state_changing_callbacks_and_downloads(clients, store, case):
    name, allowed, output, inputs, state, observe = case
    for who, c in clients.items():
        k = next(_n)
        args_in, args_state = inputs(k, store), state(k, store)
        before = observe(store) if observe else None
        r = c.callback(output, args_in, args_state)
        assert r.status_code == expected(who, allowed), (name, who, r.status_code, r.data[:300])
        after = observe(store) if observe else None
        if r.status_code != 200:
            assert after == before, (name, who, "changed although refused")
        elif observe is not None and name not in READ_ONLY:
            assert after != before, (name, who, "allowed but nothing changed", r.data[:300])
        if r.status_code == 200 and "download" in name:
            assert b'"filename"' in r.data, (name, who)


def test_api_route(clients, store):
    alerts.raise_alert(store, "charger offline", charger_id="CP-M", now=NOW)
    for who, c in clients.items():
        r = c.get("/api/alerts")
        assert r.status_code == expected(who, auth.MAINTAIN), who
        if r.status_code == 200:
            assert r.json[0]["charger_id"] == "CP-M" and r.json[0]["severity"] == "critical"
        else:
            assert "error" in r.json


def test_every_state_changing_callback_is_guarded(configured_app):
    """No callback of the people, planner, tariffs or reports pages is registered without `require` (reads of a
    page are guarded by that page's roles; the floor plan and power pages are read-only for every role)."""
    import layouts.audit
    import layouts.maintenance
    import layouts.planner
    import layouts.reports
    import layouts.tariffs
    import layouts.users  # noqa: F401

    guarded_modules = ("layouts.maintenance", "layouts.users", "layouts.planner", "layouts.tariffs", "layouts.audit",
                       "layouts.reports", "layouts._auth_parts", "layouts._site_parts")
    configured_app.server.test_client().get("/_dash-dependencies")  # Dash moves its callbacks into the app
    found = 0
    for cb in {**dash._callback.GLOBAL_CALLBACK_MAP, **configured_app.callback_map}.values():
        fn = cb.get("callback")
        original = getattr(fn, "__wrapped__", fn)
        while hasattr(original, "__wrapped__") and not hasattr(original, "roles"):
            original = original.__wrapped__
        module = getattr(original, "__module__", "")
        if module in guarded_modules:
            found += 1
            chain, roles = fn, None
            while chain is not None and roles is None:
                roles = getattr(chain, "roles", None)
                chain = getattr(chain, "__wrapped__", None)
            assert roles, f"{module}.{getattr(original, '__name__', '?')} has no role guard"
    assert found >= 30
    assert MAINTENANCE in auth.MAINTAIN and MANAGER in auth.MANAGE
