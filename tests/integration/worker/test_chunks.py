"""Chunked triggers (docs/chunks.md) run in this process, on every database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from ash_oban_django import Cancel, Chunks, Snooze, Trigger, register, run_trigger, run_triggers
from ash_oban_django.models import Job
from ash_oban_django.testing import drain_queues
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

JOB_TABLE = Job._meta.db_table
# A statement that marks jobs completed (on every database's quoting).
COMPLETES = re.compile(r"^UPDATE .*SET [`\"]?state[`\"]? = 'completed'", re.IGNORECASE)


def completions(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if COMPLETES.match(q["sql"]) and JOB_TABLE in q["sql"]]


@pytest.fixture
def chunked(request: pytest.FixtureRequest, ash_oban: Any) -> Iterator[Trigger]:
    options = {"action": "finish_unless_bad", "chunks": Chunks(size=100), **request.param}
    trigger = Trigger(
        "finish",
        where=Q(done=False, errored=False),
        scheduler_cron=None,
        worker_name="testapp.Widget:finish",
        **options,
    )
    with register(Widget, triggers=[trigger]):
        yield trigger


def widgets(*names: str) -> list[Widget]:
    return [Widget.objects.create(name=name) for name in names]


def jobs_of(rows: list[Widget]) -> list[Job]:
    by_pk = {job.object_pk: job for job in Job.objects.filter(kind="trigger")}
    return [by_pk[str(row.pk)] for row in rows]


def refreshed(rows: list[Widget]) -> list[Widget]:
    by_pk = Widget.objects.in_bulk([row.pk for row in rows])
    return [by_pk[row.pk] for row in rows]


@pytest.mark.parametrize("chunked", [{}], indirect=True)
def test_chunk__runs_every_row_and_completes_its_jobs_in_one_statement(chunked: Trigger) -> None:
    rows = widgets(*"abcde")
    run_triggers(rows, "finish", action_arguments={"speed": 2})
    with CaptureQueriesContext(connection) as queries:
        result = drain_queues()
    assert (result.success, result.failure) == (5, 0)
    assert [w.calls for w in refreshed(rows)] == [1] * 5
    assert {w.note for w in refreshed(rows)} == {"[('speed', 2)]"}
    jobs = jobs_of(rows)
    assert {(job.state, job.attempt) for job in jobs} == {("completed", 1)}
    # The five jobs were recorded completed by a single statement.
    assert len(completions(queries)) == 1, completions(queries)


@pytest.mark.parametrize("chunked", [{"max_attempts": 2, "backoff": 60}], indirect=True)
def test_chunk__a_failing_row_rolls_back_only_itself_and_is_retried_alone(
    chunked: Trigger,
) -> None:
    rows = widgets("a", "bad", "c")
    run_triggers(rows, "finish")
    first = drain_queues(with_recursion=False)
    assert (first.success, first.failure) == (2, 1)
    a, bad, c = refreshed(rows)
    assert (a.calls, bad.calls, c.calls) == (1, 0, 1)  # the bad row's write rolled back
    job_a, job_bad, job_c = jobs_of(rows)
    assert (job_a.state, job_c.state) == ("completed", "completed")
    assert (job_bad.state, job_bad.attempt) == ("retryable", 1)
    assert job_bad.errors[0]["error"] == f"ValueError: widget {bad.pk} is bad"

    Widget.objects.filter(pk=bad.pk).update(name="fixed")
    second = drain_queues(with_scheduled=True)
    assert (second.success, second.failure) == (1, 0)
    job_a, job_bad, job_c = jobs_of(rows)
    assert (job_bad.state, job_bad.attempt) == ("completed", 2)
    assert (job_a.attempt, job_c.attempt) == (1, 1)  # the others did not run again
    assert [w.calls for w in refreshed(rows)] == [1, 1, 1]


@pytest.mark.parametrize(
    "chunked", [{"max_attempts": 2, "backoff": 60, "on_error": "mark_errored"}], indirect=True
)
def test_chunk__on_error_runs_per_row_after_its_last_attempt(chunked: Trigger) -> None:
    rows = widgets("a", "bad", "c")
    run_triggers(rows, "finish")
    drain_queues(with_recursion=False)
    assert not refreshed(rows)[1].errored  # attempts left: no on_error yet
    drain_queues(with_scheduled=True)
    a, bad, c = refreshed(rows)
    assert (a.errored, bad.errored, c.errored) == (False, True, False)
    assert bad.note == f"ValueError: widget {bad.pk} is bad"
    job_bad = jobs_of(rows)[1]
    assert (job_bad.state, job_bad.attempt, job_bad.meta.get("on_error")) == (
        "completed",
        2,
        "handled",
    )
    assert len(job_bad.errors) == 2


class Moody(Widget):
    """Snoozes or cancels by name, inside a chunk."""

    class Meta:
        proxy = True
        app_label = "testapp"

    def finish_unless_bad(self, **inputs: Any) -> None:
        if self.name == "sleepy":
            raise Snooze(60)
        if self.name == "quit":
            raise Cancel("not today")
        super().finish_unless_bad(**inputs)


def test_chunk__snooze_and_cancel_are_per_row(ash_oban: Any) -> None:
    trigger = Trigger(
        "finish",
        action="finish_unless_bad",
        where=Q(done=False),
        scheduler_cron=None,
        chunks=Chunks(size=10),
    )
    with register(Moody, triggers=[trigger]):
        rows = [Moody.objects.create(name=n) for n in ("a", "sleepy", "quit")]
        run_triggers(rows, "finish")
        result = drain_queues()
        assert (result.success, result.snoozed, result.cancelled) == (1, 1, 1)
        done, sleepy, quit_ = jobs_of(rows)
    assert done.state == "completed"
    assert (sleepy.state, sleepy.attempt, sleepy.meta["snoozed"]) == ("scheduled", 0, 1)
    assert (quit_.state, quit_.meta["cancel_reason"]) == ("cancelled", "not today")


class Broken(Widget):
    """Writes, then runs a statement the database refuses, for a widget named "bad"."""

    class Meta:
        proxy = True
        app_label = "testapp"

    def finish_unless_bad(self, **inputs: Any) -> None:
        self.finish(**inputs)
        if self.name == "bad":
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM ash_oban_no_such_table")


def test_chunk__a_row_the_database_refuses_rolls_back_only_itself(ash_oban: Any) -> None:
    trigger = Trigger(
        "finish",
        action="finish_unless_bad",
        where=Q(done=False),
        scheduler_cron=None,
        max_attempts=2,
        backoff=60,
        chunks=Chunks(size=10),
    )
    with register(Broken, triggers=[trigger]):
        rows = [Broken.objects.create(name=n) for n in ("a", "bad", "c", "d")]
        run_triggers(rows, "finish")
        result = drain_queues()
        jobs = jobs_of(rows)
    assert (result.success, result.failure) == (3, 1)
    assert [w.calls for w in refreshed(rows)] == [1, 0, 1, 1]
    assert [job.state for job in jobs] == ["completed", "retryable", "completed", "completed"]
    assert "ash_oban_no_such_table" in jobs[1].errors[0]["error"]


@pytest.mark.parametrize("chunked", [{}], indirect=True)
def test_chunk__a_row_that_stopped_matching_is_cancelled(chunked: Trigger) -> None:
    rows = widgets("a", "b")
    run_triggers(rows, "finish")
    Widget.objects.filter(pk=rows[1].pk).update(done=True)
    result = drain_queues()
    assert (result.success, result.cancelled) == (1, 1)
    job_b = jobs_of(rows)[1]
    assert job_b.state == "cancelled"
    assert "trigger no longer applies" in job_b.meta["cancel_reason"]
    assert refreshed(rows)[1].calls == 0


@pytest.mark.parametrize("chunked", [{"chunks": Chunks(size=2)}], indirect=True)
def test_chunk__holds_at_most_size_jobs(chunked: Trigger) -> None:
    rows = widgets(*"abcde")
    run_triggers(rows, "finish")
    with CaptureQueriesContext(connection) as queries:
        assert drain_queues().success == 5
    assert len(completions(queries)) == 3  # chunks of 2, 2 and 1


BULK = {"chunks": Chunks(size=50, by=("batch",), bulk_action="finish_all"), "max_attempts": 2}


@pytest.mark.parametrize("chunked", [BULK], indirect=True)
def test_chunk__bulk_action_runs_once_and_reports_failed_rows(chunked: Trigger) -> None:
    rows = widgets("a", "bad", "c")
    run_triggers(rows, "finish", action_arguments={"batch": 1})
    result = drain_queues(with_recursion=False)
    assert (result.success, result.failure) == (2, 1)
    a, bad, c = refreshed(rows)
    chunk = f"chunk={a.pk},{bad.pk},{c.pk} inputs=[('batch', 1)]"
    assert (a.note, c.note) == (chunk, chunk)
    assert (bad.calls, bad.done) == (0, False)
    job_bad = jobs_of(rows)[1]
    assert (job_bad.state, job_bad.errors[0]["error"]) == (
        "retryable",
        f"ValueError: widget {bad.pk} is bad",
    )


@pytest.mark.parametrize("chunked", [BULK], indirect=True)
def test_chunk__tenants_actors_and_by_arguments_keep_chunks_apart(chunked: Trigger) -> None:
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    groups = {
        "tenant a": {"tenant": "a", "action_arguments": {"batch": 1}},
        "tenant b": {"tenant": "b", "action_arguments": {"batch": 1}},
        "alice": {"actor": alice, "action_arguments": {"batch": 1}},
        "bob": {"actor": bob, "action_arguments": {"batch": 1}},
        "batch 2": {"action_arguments": {"batch": 2}},
        "no batch": {},
    }
    members = {}
    for group, options in groups.items():
        members[group] = widgets(group, group)
        run_triggers(members[group], "finish", **options)
    assert drain_queues().success == 12
    notes = {}
    for group, rows in members.items():
        first, second = refreshed(rows)
        assert (
            first.note
            == second.note
            == f"chunk={first.pk},{second.pk}"
            + (
                f" inputs={[('batch', 2 if group == 'batch 2' else 1)]}"
                if group != "no batch"
                else " inputs=[]"
            )
        )
        notes[group] = first.note
    assert len(set(notes.values())) == len(groups)


@pytest.mark.parametrize("chunked", [{"timeout": 0.3, "max_attempts": 2}], indirect=True)
def test_chunk__the_trigger_timeout_bounds_the_whole_chunk(
    chunked: Trigger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    original = Widget.finish_unless_bad

    def slow(self: Widget, **inputs: Any) -> None:
        original(self, **inputs)
        time.sleep(0.1)

    monkeypatch.setattr(Widget, "finish_unless_bad", slow)
    rows = widgets(*"abcdef")  # 0.6 s in all, each row well within 0.3 s
    run_triggers(rows, "finish")
    result = drain_queues(with_recursion=False)
    assert result.failure == 6
    assert [w.calls for w in refreshed(rows)] == [0] * 6  # the whole chunk rolled back
    for job in jobs_of(rows):
        assert job.state == "retryable"
        assert job.errors[0]["error"].startswith("JobTimeout: the attempt ran longer")


def test_chunk__paused_trigger_cancels_its_jobs_one_by_one(ash_oban: Any) -> None:
    rows = widgets("a", "b")
    running = Trigger("finish", where=Q(done=False), scheduler_cron=None, chunks=Chunks(size=5))
    with register(Widget, triggers=[running]):
        run_triggers(rows, "finish")
    paused = Trigger(
        "finish", where=Q(done=False), scheduler_cron=None, chunks=Chunks(), state="paused"
    )
    with register(Widget, triggers=[paused]):
        assert drain_queues().cancelled == 2


def test_chunk__run_trigger_job_of_a_chunked_trigger_runs_as_a_chunk_of_one(
    ash_oban: Any,
) -> None:
    trigger = Trigger("finish", where=Q(done=False), scheduler_cron=None, chunks=Chunks())
    with register(Widget, triggers=[trigger]):
        widget = Widget.objects.create()
        job = run_trigger(widget, "finish")
        assert drain_queues().success == 1
    job.refresh_from_db()
    widget.refresh_from_db()
    assert job.state == "completed" and widget.done
