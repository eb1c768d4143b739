"""Maintenance (docs/operations.md, docs/architecture.md): staging and waking, rescue, pruning; dispatch tasks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Q
from django_q.models import OrmQ

from ash_oban_django import ScheduledAction, Trigger, ledger, register, run_trigger, schedule
from ash_oban_django.dispatch.maintenance import maintain, prune, rescue, stage_due
from ash_oban_django.dispatch.tasks import run_queue
from ash_oban_django.dispatch.wake import RUN_QUEUE
from ash_oban_django.models import Job
from ash_oban_django.testing import drain_queues
from tests.integration.refusals import refusing_job_saves
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

QUEUE = "testapp_widget_finish"


@pytest.fixture
def finish(ash_oban: Any) -> Any:
    trigger = Trigger(
        "finish", where=Q(done=False, errored=False), scheduler_cron=None, on_error="mark_errored"
    )
    with register(Widget, triggers=[trigger]):
        yield trigger


def test_stage_due__makes_due_jobs_available_and_reports_every_waiting_queue(finish: Any) -> None:
    due = run_trigger(Widget.objects.create(), "finish", schedule_in=60)
    later = run_trigger(Widget.objects.create(), "finish", schedule_in=600)
    waiting = run_trigger(Widget.objects.create(), "finish")
    Job.objects.filter(pk=due.pk).update(scheduled_at=ledger.now() - timedelta(seconds=1))
    assert stage_due() == {QUEUE: 2}  # the due one and the one already waiting
    states = dict(Job.objects.values_list("pk", "state"))
    assert (states[due.pk], states[later.pk], states[waiting.pk]) == (
        "available",
        "scheduled",
        "available",
    )


def test_maintain__wakes_a_queue_whose_dispatch_task_was_lost(finish: Any) -> None:
    from ash_oban_django.dispatch.wake import set_dispatch

    job = run_trigger(Widget.objects.create(), "finish")  # its task never reached django-q2
    assert OrmQ.objects.count() == 0
    set_dispatch(True)
    try:
        report = maintain()
    finally:
        set_dispatch(False)
    assert report["waiting"] == 1
    (task,) = [t.task for t in OrmQ.objects.all()]
    assert (task["func"], task["args"]) == (RUN_QUEUE, (QUEUE,))
    assert run_queue(*task["args"]) == 1  # the task django-q2 would run
    job.refresh_from_db()
    assert job.state == "completed"


def test_rescue__orphan_without_attempts_left_goes_through_on_error(finish: Any) -> None:
    widget = Widget.objects.create()
    run_trigger(widget, "finish")
    (claimed,) = ledger.engine().claim(QUEUE, 1)
    # Long enough ago for every database (without row locks the rule is an hour).
    Job.objects.filter(pk=claimed.pk).update(attempted_at=ledger.now() - timedelta(hours=2))
    assert rescue() == 1
    job = Job.objects.get(pk=claimed.pk)
    widget.refresh_from_db()
    assert (job.state, job.attempt) == ("completed", 1)
    assert job.errors[0]["error"].startswith("JobOrphaned: ")
    assert widget.errored and widget.note.startswith("JobOrphaned: ")
    assert rescue() == 0


def test_rescue__a_recent_executing_job_is_left_alone(finish: Any) -> None:
    run_trigger(Widget.objects.create(), "finish")
    (claimed,) = ledger.engine().claim(QUEUE, 1)
    assert rescue() == 0
    assert Job.objects.get(pk=claimed.pk).state == "executing"


def test_prune__deletes_old_finished_jobs_but_keeps_trigger_once_markers(ash_oban: Any) -> None:
    triggers = [
        Trigger("finish", scheduler_cron=None),
        Trigger("once", action="finish", scheduler_cron=None, trigger_once=True),
    ]
    with register(Widget, triggers=triggers):
        for name in ("finish", "once"):
            run_trigger(Widget.objects.create(), name)
        drain_queues()
        fresh = run_trigger(Widget.objects.create(), "finish")
        drain_queues()
        old = ledger.now() - timedelta(days=2)
        Job.objects.exclude(pk=fresh.pk).update(completed_at=old)
        assert prune() == 1  # the old `finish` job; the new one is within PRUNE_AFTER
        assert sorted(Job.objects.values_list("name", flat=True)) == [
            "testapp.Widget:finish",
            "testapp.Widget:once",
        ]


def test_scheduled_action__with_no_tenants_runs_nothing(ash_oban: Any) -> None:
    action = ScheduledAction("nightly", "0 3 * * *")
    with register(Widget, scheduled_actions=[action], list_tenants=[]):
        job = schedule(Widget, "nightly")
        assert drain_queues().success == 1
    job.refresh_from_db()
    assert job.state == "completed"
    assert not Widget.objects.filter(name="nightly").exists()


def test_run_queue__claims_by_priority_then_insertion(finish: Any) -> None:
    made = [Widget.objects.create() for _ in range(3)]
    run_trigger(made[0], "finish")
    run_trigger(made[1], "finish", priority=0)
    run_trigger(made[2], "finish")
    order = [job.object_pk for job in (ledger.engine().claim(QUEUE, 1)[0] for _ in range(3))]
    assert order == [str(made[1].pk), str(made[0].pk), str(made[2].pk)]


def test_claim__queue_limit_caps_running_jobs(finish: Any, settings: Any) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "QUEUES": {QUEUE: {"limit": 2}}}
    from ash_oban_django.conf import settings as conf

    for _ in range(4):
        run_trigger(Widget.objects.create(), "finish")
    limit = conf.queue_limit(QUEUE)
    first = ledger.engine().claim(QUEUE, 10, max_running=limit)
    assert len(first) == 2
    assert ledger.engine().claim(QUEUE, 10, max_running=limit) == []  # two are running
    Job.objects.filter(pk=first[0].pk).update(state="completed")
    assert len(ledger.engine().claim(QUEUE, 10, max_running=limit)) == 1


def orphan_of(widget: Widget) -> Job:
    """The job of `widget`, claimed by a worker that died long ago (for every database:
    without row locks the rule is an hour)."""
    job = run_trigger(widget, "finish")
    Job.objects.filter(pk=job.pk).update(
        state="executing", attempt=1, attempted_at=ledger.now() - timedelta(hours=2)
    )
    return Job.objects.get(pk=job.pk)


@pytest.fixture
def refused() -> Iterator[dict[int, bool]]:
    """The database refuses every save of the jobs given as `{pk: discard_allowed}`, but
    the one that discards them when that is allowed."""
    poison: dict[int, bool] = {}

    def refused(job: Job) -> bool:
        return job.pk in poison and not (poison[job.pk] and job.state == "discarded")

    with refusing_job_saves(refused):
        yield poison


def test_rescue__an_orphan_whose_rescue_fails_is_discarded_and_the_others_rescued(
    finish: Any, refused: dict[int, bool], caplog: pytest.LogCaptureFixture
) -> None:
    poisoned, normal = Widget.objects.create(), Widget.objects.create()
    poison = orphan_of(poisoned)  # found first
    orphan = orphan_of(normal)
    refused[poison.pk] = True
    old = run_trigger(Widget.objects.create(done=True), "finish")
    Job.objects.filter(pk=old.pk).update(
        state="completed", completed_at=ledger.now() - timedelta(days=2)
    )
    with caplog.at_level(logging.ERROR, "ash_oban_django"):
        report = maintain()
    assert (report["rescued"], report["pruned"], report["failed"]) == (2, 1, 0)
    orphan.refresh_from_db()
    normal.refresh_from_db()
    assert orphan.state == "completed" and normal.errored  # through on_error
    poison.refresh_from_db()
    poisoned.refresh_from_db()
    assert poison.state == "discarded"
    assert [e["error"].split(":")[0] for e in poison.errors] == ["JobOrphaned", "DataError"]
    assert not poisoned.errored  # on_error's writes rolled back with the failed rescue
    assert f"Rescue of job {poison.pk} (testapp.Widget:finish) failed" in caplog.text
    assert maintain()["rescued"] == 0  # on_error does not run again


def test_rescue__an_orphan_that_cannot_even_be_discarded_is_left_for_the_next_pass(
    finish: Any, refused: dict[int, bool], caplog: pytest.LogCaptureFixture
) -> None:
    poison = orphan_of(Widget.objects.create())
    orphan = orphan_of(Widget.objects.create())
    refused[poison.pk] = False
    with caplog.at_level(logging.ERROR, "ash_oban_django"):
        assert rescue() == 1
    assert f"Rescue of job {poison.pk} failed; it is left for the next pass" in caplog.text
    assert Job.objects.get(pk=orphan.pk).state == "completed"
    assert Job.objects.get(pk=poison.pk).state == "executing"


def test_maintain__a_failing_step_does_not_stop_the_next_ones(
    finish: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from ash_oban_django.dispatch.wake import set_dispatch

    settings.ASH_OBAN = {**settings.ASH_OBAN, "RESCUE_AFTER": "soon"}  # the rescue raises
    orphan = orphan_of(Widget.objects.create())
    waiting = run_trigger(Widget.objects.create(), "finish")
    old = run_trigger(Widget.objects.create(done=True), "finish")
    Job.objects.filter(pk=old.pk).update(
        state="completed", completed_at=ledger.now() - timedelta(days=2)
    )
    set_dispatch(True)
    try:
        with caplog.at_level(logging.ERROR, "ash_oban_django"):
            report = maintain()
    finally:
        set_dispatch(False)
    assert report == {"waiting": 1, "rescued": 0, "pruned": 1, "failed": 1}
    assert "Maintenance step rescue failed" in caplog.text
    assert [t.task["args"] for t in OrmQ.objects.all()] == [(QUEUE,)]  # woken after
    assert Job.objects.get(pk=orphan.pk).state == "executing"
    assert Job.objects.get(pk=waiting.pk).state == "available"


@pytest.mark.postgres
def test_prune__each_delete_uses_its_index() -> None:
    from django.db import connection

    from ash_oban_django.ledger.backend import _STAMPS

    cutoff = ledger.now()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a small table: ask for the plan
        for state, stamp in _STAMPS.items():
            query = Job.objects.filter(state=state, **{f"{stamp}__lt": cutoff})
            plan = query.explain()
            assert f"ash_oban_job_{state}" in plan, plan
