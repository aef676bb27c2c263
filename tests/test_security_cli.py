"""`depot chargers` for security profiles and passwords, the upgrade of a database from before them, the
password rules and the wss flags (depot/ocpp/security_cli.py, depot/store/security.py, depot/settings.py)."""

from __future__ import annotations

import argparse
import io
import re

import pytest
from sqlalchemy import inspect as sa_inspect

from depot.cli import main
from depot.errors import ConfigError, ValidationError
from depot.model import Charger
from depot.people.users import audit_log
from depot.settings import Settings, add_server_arguments
from depot.store import Store
from depot.store.security import check_password, hash_password, password_matches, wire_secret

HEX40 = re.compile(r"^password of (\S+) \(shown only now; the charger's AuthorizationKey / BasicAuthPassword\): "
                   r"([0-9a-f]{40})$")


def run(*argv, db):
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--db", db], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_add_gives_profile_1_and_prints_a_generated_password_once(db_url, store):
    code, out, _ = run("chargers", "add", "CP-A07", "--max-kw", "22", "--bay", "A07", db=db_url)
    first, second = out.splitlines()
    assert code == 0 and first == "added charger CP-A07 (AC, 22 kW, bay A07)"  # as before: one line added
    cid, password = HEX40.match(second).groups()
    creds = store.charger_credentials("CP-A07")
    assert cid == "CP-A07" and creds.profile == 1 and creds.has_password
    assert password not in creds.password_hash and password_matches(creds.password_hash, password.encode())
    assert password not in run("chargers", "list", db=db_url)[1]
    entry = audit_log(store, target="charger:CP-A07")[0]
    assert entry.action == "charger.credentials" and password not in str(entry.detail)


def test_add_with_a_password_or_a_profile_without_one_prints_only_the_old_line(db_url, store):
    code, out, _ = run("chargers", "add", "CP-1", "--max-kw", "22", "--password", "given-password-0123", db=db_url)
    assert code == 0 and out == "added charger CP-1 (AC, 22 kW, bay -)\n"
    assert password_matches(store.charger_credentials("CP-1").password_hash, b"given-password-0123")
    for profile in ("0", "3"):
        code, out, _ = run("chargers", "add", f"LAB-{profile}", "--max-kw", "11", "--security-profile", profile,
                           db=db_url)
        assert code == 0 and out == f"added charger LAB-{profile} (AC, 11 kW, bay -)\n"
        creds = store.charger_credentials(f"LAB-{profile}")
        assert (creds.profile, creds.has_password) == (int(profile), False)


def test_a_bad_password_is_refused_and_nothing_is_written(db_url, store):
    for bad in ("short", "x" * 41, "has spaces in it 0123", "ünïcode-password-0123"):
        code, out, err = run("chargers", "add", "CP-2", "--max-kw", "22", "--password", bad, db=db_url)
        assert code == 2 and out == "" and err.startswith("error: password: ") and bad not in err
    assert store.get_charger("CP-2") is None
    code, _, err = run("chargers", "add", "A:B", "--max-kw", "22", db=db_url)
    assert code == 2 and "HTTP Basic" in err and store.get_charger("A:B") is None
    assert run("chargers", "add", "A:B", "--max-kw", "22", "--security-profile", "3", db=db_url)[0] == 0


def test_set_password_and_set_profile(db_url, store):
    run("chargers", "add", "CP-1", "--max-kw", "22", "--security-profile", "0", db=db_url)
    code, out, _ = run("chargers", "set-profile", "CP-1", "2", db=db_url)
    assert code == 0 and out == ("charger CP-1: security profile 2, HTTP Basic auth over wss "
                                 "(no password set yet: depot chargers set-password)\n")
    code, out, _ = run("chargers", "set-password", "CP-1", db=db_url)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "charger CP-1: new password set (its next connection must use it)"
    password = HEX40.match(lines[1]).group(2)
    assert password_matches(store.charger_credentials("CP-1").password_hash, password.encode())
    code, out, _ = run("chargers", "set-password", "CP-1", "--password", "another-password-01", db=db_url)
    assert code == 0 and out == "charger CP-1: new password set (its next connection must use it)\n"
    assert not password_matches(store.charger_credentials("CP-1").password_hash, password.encode())
    assert run("chargers", "set-profile", "CP-1", "0", db=db_url)[1].startswith(
        "charger CP-1: security profile 0, no authentication: a lab charger only")
    with pytest.raises(SystemExit) as not_a_profile:  # argparse says why and exits 2
        run("chargers", "set-profile", "CP-1", "4", db=db_url)
    assert not_a_profile.value.code == 2
    assert run("chargers", "set-password", "GHOST", db=db_url)[0] == 2
    assert [e.action for e in audit_log(store, target="charger:CP-1")][:3] == [
        "charger.set_profile", "charger.set_password", "charger.set_password"]


