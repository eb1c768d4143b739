"""The ledger engine's contract: every verb of `Backend`, the same assertions on every
database. The suite runs once per database (SQLite, PostgreSQL, ...), so each run checks
the backend of its own database; `test_contract__the_run_checks_its_databases_backend`
says which one ran."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction

from ash_oban_django import ledger
from ash_oban_django.ledger import Backend
from ash_oban_django.models import Job

pytestmark = pytest.mark.django_db

QUEUE = "contract"


@pytest.fixture
def engine() -> Backend:
    return ledger.engine()


def new(name: str = "contract.Job", object_pk: str = "1", **values: Any) -> Job:
    values = {"kind": "trigger", "queue": QUEUE, "priority": 2, "max_attempts": 3, **values}
    return ledger.new_job(name=name, object_pk=object_pk, **values)


def claimed(engine: Backend, **values: Any) -> Job:
    (job,) = ledger.insert([new(**values)])
    (job,) = engine.claim(QUEUE, 1)
    return job


def test_contract__the_run_checks_its_databases_backend(engine: Backend) -> None:
    assert engine.vendor == connection.vendor
    assert type(engine) is ledger.BACKENDS[connection.vendor]


def test_insert__skips_taken_keys_and_reports_what_it_inserted(engine: Backend) -> None:
    first, dup, other = ledger.insert([new(), new(), new(object_pk="2")])
    assert (first.conflict, dup.conflict, other.conflict) == (False, True, False)
    assert dup.pk is None and first.pk is not None
    again = ledger.insert_one(new())
    assert (again.conflict, again.pk) == (True, first.pk)
    rows = engine.insert(ledger.Rows.of_jobs([new(object_pk="2"), new(object_pk="3")]))
    assert [row[2] for row in rows] == ["3"]  # (id, name, object_pk, ...) of the new row only


def test_insert__the_key_holds_the_args_and_maps_each_row_back(engine: Backend) -> None:
    plain, one, two, dup = ledger.insert(
        [new(), new(args={"n": 1}), new(args={"n": 2}), new(args={"n": 1, "actor": 7})]
    )
    assert [j.conflict for j in (plain, one, two, dup)] == [False, False, False, True]
    assert {j.pk: j.args for j in (plain, one, two)} == dict(Job.objects.values_list("pk", "args"))
    again = ledger.insert_one(new(args={"n": 2, "metadata": {"m": 1}}))
    assert (again.conflict, again.pk) == (True, two.pk)


def test_insert__announces_available_jobs_after_commit(
    engine: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    heard: list[dict[str, int]] = []

    def listen(sender: Any, queues: dict[str, int], **kwargs: Any) -> None:
        heard.append(queues)

    ledger.jobs_available.connect(listen)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            later = ledger.schedule_in(60)
            ledger.insert([new(), new(object_pk="2"), new(object_pk="3", scheduled_at=later)])
            ledger.insert([new()])  # a conflict: nothing new to announce
            assert heard == []  # not before the commit
    finally:
        ledger.jobs_available.disconnect(listen)
    assert len(callbacks) == 1
    assert heard == [{QUEUE: 2}]  # the scheduled job is not available yet


def test_claim__by_priority_then_scheduled_at_then_id_and_never_twice(engine: Backend) -> None:
    ledger.insert([new(object_pk=pk, priority=p) for pk, p in (("a", 5), ("b", 1), ("c", 5))])
    ledger.insert([new(object_pk="later", scheduled_at=ledger.schedule_in(60))])
    order = [engine.claim(QUEUE, 1)[0].object_pk for _ in range(3)]
    assert order == ["b", "a", "c"]
    assert engine.claim(QUEUE, 5) == []  # the rest is not due
    job = Job.objects.get(object_pk="a")
    assert (job.state, job.attempt, bool(job.attempted_by)) == ("executing", 1, True)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the backend without row locks")
def test_claim_among__a_candidate_another_worker_ran_meanwhile_is_not_taken(
    engine: Backend,
) -> None:
    """Without row locks a claim reads its candidates, then takes each by compare-and-set.
    Another worker may run a candidate in between and leave it `retryable`, due later: the
    compare-and-set must not take it now."""
    (job,) = ledger.insert([new(object_pk="r")])
    meanwhile: list[str] = []

    def other_worker_first(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("UPDATE") and not meanwhile:
            meanwhile.append(sql)  # it ran the job, which failed: retryable, due in a minute
            Job.objects.filter(pk=job.pk).update(
                state="retryable", attempt=1, scheduled_at=ledger.schedule_in(60)
            )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(other_worker_first):
        claimed = engine.claim(QUEUE, 1)
    assert meanwhile and claimed == []
    assert Job.objects.get(pk=job.pk).state == "retryable"


def test_claim__max_running_caps_the_queue(engine: Backend) -> None:
    ledger.insert([new(object_pk=str(i)) for i in range(4)])
    assert len(engine.claim(QUEUE, 10, max_running=3)) == 3
    assert engine.claim(QUEUE, 10, max_running=3) == []


def test_claim_among__takes_only_the_candidates(engine: Backend) -> None:
    ledger.insert([new(object_pk="x"), new(object_pk="y")])
    (job,) = engine.claim_among(engine.runnable().filter(object_pk="y"), 5)
    assert job.object_pk == "y" and job.state == "executing"


def test_lock_executing__only_the_same_attempt(engine: Backend) -> None:
    job = claimed(engine)
    with transaction.atomic():
        assert engine.lock_executing(job) is job
        fresh = engine.lock_executing(job, refresh=True)
        assert fresh is not None and fresh is not job and fresh.pk == job.pk
    Job.objects.filter(pk=job.pk).update(attempt=2)  # someone else's attempt now
    with transaction.atomic():
        assert engine.lock_executing(job) is None


def test_complete__and_claim_the_next(engine: Backend) -> None:
    first = claimed(engine)
    ledger.insert([new(object_pk="2")])
    with transaction.atomic():
        following = engine.complete(first, claim_from=QUEUE)
    assert Job.objects.get(pk=first.pk).state == "completed"
    # A backend claims the next job in the same statement, or leaves it to the next claim.
    following = following or engine.claim(QUEUE, 1)[0]
    assert (following.object_pk, following.state) == ("2", "executing")


def test_snooze__gives_the_attempt_back_and_counts(engine: Backend) -> None:
    job = claimed(engine)
    engine.snooze(job, 30)
    Job.objects.filter(pk=job.pk).update(scheduled_at=ledger.now())
    (job,) = engine.claim(QUEUE, 1)
    assert job.attempt == 1  # the snoozed attempt was given back
    engine.snooze(job, 30, errors=[RuntimeError("kept")])
    job = Job.objects.get(pk=job.pk)
    assert (job.state, job.attempt, job.meta["snoozed"]) == ("scheduled", 0, 2)
    assert [e["error"] for e in job.errors] == ["RuntimeError: kept"]
    assert job.scheduled_at > ledger.now() + timedelta(seconds=25)


def test_retry_rescue_discard_cancel_handled__each_writes_its_state(engine: Backend) -> None:
    boom = RuntimeError("boom")
    jobs = {name: claimed(engine, object_pk=name) for name in ("r", "s", "d", "c", "h", "f")}
    engine.retry(jobs["r"], boom, 10)
    engine.rescue(jobs["s"], boom)
    engine.discard(jobs["d"], [boom, ValueError("second")])
    engine.cancel(jobs["c"], "no longer wanted")
    engine.handled(jobs["h"], boom)
    engine.handled(jobs["f"], boom, discard=True)
    got = {job.object_pk: job for job in Job.objects.filter(queue=QUEUE)}
    assert {pk: job.state for pk, job in got.items()} == {
        "r": "retryable",
        "s": "available",
        "d": "discarded",
        "c": "cancelled",
        "h": "completed",
        "f": "discarded",
    }
    assert got["r"].scheduled_at > ledger.now() + timedelta(seconds=5)
    assert [e["error"] for e in got["d"].errors] == ["RuntimeError: boom", "ValueError: second"]
    assert got["d"].errors[0]["attempt"] == 1 and "boom" in got["d"].errors[0]["traceback"]
    assert got["c"].meta["cancel_reason"] == "no longer wanted" and got["c"].cancelled_at
    assert got["h"].meta["on_error"] == "handled" and got["h"].completed_at
    assert got["f"].meta["on_error"] == "handled" and got["f"].discarded_at


def test_stage__makes_due_jobs_available(engine: Backend) -> None:
    ledger.insert([new(object_pk="due", scheduled_at=ledger.schedule_in(60))])
    ledger.insert([new(object_pk="later", scheduled_at=ledger.schedule_in(600))])
    Job.objects.filter(object_pk="due").update(scheduled_at=ledger.now() - timedelta(seconds=1))
    assert engine.next_due(QUEUE) is not None
    assert engine.stage() == {QUEUE: 1}
    assert Job.objects.get(object_pk="due").state == "available"


def test_prune__keeps_trigger_once_markers(engine: Backend) -> None:
    old, marker = claimed(engine, object_pk="old"), claimed(engine, object_pk="once", once=True)
    engine.complete(old)
    engine.complete(marker)
    assert engine.prune(ledger.now() - timedelta(days=1)) == 0
    assert engine.prune(ledger.now() + timedelta(seconds=1)) == 1
    assert list(Job.objects.values_list("object_pk", flat=True)) == ["once"]


def test_next_orphan__an_old_executing_job(engine: Backend) -> None:
    job = claimed(engine)
    with transaction.atomic():
        assert engine.next_orphan(ledger.now() - timedelta(seconds=60)) is None
        orphan = engine.next_orphan(ledger.now() + timedelta(seconds=1))
        assert orphan is not None and orphan.pk == job.pk
        assert engine.next_orphan(ledger.now() + timedelta(seconds=1), skip=[job.pk]) is None


def test_operator_retry_and_cancel(engine: Backend) -> None:
    done = claimed(engine, object_pk="done")
    engine.discard(done, [RuntimeError("x")])
    handled = claimed(engine, object_pk="handled")
    engine.handled(handled, RuntimeError("y"))
    ledger.insert([new(object_pk="waiting", scheduled_at=ledger.schedule_in(60))])
    assert engine.retry_now(Job.objects.filter(object_pk__in=["done", "handled"])) == {QUEUE: 2}
    retried = Job.objects.get(object_pk="done")
    assert (retried.state, retried.max_attempts) == ("available", 3)
    assert "on_error" not in Job.objects.get(object_pk="handled").meta  # a fresh run
    assert engine.cancel_waiting(Job.objects.all(), "operator") == 3
    assert set(Job.objects.values_list("state", flat=True)) == {"cancelled"}


def test_serialize__holds_until_the_transaction_ends(engine: Backend) -> None:
    with transaction.atomic():
        engine.serialize("ash_oban_django:contract")
        engine.serialize("ash_oban_django:contract")  # re-entrant within one transaction
