"""Chunks under real row locks (PostgreSQL, MariaDB, MySQL): workers in threads with their
own connections and transactions."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.models import Q

from ash_oban_django import Chunks, Trigger, ledger, register, run_triggers
from ash_oban_django.dispatch.consume import consume
from ash_oban_django.models import Job
from ash_oban_django.worker import perform_chunk
from tests.integration.ledger.test_concurrency import in_threads
from tests.testapp.models import Widget

pytestmark = [pytest.mark.row_locks, pytest.mark.django_db(transaction=True)]

QUEUE = "testapp_widget_finish"


@pytest.fixture
def chunked(ash_oban: Any) -> Iterator[Trigger]:
    trigger = Trigger(
        "finish",
        where=Q(errored=False),
        scheduler_cron=None,
        worker_name="testapp.Widget:finish",
        chunks=Chunks(size=20, timeout=0),
    )
    with register(Widget, triggers=[trigger]):
        yield trigger


def test_chunks__two_workers_never_take_the_same_row(chunked: Trigger) -> None:
    rows = Widget.objects.bulk_create([Widget() for _ in range(150)])
    # Two jobs per row (their arguments differ), the second ones in another order: the
    # workers' chunks meet the same rows.
    run_triggers(rows, "finish", action_arguments={"lap": 0})
    run_triggers(random.Random(7).sample(rows, len(rows)), "finish", action_arguments={"lap": 1})
    ran = in_threads(2, lambda i: consume(QUEUE) + consume(QUEUE))
    assert sum(ran) == 300
    assert Counter(Job.objects.values_list("state", flat=True)) == {"completed": 300}
    # Each job ran once: every row was finished by exactly its two jobs.
    assert set(Widget.objects.values_list("calls", flat=True)) == {2}
    assert Job.objects.filter(attempt=1).count() == 300


def test_chunks__a_row_another_worker_holds_is_skipped_then_run_alone(chunked: Trigger) -> None:
    a, b, c = Widget.objects.bulk_create([Widget(name=n) for n in "abc"])
    run_triggers([a, b, c], "finish")
    locked, release = threading.Event(), threading.Event()

    def hold_b() -> None:
        try:
            with transaction.atomic():
                Widget.objects.select_for_update().get(pk=b.pk)
                locked.set()
                release.wait(10)
                time.sleep(0.5)  # the chunk commits its other rows meanwhile
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_b)
    holder.start()
    assert locked.wait(10)
    (first,) = ledger.engine().claim(QUEUE, 1)
    release.set()
    jobs = {job.object_pk: job for job in perform_chunk(first, wait=False)}
    holder.join(10)
    assert {job.state for job in jobs.values()} == {"completed"}
    job_a, job_b = jobs[str(a.pk)], jobs[str(b.pk)]
    assert job_a.completed_at is not None and job_b.completed_at is not None
    assert job_a.completed_at < job_b.completed_at  # b waited for its lock, alone
    assert (job_b.attempt, job_b.errors) == (1, [])
    assert set(Widget.objects.values_list("calls", flat=True)) == {1}


def test_chunks__a_connection_lost_while_the_chunk_fills_gives_its_jobs_back(
    chunked: Trigger,
) -> None:
    """As a single job's attempt would be: not left `executing` for the rescue to count as
    failed attempts."""
    from tests.integration.worker.test_connection_loss import end_this_session

    rows = Widget.objects.bulk_create([Widget() for _ in range(5)])
    run_triggers(rows, "finish")
    (first,) = ledger.engine().claim(QUEUE, 1)
    ended: list[str] = []

    def end_before_the_next_claim(execute: Any, sql: str, *args: Any) -> Any:
        if not ended:
            ended.append(sql)
            end_this_session()
        return execute(sql, *args)

    with connections["default"].execute_wrapper(end_before_the_next_claim):
        left = perform_chunk(first, wait=False)
    assert ended
    assert not Job.objects.filter(state="executing").exists()
    given_back = Job.objects.get(pk=first.pk)
    assert (given_back.state, given_back.attempt, given_back.interruptions) == (
        "retryable",
        0,
        1,
    )
    assert [job.pk for job in left] == [first.pk]
    assert set(Widget.objects.values_list("calls", flat=True)) == {0}
