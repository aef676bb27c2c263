"""`depot chargers import FILE.csv`: thousands of chargers at once, every bad line named, nothing half-imported,
and an imported charger connects with its password (depot/ocpp/charger_import.py, depot/store/security.py)."""

from __future__ import annotations

import io
import os
import stat

import pytest
from ocpp.v16 import call
from sqlalchemy.exc import IntegrityError

from depot.cli import main
from depot.clock import utc_now
from depot.model import Charger, CurrentType, Protocol
from depot.ocpp.charger_import import parse_chargers
from depot.people.users import audit_log
from depot.planning.departures import RowErrors
from depot.store.security import check_password, password_matches
from tests.ocpp_clients import central, charger, run

pytestmark = pytest.mark.databases  # SQLite and PostgreSQL (tests/conftest.py)

GOOD = "given-password-0123"


def cli(*argv, db):
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--db", db], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path, text: str, name: str = "chargers.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_hundreds_of_chargers_in_one_go_with_generated_passwords_in_a_private_file(db_url, store, tmp_path):
    lines = ["id,max_kw,bay,security_profile,password,current_type,phases,connectors"]
    lines += [f"CP-{i:04d},{22 if i % 4 else 150},{chr(65 + i // 100 % 26)}{i % 100 + 1:02d},1,,"
              f"{'AC' if i % 4 else 'DC'},3,{1 + (i % 2)}" for i in range(300)]
    lines.append("LAB-1,11,,0,,AC,1,1")
    lines.append(f"CP-GIVEN,22,Z01,2,{GOOD},,,")
    secrets_file = tmp_path / "passwords.csv"
    code, out, err = cli("chargers", "import", write(tmp_path, "\n".join(lines) + "\n"), "--passwords-out",
                         str(secrets_file), db=db_url)
    assert (code, err) == (0, ""), err
    assert out.splitlines()[0] == "imported 302 chargers from chargers.csv"
    assert "300 generated passwords written to" in out
    assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
    written = dict(line.split(",") for line in secrets_file.read_text().splitlines()[1:])
    assert len(written) == 300 and all(pw not in out for pw in list(written.values())[:50])
    assert len(store.list_chargers()) == 302
    dc = store.get_charger("CP-0000")
    assert (dc.current_type, dc.max_kw, dc.bay, dc.commissioned) == (CurrentType.DC, 150.0, "A01", True)
    assert len(store.connectors("CP-0001")) == 2
    creds = store.all_charger_credentials()
    assert password_matches(creds["CP-0007"].password_hash, written["CP-0007"].encode())
    assert creds["LAB-1"].profile == 0 and not creds["LAB-1"].has_password
    assert creds["CP-GIVEN"].profile == 2 and password_matches(creds["CP-GIVEN"].password_hash, GOOD.encode())
    entry = audit_log(store, target="file:chargers.csv")[0]
    assert entry.action == "charger.import" and entry.detail["chargers"] == 302
    assert GOOD not in str(entry.detail)


