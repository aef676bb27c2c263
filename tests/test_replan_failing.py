"""A failing re-plan is visible (issue 12 §3b): the last good plan stays in force, the planner and floor-plan
pages say since when re-planning fails, how often, why and how old the plan in force is, an alert is raised
through the alert machinery and resolved when a re-plan succeeds again; the planner page always shows the age."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from depot.control import replan as replan_module
from depot.control.replan import ReplanHealth, age_text, plan_in_force_text
from depot.people import alert_rules as rules
from depot.people import alerts
from depot.runtime import Runtime
from depot.store import PlanRecord
from depot.web.context import Services
from layouts import _replan_banner as banner
from layouts import floorplan as floor_page
from layouts import planner as planner_page
from tests.conftest import NOW
from tests.live_depot import wait_for
from tests.test_planner_page import seed, text

M = timedelta(minutes=1)


def test_the_words_say_since_when_how_often_why_and_how_old_the_plan_is():
    health = ReplanHealth()
    health.failed(ValueError("vehicle ids must be unique"), NOW)
    failure = health.failed(ValueError("vehicle ids must be unique"), NOW + 2 * M)
    assert (failure.since, failure.last_at, failure.attempts) == (NOW, NOW + 2 * M, 2)
    assert failure.text(36, NOW - 125 * M, NOW + 2 * M) == (
        "Re-planning is failing since 18:00 UTC (2 attempts): ValueError: vehicle ids must be unique. "
        "The plan in force is #36 from 15:55 UTC (2 h 07 min old).")
    assert health.failed(RuntimeError(), NOW).text(None, None, NOW) == (
        "Re-planning is failing since 18:00 UTC (3 attempts): RuntimeError. No plan is in force yet.")
    assert plan_in_force_text(7, NOW - 3 * 24 * 60 * M, NOW) == (
        "The plan in force is #7 from 18 Nov 18:00 UTC (3 days old).")
    assert [age_text(d) for d in (-M, 59 * M, 60 * M)] == ["0 min old", "59 min old", "1 h 00 min old"]
    health.succeeded(NOW + 5 * M, PlanRecord(37, NOW + 5 * M, "periodic", "optimal", {}, {}))
    assert health.failure is None and health.in_force == (37, NOW + 5 * M)


def test_input_repairs_are_logged_as_warnings_once_while_they_last(caplog):
    from depot.planning.validate import Repair

    health = ReplanHealth()
    dup = Repair("duplicate vehicle", "EV-1", "vehicle EV-1 has open sessions on A and B")
    with caplog.at_level(logging.DEBUG, logger="depot.control.replan"):
        health.repaired((dup,))
        health.repaired((dup,))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["planner input repaired: vehicle EV-1 has open sessions on A and B"]


def test_alert_rule_waits_for_a_second_failure():
    assert rules.replan_condition(1, "x") is None
    c = rules.replan_condition(2, "Re-planning is failing …")
    assert (c.kind, c.severity, c.key) == (rules.REPLAN_FAILING, rules.CRITICAL, "replan_failing|||")
    assert rules.label(rules.REPLAN_FAILING) == "Re-planning failing"


@pytest.fixture
def runtime(store, settings):
    """The real runtime (central system, scheduler, alert jobs) without the simulator, on a fixed clock."""
    seed(store)
    rt = Runtime(settings, store, clock=lambda: NOW)
    rt.start()
    yield rt
    rt.stop()


def _page_texts(configured_app, store, settings, runtime) -> tuple[str, str]:
    configured_app.server.extensions["depot"] = Services(settings, store, lambda: NOW, runtime)
    with configured_app.server.test_request_context():
        return text(planner_page.layout()), text(floor_page.layout())


def test_a_failing_replan_keeps_the_plan_in_force_shows_a_banner_and_raises_an_alert(
        runtime, store, settings, configured_app, monkeypatch, caplog):
    runtime.request_replan("first")
    good = wait_for(lambda: store.active_plan(), what="a first plan")
    wait_for(lambda: runtime.replanner.health.in_force == (good.id, good.created_at), what="the plan recorded")
    planner_text, floor_text = _page_texts(configured_app, store, settings, runtime)
    assert f"The plan in force is #{good.id} from 18:00 UTC (0 min old)." in planner_text  # the age, all being well
    assert "Re-planning is failing" not in planner_text + floor_text and "plan in force" not in floor_text

    def broken(problem, **kw):
        raise ValueError("vehicle ids must be unique")

    monkeypatch.setattr(replan_module, "plan", broken)
    with caplog.at_level(logging.ERROR, logger="depot.runtime"):
        for n in (1, 2):
            runtime.request_replan(f"event {n}")
            wait_for(lambda n=n: (f := runtime.replanner.health.failure) is not None and f.attempts == n,
                     what=f"failure {n} recorded")
    assert store.active_plan().id == good.id  # the last good plan stays in force
    assert sum("Traceback" in (r.exc_text or "") or r.exc_info is not None for r in caplog.records) == 1
    assert "re-plan failed again (2 attempts since 18:00 UTC): ValueError: vehicle ids must be unique" in caplog.text
    banner_text = ("Re-planning is failing since 18:00 UTC (2 attempts): ValueError: vehicle ids must be unique. "
                   f"The plan in force is #{good.id} from 18:00 UTC (0 min old).")
    planner_text, floor_text = _page_texts(configured_app, store, settings, runtime)
    assert banner_text in planner_text and banner_text in floor_text

    runtime.alerts.sweep(NOW)
    (alert,) = alerts.list_alerts(store, kind=rules.REPLAN_FAILING)
    assert (alert.severity, alert.message, alert.detail["attempts"]) == (rules.CRITICAL, banner_text, 2)

    monkeypatch.undo()  # the planner works again: the next re-plan succeeds, the alert resolves at once
    runtime.request_replan("repaired")
    wait_for(lambda: runtime.replanner.health.failure is None, what="re-planning working again")
    wait_for(lambda: not alerts.list_alerts(store, kind=rules.REPLAN_FAILING), what="the alert resolved")
    resolved = alerts.list_alerts(store, status="resolved", kind=rules.REPLAN_FAILING)
    assert resolved[0].resolve_note == "a re-plan succeeded"
    planner_text, floor_text = _page_texts(configured_app, store, settings, runtime)
    newest = store.active_plan()
    assert newest.id > good.id and f"The plan in force is #{newest.id}" in planner_text
    assert "Re-planning is failing" not in planner_text + floor_text


def test_without_a_runtime_the_planner_page_reads_the_plan_in_force_from_the_store(configured_app, store, settings):
    seed(store)
    with configured_app.server.test_request_context():
        svc = Services(settings, store, lambda: NOW)
        assert "No plan is in force yet." in text(banner.children(svc, "planner"))
        assert banner.children(svc, "floor") == []
        record = store.save_plan(created_at=NOW - 90 * M, reason="x", status="optimal", problem={}, plan={})
        assert f"The plan in force is #{record.id} from 16:30 UTC (1 h 30 min old)." in text(
            banner.children(svc, "planner"))