def test_list_shows_each_chargers_profile_and_whether_it_has_a_password(db_url):
    run("chargers", "add", "CP-1", "--max-kw", "22", db=db_url)
    run("chargers", "add", "LAB-1", "--max-kw", "22", "--security-profile", "0", db=db_url)
    header, *rows = run("chargers", "list", db=db_url)[1].splitlines()
    assert header.split("  ")[-2:] == ["security profile", "password"] or header.endswith("security profile  password")
    assert rows[0].startswith("CP-1") and rows[0].split()[-2:] == ["1", "yes"]
    assert rows[1].startswith("LAB-1") and rows[1].split()[-2:] == ["0", "no"]


def test_chargers_of_a_database_from_before_get_profile_1_without_a_password(db_url):
    """The migration on an upgraded database: its chargers are refused until a password is set."""
    from alembic import command
    from alembic.config import Config

    from depot.store import MIGRATIONS

    store = Store(db_url)
    store.migrate()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "charger_security@-2")  # before this branch (0007, then 0010 on it)
    assert "charger_credentials" not in sa_inspect(store.engine).get_table_names()
    store.add_charger(Charger("OLD-1", 22.0))
    store.dispose()
    header, row = run("chargers", "list", db=db_url)[1].splitlines()  # `depot` migrates first
    assert row.startswith("OLD-1") and row.split()[-2:] == ["1", "no"]
    store = Store(db_url)
    creds = store.charger_credentials("OLD-1")
    assert (creds.profile, creds.has_password) == (1, False)
    store.remove_charger("OLD-1")  # its credentials go with it
    store.dispose()


# ---------------------------------------------------------------- the password rules


def test_password_rules_and_wire_forms():
    assert check_password("0123456789ABCDEF0123") == "0123456789abcdef0123"  # an AuthorizationKey: any case
    assert check_password("Mixed-Case-Password!") == "Mixed-Case-Password!"
    for bad in ("x" * 15, "x" * 41, "tab\tin-the-password", "no spaces allowed in"):
        with pytest.raises(ValidationError):
            check_password(bad)
    assert wire_secret(b"0123456789ABCDEF0123") == b"0123456789abcdef0123"
    assert wire_secret(bytes.fromhex("00ff" * 8)) == b"00ff" * 8  # a binary key: as its hex digits
    stored = hash_password("0123456789abcdef0123")
    assert stored != hash_password("0123456789abcdef0123")  # a salt of its own each time
    assert password_matches(stored, wire_secret(bytes.fromhex("0123456789abcdef0123")))
    assert not password_matches(stored, b"0123456789abcdef0124") and not password_matches("garbage", b"x")


def test_the_wss_flags_and_their_checks():
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    args = parser.parse_args(["--ocpp-tls-port", "9443", "--ocpp-tls-cert", "s.pem", "--ocpp-tls-key", "s.key",
                              "--ocpp-client-ca", "ca.pem"])
    s = Settings(database_url="sqlite://").with_args(args)
    assert (s.ocpp_tls_port, s.ocpp_tls_cert, s.ocpp_tls_key, s.ocpp_client_ca) == (9443, "s.pem", "s.key", "ca.pem")
    env = Settings.from_env({"DEPOT_OCPP_TLS_CERT": "a.pem", "DEPOT_OCPP_TLS_KEY": "a.key",
                             "DEPOT_DATABASE_URL": "sqlite://"})
    assert env.ocpp_tls_cert == "a.pem" and env.ocpp_client_ca == ""
    for bad in ({"ocpp_tls_cert": "a.pem"}, {"ocpp_tls_key": "a.key"}, {"ocpp_client_ca": "ca.pem"},
                {"ocpp_tls_port": 70000}):
        with pytest.raises(ConfigError):
            Settings(database_url="sqlite://", **bad)
