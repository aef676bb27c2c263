import io

from depot.cli import main


def run(*argv, db):
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--db", db], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_chargers_tags_vehicles_round_trip(db_url):
    assert run("chargers", "add", "CP-1", "--max-kw", "22", "--bay", "A01", db=db_url)[0] == 0
    assert run("chargers", "add", "DC-1", "--max-kw", "150", "--dc", "--bay", "B01", db=db_url)[0] == 0
    code, out, _ = run("chargers", "list", db=db_url)
    assert code == 0 and "CP-1" in out and "DC" in out and "B01" in out
    assert run("vehicles", "add", "BUS-1", "--battery-kwh", "300", "--tag", "T1", db=db_url)[0] == 0
    code, out, _ = run("tags", "list", db=db_url)
    assert "T1" in out and "BUS-1" in out
    assert run("tags", "block", "T1", db=db_url)[1].strip() == "id tag T1 blocked"
    assert run("chargers", "remove", "CP-1", db=db_url)[0] == 0
    assert "CP-1" not in run("chargers", "list", db=db_url)[1]


def test_errors_name_the_problem_and_exit_2(db_url):
    run("chargers", "add", "CP-1", "--max-kw", "22", db=db_url)
    code, _, err = run("chargers", "add", "CP-1", "--max-kw", "22", db=db_url)
    assert code == 2 and "already exists" in err
    code, _, err = run("chargers", "remove", "NOPE", db=db_url)
    assert code == 2 and "'NOPE' not found" in err
    code, _, err = run("tags", "add", "T9", "--vehicle", "GHOST", db=db_url)
    assert code == 2 and "GHOST" in err
    code, _, err = run("chargers", "add", "CP-2", "--max-kw", "-5", db=db_url)
    assert code == 2 and "max_kw" in err


def test_empty_lists_say_so(db_url):
    assert run("chargers", "list", db=db_url)[1].strip() == "(none)"


def test_site_grid_connection(db_url):
    assert "not set" in run("site", "show", db=db_url)[1]
    code, out, _ = run("site", "set", "--grid-kw", "400", "--margin-kw", "20", "--name", "North", db=db_url)
    assert code == 0 and out.strip() == "site North: grid 400 kW, margin 20 kW"
    assert run("site", "show", db=db_url)[1].strip() == "site North: grid 400 kW, margin 20 kW"
    code, _, err = run("site", "set", "--grid-kw", "100", "--margin-kw", "150", db=db_url)
    assert code == 2 and "--margin-kw" in err


def test_place_and_commission_a_charger_found_in_commissioning_mode(db_url, store):
    from datetime import UTC, datetime

    from depot.model import Protocol

    store.register_unknown("NEW-1", Protocol.OCPP16, datetime(2026, 11, 21, tzinfo=UTC))
    code, out, _ = run("chargers", "set", "NEW-1", "--bay", "C03", "--max-kw", "50", "--dc", "--commissioned",
                       db=db_url)
    assert code == 0 and out.strip() == "charger NEW-1: DC, 50 kW, bay C03"
    ch = store.get_charger("NEW-1")
    assert (ch.bay, ch.max_kw, ch.current_type.value, ch.commissioned) == ("C03", 50.0, "DC", True)
    assert run("chargers", "set", "NEW-1", db=db_url)[0] == 2
    assert run("chargers", "set", "GHOST", "--bay", "A01", db=db_url)[0] == 2