def test_every_bad_line_is_named_and_nothing_is_imported(db_url, store, tmp_path):
    store.add_charger(Charger(id="CP-OLD", max_kw=22.0))
    text = ("id,max_kw,bay,security_profile,password\n"
            "CP-1,22,A01,1,\n"  # line 2: good
            "CP/2,22,,1,\n"  # 3: not an OCPP identity
            "CP-3,-5,,1,\n"  # 4: rating
            "CP-4,22kW,,1,\n"  # 5: not a number
            "CP-1,22,,1,\n"  # 6: twice in the file
            "CP-OLD,22,,1,\n"  # 7: registered already
            "CP-7,22,,5,\n"  # 8: profile
            "CP-8,22,,1,short\n"  # 9: password rules
            "CP-9,22,,3,some-password-0123\n"  # 10: profile 3 takes no password
            "CP:10,22,,1,\n"  # 11: ':' in a Basic-auth user name
            ",22,,1,\n"  # 12: no id
            "CP-12,22,,1,,extra\n")  # 13: a value too many
    code, out, err = cli("chargers", "import", write(tmp_path, text), db=db_url)
    assert code == 2 and out == ""
    assert "11 problems, nothing was imported" in err
    for fragment in ["line 3, id: 'CP/2' is not an OCPP identity", "line 4, max_kw: -5 kW is not in (0, 1000] kW",
                     "line 5, max_kw: '22kW' is not a number", "line 6, id: 'CP-1' is on line 2 too",
                     "line 7, id: charger 'CP-OLD' is registered already", "line 8, security_profile: 5 is not one",
                     "line 9, password: must be 16 to 40 characters", "line 10, password: profile 3 uses no password",
                     "line 11, id: an id with ':' cannot be an HTTP Basic user name", "line 12, id: is required",
                     "line 13, line: has 6 values, the header 5"]:
        assert fragment in err, fragment
    assert "short" not in err  # a password's characters are never repeated
    assert [c.id for c in store.list_chargers()] == ["CP-OLD"]


def test_the_header_must_name_id_and_max_kw_and_no_unknown_column(db_url, store, tmp_path):
    for text, expected in [("", "the file is empty"), ("id,bay\nCP-1,A01\n", "missing column 'max_kw'"),
                           ("id,max_kw,pasword\nCP-1,22,x\n", "unknown column 'pasword'"),
                           ("id,max_kw\n", "has no chargers below its header")]:
        code, _, err = cli("chargers", "import", write(tmp_path, text), db=db_url)
        assert code == 2 and expected in err, (text, err)
    code, _, err = cli("chargers", "import", str(tmp_path / "missing.csv"), db=db_url)
    assert code == 2 and "cannot be read" in err
    assert store.list_chargers() == []


def test_an_id_taken_between_the_check_and_the_write_rolls_back_the_whole_file(store):
    found = parse_chargers("id,max_kw\nCP-1,22\nCP-2,22\n", known=set(), check_password=check_password)
    store.add_charger(Charger(id="CP-2", max_kw=11.0))  # e.g. a charger that booted in commissioning mode
    with pytest.raises(IntegrityError):
        store.import_chargers(found, now=utc_now())
    assert [c.id for c in store.list_chargers()] == ["CP-2"]


def test_the_parser_reads_defaults_and_a_bom(store):
    (c,) = parse_chargers("\ufeffID,Max_kW\nCP-1,7.4\n", known=(), check_password=check_password)
    assert (c.line, c.id, c.max_kw, c.security_profile, c.current_type, c.phases, c.connectors, c.password) == \
        (2, "CP-1", 7.4, 1, CurrentType.AC, 3, 1, None)
    with pytest.raises(RowErrors) as bad:
        parse_chargers("id,max_kw,phases,connectors,current_type\nCP-1,22,4,0,HV\n", known=(),
                       check_password=check_password)
    assert [str(e) for e in bad.value.errors] == ["line 2, current_type: 'HV' is not AC or DC",
                                                  "line 2, phases: 4 is not 1, 2 or 3",
                                                  "line 2, connectors: 0 is not 1 to 32"]


def test_an_imported_charger_connects_with_its_password(db_url, store, settings, tmp_path):
    code, out, _ = cli("chargers", "import", write(tmp_path, f"id,max_kw,password\nCP-1,22,{GOOD}\nCP-2,22,\n"),
                       db=db_url)
    assert code == 0
    generated = dict(line.split(",") for line in out.splitlines() if line.startswith("CP-"))
    assert list(generated) == ["CP-2"] and "id,password" in out

    async def scenario():
        async with central(store, settings) as (cs, _events):
            for cid, password in (("CP-1", GOOD), ("CP-2", generated["CP-2"])):
                async with charger(cs, cid, password=password) as cp:
                    boot = await cp.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="W"))
                    assert boot.status == "Accepted" and cs.connected()[cid] == Protocol.OCPP16

    run(scenario())
