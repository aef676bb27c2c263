from datetime import UTC, datetime, time, timedelta

import pytest

from depot.model import Vehicle
from depot.planning.departures import (
    Departure,
    RosterEntry,
    RowErrors,
    departures_to_csv,
    read_csv,
    shift_departures,
    template_csv,
    validate_departures,
    validate_roster,
)

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # a Friday afternoon
VEHICLES = {v.id: v for v in [Vehicle("BUS-1", "Bus 1", 300.0), Vehicle("VAN-2", "Van 2", 75.0)]}


def test_good_rows_become_departures_in_utc():
    rows = [{"vehicle": "BUS-1", "arrival": "2026-11-20 17:00", "departure": "2026-11-21T05:30+01:00",
             "energy_kwh": "150", "priority": "2"},
            {"vehicle": "VAN-2", "departure": "2026-11-21 06:00", "target_soc": "90", "arrival_soc": "30"}]
    a, b = validate_departures(rows, VEHICLES, now=NOW)
    assert a.departure == datetime(2026, 11, 21, 4, 30, tzinfo=UTC) and a.priority == 2 and a.energy_kwh == 150
    assert b.arrival is None and b.energy_needed(75.0, None) == pytest.approx(45.0)
    assert b.energy_needed(75.0, 50.0) == pytest.approx(30.0)  # a measured SoC wins over the expected one


def test_every_bad_row_is_named_with_line_and_reason():
    rows = [
        {"vehicle": "BUS-1", "departure": "2026-11-20 10:00", "energy_kwh": "10"},  # past
        {"vehicle": "BUS-1", "arrival": "2026-11-21 06:00", "departure": "2026-11-21 05:00", "energy_kwh": "10"},
        {"vehicle": "VAN-2", "departure": "2026-11-21 06:00", "target_soc": "120"},
        {"vehicle": "VAN-2", "departure": "2026-11-21 07:00", "energy_kwh": "80"},  # above battery
        {"vehicle": "GHOST", "departure": "2026-11-21 07:00", "energy_kwh": "8"},
        {"vehicle": "BUS-1", "departure": "2026-11-21 07:00", "energy_kwh": "8"},
        {"vehicle": "BUS-1", "departure": "2026-11-21 07:00", "energy_kwh": "9"},  # duplicate of the line above
        {"vehicle": "BUS-1", "departure": "tomorrow", "energy_kwh": "x", "priority": "0"},
        {"vehicle": "BUS-1", "departure": "2026-11-21 09:00"},  # neither energy nor target
    ]
    with pytest.raises(RowErrors) as info:
        validate_departures(rows, VEHICLES, now=NOW, first_line=2)
    got = {(e.line, e.field) for e in info.value.errors}
    assert {(2, "departure"), (3, "departure"), (4, "target_soc"), (5, "energy_kwh"), (6, "vehicle"),
            (8, "vehicle"), (9, "departure"), (9, "energy_kwh"), (9, "priority"), (10, "energy_kwh")} <= got
    text = str(info.value)
    assert "line 2, departure: 2026-11-20 10:00 UTC is in the past" in text
    assert "unknown vehicle 'GHOST'" in text and "duplicate of line 7" in text and "120 %" in text
    assert "more than the battery of VAN-2 (75 kWh)" in text


def test_roster_with_one_off_override():
    roster = validate_roster([
        {"vehicle": "BUS-1", "weekday": "Fri", "arrival": "17:00", "departure": "05:30", "energy_kwh": "120"},
        {"vehicle": "VAN-2", "weekday": "Fri", "arrival": "18:00", "departure": "06:00", "target_soc": "95"},
        {"vehicle": "VAN-2", "weekday": "Mon", "arrival": "18:00", "departure": "06:00", "target_soc": "95"},
    ], VEHICLES)
    one_off = Departure("VAN-2", datetime(2026, 11, 21, 4, 0, tzinfo=UTC), energy_kwh=60.0, priority=3)
    shift = shift_departures(roster, [one_off], now=NOW)
    assert [(d.vehicle_id, d.departure.hour, d.roster) for d in shift] == [("VAN-2", 4, False), ("BUS-1", 5, True)]
    bus = shift[1]
    assert bus.arrival == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # overnight: leaves the next morning


def test_roster_from_yesterday_evening_still_counts_this_morning():
    roster = [RosterEntry("BUS-1", 3, time(17), time(5, 30), energy_kwh=100.0)]  # Thursday evening
    early_friday = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    (d,) = shift_departures(roster, [], now=early_friday)
    assert d.departure == datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
    assert shift_departures(roster, [], now=early_friday + timedelta(hours=5)) == []


def test_roster_errors():
    with pytest.raises(RowErrors) as info:
        validate_roster([{"vehicle": "BUS-1", "weekday": "Funday", "arrival": "25:00", "departure": "05:00",
                          "energy_kwh": "1"},
                         {"vehicle": "BUS-1", "weekday": "Mon", "arrival": "17:00", "departure": "05:00"}], VEHICLES)
    fields = {(e.line, e.field) for e in info.value.errors}
    assert {(1, "weekday"), (1, "arrival"), (2, "energy_kwh")} <= fields


def test_roster_weekday_as_a_number_from_0_monday_to_6_sunday():
    rows = [{"vehicle": "BUS-1", "weekday": day, "arrival": "17:00", "departure": "05:00", "energy_kwh": "90"}
            for day in (0, 6)]
    assert [e.weekday for e in validate_roster(rows, VEHICLES)] == [0, 6]  # a grid sends integers: 0 is Monday
    assert validate_roster([{**rows[0], "weekday": "0"}], VEHICLES)[0].weekday == 0


def test_csv_round_trip_and_template_is_valid():
    deps = validate_departures(read_csv(template_csv(list(VEHICLES.values()), now=NOW)), VEHICLES, now=NOW,
                               first_line=2)
    assert len(deps) == 2
    again = validate_departures(read_csv(departures_to_csv(deps)), VEHICLES, now=NOW, first_line=2)
    assert again == deps


def test_csv_header_problems():
    with pytest.raises(RowErrors, match="missing column"):
        read_csv("vehicle,energy_kwh\nBUS-1,3\n")
    with pytest.raises(RowErrors, match="empty"):
        read_csv("")
