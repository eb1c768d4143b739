"""Bulk operations by filter (`retry_jobs`, `cancel_jobs`, `delete_jobs`; ledger/bulk.py):
what each filter selects, counts, batches, and executing jobs left alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.models import Q

import ash_oban_django
from ash_oban_django import (
    Trigger,
    cancel_jobs,
    delete_jobs,
    ledger,
    register,
    resume_all_queues,
    retry_jobs,
    run_trigger,
)
from ash_oban_django.models import Job, Queue
from ash_oban_django.testing import drain_queues
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

QUEUE = "bulk_widgets"
OTHER = "bulk_other"
FINISH = "testapp.Widget:finish"
FAIL = "testapp.Widget:fail"


@pytest.fixture
def declared(ash_oban: Any) -> Iterator[None]:
    with register(
        Widget,
        triggers=[
            Trigger("finish", where=Q(done=False), scheduler_cron=None, queue=QUEUE),
            Trigger(
                "fail",
                action="mark_errored",
                scheduler_cron=None,
                queue=OTHER,
                tags=("nightly", "billing"),
            ),
        ],
    ):
        yield


def widgets(n: int, trigger: str, **options: Any) -> list[Job]:
    return [run_trigger(Widget.objects.create(), trigger, **options) for _ in range(n)]


def states() -> dict[str, int]:
    found: dict[str, int] = {}
    for state in Job.objects.values_list("state", flat=True):
        found[state] = found.get(state, 0) + 1
    return found


def test_public__the_bulk_operations_are_public_names() -> None:
    for name in (
        "retry_jobs",
        "cancel_jobs",
        "delete_jobs",
        "pause_all_queues",
        "resume_all_queues",
    ):
        assert name in ash_oban_django.__all__
        assert callable(getattr(ash_oban_django, name))


def test_retry_jobs__by_state_and_name_counts_the_jobs_it_retried(declared: None) -> None:
    failed = widgets(3, "fail")
    waiting = widgets(2, "finish")
    drain_queues(queues=[OTHER])  # the `fail` jobs are discarded; `finish` ones still wait
    assert states() == {"discarded": 3, "available": 2}
    assert retry_jobs(state="discarded", name=FAIL) == 3
    assert {j.state for j in Job.objects.filter(pk__in=[j.pk for j in failed])} == {"available"}
    # Available jobs are about to run anyway: not retried, not counted.
    assert retry_jobs(name=[FINISH, FAIL]) == 0
    assert {j.max_attempts for j in Job.objects.filter(name=FAIL)} == {2}  # one more attempt
    assert len(waiting) == 2


def test_retry_jobs__by_tag_queue_and_inserted_time(declared: None) -> None:
    widgets(2, "fail")
    widgets(2, "finish")
    drain_queues()
    old = widgets(1, "fail")[0]
    drain_queues(queues=[OTHER])
    Job.objects.filter(pk=old.pk).update(inserted_at=ledger.now() - timedelta(days=3))
    assert ledger.count_jobs("retry", tag="billing") == 3
    assert ledger.count_jobs("retry", queue=QUEUE) == 2
    assert ledger.count_jobs("retry", tag="billing", before=timedelta(days=1)) == 1
    assert ledger.count_jobs("retry", tag="billing", after=ledger.now() - timedelta(days=1)) == 2
    assert ledger.count_jobs("retry", tag="nope") == 0
    assert retry_jobs(tag="billing", after=timedelta(days=1)) == 2
    assert Job.objects.get(pk=old.pk).state == "discarded"


def test_cancel_jobs__leaves_executing_and_finished_jobs_alone(declared: None) -> None:
    widgets(3, "finish")
    (running,) = ledger.engine().claim(QUEUE, 1)
    done = widgets(1, "fail")
    drain_queues(queues=[OTHER])
    assert cancel_jobs(queue=[QUEUE, OTHER]) == 2
    assert Job.objects.get(pk=running.pk).state == "executing"
    assert Job.objects.get(pk=done[0].pk).state == "discarded"
    assert states() == {"cancelled": 2, "executing": 1, "discarded": 1}
    cancelled = Job.objects.filter(state="cancelled").first()
    assert cancelled is not None and cancelled.meta["cancel_reason"] == "cancelled by an operator"


def test_delete_jobs__in_batches_but_never_an_executing_job(declared: None) -> None:
    widgets(7, "finish")
    (running,) = ledger.engine().claim(QUEUE, 1)
    batches: list[int] = []
    assert delete_jobs(queue=QUEUE, batch_size=2, progress=batches.append) == 6
    assert batches == [2, 2, 2]  # the executing job is not even looked at
    assert list(Job.objects.values_list("pk", flat=True)) == [running.pk]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"state": "lost"}, "`state` must be one of available, "),
        ({"queue": ""}, "`queue` must be a non-empty string"),
        ({"name": 3}, "`name` must be a non-empty string"),
        ({"tag": ""}, "`tag` must be a non-empty string"),
        ({"after": "2h"}, "`after` must be a datetime or a timedelta, got '2h'"),
        ({"before": ledger.now().replace(tzinfo=None)}, "`before` must be an aware datetime"),
        ({"batch_size": 0}, "`batch_size` must be a positive int, got 0"),
    ],
)
def test_retry_jobs__bad_filters_say_how_to_fix_them(
    declared: None, filters: dict[str, Any], message: str
) -> None:
    widgets(1, "finish")
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        retry_jobs(**filters)


def test_admin_style__a_queryset_narrowed_by_filters(declared: None) -> None:
    jobs = widgets(4, "finish")
    chosen = Job.objects.filter(pk__in=[j.pk for j in jobs[:3]])
    assert cancel_jobs(chosen, "from a page of the admin", queue=QUEUE) == 3
    assert Job.objects.get(pk=jobs[3].pk).state == "available"
    assert set(
        Job.objects.filter(state="cancelled").values_list("meta__cancel_reason", flat=True)
    ) == {"from a page of the admin"}


def test_resume_all_queues__every_known_queue(declared: None) -> None:
    ledger.pause_queue("bulk_unknown_elsewhere")
    resumed = {row.name for row in resume_all_queues()}
    assert {QUEUE, OTHER, "bulk_unknown_elsewhere"} <= resumed
    assert not Queue.objects.filter(paused=True).exists()


@pytest.mark.row_locks
@pytest.mark.django_db(transaction=True)
def test_cancel_jobs__skips_a_row_another_transaction_locks_without_waiting(
    declared: None,
) -> None:
    jobs = widgets(3, "finish")
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Job.objects.select_for_update().get(pk=jobs[0].pk)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(30)
        assert cancel_jobs(queue=QUEUE) == 2  # does not wait for the lock
    finally:
        release.set()
        thread.join(30)
    assert Job.objects.get(pk=jobs[0].pk).state == "available"
