"""Counted words in messages: no page says "1 departures" (depot/text.py)."""

from __future__ import annotations

from depot.text import count, plural


def test_one_is_singular_everything_else_plural():
    assert count(1, "departure") == "1 departure"
    assert count(0, "departure") == "0 departures"
    assert count(2, "departure") == "2 departures"
    assert count(1200, "session") == "1,200 sessions"
    assert count(1.5, "kilowatt") == "1.5 kilowatts"


def test_irregular_and_given_plurals():
    assert count(2, "roster entry", "roster entries") == "2 roster entries"
    assert count(1, "roster entry", "roster entries") == "1 roster entry"
    assert count(3, "entry") == "3 entries"
    assert plural(2, "bus") == "buses" and plural(1, "bus") == "bus"


def test_the_upload_messages_count_properly():
    from depot.planning.departure_merge import UploadDiff
    from layouts._planner_upload import done

    diff = UploadDiff(added=(object(),), changed=(), unchanged=(), untouched=(), uploaded=(object(),))
    assert done(diff, "merge", "shift.csv", 1).endswith("1 departure saved.")
    assert "1 departures" not in done(diff, "replace", "shift.csv", 1)
