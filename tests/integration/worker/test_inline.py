"""Inline mode (`worker.inline`, docs/testing.md#inline-mode): a job runs where its insert
commits, on every database; and the `ASH_OBAN["TESTING"]` setting."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.db import transaction
from django_q.models import OrmQ

from ash_oban_django import (
    Trigger,
    register,
    run_trigger,
    run_triggers,
    schedule,
)
from ash_oban_django.models import Job
from ash_oban_django.testing import captured_jobs, drain_queues, inline
from tests.integration.worker.test_executor import Failing
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


class Spawning(Widget):
    """Its action queues another trigger's job for the same row."""

    class Meta:
        proxy = True
        app_label = "testapp"

    def spawn(self, **inputs: Any) -> None:
        self.calls += 1
        self.save()
        run_trigger(self, "finish")


def state_of(job: Job) -> str:
    job.refresh_from_db()
    return job.state


def test_inline__a_job_runs_before_the_insert_returns(declared: Trigger) -> None:
    widget = Widget.objects.create()
    with inline():
        job = run_trigger(widget, "finish", action_arguments={"speed": 2})
        widget.refresh_from_db()
        assert widget.done and widget.note == "[('speed', 2)]"
    assert job.state == "available"  # the object as inserted
    assert (state_of(job), job.attempt) == ("completed", 1)


def test_inline__a_job_inserted_in_a_transaction_runs_when_it_commits(declared: Trigger) -> None:
    widget = Widget.objects.create()
    with inline():
        with transaction.atomic():
            job = run_trigger(widget, "finish")
            with transaction.atomic():
                pass  # an inner block's release is not the commit
            assert state_of(job) == "available"
            assert Widget.objects.get(pk=widget.pk).calls == 0
        assert state_of(job) == "completed"  # before the `with inline()` block ends
        assert Widget.objects.get(pk=widget.pk).calls == 1


def test_inline__a_job_inserted_in_a_transaction_that_rolls_back_never_runs(
    declared: Trigger,
) -> None:
    widget = Widget.objects.create()
    with inline():
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            run_trigger(widget, "finish")
            raise ZeroDivisionError
        other = run_trigger(Widget.objects.create(), "finish")  # runs; the first is gone
    assert list(Job.objects.values_list("id", "state")) == [(other.pk, "completed")]
    assert Widget.objects.get(pk=widget.pk).calls == 0


def test_inline__jobs_a_job_inserts_run_after_it(declared: Trigger) -> None:
    widgets = [Widget.objects.create() for _ in range(3)]
    with inline(), captured_jobs() as jobs:
        schedule(Widget, "finish")
    assert [job.kind for job in jobs] == ["scheduler", "trigger", "trigger", "trigger"]
    assert {state_of(job) for job in jobs} == {"completed"}
    assert [w.calls for w in Widget.objects.filter(pk__in=[w.pk for w in widgets])] == [1, 1, 1]


def test_inline__a_job_inserted_by_an_action_runs_once_the_action_commits(
    spawning: None,
) -> None:
    row = Spawning.objects.create()
    with inline(), captured_jobs() as jobs:
        run_trigger(row, "spawn")
    assert [(job.name, state_of(job)) for job in jobs] == [
        ("testapp.Spawning:spawn", "completed"),
        ("testapp.Spawning:finish", "completed"),
    ]
    row.refresh_from_db()
    assert row.done and row.calls == 2


def test_inline__jobs_due_later_and_retries_wait(declared: Trigger) -> None:
    with register(Failing, triggers=[Trigger("finish", scheduler_cron=None, max_attempts=2)]):
        with inline():
            later = run_trigger(Widget.objects.create(), "finish", schedule_in=60)
            failing = run_trigger(Failing.objects.create(), "finish")
        assert state_of(later) == "scheduled"
        assert (state_of(failing), failing.attempt) == ("retryable", 1)
        assert drain_queues(with_scheduled=True).discard == 1  # the retry, run by a drain


def test_inline__the_setting_turns_it_on_for_a_whole_run(declared: Trigger, settings: Any) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "TESTING": "inline"}
    jobs = run_triggers([Widget.objects.create() for _ in range(2)], "finish")
    assert [state_of(job) for job in jobs] == ["completed", "completed"]


@pytest.mark.django_db(transaction=True)
def test_inline__runs_on_a_real_commit_and_hands_nothing_to_django_q(declared: Trigger) -> None:
    widget = Widget.objects.create()
    with inline():
        with transaction.atomic():
            job = run_trigger(widget, "finish")
            assert state_of(job) == "available"
        assert state_of(job) == "completed"
    assert OrmQ.objects.count() == 0  # no wake task was queued


def test_testing_setting__a_bad_value_is_refused(settings: Any) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "TESTING": "eager"}
    messages = [m for m in run_checks() if m.id == "ash_oban_django.E011"]
    assert [m.msg for m in messages] == [
        "ASH_OBAN['TESTING'] must be 'inline', 'manual' or None, got 'eager'."
    ]


def test_testing_setting__manual_leaves_jobs_for_the_helpers(
    declared: Trigger, settings: Any
) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "TESTING": "manual"}
    job = run_trigger(Widget.objects.create(), "finish")
    assert state_of(job) == "available"
    assert drain_queues().success == 1


def test_inline__a_failing_job_does_not_lose_the_jobs_queued_before_it(spawning: None) -> None:
    with register(Failing, triggers=[Trigger("finish", scheduler_cron=None)]):
        rows = [Spawning.objects.create(), Spawning.objects.create()]
        failing = Failing.objects.create()
        with inline(), transaction.atomic():
            run_trigger(rows[0], "spawn")  # queues its row's "finish" as it runs
            run_trigger(failing, "finish")  # rolls its attempt back
            run_trigger(rows[1], "spawn")
    names = Job.objects.order_by("id").values_list("name", "state")
    assert list(names) == [
        ("testapp.Spawning:spawn", "completed"),
        ("testapp.Failing:finish", "discarded"),
        ("testapp.Spawning:spawn", "completed"),
        ("testapp.Spawning:finish", "completed"),
        ("testapp.Spawning:finish", "completed"),
    ]


def test_inline__ids_of_rolled_back_jobs_reused_later_are_not_run_twice(declared: Trigger) -> None:
    widget = Widget.objects.create()
    with inline():
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            run_trigger(widget, "finish")
            raise ZeroDivisionError
        with transaction.atomic():
            again = run_trigger(widget, "finish", schedule_in=60)  # may take the same id
    assert state_of(again) == "scheduled"  # not due: inline leaves it waiting
    assert Widget.objects.get(pk=widget.pk).calls == 0
