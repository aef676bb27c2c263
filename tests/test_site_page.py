"""Issue 12 §2 in the web app: the banner on every signed-in page while no grid connection limit is set (one
cheap read, gone once a limit is set), the Site card on the power page (managers edit, validated like
`depot site set`, audited), and the power page's limit line saying "no cap" instead of a number."""

from __future__ import annotations

import json
from datetime import time
from types import SimpleNamespace

import dash
import pytest
from flask_login import login_user
from sqlalchemy import event

import app as depot_app
from depot.control.sitelimit import UNSET_TEXT, unset_limit
from depot.people import users as people
from depot.people.users import MANAGER, ROLES
from depot.web import auth
from depot.web import power_data as pdata
from depot.web.context import Services
from layouts import _site_parts as site
from layouts import power as page
from tests.auth_helpers import client_as, ensure_user, prop
from tests.components import walk
from tests.conftest import NOW

ROUTER = ".._pages_content.children..._pages_store.data.."
SAVE = "..site-msg.children...site-banner.children.."
BANNER_WORDS = ("No grid connection limit is set: chargers charge at full power and nothing protects the site",
                "depot site set --grid-kw KW", "Power")


def text(node) -> str:
    return " ".join(x for x in walk(node) if isinstance(x, str))


def pages() -> list[str]:
    return sorted(p["path"] for p in dash.page_registry.values() if p["path"] != auth.LOGIN_PATH)


def save(client, grid, margin, departure=""):
    return client.callback(SAVE, [prop("site-save", "n_clicks", 1)],
                           [prop("site-grid", "value", grid), prop("site-margin", "value", margin),
                            prop("site-departure", "value", departure)])


def test_the_banner_is_on_every_signed_in_page_until_a_limit_is_set(configured_app, store):
    clients = {who: client_as(configured_app, store, who) for who in (None, *ROLES)}
    for who, c in clients.items():
        shell = c.get("/_dash-layout").get_data(as_text=True)  # the shell every page is drawn in
        assert ('"site-unset"' in shell) == (who is not None), who
        if who is not None:
            assert all(w in shell for w in BANNER_WORDS) and "power#site-card" in shell
            for path in pages():  # moving between pages reads the site again: still there
                r = c.callback("site-banner.children", [prop("url", "pathname", path)])
                assert r.status_code == 200 and b'"site-unset"' in r.data, (who, path)
    store.set_site("Depot", 250.0, 10.0)
    for who, c in clients.items():
        assert '"site-unset"' not in c.get("/_dash-layout").get_data(as_text=True), who
        r = c.callback("site-banner.children", [prop("url", "pathname", "/planner")])
        if who is None:
            assert r.status_code == 401
        else:
            assert r.status_code == 200 and json.loads(r.data)["response"]["site-banner"]["children"] == []


def test_the_banner_costs_one_read_of_the_site_row(configured_app, store):
    name, _ = ensure_user(store, MANAGER)
    statements = []

    def seen(_conn, _cursor, statement, *_):
        statements.append(statement)

    with configured_app.server.test_request_context("/"):
        login_user(auth.WebUser(people.get_user(store, name)))
        event.listen(store.engine, "before_cursor_execute", seen)
        try:
            banner = site.banner()
        finally:
            event.remove(store.engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "site" in s]) == 1 and len(statements) == 1, statements
    assert "site-unset" in json.dumps(banner.to_plotly_json(), default=str)


def test_a_manager_sets_the_grid_connection_on_the_power_page(configured_app, store):
    manager = client_as(configured_app, store, MANAGER)
    content = manager.callback(ROUTER, [prop("_pages_location", "pathname", "/power"),
                                        prop("_pages_location", "search", "")]).data
    assert b'"site-card"' in content and b'"site-save"' in content
    # validated like the command, nothing written when a field is wrong
    for grid, margin, departure, why in ((100, 100, "", "safety margin: must be"), (-1, 0, "", "grid connection"),
                                         ("", 0, "", "grid connection: a number"), (100, 5, "7pm", "default departure")):
        r = save(manager, grid, margin, departure)
        assert r.status_code == 200 and b"Not saved" in r.data and why.encode() in r.data, (grid, margin, r.data)
        assert not store.get_site().grid_set and store.get_site().default_departure is None
    r = save(manager, 120, 10, "06:00")
    body = json.loads(r.data)["response"]
    assert "Saved: site Depot: grid 120 kW, margin 10 kW" in text(body["site-msg"]["children"])
    assert body["site-banner"]["children"] == []  # the banner goes at once
    saved = store.get_site()
    assert (saved.grid_kw, saved.safety_margin_kw, saved.default_departure) == (120.0, 10.0, time(6, 0))
    (entry,) = [e for e in people.audit_log(store) if e.action == "site set"]
    assert entry.who == f"test-{MANAGER}" and entry.target == "site"
    save(manager, 120, "", "")  # an empty margin is 0; an empty departure: vehicles without one charge now
    assert store.get_site().safety_margin_kw == 0.0 and store.get_site().default_departure is None


def test_other_roles_see_the_site_settings_but_cannot_save_them(configured_app, store):
    store.set_site("Depot", 300.0, 20.0)
    for who in ("dispatcher", "maintenance", "viewer"):
        c = client_as(configured_app, store, who)
        content = c.callback(ROUTER, [prop("_pages_location", "pathname", "/power"),
                                      prop("_pages_location", "search", "")]).data
        assert b'"site-card"' in content and b'"site-save"' not in content and b'"disabled": true' in content.replace(
            b'":true', b'": true'), who
        assert save(c, 1000, 0).status_code == 403
    assert store.get_site().grid_kw == 300.0


@pytest.fixture
def request_ctx(configured_app, store, settings):
    depot_app.configure(Services(settings, store, lambda: NOW))
    with configured_app.server.test_request_context():
        yield


def test_the_power_page_says_no_cap_never_a_number(request_ctx, store, settings):
    point = pdata.live_point(store, settings, None, pdata.group_chargers([]), now=NOW)
    assert point.limit.unset and point.limit_kw is None and point.headroom_kw is None
    assert UNSET_TEXT in text(page.limit_text(point)) and "Site limit" not in text(page.limit_text(point))
    assert page.kpi_texts(point, NOW)[page.CHARGING_SUB] == "no site limit set: no cap"
    runtime = SimpleNamespace(enforcer=SimpleNamespace(limit=unset_limit(), commanded={}))
    live = pdata.live_point(store, settings, runtime, pdata.group_chargers([]), now=NOW)
    assert live.limit_source == "enforcer" and "inf" not in text(page.limit_text(live))
    layout = page.layout()
    assert UNSET_TEXT in text(layout) and any(isinstance(n, dict) and n["props"].get("id") == site.CARD
                                              for n in walk(layout))
    store.set_site("Depot", 200.0, 0.0)
    point = pdata.live_point(store, settings, None, pdata.group_chargers([]), now=NOW)
    assert point.limit_kw == 200.0 and "Site limit 200 kW" in text(page.limit_text(point))
