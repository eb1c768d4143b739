"""`tasks.LedgerBackend`: Django tasks enqueued on the ledger and run by `drain_queues`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from ash_oban_django import ledger
from ash_oban_django.models import Job, args_key
from ash_oban_django.states import Kind, State
from ash_oban_django.taskapi import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)
from ash_oban_django.tasks import LedgerBackend
from ash_oban_django.testing import assert_enqueued, drain_queues, refute_enqueued
from tests.testapp import tasks
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


def job_of(result: Any) -> Job:
    return Job.objects.get(pk=int(result.id))


def test_backend__every_capability_flag_is_true() -> None:
    backend = task_backends["default"]
    assert isinstance(backend, LedgerBackend)
    assert backend.supports_defer
    assert backend.supports_async_task
    assert backend.supports_get_result
    assert backend.supports_priority


def test_enqueue__result_round_trip() -> None:
    result = tasks.send_welcome.enqueue(42, greeting="Hello")
    assert result.status == TaskResultStatus.READY
    assert (result.args, result.kwargs) == ([42], {"greeting": "Hello"})
    assert result.enqueued_at is not None and result.started_at is None
    assert result.worker_ids == [] and result.errors == []
    job = job_of(result)
    assert (job.kind, job.name, job.queue) == (Kind.TASK, tasks.send_welcome.module_path, "emails")
    assert (job.max_attempts, job.tags) == (5, ["mail"])

    assert drain_queues().success == 1
    got = tasks.send_welcome.get_result(result.id)
    assert got.status == TaskResultStatus.SUCCESSFUL
    assert got.return_value == "Hello, user 42"
    assert got.started_at is not None and got.finished_at is not None
    assert got.last_attempted_at == got.started_at
    assert got.finished_at >= got.started_at >= got.enqueued_at
    assert len(got.worker_ids) == 1 and got.worker_ids[0] == job_of(result).attempted_by
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == "Hello, user 42"


def test_get_result__unknown_or_pruned_id_raises() -> None:
    result = tasks.add.enqueue(1, 2)
    backend = task_backends["default"]
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("nope")
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(str(int(result.id) + 1000))
    drain_queues()
    ledger.engine().prune(timezone.now() + timedelta(seconds=1))
    with pytest.raises(TaskResultDoesNotExist, match="pruned"):
        backend.get_result(result.id)


def test_enqueue__non_json_argument_refused_and_nothing_inserted() -> None:
    with pytest.raises(TypeError, match=r"stored as JSON, and args\[0\] is datetime.*Nothing"):
        tasks.add.enqueue(timezone.now(), 1)
    with pytest.raises(ValueError, match=r"kwargs\['b'\] is nan"):
        tasks.add.enqueue(1, b=float("nan"))
    assert not Job.objects.exists()


def test_enqueue__rolled_back_transaction_leaves_no_task() -> None:
    sent: list[Any] = []

    def on_enqueued(sender: Any, task_result: Any, **kwargs: Any) -> None:
        sent.append(task_result)

    task_enqueued.connect(on_enqueued)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            tasks.add.enqueue(1, 2)
            assert Job.objects.count() == 1  # in the caller's transaction
            raise RuntimeError("roll back")
    finally:
        task_enqueued.disconnect(on_enqueued)
    assert not Job.objects.exists()
    assert sent == []


def test_run_after__job_waits_until_then() -> None:
    later = timezone.now() + timedelta(hours=1)
    result = tasks.add.using(run_after=later).enqueue(1, 2)
    job = job_of(result)
    assert (job.state, job.scheduled_at) == (State.SCHEDULED, later)
    assert drain_queues().success == 0
    assert drain_queues(with_scheduled=True).success == 1


def test_priority__higher_django_priority_runs_first() -> None:
    for priority in (-100, 0, 50, 100, 10):
        tasks.record_order.using(priority=priority).enqueue(str(priority))
    drain_queues(["tasks_ordered"])
    ran = list(Widget.objects.order_by("rank").values_list("name", flat=True))
    assert ran == ["100", "50", "10", "0", "-100"]
    assert sorted(Job.objects.values_list("priority", flat=True)) == [0, 50, 90, 100, 200]


def test_async_task__awaited() -> None:
    result = tasks.async_add.enqueue(2, 3)
    drain_queues()
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 5)


def test_takes_context__attempt_counts_from_one() -> None:
    first = tasks.attempt_number.enqueue()
    retried = tasks.attempt_number.enqueue(fail_first=True)
    drain_queues(with_scheduled=True)
    first.refresh()
    retried.refresh()
    assert first.return_value == 1
    assert retried.return_value == 2
    assert len(retried.worker_ids) == 2 and len(retried.errors) == 1


def test_retries__then_failed_with_errors_and_writes_rolled_back() -> None:
    widget = Widget.objects.create()
    result = tasks.always_fails.enqueue(widget.pk)
    outcome = drain_queues(["tasks_retry"], with_scheduled=True)
    assert (outcome.failure, outcome.discard) == (2, 1)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.finished_at is not None
    assert len(result.errors) == 3 and len(result.worker_ids) == 3
    assert {e.exception_class_path for e in result.errors} == {"tests.testapp.tasks.TaskBroke"}
    assert result.errors[0].exception_class is tasks.TaskBroke
    assert "attempt on widget" in result.errors[-1].traceback
    with pytest.raises(ValueError, match="failed"):
        result.return_value  # noqa: B018
    widget.refresh_from_db()
    assert widget.calls == 0  # every attempt's write rolled back with it

    # An operator's retry (admin, dashboard) makes it READY again.
    assert ledger.retry_jobs(Job.objects.filter(pk=int(result.id))) == 1
    result.refresh()
    assert result.status == TaskResultStatus.READY


def test_return_value__not_json_fails_the_attempt() -> None:
    result = tasks.returns_object.enqueue()
    drain_queues()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "builtins.TypeError"
    assert "cannot be stored as its result" in result.errors[0].traceback


def test_unique__second_enqueue_while_waiting_inserts_nothing() -> None:
    widget = Widget.objects.create()
    first = tasks.unique_touch.enqueue(widget.pk)
    second = tasks.unique_touch.enqueue(widget.pk)
    other = tasks.unique_touch.enqueue(widget.pk + 1)
    assert (first.conflict, second.conflict, other.conflict) == (False, True, False)
    assert second.id == first.id
    assert Job.objects.count() == 2
    job = job_of(first)
    assert (job.object_pk, job.args_key) == ("", args_key(job.args))  # no row; the arguments
    drain_queues()
    third = tasks.unique_touch.enqueue(widget.pk)  # the first has completed
    assert not third.conflict and third.id != first.id


def test_not_unique__same_arguments_make_two_tasks() -> None:
    first, second = tasks.add.enqueue(1, 2), tasks.add.enqueue(1, 2)
    assert first.id != second.id and not second.conflict
    assert drain_queues().success == 2


def test_signals__enqueued_started_finished_sent(
    django_capture_on_commit_callbacks: Any,
) -> None:
    seen: list[tuple[str, Any, str]] = []

    def recorder(name: str) -> Any:
        def receive(sender: Any, task_result: Any, **kwargs: Any) -> None:
            seen.append((name, sender, task_result.status))

        return receive

    receivers = {
        task_enqueued: recorder("enqueued"),
        task_started: recorder("started"),
        task_finished: recorder("finished"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = tasks.add.enqueue(1, 2)
            assert seen == []  # sent once the job is committed
        drain_queues()
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    assert seen == [
        ("enqueued", LedgerBackend, TaskResultStatus.READY),
        ("started", LedgerBackend, TaskResultStatus.RUNNING),
        ("finished", LedgerBackend, TaskResultStatus.SUCCESSFUL),
    ]
    assert result.id


def test_aenqueue_and_aget_result() -> None:
    async def round_trip() -> Any:
        result = await tasks.add.aenqueue(2, 2)
        return await tasks.add.aget_result(result.id)

    # async_to_sync: the ORM calls come back to this thread, in the test's transaction.
    got = async_to_sync(round_trip)()
    assert (got.status, got.args) == (TaskResultStatus.READY, [2, 2])


def test_validate_task__clear_errors() -> None:
    with pytest.raises(InvalidTask, match="`max_attempts` must be an integer >= 1, got 0"):
        tasks.task(max_attempts=0)(tasks.add.func)
    with pytest.raises(InvalidTask, match="`unique` must be True or False, got 'yes'"):
        tasks.task(unique="yes")(tasks.add.func)
    with pytest.raises(InvalidTask, match=r"add: queue 'nowhere' is not one of TASKS\['default'\]"):
        tasks.add.using(queue_name="nowhere")
    with pytest.raises(InvalidTask, match="priority"):
        tasks.add.using(priority=101)
    with pytest.raises(InvalidTask, match="aware"):
        tasks.add.using(run_after=timezone.now().replace(tzinfo=None))


def test_options__backend_defaults_then_declaration_defaults(settings: Any) -> None:
    settings.TASKS = {
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {"max_attempts": 4, "tags": ["nightly"]},
        }
    }
    result = tasks.add.enqueue(1, 1)
    assert (job_of(result).max_attempts, job_of(result).tags) == (4, ["nightly"])
    # The task's own value wins over the backend's.
    assert job_of(tasks.send_welcome.enqueue(1)).max_attempts == 5


def test_assert_enqueued__finds_and_reports() -> None:
    tasks.send_welcome.enqueue(7, greeting="Hi")
    [found] = assert_enqueued(tasks.send_welcome, args=[7], kwargs={"greeting": "Hi"})
    assert found.args == [7]
    refute_enqueued(tasks.send_welcome, args=[8])
    with pytest.raises(AssertionError, match=r"args=\[7\]"):
        assert_enqueued(tasks.send_welcome, args=[8])


def test_status__waiting_tasks_are_not_dangling_names() -> None:
    from ash_oban_django.status import dangling_names

    tasks.add.enqueue(1, 2)
    assert dangling_names() == []


def test_enqueue__one_wake_per_transaction(
    ash_oban: Any, django_capture_on_commit_callbacks: Any
) -> None:
    announced: list[dict[str, int]] = []

    def on_available(sender: Any, queues: dict[str, int], **kwargs: Any) -> None:
        announced.append(queues)

    ledger.jobs_available.connect(on_available)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            for n in range(3):
                tasks.add.enqueue(n, n)
            tasks.send_welcome.enqueue(1)
            tasks.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(0, 0)
    finally:
        ledger.jobs_available.disconnect(on_available)
    assert announced == [{"default": 3, "emails": 1}]  # the deferred one is staged later
