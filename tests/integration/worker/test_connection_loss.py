"""A lost database connection is not the job's failure (docs/running.md): the server ending
a session mid-attempt gives the attempt back; the job's own SQL errors still count. On
PostgreSQL and MariaDB, whose servers can end a session."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q

from ash_oban_django import Trigger, register, run_trigger
from ash_oban_django.ledger import engine
from ash_oban_django.models import Job
from ash_oban_django.testing import drain_queues
from ash_oban_django.worker.retry import MAX_INTERRUPTIONS
from tests.testapp.models import Widget

pytestmark = [pytest.mark.row_locks, pytest.mark.django_db(transaction=True)]


def end_this_session() -> None:
    """Have the server end this connection's session, as an administrator or a failover
    would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        else:
            cursor.execute("SELECT CONNECTION_ID()")
            (session,) = cursor.fetchone()
            cursor.execute(f"KILL CONNECTION {int(session)}")


class LosingConnection(Widget):
    """Loses its connection in the middle of its action, until `losses` are used up."""

    losses = 0

    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        self.calls += 1
        self.save()
        if LosingConnection.losses:
            LosingConnection.losses -= 1
            end_this_session()
        self.done = True
        self.save()


class Duplicating(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        User.objects.create(username="taken")  # unique: the job's own error


@pytest.fixture
def losing(ash_oban: Any) -> Any:
    trigger = Trigger("finish", where=Q(done=False), scheduler_cron=None, on_error="mark_errored")
    with register(LosingConnection, triggers=[trigger]):
        yield LosingConnection.objects.create()
    LosingConnection.losses = 0


def test_connection_lost__is_recognised_by_the_backend() -> None:
    ledger = engine()
    with pytest.raises(DatabaseError) as lost:
        end_this_session()
        with connection.cursor() as cursor:  # the next statement meets the ended session
            cursor.execute("SELECT 1")
    assert ledger.connection_lost(lost.value), repr(lost.value)
    connection.close()
    User.objects.create(username="once")
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        User.objects.create(username="once")
    assert not ledger.connection_lost(refused.value)


def test_worker__a_lost_connection_gives_the_attempt_back(losing: LosingConnection) -> None:
    LosingConnection.losses = 1
    job = run_trigger(losing, "finish")  # max_attempts=1: a counted failure would be final
    first = drain_queues(with_recursion=False)
    job.refresh_from_db()
    assert (job.state, job.attempt, job.interruptions) == ("retryable", 0, 1)
    assert [e["error"].split(":")[0] for e in job.errors] == ["OperationalError"]
    assert first.failure == 1
    drain_queues(with_scheduled=True)
    job.refresh_from_db()
    losing.refresh_from_db()
    assert (job.state, job.attempt, job.interruptions) == ("completed", 1, 1)
    # The interrupted attempt's writes were rolled back; on_error never ran.
    assert (losing.done, losing.calls, losing.errored) == (True, 1, False)


def test_worker__interruptions_are_bounded(losing: LosingConnection) -> None:
    job = run_trigger(losing, "finish")
    Job.objects.filter(pk=job.pk).update(meta={"interrupted": MAX_INTERRUPTIONS})
    LosingConnection.losses = 1
    drain_queues(with_recursion=False)
    job.refresh_from_db()
    losing.refresh_from_db()
    # Past the bound a lost connection counts like any error: the last attempt is spent.
    assert (job.state, job.attempt, job.interruptions) == ("completed", 1, MAX_INTERRUPTIONS)
    assert job.meta["on_error"] and losing.errored


def test_worker__the_jobs_own_sql_error_spends_its_attempt(ash_oban: Any) -> None:
    User.objects.create(username="taken")
    trigger = Trigger("finish", scheduler_cron=None, max_attempts=2, backoff=60)
    with register(Duplicating, triggers=[trigger]):
        job = run_trigger(Duplicating.objects.create(), "finish")
        drain_queues(with_recursion=False)
    job.refresh_from_db()
    assert (job.state, job.attempt, job.interruptions) == ("retryable", 1, 0)
    assert job.errors[0]["error"].startswith("IntegrityError")
