"""Runtime queue control (docs/dashboard.md): every claim path of the database's backend obeys
the `Queue` row, and the operator's functions store it and wake the queue."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from ash_oban_django import ledger, pause_queue, resume_queue, scale_queue
from ash_oban_django.dispatch.consume import consume
from ash_oban_django.ledger import Backend
from ash_oban_django.models import Job, Queue

pytestmark = pytest.mark.django_db

QUEUE = "controlled"


@pytest.fixture
def engine() -> Backend:
    return ledger.engine()


def insert(count: int, queue: str = QUEUE) -> list[Job]:
    return ledger.insert(
        [
            ledger.new_job(
                kind="trigger",
                name=f"contract.{queue}",
                object_pk=str(i),
                queue=queue,
                priority=2,
                max_attempts=1,
            )
            for i in range(count)
        ]
    )


def states(queue: str = QUEUE) -> dict[str, int]:
    counted: dict[str, int] = {}
    for state in Job.objects.filter(queue=queue).values_list("state", flat=True):
        counted[state] = counted.get(state, 0) + 1
    return counted


def test_pause__every_claim_path_skips_the_queue_and_its_jobs_stay(engine: Backend) -> None:
    insert(3)
    pause_queue(QUEUE)
    assert engine.claim(QUEUE, 5) == []
    assert engine.claim(QUEUE, 5, max_running=2) == []
    assert engine.claim_matching(ledger.runnable(QUEUE), 5) == []
    assert engine.claim_one(QUEUE) is None
    assert states() == {"available": 3}
    assert QUEUE not in engine.stage()  # the leader does not wake a paused queue
    resume_queue(QUEUE)
    assert len(engine.claim(QUEUE, 5)) == 3


def test_pause__the_completion_that_claims_the_next_job_claims_none(engine: Backend) -> None:
    insert(2)
    with transaction.atomic():
        (job,) = engine.claim(QUEUE, 1)
    pause_queue(QUEUE)
    with transaction.atomic():
        assert engine.complete_and_claim(job, QUEUE) is None
    assert states() == {"available": 1, "completed": 1}


def test_pause__other_queues_run(engine: Backend) -> None:
    insert(1)
    insert(1, queue="other")
    pause_queue(QUEUE)
    assert [j.queue for j in engine.claim("other", 5)] == ["other"]


def test_scale__the_stored_limit_rules_over_the_setting(engine: Backend, settings: Any) -> None:
    settings.ASH_OBAN = {"QUEUES": {QUEUE: {"limit": 1}}}
    insert(5)
    assert ledger.queue_controls([QUEUE])[QUEUE].limit == 1
    scale_queue(QUEUE, 3)
    control = ledger.queue_controls([QUEUE])[QUEUE]
    assert (control.limit, control.stored_limit) == (3, True)
    # The fast path leaves a queue limited at runtime to the counting path...
    assert engine.claim(QUEUE, 5) == []
    # ...which uses the stored limit, whatever the caller read before.
    assert len(engine.claim(QUEUE, 5, max_running=1)) == 3
    assert engine.claim(QUEUE, 5, max_running=1) == []
    scale_queue(QUEUE, None)
    assert ledger.queue_controls([QUEUE])[QUEUE].limit == 1  # the setting again


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "2"])
def test_scale__refuses_a_limit_that_is_not_a_positive_int(limit: Any) -> None:
    with pytest.raises(ValueError, match="`limit` must be a positive int or None, got"):
        scale_queue(QUEUE, limit)
    assert not Queue.objects.exists()


def test_resume__wakes_the_queue_once_it_commits(
    django_capture_on_commit_callbacks: Any,
) -> None:
    heard: list[dict[str, int]] = []

    def listen(sender: Any, queues: dict[str, int], **kwargs: Any) -> None:
        heard.append(queues)

    insert(2)
    pause_queue(QUEUE)
    ledger.jobs_available.connect(listen)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            resume_queue(QUEUE)
    finally:
        ledger.jobs_available.disconnect(listen)
    assert heard == [{QUEUE: 2}]
    row = Queue.objects.get()
    assert (row.name, row.paused, row.limit) == (QUEUE, False, None)


def test_consume__a_paused_queue_runs_nothing_and_a_resumed_one_runs_its_jobs(
    ash_oban: Any,
) -> None:
    jobs = insert(2)
    pause_queue(QUEUE)
    assert consume(QUEUE) == 0
    resume_queue(QUEUE)
    consume(QUEUE)
    # The jobs' declaration is unknown here: they ran and were discarded, not left waiting.
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True)) == {
        "discarded"
    }


def test_cancel_job__cancels_a_waiting_job_only(engine: Backend) -> None:
    waiting, running = insert(2)
    with transaction.atomic():
        engine.claim_matching(Job.objects.filter(pk=running.pk), 1)
    assert ledger.cancel_job(waiting.pk) is True
    assert ledger.cancel_job(running.pk) is False
    assert ledger.cancel_job(10**9) is False
    assert Job.objects.get(pk=waiting.pk).state == "cancelled"
