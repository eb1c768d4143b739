"""The test helpers themselves (docs/testing.md): what they accept, and failure messages that
show what was found."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Q
from django_q.models import OrmQ

from ash_oban_django import (
    Trigger,
    build_trigger,
    register,
    run_trigger,
    run_triggers,
    schedule,
)
from ash_oban_django.dispatch.wake import set_dispatch
from ash_oban_django.models import Job
from ash_oban_django.testing import (
    AshObanHelpers,
    assert_triggered,
    assert_would_schedule,
    captured_jobs,
    drain_queues,
    inline,
    perform_job,
    refute_triggered,
    refute_would_schedule,
)
from ash_oban_django.worker import Result
from tests.integration.worker.test_executor import Failing, Snoozing
from tests.integration.worker.test_inline import Spawning, state_of
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
        "perform_job",
        "inline",
        "captured_jobs",
        "assert_triggered",
        "refute_triggered",
        "assert_would_schedule",
        "refute_would_schedule",
        "assert_enqueued",
        "refute_enqueued",
    ]
    assert ash_oban_drain is drain_queues


def test_captured_jobs__lists_the_jobs_inserted_in_the_block_in_order(declared: Trigger) -> None:
    before = run_trigger(Widget.objects.create(), "finish")
    first, second = Widget.objects.create(), Widget.objects.create()
    with captured_jobs() as jobs:
        one = run_trigger(first, "finish")
        duplicate = run_trigger(first, "finish")
        run_triggers([second], "finish", action_arguments={"speed": 1})
        schedule(Widget, "nightly")
    assert duplicate.conflict and before not in jobs
    assert [(job.name, job.object_pk, job.state) for job in jobs] == [
        ("testapp.Widget:finish", str(first.pk), "available"),
        ("testapp.Widget:finish", str(second.pk), "available"),
        ("testapp.Widget:nightly", "", "available"),
    ]
    assert jobs[0].pk == one.pk and jobs[1].args == {"action_arguments": {"speed": 1}}
    with captured_jobs() as later:
        pass
    assert later == [] and len(jobs) == 3  # the block's list is closed when it ends


def test_captured_jobs__blocks_nest(declared: Trigger) -> None:
    with captured_jobs() as outer:
        run_trigger(Widget.objects.create(), "finish")
        with captured_jobs() as inner:
            run_trigger(Widget.objects.create(), "finish")
    assert (len(outer), len(inner)) == (2, 1) and outer[1].pk == inner[0].pk


def test_perform_job__runs_one_attempt_of_a_trigger_for_a_row(declared: Trigger) -> None:
    widget = Widget.objects.create()
    job = perform_job(widget, "finish", action_arguments={"speed": 3})
    widget.refresh_from_db()
    assert (job.state, job.attempt, job.kind) == ("completed", 1, "trigger")
    assert widget.done and widget.note == "[('speed', 3)]"
    assert Job.objects.get(pk=job.pk).state == "completed"


def test_perform_job__a_failure_is_recorded_and_returned(ash_oban: Any) -> None:
    with register(Failing, triggers=[Trigger("finish", scheduler_cron=None, max_attempts=3)]):
        widget = Failing.objects.create()
        job = perform_job(widget, "finish")
        assert (job.state, job.attempt) == ("retryable", 1)
        assert job.errors[0]["error"] == f"RuntimeError: boom {widget.pk}"
        last = perform_job(Failing.objects.create(), "finish", max_attempts=1)
        assert last.state == "discarded"


def test_perform_job__without_safety_raises_and_records_nothing(ash_oban: Any) -> None:
    trigger = Trigger("finish", scheduler_cron=None, max_attempts=1, on_error="mark_errored")
    with register(Failing, triggers=[trigger]):
        widget = Failing.objects.create()
        with pytest.raises(RuntimeError, match=f"boom {widget.pk}"):
            perform_job(widget, "finish", with_safety=False)
    (job,) = Job.objects.all()
    assert (job.state, job.attempt, job.errors) == ("available", 0, [])
    widget.refresh_from_db()
    assert not widget.errored  # on_error did not run


def test_perform_job__runs_a_scheduled_action_and_a_scheduler(declared: Trigger) -> None:
    widget = Widget.objects.create()
    action = perform_job(Widget, "nightly", action_arguments={"full": True})
    assert (action.kind, action.state) == ("action", "completed")
    assert Widget.objects.get(name="nightly").note == "[('full', True)] last_attempt=True"
    scheduler = perform_job(Widget, "finish")
    assert (scheduler.kind, scheduler.state) == ("scheduler", "completed")
    # One attempt: the worker jobs the scheduler inserted wait.
    assert Job.objects.get(kind="trigger", object_pk=str(widget.pk)).state == "available"


def test_perform_job__runs_a_job_built_elsewhere(declared: Trigger) -> None:
    widget = Widget.objects.create()
    job = perform_job(build_trigger(widget, "finish", priority=0))
    assert (job.state, job.priority) == ("completed", 0)
    with pytest.raises(TypeError, match="takes the job alone"):
        perform_job(build_trigger(widget, "finish"), "finish")


def test_perform_job__an_equal_waiting_job_is_run_instead(declared: Trigger) -> None:
    widget = Widget.objects.create()
    waiting = run_trigger(widget, "finish")
    job = perform_job(widget, "finish")
    assert job.pk == waiting.pk and job.state == "completed"
    assert Job.objects.count() == 1


def test_perform_job__a_row_that_no_longer_matches_is_cancelled(declared: Trigger) -> None:
    job = perform_job(Widget.objects.create(done=True), "finish")
    assert job.state == "cancelled" and "no longer" in job.meta["cancel_reason"]


def test_perform_job__refuses_what_it_cannot_run(declared: Trigger) -> None:
    widget = Widget.objects.create()
    with pytest.raises(TypeError, match="name the trigger"):
        perform_job(widget)
    with pytest.raises(TypeError, match=r"action_arguments= and meta= only, got \['tags'\]"):
        perform_job(Widget, "nightly", tags=["x"])
    with pytest.raises(ValueError, match="already in the ledger"):
        perform_job(run_trigger(widget, "finish"))


def test_perform_job__under_inline_the_jobs_it_inserts_run_too(spawning: None) -> None:
    row = Spawning.objects.create()
    with inline():
        job = perform_job(row, "spawn")
    assert job.state == "completed"
    assert Job.objects.get(name="testapp.Spawning:finish").state == "completed"


def test_drain_queues__without_safety_raises_the_jobs_error_and_records_nothing(
    ash_oban: Any,
) -> None:
    trigger = Trigger("finish", scheduler_cron=None, max_attempts=1, on_error="mark_errored")
    with register(Failing, triggers=[trigger]):
        widget = Failing.objects.create()
        job = run_trigger(widget, "finish")
        with pytest.raises(RuntimeError, match=f"boom {widget.pk}") as raised:
            drain_queues(with_safety=False)
        assert "in finish" in str(raised.traceback[-1])  # the action's own frame
        job.refresh_from_db()
        assert (job.state, job.attempt, job.errors) == ("available", 0, [])
        assert not Failing.objects.get(pk=widget.pk).errored
        assert drain_queues().success == 1  # with safety: recorded, on_error handles it


def test_drain_queues__without_safety_records_a_snooze(ash_oban: Any) -> None:
    with register(Snoozing, triggers=[Trigger("finish", scheduler_cron=None)]):
        job = run_trigger(Snoozing.objects.create(), "finish")
        assert drain_queues(with_safety=False).snoozed == 1
    assert state_of(job) == "scheduled"


def test_ash_oban_fixture__has_the_new_helpers(ash_oban: AshObanHelpers, declared: Trigger) -> None:
    widget = Widget.objects.create()
    with ash_oban.captured_jobs() as jobs, ash_oban.inline():
        run_trigger(widget, "finish")
    assert len(jobs) == 1 and state_of(jobs[0]) == "completed"
    assert ash_oban.perform_job(Widget, "nightly").state == "completed"


# -- Django tasks go through the same helpers -----------------------------------------------


def test_helpers__run_django_tasks_like_every_other_job(ash_oban: Any) -> None:
    from ash_oban_django.task_jobs import task_job
    from tests.testapp import tasks

    widget = Widget.objects.create()
    with captured_jobs() as jobs, inline():
        result = tasks.touch.enqueue(widget.pk)
    assert [(job.kind, job.name) for job in jobs] == [("task", tasks.touch.module_path)]
    assert Widget.objects.get(pk=widget.pk).calls == 1  # run as its insert committed
    assert tasks.touch.get_result(result.id).return_value == 1

    # One attempt of a task's job, built as the backend builds it.
    job = perform_job(task_job(tasks.touch, [widget.pk], {}, "default"))
    assert (job.kind, job.state) == ("task", "completed")
    assert Widget.objects.get(pk=widget.pk).calls == 2


def test_drain_queues__without_safety_raises_a_tasks_error(ash_oban: Any) -> None:
    from tests.testapp import tasks

    widget = Widget.objects.create()
    result = tasks.always_fails.enqueue(widget.pk)
    with pytest.raises(tasks.TaskBroke, match=f"attempt on widget {widget.pk} failed"):
        drain_queues(with_safety=False)
    job = Job.objects.get(pk=int(result.id))
    assert (job.state, job.attempt, job.errors) == ("available", 0, [])
    assert Widget.objects.get(pk=widget.pk).calls == 0
