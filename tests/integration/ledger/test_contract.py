"""The ledger engine's contract: every verb of `Backend`, the same assertions on every
database. The suite runs once per database (SQLite, PostgreSQL, ...), so each run checks
the backend of its own database; `test_contract__the_run_checks_its_databases_backend`
says which one ran."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction

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
    ledger.insert([new(**values)])
    job = engine.claim_one(QUEUE)
    assert job is not None
    return job


def executing() -> int:
    return Job.objects.filter(state="executing").count()


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
    announced = [c for c in callbacks if getattr(c.func, "__self__", None) is ledger.jobs_available]
    assert len(announced) == 1
    assert heard == [{QUEUE: 2}]  # the scheduled job is not available yet


def test_claim__by_priority_then_scheduled_at_then_id_and_never_twice(engine: Backend) -> None:
    ledger.insert([new(object_pk=pk, priority=p) for pk, p in (("a", 5), ("b", 1), ("c", 5))])
    ledger.insert([new(object_pk="later", scheduled_at=ledger.schedule_in(60))])
    order = [engine.claim(QUEUE, 1)[0].object_pk for _ in range(3)]
    assert order == ["b", "a", "c"]
    assert engine.claim(QUEUE, 5) == []  # the rest is not due
    assert engine.claim_one(QUEUE) is None
    job = Job.objects.get(object_pk="a")
    assert (job.state, job.attempt, bool(job.attempted_by)) == ("executing", 1, True)


def test_claim__never_takes_more_than_asked(engine: Backend) -> None:
    """The pick is fenced in its own step (a CTE where the claim is one statement): however
    the database plans it, a claim of n moves at most n jobs, on every claim path."""
    ledger.insert([new(object_pk=str(i)) for i in range(40)])
    assert len(engine.claim(QUEUE, 1)) == 1
    assert executing() == 1
    assert len(engine.claim(QUEUE, 7)) == 7
    assert executing() == 8
    assert len(engine.claim_matching(ledger.runnable(QUEUE), 3)) == 3
    assert executing() == 11
    assert len(engine.claim(QUEUE, 5, max_running=13)) == 2  # 11 already running
    assert executing() == 13
    job = engine.claim_one(QUEUE)
    assert job is not None and executing() == 14
    with transaction.atomic():
        following = engine.complete_and_claim(job, QUEUE)
    assert executing() == (14 if following is not None else 13)  # one done, at most one taken
    remaining = Job.objects.filter(state="available").count()
    assert len(engine.claim(QUEUE, 100)) == remaining
    assert not Job.objects.filter(state="available").exists()


def test_claim__a_job_another_worker_ran_meanwhile_is_judged_as_it_is_now(
    engine: Backend,
) -> None:
    """Another worker may run a job and leave it `retryable`, due later, just before a claim
    runs: the claim reads the job as it is then and does not take it."""
    (job,) = ledger.insert([new(object_pk="r")])
    meanwhile: list[str] = []

    def other_worker_first(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not meanwhile:  # before the claim's first statement
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


def test_claim_matching__takes_only_the_candidates(engine: Backend) -> None:
    ledger.insert([new(object_pk="x"), new(object_pk="y")])
    (job,) = engine.claim_matching(ledger.runnable().filter(object_pk="y"), 5)
    assert job.object_pk == "y" and job.state == "executing"
    assert (job.attempt, Job.objects.get(pk=job.pk).attempt) == (1, 1)


def test_lock_attempt__only_the_same_attempt(engine: Backend) -> None:
    job = claimed(engine)
    with transaction.atomic():
        assert engine.lock_attempt(job) is job
        fresh = engine.lock_attempt(job, refresh=True)
        assert fresh is not None and fresh is not job and fresh.pk == job.pk
        assert (fresh.state, fresh.attempt, fresh.attempted_at) == (
            "executing",
            1,
            job.attempted_at,
        )
    Job.objects.filter(pk=job.pk).update(attempt=2)  # someone else's attempt now
    with transaction.atomic():
        assert engine.lock_attempt(job) is None
        assert engine.lock_attempt(job, refresh=True) is None


def test_attempt_transaction__holds_the_same_attempt_or_yields_none(engine: Backend) -> None:
    job = claimed(engine)
    for idle in (None, 30.0):
        with engine.attempt_transaction(job, idle) as locked:
            assert locked is job
        with engine.attempt_transaction(job, idle, refresh=True) as fresh:
            assert fresh is not None and fresh is not job and fresh.pk == job.pk
            assert (fresh.state, fresh.attempt) == ("executing", 1)
    Job.objects.filter(pk=job.pk).update(attempt=2)  # someone else's attempt now
    for refresh in (False, True):
        with engine.attempt_transaction(job, 30.0, refresh=refresh) as locked:
            assert locked is None


def test_complete_and_commit__completes_and_claims_the_next(engine: Backend) -> None:
    """Inside a caller's transaction (a drain; here the test's), as alone."""
    first = claimed(engine, object_pk="a")
    ledger.insert([new(object_pk="b")])
    with engine.attempt_transaction(first, 30.0) as locked:
        assert locked is not None
        following = engine.complete_and_commit(locked, QUEUE)
    assert Job.objects.get(pk=first.pk).state == "completed"
    if following is None:  # a database that completes only: the worker claims next
        assert engine.vendor == "sqlite"
        following = engine.claim_one(QUEUE)
    assert following is not None and following.object_pk == "b"
    assert Job.objects.get(pk=following.pk).state == "executing"
    with engine.attempt_transaction(following, None) as locked:
        assert locked is not None
        assert engine.complete_and_commit(locked) is None
    assert Job.objects.get(pk=following.pk).state == "completed"


def test_complete__marks_the_job_completed(engine: Backend) -> None:
    job = claimed(engine)
    with transaction.atomic():
        assert engine.complete(job) is None
    stored = Job.objects.get(pk=job.pk)
    assert (stored.state, job.state) == ("completed", "completed")
    assert stored.completed_at == job.completed_at


def test_complete_and_claim__the_next(engine: Backend) -> None:
    first = claimed(engine)
    ledger.insert([new(object_pk="2")])
    with transaction.atomic():
        following = engine.complete_and_claim(first, QUEUE)
    assert Job.objects.get(pk=first.pk).state == "completed"
    # A backend claims the next job in the same statement, or leaves it to the next claim.
    following = following or engine.claim_one(QUEUE)
    assert following is not None
    assert (following.object_pk, following.state, following.attempt) == ("2", "executing", 1)
    assert Job.objects.get(pk=following.pk).state == "executing"


def test_snooze__gives_the_attempt_back_and_counts(engine: Backend) -> None:
    job = claimed(engine)
    engine.snooze(job, 30)
    Job.objects.filter(pk=job.pk).update(scheduled_at=ledger.now())
    job = engine.claim_one(QUEUE)
    assert job is not None and job.attempt == 1  # the snoozed attempt was given back
    engine.snooze(job, 30, errors=[RuntimeError("kept")])
    job = Job.objects.get(pk=job.pk)
    assert (job.state, job.attempt, job.meta["snoozed"]) == ("scheduled", 0, 2)
    assert [e["error"] for e in job.errors] == ["RuntimeError: kept"]
    assert job.scheduled_at > ledger.now() + timedelta(seconds=25)


def test_error_rescue_discard_cancel_finish_handled__each_writes_its_state(
    engine: Backend,
) -> None:
    boom = RuntimeError("boom")
    jobs = {name: claimed(engine, object_pk=name) for name in ("r", "s", "d", "c", "h", "f")}
    engine.error(jobs["r"], boom, 10)
    engine.rescue(jobs["s"], boom)
    engine.discard(jobs["d"], [boom, ValueError("second")])
    engine.cancel(jobs["c"], "no longer wanted")
    engine.finish_handled(jobs["h"], boom)
    engine.finish_handled(jobs["f"], boom, discard=True)
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
    assert engine.stage() == {QUEUE: 1}
    assert Job.objects.get(object_pk="due").state == "available"


def test_prune__keeps_trigger_once_markers(engine: Backend) -> None:
    old, marker = claimed(engine, object_pk="old"), claimed(engine, object_pk="once", once=True)
    engine.complete(old)
    engine.complete(marker)
    assert engine.prune(ledger.now() - timedelta(days=1)) == 0
    assert engine.prune(ledger.now() + timedelta(seconds=1)) == 1
    assert list(Job.objects.values_list("object_pk", flat=True)) == ["once"]


def test_lock_orphan__an_old_executing_job(engine: Backend) -> None:
    job = claimed(engine)
    with transaction.atomic():
        assert engine.lock_orphan(ledger.now() - timedelta(seconds=60)) is None
        orphan = engine.lock_orphan(ledger.now() + timedelta(seconds=1))
        assert orphan is not None and orphan.pk == job.pk
        assert engine.lock_orphan(ledger.now() + timedelta(seconds=1), skip=[job.pk]) is None


def test_operator_retry_and_cancel(engine: Backend) -> None:
    done = claimed(engine, object_pk="done")
    engine.discard(done, [RuntimeError("x")])
    handled = claimed(engine, object_pk="handled")
    engine.finish_handled(handled, RuntimeError("y"))
    ledger.insert([new(object_pk="waiting", scheduled_at=ledger.schedule_in(60))])
    assert engine.retry(Job.objects.filter(object_pk__in=["done", "handled"])) == {QUEUE: 2}
    retried = Job.objects.get(object_pk="done")
    assert (retried.state, retried.max_attempts) == ("available", 3)
    assert "on_error" not in Job.objects.get(object_pk="handled").meta  # a fresh run
    assert engine.cancel_unstarted(Job.objects.all(), "operator") == 3
    assert set(Job.objects.values_list("state", flat=True)) == {"cancelled"}


def test_hold_lock__is_re_entrant_within_a_transaction(engine: Backend) -> None:
    with transaction.atomic():
        engine.hold_lock("ash_oban_django:contract")
        engine.hold_lock("ash_oban_django:contract")  # the holder takes it again at once
        assert Job.objects.count() == 0  # the transaction goes on


@pytest.mark.row_locks
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_hold_lock__holds_until_the_transaction_ends(ending: str) -> None:
    """Another connection taking the same lock waits until the holder's transaction ends,
    whichever way it ends. (SQLite has nothing to hold: one writer at a time.)"""
    engine = ledger.engine()
    holding, waited = threading.Event(), []

    def other() -> None:
        try:
            assert holding.wait(5)
            started = time.monotonic()
            with transaction.atomic():
                engine.hold_lock("ash_oban_django:contract")
                waited.append(time.monotonic() - started)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other)
    thread.start()
    try:
        with transaction.atomic():
            engine.hold_lock("ash_oban_django:contract")
            holding.set()
            time.sleep(0.5)
            if ending == "rollback":
                transaction.set_rollback(True)
    finally:
        thread.join(10)
    assert waited and waited[0] >= 0.4  # it waited for the first transaction to end


def test_check__nothing_keeps_the_test_database_from_running_the_ledger(engine: Backend) -> None:
    assert engine.check() == []


def test_tagged__exactly_the_jobs_with_the_tag(engine: Backend) -> None:
    ledger.insert(
        [
            new(object_pk="a", tags=["vip", "eu"]),
            new(object_pk="b", tags=["vip-not"]),
            new(object_pk="c", tags=[]),
        ]
    )
    tagged = Job.objects.filter(engine.tagged("vip")).values_list("object_pk", flat=True)
    assert list(tagged) == ["a"]
    assert not Job.objects.filter(engine.tagged("v")).exists()
