"""`ledger.queries`: the jobs a claim may take now, as each claim path sees the `Queue` rows."""

from __future__ import annotations

import pytest

from ash_oban_django import ledger, pause_queue, scale_queue
from ash_oban_django.models import Job

pytestmark = pytest.mark.django_db


def insert(queue: str, object_pk: str = "1", **values: object) -> Job:
    (job,) = ledger.insert(
        [
            ledger.new_job(
                kind="trigger",
                name=f"queries.{queue}",
                object_pk=object_pk,
                queue=queue,
                priority=2,
                max_attempts=1,
                **values,
            )
        ]
    )
    return job


def test_runnable__due_jobs_of_queues_not_held() -> None:
    for queue in ("plain", "paused", "limited"):
        insert(queue)
    insert("plain", "later", scheduled_at=ledger.schedule_in(60))
    pause_queue("paused")
    scale_queue("limited", 2)
    assert sorted(ledger.runnable().values_list("queue", flat=True)) == ["limited", "plain"]
    # The claims that do not count running jobs leave a limited queue to the counting one.
    assert list(ledger.runnable(unlimited=True).values_list("queue", flat=True)) == ["plain"]
    assert list(ledger.runnable("limited").values_list("queue", flat=True)) == ["limited"]
    assert not ledger.runnable("paused").exists()


def test_jobs_and_queue_rows__of_the_ledgers_database() -> None:
    job = insert("plain")
    pause_queue("plain")
    assert list(ledger.jobs()) == [job]
    assert list(ledger.queue_rows().values_list("name", "paused")) == [("plain", True)]
