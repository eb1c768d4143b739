"""`Backend.bound_transaction`: the database ends a session left idle in an attempt's
transaction past the bound, and its row locks go with it (PostgreSQL's
`idle_in_transaction_session_timeout`, MariaDB's `idle_transaction_timeout`, MySQL's
`wait_timeout`); a transaction that keeps working commits, and the bound ends with it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections

from ash_oban_django import ledger
from ash_oban_django.models import Job
from tests.integration.ledger.test_concurrency import in_threads

pytestmark = [pytest.mark.row_locks, pytest.mark.django_db(transaction=True)]

# The session's idle bound outside an attempt, and its value there (none).
IDLE_BOUND = {
    "postgresql": ("SHOW idle_in_transaction_session_timeout", ("0",)),
    "mysql": ("SELECT @@SESSION.idle_transaction_timeout", (0,)),
}


def new_job() -> Job:
    values = {"kind": "trigger", "queue": "bounded", "priority": 2, "max_attempts": 1}
    (job,) = ledger.insert([ledger.new_job(name="bounded.Job", object_pk="1", **values)])
    return job


def locked_by_another() -> bool:
    """Whether another transaction holds the job's row lock (SKIP LOCKED passes it by)."""
    with ledger.engine().bound_transaction(None):
        return not Job.objects.select_for_update(skip_locked=True).exists()


@pytest.mark.parametrize("opened_by", ["bound_transaction", "attempt_transaction"])
def test_bound_transaction__a_session_idle_past_the_bound_is_ended_and_its_locks_freed(
    opened_by: str,
) -> None:
    """As opened by `bound_transaction` (the lock taken inside) or by `attempt_transaction`
    (which takes the job's lock and sets the bound together)."""
    engine = ledger.engine()
    new_job()
    job = engine.claim_one("bounded")
    assert job is not None
    holding, thawed, stale = threading.Event(), threading.Event(), []

    def bounded() -> Any:
        if opened_by == "attempt_transaction":
            return engine.attempt_transaction(job, 1)
        return engine.bound_transaction(1)

    def frozen_attempt() -> None:
        try:
            with bounded():
                list(Job.objects.select_for_update().filter(pk=job.pk))
                holding.set()
                thawed.wait(10)  # sends nothing meanwhile, as a stopped worker
                Job.objects.filter(pk=job.pk).update(state="completed")
        except DatabaseError as error:
            stale.append(error)
        finally:
            connections.close_all()

    worker = threading.Thread(target=frozen_attempt)
    worker.start()
    try:
        assert holding.wait(10)
        assert locked_by_another()
        started = time.monotonic()
        while locked_by_another():
            assert time.monotonic() - started < 5, "the idle session kept its lock"
            time.sleep(0.1)
    finally:
        thawed.set()
        worker.join(15)
    assert len(stale) == 1, "the stale attempt's write went through"
    assert Job.objects.get(pk=job.pk).state == "executing"  # nothing of it was written


def test_attempt_transaction__bounds_the_transaction_it_locks_the_job_in() -> None:
    if connection.vendor == "mysql" and not connection.mysql_is_mariadb:
        pytest.skip("MySQL bounds the session's idleness with wait_timeout")
    engine = ledger.engine()
    new_job()
    job = engine.claim_one("bounded")
    assert job is not None
    read, unbounded = IDLE_BOUND[connection.vendor]
    with engine.attempt_transaction(job, 2) as locked:
        assert locked is job
        assert in_threads(1, lambda _: locked_by_another()) == [True]  # another session
        with connection.cursor() as cursor:
            cursor.execute(read)
            assert cursor.fetchone() in {("2s",), (2,)}
    with connection.cursor() as cursor:
        cursor.execute(read)
        assert cursor.fetchone() == unbounded


def test_bound_transaction__ends_with_its_transaction_committed_or_rolled_back() -> None:
    if connection.vendor == "mysql" and not connection.mysql_is_mariadb:
        pytest.skip("MySQL bounds the session's idleness with wait_timeout")
    job = new_job()
    with ledger.engine().bound_transaction(1):
        for _ in range(4):  # busy for twice the bound, never idle for as long
            Job.objects.filter(pk=job.pk).update(priority=3)
            time.sleep(0.5)
    with pytest.raises(ValueError), ledger.engine().bound_transaction(1):
        Job.objects.filter(pk=job.pk).update(priority=4)
        raise ValueError("the attempt failed")
    assert Job.objects.get(pk=job.pk).priority == 3
    read, unbounded = IDLE_BOUND[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(read)
        assert cursor.fetchone() == unbounded
