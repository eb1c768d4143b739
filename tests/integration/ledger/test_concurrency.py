"""Concurrency on databases with row locks (PostgreSQL, MariaDB, MySQL): threads with their
own connections and transactions."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models import Q

from ash_oban_django import Trigger, ledger, register, run_trigger
from ash_oban_django.dispatch.tasks import run_queue
from ash_oban_django.enqueue.scheduler import run_scheduler
from ash_oban_django.models import Job
from ash_oban_django.registry import registry
from ash_oban_django.worker import perform
from tests.testapp.models import Widget

pytestmark = [pytest.mark.row_locks, pytest.mark.django_db(transaction=True)]

QUEUE = "testapp_widget_finish"


def in_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Run `target(i)` in `count` threads released together; return results, raise errors."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def finish(ash_oban: Any) -> Iterator[Trigger]:
    trigger = Trigger("finish", where=Q(done=False), worker_name="testapp.Widget:finish")
    with register(Widget, triggers=[trigger]):
        yield trigger


def test_ledger__concurrent_duplicate_inserts_leave_one_row(finish: Trigger) -> None:
    widget = Widget.objects.create()
    jobs = in_threads(8, lambda i: run_trigger(widget, "finish"))
    assert Job.objects.count() == 1
    assert sorted(job.conflict for job in jobs) == [False] + [True] * 7
    assert {job.pk for job in jobs} == {Job.objects.get().pk}


def test_ledger__concurrent_inserts_with_the_same_args_leave_one_row(finish: Trigger) -> None:
    widget = Widget.objects.create()
    jobs = in_threads(
        8, lambda i: run_trigger(widget, "finish", action_arguments={"n": 1}, args={"t": "x"})
    )
    assert Job.objects.count() == 1
    assert sorted(job.conflict for job in jobs) == [False] + [True] * 7


def test_ledger__concurrent_inserts_with_two_args_values_leave_two_rows(finish: Trigger) -> None:
    widget = Widget.objects.create()
    jobs = in_threads(8, lambda i: run_trigger(widget, "finish", args={"n": i % 2}))
    assert sorted(Job.objects.values_list("args", flat=True), key=str) == [{"n": 0}, {"n": 1}]
    assert sorted(job.conflict for job in jobs) == [False] * 2 + [True] * 6
    assert {job.pk for job in jobs} == set(Job.objects.values_list("pk", flat=True))


def test_ledger__concurrent_bulk_inserts_of_overlapping_rows(finish: Trigger) -> None:
    made = [Widget.objects.create() for _ in range(300)]
    entry = registry.get_trigger(Widget, "finish")
    from ash_oban_django.enqueue.jobs import worker_job

    def insert(i: int) -> int:
        rows = made[i * 50 : i * 50 + 200]  # each overlaps the next
        jobs = ledger.insert([worker_job(entry, w, None, None) for w in rows])
        return sum(not j.conflict for j in jobs)

    inserted = in_threads(4, insert)
    assert sum(inserted) == Job.objects.count() == 300
    assert Job.objects.values("object_pk").distinct().count() == 300


def test_ledger__concurrent_claims_never_take_a_job_twice(finish: Trigger) -> None:
    for _ in range(200):
        run_trigger(Widget.objects.create(), "finish")
    claims = in_threads(
        4, lambda i: [j.pk for _ in range(30) for j in ledger.engine().claim(QUEUE, 5)]
    )
    taken = [pk for claim in claims for pk in claim]
    assert len(taken) == len(set(taken)) == 200


@pytest.mark.parametrize("size", [1, 3])
def test_ledger__concurrent_claims_never_take_more_than_asked(finish: Trigger, size: int) -> None:
    """Each claim, single statement or pick-then-update, takes at most what it asked for while
    others claim the same queue; together they take every job once."""
    ledger.insert(
        [
            ledger.new_job(
                kind="trigger",
                name="c.J",
                object_pk=str(i),
                queue=QUEUE,
                priority=2,
                max_attempts=1,
            )
            for i in range(60)
        ]
    )
    engine = ledger.engine()

    def claims(i: int) -> list[list[int]]:
        if i % 2:  # half through the limited path, which counts the running jobs
            return [[j.pk for j in engine.claim(QUEUE, size, max_running=1000)] for _ in range(40)]
        return [[j.pk for j in engine.claim(QUEUE, size)] for _ in range(40)]

    batches = [batch for result in in_threads(4, claims) for batch in result]
    assert max(len(batch) for batch in batches) == size
    taken = [pk for batch in batches for pk in batch]
    assert len(taken) == len(set(taken)) == 60
    assert Job.objects.filter(state="executing", attempt=1).count() == 60


def test_worker__two_workers_and_a_scheduler_commit_each_action_once(finish: Trigger) -> None:
    made = [Widget.objects.create() for _ in range(150)]
    entry = registry.get_trigger(Widget, "finish")

    def work(i: int) -> int:
        if i == 2:  # the scheduler, running again and again while the workers run
            return sum(run_scheduler(entry).inserted for _ in range(5))
        ran = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = run_queue(QUEUE)
            ran += done
            if not done and not Widget.objects.filter(done=False).exists():
                break
        return ran

    run_scheduler(entry)
    in_threads(3, work)
    assert list(Widget.objects.values_list("calls", flat=True).distinct()) == [1]
    completed = Counter(Job.objects.filter(state="completed").values_list("object_pk", flat=True))
    assert completed == Counter({str(w.pk): 1 for w in made})
    assert not Job.objects.filter(state__in=["available", "executing", "discarded"]).exists()


def test_worker__duplicate_delivery_of_one_claimed_job_runs_it_once(finish: Trigger) -> None:
    widget = Widget.objects.create()
    run_trigger(widget, "finish")
    (claimed,) = ledger.engine().claim(QUEUE, 1)
    deliveries = [Job.objects.get(pk=claimed.pk) for _ in range(2)]  # both as claimed
    states = in_threads(2, lambda i: perform(deliveries[i]).state)
    assert sorted(states) == ["completed", "executing"]  # the loser saw it was not its turn
    assert Widget.objects.get(pk=widget.pk).calls == 1


def test_worker__row_changed_while_waiting_on_its_lock_is_rechecked(finish: Trigger) -> None:
    widget = Widget.objects.create()
    job = run_trigger(widget, "finish")
    (claimed,) = ledger.engine().claim(QUEUE, 1)
    locked = threading.Event()

    def other_transaction() -> None:
        with transaction.atomic():
            Widget.objects.select_for_update().filter(pk=widget.pk).update(done=True)
            locked.set()
            time.sleep(0.5)  # the worker is now waiting on the row lock

    holder = threading.Thread(target=lambda: (other_transaction(), connections.close_all()))
    holder.start()
    assert locked.wait(5)
    started = time.monotonic()
    result = perform(claimed)
    holder.join()
    assert time.monotonic() - started >= 0.3  # it did wait for the lock
    assert result.state == "cancelled"
    assert "no longer applies" in result.meta["cancel_reason"]
    assert Widget.objects.get(pk=widget.pk).calls == 0
    assert job.pk == result.pk


def test_rescue__orphan_is_rescued_only_when_its_lock_is_gone(
    finish: Trigger, settings: Any
) -> None:
    from ash_oban_django.dispatch.maintenance import rescue

    settings.ASH_OBAN = {"RESCUE_AFTER": 0}
    widget = Widget.objects.create()
    run_trigger(widget, "finish", max_attempts=2)
    (claimed,) = ledger.engine().claim(QUEUE, 1)
    holding = threading.Event()
    release = threading.Event()

    def live_worker() -> None:
        with transaction.atomic():
            Job.objects.select_for_update().get(pk=claimed.pk)
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=lambda: (live_worker(), connections.close_all()))
    holder.start()
    assert holding.wait(5)
    assert rescue() == 0  # locked by a live transaction: not an orphan
    release.set()
    holder.join()
    assert rescue() == 1  # the lock is gone: rescued
    job = Job.objects.get(pk=claimed.pk)
    assert (job.state, job.attempt) == ("available", 1)
    assert job.errors[0]["error"].startswith("JobOrphaned: the worker running attempt 1")
    assert connection.vendor in ("postgresql", "mysql")
