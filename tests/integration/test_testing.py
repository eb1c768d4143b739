"""The test helpers themselves (docs/testing.md): what they accept, and failure messages that
show what was found."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Q
from django_q.models import OrmQ

from ash_oban_django import Trigger, register, run_trigger
from ash_oban_django.dispatch.wake import set_dispatch
from ash_oban_django.testing import (
    AshObanHelpers,
    assert_triggered,
    assert_would_schedule,
    drain_queues,
    refute_triggered,
    refute_would_schedule,
)
from ash_oban_django.worker import Result
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

FINISH = Trigger("finish", where=Q(done=False), scheduler_cron=None)


@pytest.fixture
def finish() -> Iterator[Trigger]:
    with register(Widget, triggers=[FINISH]):
        yield FINISH


def failure(check: Any, *args: Any, **kwargs: Any) -> str:
    """The message of the assertion `check` fails with: its first line (pytest rewrites the
    asserts of a plugin module, and appends the expression it evaluated)."""
    with pytest.raises(AssertionError) as raised:
        check(*args, **kwargs)
    return str(raised.value).splitlines()[0]


def test_assert_would_schedule__passes_for_a_row_that_matches_where(finish: Trigger) -> None:
    widget = Widget.objects.create()
    assert_would_schedule(widget, "finish")
    message = failure(refute_would_schedule, widget, "finish")
    assert message == (
        f"Expected Widget pk={widget.pk} not to match trigger 'finish', but it does."
    )


def test_refute_would_schedule__passes_for_a_row_that_does_not_match(finish: Trigger) -> None:
    widget = Widget.objects.create(done=True)
    refute_would_schedule(widget, "finish")
    message = failure(assert_would_schedule, widget, "finish")
    assert message == (
        f"Expected Widget pk={widget.pk} to match trigger 'finish', but it does not match "
        "its queryset and `where`."
    )


def test_assert_would_schedule__reads_the_row_as_stored_not_as_in_memory(
    finish: Trigger,
) -> None:
    widget = Widget.objects.create()
    widget.done = True  # not saved: the scheduler reads the database
    assert_would_schedule(widget, "finish")


def test_assert_would_schedule__the_trigger_s_queryset_narrows_the_rows() -> None:
    trigger = Trigger(
        "finish",
        scheduler_cron=None,
        queryset=lambda model: model.objects.exclude(name="hidden"),
    )
    with register(Widget, triggers=[trigger]):
        refute_would_schedule(Widget.objects.create(name="hidden"), "finish")
        assert_would_schedule(Widget.objects.create(name="shown"), "finish")


def test_assert_would_schedule__a_tenant_field_scopes_to_the_row_s_tenant() -> None:
    """The row is looked for among its own tenant's rows, so a `where` on the tenant holds."""
    trigger = Trigger("finish", where=Q(tenant="north"), scheduler_cron=None)
    with register(Widget, triggers=[trigger], tenant_field="tenant"):
        assert_would_schedule(Widget.objects.create(tenant="north"), "finish")
        refute_would_schedule(Widget.objects.create(tenant="south"), "finish")


def test_assert_would_schedule__an_unknown_trigger_names_the_declared_ones(
    finish: Trigger,
) -> None:
    with pytest.raises(LookupError, match=r"No trigger .* named 'nope' .*'finish'"):
        assert_would_schedule(Widget.objects.create(), "nope")


def test_assert_triggered__failure_lists_the_jobs_found_for_the_row(finish: Trigger) -> None:
    widget = Widget.objects.create()
    job = run_trigger(widget, "finish", action_arguments={"rush": False})
    message = failure(assert_triggered, widget, "finish", action_arguments={"rush": True})
    assert message == (
        f"Expected a job of trigger 'finish' for Widget pk={widget.pk} with args "
        "{'action_arguments': {'rush': True}}, but none was found. Jobs of that trigger for "
        f"the row: #{job.pk} available args={{'action_arguments': {{'rush': False}}}}"
    )


def test_assert_triggered__failure_says_none_when_the_row_has_no_job(finish: Trigger) -> None:
    widget = Widget.objects.create()
    message = failure(assert_triggered, widget, "finish")
    assert message.endswith(
        f"for Widget pk={widget.pk}, but none was found. Jobs of that trigger for the row: none"
    )


def test_assert_triggered__finished_jobs_do_not_count(finish: Trigger, ash_oban: Any) -> None:
    widget = Widget.objects.create()
    run_trigger(widget, "finish")
    drain_queues()
    refute_triggered(widget, "finish")
    assert "Jobs of that trigger for the row: none" in failure(assert_triggered, widget, "finish")


def test_assert_triggered__nested_args_match_as_a_subset(finish: Trigger) -> None:
    widget = Widget.objects.create()
    run_trigger(widget, "finish", action_arguments={"rush": True, "note": {"a": 1, "b": 2}})
    assert_triggered(widget, "finish", action_arguments={"note": {"a": 1}})
    refute_triggered(widget, "finish", action_arguments={"note": {"a": 2}})
    refute_triggered(widget, "finish", action_arguments={"missing": None})


def test_refute_triggered__failure_lists_the_matching_jobs(finish: Trigger) -> None:
    widget = Widget.objects.create()
    job = run_trigger(widget, "finish")
    message = failure(refute_triggered, widget, "finish")
    assert message == (
        f"Expected no job of trigger 'finish' for Widget pk={widget.pk}, but found 1: "
        f"#{job.pk} available args={{}}"
    )


def test_drain_queues__takes_one_queue_name_or_several(finish: Trigger, ash_oban: Any) -> None:
    first, second = Widget.objects.create(), Widget.objects.create()
    run_trigger(first, "finish")
    run_trigger(second, "finish", queue="other")
    assert drain_queues("testapp_widget_finish") == Result(success=1)
    assert drain_queues(["other", "unused"]) == Result(success=1)


@pytest.fixture
def dispatching() -> Iterator[None]:
    previous = set_dispatch(True)
    try:
        yield
    finally:
        set_dispatch(previous)


def test_ash_oban__hands_nothing_to_django_q2_while_the_test_runs(
    dispatching: None,
    ash_oban: AshObanHelpers,
    finish: Trigger,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run_trigger(Widget.objects.create(), "finish")
    assert OrmQ.objects.count() == 0
    assert ash_oban.drain_queues() == Result(success=1)


def test_ash_oban__offers_every_helper(ash_oban: AshObanHelpers, ash_oban_drain: Any) -> None:
    names = [n for n in vars(AshObanHelpers) if not re.match(r"__\w+__$", n)]
    assert names == [
        "schedule_and_run_triggers",
        "drain_queues",
        "assert_triggered",
        "refute_triggered",
        "assert_would_schedule",
        "refute_would_schedule",
        "assert_enqueued",
        "refute_enqueued",
    ]
    assert ash_oban_drain is drain_queues
