from datetime import UTC, datetime, timedelta

import pytest

import app as depot_app
from depot.clock import DemoClock, demo_clock_start, real_seconds, utc_now
from depot.errors import ConfigError
from depot.settings import Settings


def test_environment_is_read_once_with_types():
    s = Settings.from_env({"DEPOT_PORT": "8123", "DEPOT_SIMULATOR": "no", "DEPOT_SIM_SPEED": "30",
                           "DEPOT_DATABASE_URL": "sqlite:///x.db", "UNRELATED": "1"})
    assert (s.port, s.simulator, s.sim_speed, s.database_url) == (8123, False, 30.0, "sqlite:///x.db")


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="DEPOT_PORT"):
        Settings.from_env({"DEPOT_PORT": "eighty"})
    with pytest.raises(ConfigError, match="port"):
        Settings(port=70000)


def test_flags_win_over_environment():
    args = depot_app.parse_args(["--port", "9999", "--no-simulator", "--chargers", "200",
                                 "--db", "sqlite:///y.db", "--accept-unknown-chargers"])
    s = Settings.from_env({"DEPOT_PORT": "8123", "DEPOT_CHARGERS": "5"}).with_args(args)
    assert (s.port, s.simulator, s.chargers, s.database_url, s.accept_unknown_chargers) == (
        9999, False, 200, "sqlite:///y.db", True)


def test_default_database_is_a_sqlite_file_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings().database_url == f"sqlite:///{tmp_path}/depot.sqlite3"


def test_demo_clock_runs_faster_and_is_aware():
    t = [100.0]
    clock = DemoClock(datetime(2026, 11, 21, 16, 30, tzinfo=UTC), 60, monotonic=lambda: t[0])
    t[0] += 2.0
    assert clock() == datetime(2026, 11, 21, 16, 32, tzinfo=UTC)
    assert real_seconds(clock, 600) == 10
    assert real_seconds(utc_now, 600) == 600
    assert utc_now().tzinfo is not None
    with pytest.raises(ValueError):
        DemoClock(datetime(2026, 1, 1), 2)


def test_demo_starts_in_the_evening_and_never_before_stored_data():
    morning = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert demo_clock_start(None, morning) == datetime(2026, 11, 21, 16, 30, tzinfo=UTC)
    night = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    assert demo_clock_start(None, night) == night
    later = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)  # a previous demo ran into the small hours
    assert demo_clock_start(later, morning) == later
    assert demo_clock_start(morning - timedelta(days=3), morning) == datetime(2026, 11, 21, 16, 30, tzinfo=UTC)
