"""Running jobs in-process (docs/testing.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ash_oban_django import (
    ScheduledAction,
    Trigger,
    ledger,
    pause_queue,
    register,
    resume_queue,
)
from ash_oban_django.models import Job, State
from ash_oban_django.testing import assert_triggered, schedule_and_run_triggers
from ash_oban_django.worker import Result, drain
from ash_oban_django.worker.drain import drainable
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


def test_schedule_and_run_triggers__a_model_with_only_scheduled_actions(ash_oban: Any) -> None:
    """Its triggers are none, so there is nothing to drain: an empty result, on every
    database."""
    with register(Widget, scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")]):
        assert schedule_and_run_triggers(Widget) == Result()
        assert schedule_and_run_triggers(Widget, scheduled_actions=True).success == 1


def insert(queue: str, count: int = 2) -> list[Job]:
    return ledger.insert(
        [
            ledger.new_job(
                kind="trigger",
                name=f"drain.{queue}",
                object_pk=str(i),
                queue=queue,
                priority=2,
                max_attempts=1,
            )
            for i in range(count)
        ]
    )


def waiting(queue: str) -> int:
    return Job.objects.filter(queue=queue, state=State.AVAILABLE).count()


@pytest.mark.parametrize("queues", [None, ["held", "open"]], ids=["all-queues", "listed"])
def test_drain__skips_a_paused_queue_and_reports_it(
    ash_oban: Any, queues: list[str] | None
) -> None:
    insert("held")
    insert("open")
    pause_queue("held")
    result = drain(queues)
    # The jobs of "open" ran (and were discarded: their stable name is unknown).
    assert result == Result(discard=2, queues_not_drained=("held",))
    assert (waiting("held"), waiting("open")) == (2, 0)

    resume_queue("held")
    assert drain(queues) == Result(discard=2)
    assert waiting("held") == 0


def test_drain__a_pause_during_the_drain_stops_the_next_claim(ash_oban: Any) -> None:
    insert("mail", count=3)
    result = drain(["mail"], on_job=lambda job: pause_queue("mail"))
    assert result == Result(discard=1, queues_not_drained=("mail",))
    assert waiting("mail") == 2


def test_drain__a_paused_queue_without_waiting_jobs_is_not_reported(ash_oban: Any) -> None:
    pause_queue("empty")
    insert("open", count=1)
    assert drain() == Result(discard=1)


def test_drain__paused_jobs_due_later_are_reported_with_with_scheduled(ash_oban: Any) -> None:
    (job,) = insert("later", count=1)
    Job.objects.filter(pk=job.pk).update(
        state=State.SCHEDULED, scheduled_at=ledger.now() + timedelta(hours=1)
    )
    pause_queue("later")
    assert drain(["later"]) == Result()  # not due: nothing was left that would have run
    assert drain(["later"], with_scheduled=True) == Result(queues_not_drained=("later",))


def test_drainable__leaves_out_paused_queues(ash_oban: Any) -> None:
    insert("held")
    insert("open", count=1)
    pause_queue("held")
    assert set(drainable(None).values_list("queue", flat=True)) == {"open"}


def test_schedule_and_run_triggers__reports_a_paused_trigger_queue(ash_oban: Any) -> None:
    widget = Widget.objects.create()
    trigger = Trigger("finish", queue="widgets", scheduler_queue="widgets_scheduler")
    with register(Widget, triggers=[trigger]):
        pause_queue("widgets")
        result = schedule_and_run_triggers(Widget)
        # The scheduler's queue is not paused: it ran and queued the widget's job, which waits.
        assert result == Result(success=1, queues_not_drained=("widgets",))
        assert_triggered(widget, "finish")
        resume_queue("widgets")
        assert schedule_and_run_triggers(Widget).success == 2
