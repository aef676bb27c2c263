"""Login throttling (issue 11): a growing, capped delay per source address and per name at that address,
never a lock-out. Wrong passwords from one address never stop the right password from another; from the
same address the right password waits at most the stated delay; unknown names are throttled like known
ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from depot.people import users as people
from depot.web import auth
from tests.auth_helpers import Client, prop
from tests.conftest import NOW

S = timedelta(seconds=1)
ATTACKER, OFFICE, OTHER = "203.0.113.66", "198.51.100.7", "192.0.2.10"
CAP = max(people.PER_NAME_AT_ADDRESS.cap, people.PER_ADDRESS.cap)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """These tests check hundreds of wrong passwords: a cheap hash method keeps them fast (the rule under
    test does not depend on the method; test_auth.py checks the real one)."""
    from werkzeug.security import generate_password_hash

    def cheap(password: str) -> str:
        return generate_password_hash(password, method="pbkdf2:sha256:1000")

    monkeypatch.setattr(people, "generate_password_hash", cheap)
    monkeypatch.setattr(people, "_DUMMY_HASH", cheap("not-a-real-password"))


def fail_as_fast_as_allowed(store, name: str, ip: str, n: int, wall):
    """`n` wrong passwords for `name` from `ip`, each as soon as the throttle lets it be checked; returns the
    time after the last one and the waits the throttle stated on the way."""
    waits = []
    done = 0
    while done < n:
        r = people.authenticate(store, name, "a wrong guess", ip=ip, now=NOW, wall=wall)
        if r.reason == "throttled":
            waits.append(r.retry_after)
            wall += r.retry_after  # exactly the stated wait: then it is checked
            continue
        assert r.reason == "invalid"
        done += 1
    return wall, waits


# ---------------------------------------------------------------- the rule (pure)


def test_the_delay_grows_and_is_capped():
    rule = people.PER_NAME_AT_ADDRESS
    delays = [rule.delay(n) for n in range(40)]
    assert delays[:rule.free + 1] == [timedelta(0)] * (rule.free + 1)  # a few typos cost nothing
    assert delays[rule.free + 1] == rule.base and delays[rule.free + 2] == 2 * rule.base  # then it doubles
    assert delays == sorted(delays) and max(delays) == rule.cap == delays[-1]
    assert rule.cap <= timedelta(minutes=5)
    assert people.PER_ADDRESS.delay(10**6) == people.PER_ADDRESS.cap  # no overflow, still the cap


@given(st.lists(st.integers(min_value=0, max_value=7200), max_size=60),
       st.lists(st.integers(min_value=0, max_value=7200), max_size=60))
def test_the_wait_is_never_more_than_the_cap_after_the_newest_failure(name_ago, address_ago):
    name_f = [NOW - k * S for k in name_ago]
    address_f = [NOW - k * S for k in address_ago]
    wait = people.throttle_wait(name_f, address_f, NOW)
    if wait is not None:
        assert timedelta(0) < wait <= CAP
        newest = max(name_f + address_f)
        assert NOW + wait <= newest + CAP  # never a lock-out: at most the cap after the newest failure
    assert people.throttle_wait([], [], NOW) is None


def test_old_failures_are_forgotten_and_a_wait_runs_from_the_newest_failure():
    rule = people.PER_NAME_AT_ADDRESS
    many = [NOW - k * S for k in range(rule.free + 3)]
    assert people.throttle_wait(many, [], NOW) == rule.delay(len(many))
    assert people.throttle_wait(many, [], NOW + rule.delay(len(many))) is None  # the wait is over
    old = [NOW - people.THROTTLE_WINDOW - k * S for k in range(50)]
    assert people.throttle_wait(old, old, NOW) is None


def test_addresses_are_throttled_per_host():
    assert people.address_key("198.51.100.7") == "198.51.100.7"
    assert people.address_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert people.address_key("2001:db8:1:2::5") == people.address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert people.address_key("2001:db8:1:3::5") != people.address_key("2001:db8:1:2::5")
    assert people.address_key("fe80::1%eth0") == "fe80::/64"
    assert people.address_key("not an address") == "not an address"


# ---------------------------------------------------------------- sign-in with the store


def test_an_attackers_wrong_passwords_never_stop_the_manager_signing_in_from_another_address(store):
    people.add_user(store, "manager", "manager", "the managers own password", now=NOW)
    wall = NOW
    for _ in range(3):
        wall, _ = fail_as_fast_as_allowed(store, "manager", ATTACKER, 7, wall)
        assert people.authenticate(store, "manager", "a wrong guess", ip=ATTACKER, now=NOW,
                                   wall=wall).reason == "throttled"  # the attacker waits …
        ok = people.authenticate(store, "manager", "the managers own password", ip=OFFICE, now=NOW, wall=wall)
        assert ok.user is not None and ok.user.name == "manager"  # … the manager, elsewhere, never does
    ok = people.authenticate(store, "manager", "the managers own password", ip="2001:db8:7::1", now=NOW, wall=wall)
    assert ok.user is not None


@pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)
def test_from_the_same_address_the_manager_waits_at_most_the_stated_delay_then_signs_in(store):
    people.add_user(store, "manager", "manager", "the managers own password", now=NOW)
    wall, waits = fail_as_fast_as_allowed(store, "manager", ATTACKER, 24, NOW)
    assert waits == sorted(waits) and waits[-1] == CAP  # the attacker's delay grew to the cap, no further
    refused = people.authenticate(store, "manager", "the managers own password", ip=ATTACKER, now=NOW, wall=wall)
    assert refused.user is None and refused.reason == "throttled" and timedelta(0) < refused.retry_after <= CAP
    early = people.authenticate(store, "manager", "the managers own password", ip=ATTACKER, now=NOW,
                                wall=wall + refused.retry_after - S)
    assert early.reason == "throttled"  # a refused attempt is not checked, and does not make the wait longer
    assert early.retry_after == S
    ok = people.authenticate(store, "manager", "the managers own password", ip=ATTACKER, now=NOW,
                             wall=wall + refused.retry_after)
    assert ok.user is not None  # the stated wait was enough: never locked out
    results = [e.result for e in people.audit_log(store, who="manager", limit=3)]
    assert results == ["ok", "refused: throttled", "refused: throttled"]


def test_failures_for_one_name_slow_only_that_name_at_that_address(store):
    people.add_user(store, "ana", "dispatcher", "anas own password", now=NOW)
    people.add_user(store, "bo", "viewer", "bos own password", now=NOW)
    free = people.PER_NAME_AT_ADDRESS.free
    wall, _ = fail_as_fast_as_allowed(store, "ana", OFFICE, free + 2, NOW)
    assert people.authenticate(store, "ana", "anas own password", ip=OFFICE, now=NOW, wall=wall).reason == "throttled"
    assert people.authenticate(store, "bo", "bos own password", ip=OFFICE, now=NOW, wall=wall).user is not None
    assert people.authenticate(store, "ana", "anas own password", ip=OTHER, now=NOW, wall=wall).user is not None
    # a success from that address starts the name's count there afresh
    later = wall + people.PER_NAME_AT_ADDRESS.delay(free + 2)
    assert people.authenticate(store, "ana", "anas own password", ip=OFFICE, now=NOW, wall=later).user is not None
    assert people.authenticate(store, "ana", "a typo", ip=OFFICE, now=NOW, wall=later).reason == "invalid"
    assert people.authenticate(store, "ana", "anas own password", ip=OFFICE, now=NOW, wall=later).user is not None


def test_many_names_from_one_address_slow_that_address(store):
    people.add_user(store, "bo", "viewer", "bos own password", now=NOW)
    for k in range(people.PER_ADDRESS.free + 1):  # one guess each for many names: the address pays
        assert people.authenticate(store, f"user{k}", "guess", ip=ATTACKER, now=NOW, wall=NOW).reason == "invalid"
    refused = people.authenticate(store, "bo", "bos own password", ip=ATTACKER, now=NOW, wall=NOW)
    assert refused.reason == "throttled" and refused.retry_after == people.PER_ADDRESS.base
    assert people.authenticate(store, "bo", "bos own password", ip=OFFICE, now=NOW, wall=NOW).user is not None


def test_unknown_names_are_throttled_like_known_ones(store):
    people.add_user(store, "ana", "dispatcher", "anas own password", now=NOW)
    known, _ = fail_as_fast_as_allowed(store, "ana", ATTACKER, 6, NOW)
    unknown, _ = fail_as_fast_as_allowed(store, "nobody", OTHER, 6, NOW)
    a = people.authenticate(store, "ana", "guess", ip=ATTACKER, now=NOW, wall=known)
    b = people.authenticate(store, "nobody", "guess", ip=OTHER, now=NOW, wall=unknown)
    assert (a.reason, a.retry_after) == (b.reason, b.retry_after) and a.reason == "throttled"


# ---------------------------------------------------------------- the web sign-in


@pytest.fixture
def wall(monkeypatch):
    """The web sign-in's real-time clock, moved by the test."""
    now = [NOW]
    monkeypatch.setattr(auth, "utc_now", lambda: now[0])
    return now


