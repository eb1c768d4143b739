"""`Backend.complete_and_commit` at the end of an attempt's own transaction: on PostgreSQL
the completion and the `COMMIT` travel in one round trip, so the job is completed (and the
next one claimed) before the atomic block even ends; on every database, a commit the
work's writes make fail is the work's failure, and nothing of the attempt is kept."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from ash_oban_django import Trigger, ledger, register, run_trigger
from ash_oban_django.models import Job
from ash_oban_django.worker import perform
from tests.integration.ledger.test_concurrency import in_threads
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "committing"


def new(object_pk: str) -> Job:
    values = {"kind": "trigger", "queue": QUEUE, "priority": 2, "max_attempts": 3}
    return ledger.new_job(name="committing.Job", object_pk=object_pk, **values)


@contextmanager
def round_trips() -> Iterator[list[list[str]]]:
    """What the connection sent the server in the block, one list of messages per round trip
    (libpq's protocol trace, PostgreSQL): the client waits for the server after a simple
    query ("Query") or a pipeline's "Sync"."""
    sent: list[list[str]] = []
    if connection.vendor != "postgresql":
        yield sent
        return
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        try:
            yield sent
        finally:
            pgconn.untrace()
        trace.seek(0)
        batch: list[str] = []
        for line in trace:
            fields = line.rstrip("\n").split("\t")
            if len(fields) > 3 and fields[1] == "F":
                batch.append(" ".join(fields[3:]).strip())
                if fields[3] in ("Query", "Sync"):
                    sent.append(batch)
                    batch = []


def state_seen_elsewhere(pk: int) -> str:
    """The job's state as another session reads it (what has committed)."""
    (state,) = in_threads(1, lambda _: Job.objects.get(pk=pk).state)
    return str(state)


def test_complete_and_commit__the_commit_goes_with_the_completion() -> None:
    engine = ledger.engine()
    ledger.insert([new("a"), new("b")])
    first = engine.claim_one(QUEUE)
    assert first is not None
    hooks: list[str] = []
    with round_trips() as sent, engine.attempt_transaction(first, 30.0) as locked:
        assert locked is not None
        transaction.on_commit(lambda: hooks.append("committed"))
        following = engine.complete_and_commit(locked, QUEUE)
        # SQLite completes only: its worker claims the next job on its own.
        assert following is not None or connection.vendor == "sqlite"
        # PostgreSQL has committed already; elsewhere the block's end commits.
        committed = connection.vendor == "postgresql"
        assert state_seen_elsewhere(first.pk) == ("completed" if committed else "executing")
        assert hooks == []  # on-commit hooks still run when the block ends, once
    assert hooks == ["committed"]
    assert state_seen_elsewhere(first.pk) == "completed"
    if following is not None:
        assert state_seen_elsewhere(following.pk) == following.state == "executing"
    if connection.vendor == "postgresql":
        # BEGIN; the bound with the job's lock; the completion with the COMMIT.
        assert len(sent) == 3, sent


class Dangling(Widget):
    """An action whose write only the commit refuses (a foreign key PostgreSQL and SQLite
    check at COMMIT; MariaDB refuses it at once)."""

    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        self.calls += 1
        self.save()
        Permission.objects.create(name="dangling", codename="dangling", content_type_id=999_999)


@pytest.fixture
def dangling() -> Iterator[Trigger]:
    trigger = Trigger("finish", where=Q(done=False), scheduler_cron=None, max_attempts=3)
    with register(Dangling, triggers=[trigger]):
        yield trigger


def test_complete_and_commit__a_commit_refused_for_the_work_fails_the_attempt(
    dangling: Trigger,
) -> None:
    widget = Dangling.objects.create()
    queued = run_trigger(widget, "finish")
    job = ledger.engine().claim_one(queued.queue)
    assert job is not None
    performed = perform(job)
    assert (performed.state, performed.attempt) == ("retryable", 1), performed.errors
    stored = Job.objects.get(pk=job.pk)
    assert stored.state == "retryable" and len(stored.errors) == 1
    assert IntegrityError.__name__ in stored.errors[0]["error"] or "foreign key" in (
        stored.errors[0]["error"].lower()
    )
    assert Widget.objects.get(pk=widget.pk).calls == 0  # the work rolled back
    assert not Permission.objects.filter(codename="dangling").exists()