def client_from(app, ip: str) -> Client:
    c = Client(app)
    c.http.environ_base["REMOTE_ADDR"] = ip
    return c


def test_the_web_sign_in_states_the_wait_in_seconds_and_honours_it(configured_app, store, wall):
    people.add_user(store, "manager", "manager", "the managers own password", now=NOW)
    attacker = client_from(configured_app, ATTACKER)
    for _ in range(people.PER_NAME_AT_ADDRESS.free + 3):
        r = attacker.login("manager", "a wrong guess")
        wait = dict(p.split("=", 1) for p in r.headers["Location"].split("?", 1)[1].split("&")).get("wait")
        if wait:
            wall[0] += timedelta(seconds=int(wait))
    # from the office the manager signs in at once
    office = client_from(configured_app, OFFICE)
    r = office.login("manager", "the managers own password")
    assert r.status_code == 303 and r.headers["Location"] == "/"
    # from the attacker's address the manager is told how long to wait, in seconds …
    same = client_from(configured_app, ATTACKER)
    attacker.login("manager", "one more wrong guess")
    r = same.login("manager", "the managers own password")
    location = r.headers["Location"]
    assert "error=throttled" in location
    query = dict(p.split("=", 1) for p in location.split("?", 1)[1].split("&"))
    seconds = int(query["wait"])
    assert 1 <= seconds <= CAP.total_seconds()
    page = same.callback(".._pages_content.children..._pages_store.data..",
                         [prop("_pages_location", "pathname", "/login"),
                          prop("_pages_location", "search", f"?error=throttled&wait={seconds}&user=manager")])
    assert f"Wait {seconds} seconds".encode() in page.data
    assert b"exist" not in page.data and b"this user" not in page.data  # nothing about whether the name exists
    # … and after that wait it signs in
    wall[0] += timedelta(seconds=seconds)
    r = same.login("manager", "the managers own password")
    assert r.status_code == 303 and r.headers["Location"] == "/", r.headers["Location"]
    assert same.get("/").status_code == 200
