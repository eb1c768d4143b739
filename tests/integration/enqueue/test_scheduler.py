"""The scheduler (docs/running.md), tenants, actors, scheduled actions and the public API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from ash_oban_django import (
    ScheduledAction,
    Trigger,
    build_trigger,
    register,
    run_trigger,
    run_triggers,
    schedule,
    schedule_and_run_triggers,
)
from ash_oban_django.enqueue.scheduler import SchedulerReport, run_scheduler
from ash_oban_django.models import Job
from ash_oban_django.registry import registry
from ash_oban_django.signals import scheduler_finished
from ash_oban_django.testing import assert_triggered, drain_queues, refute_triggered
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_dispatch(ash_oban: Any) -> None:
    """Jobs run in-process here; nothing is handed to django-q2."""


def scheduled_pks(name: str = "testapp.Widget:finish") -> list[int]:
    return [
        int(pk)
        for pk in Job.objects.filter(name=name).order_by("id").values_list("object_pk", flat=True)
    ]


def widgets(*ranks: int, **fields: Any) -> list[Widget]:
    return [Widget.objects.create(rank=rank, **fields) for rank in ranks]


def run(trigger: Trigger, **options: Any) -> SchedulerReport:
    with register(Widget, triggers=[trigger], **options):
        return run_scheduler(registry.get_trigger(Widget, trigger.name))


def test_scheduler__inserts_one_job_per_matching_row_in_sort_order() -> None:
    made = widgets(3, 1, 2)
    Widget.objects.create(rank=9, done=True)
    report = run(Trigger("finish", where=Q(done=False), sort=["-rank"], stream_batch_size=2))
    assert (report.matched, report.inserted, report.duplicates) == (3, 3, 0)
    assert scheduled_pks() == [made[0].pk, made[2].pk, made[1].pk]
    job = Job.objects.get(object_pk=str(made[0].pk))
    assert (job.kind, job.queue, job.priority, job.state) == (
        "trigger",
        "testapp_widget_finish",
        2,
        "available",
    )


def test_scheduler__keyset_pages_skip_nothing_when_rows_stop_matching_mid_scan() -> None:
    made = widgets(*range(10))
    trigger = Trigger("finish", where=Q(done=False), stream_batch_size=3)

    def finish_first_rows(**kwargs: Any) -> None:
        # Rows already scanned stop matching while the scan goes on.
        Widget.objects.filter(rank__lt=3).update(done=True)

    scheduler_finished.connect(finish_first_rows)
    try:
        run(trigger)
    finally:
        scheduler_finished.disconnect(finish_first_rows)
    assert sorted(scheduled_pks()) == sorted(w.pk for w in made)


def test_scheduler__record_limit_caps_one_run() -> None:
    widgets(*range(7))
    report = run(Trigger("finish", record_limit=5, stream_batch_size=2))
    assert (report.matched, report.inserted) == (5, 5)
    assert len(scheduled_pks()) == 5


def test_scheduler__second_run_skips_rows_with_incomplete_jobs() -> None:
    widgets(1, 2)
    trigger = Trigger("finish")
    run(trigger)
    report = run(trigger)
    assert (report.matched, report.inserted, report.duplicates) == (2, 0, 2)
    assert Job.objects.count() == 2


def test_scheduler__extra_args_and_metadata_see_the_full_row() -> None:
    (widget,) = widgets(5, name="w")
    trigger = Trigger(
        "finish", extra_args=lambda w: {"name": w.name}, read_metadata=lambda w: {"rank": w.rank}
    )
    with register(Widget, triggers=[trigger]):
        run_scheduler(registry.get_trigger(Widget, "finish"))
        job = Job.objects.get()
        assert job.args == {"extra_args": {"name": "w"}, "metadata": {"rank": 5}}
        assert assert_triggered(widget, "finish", extra_args={"name": "w"}) == [job]


def test_scheduler__signal_reports_matched_inserted_duplicates() -> None:
    widgets(1, 2, 3)
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    scheduler_finished.connect(receiver)
    try:
        trigger = Trigger("finish")
        run(trigger)
        Widget.objects.create()
        run(trigger)
    finally:
        scheduler_finished.disconnect(receiver)
    assert [(s["matched"], s["inserted"], s["duplicates"]) for s in seen] == [(3, 3, 0), (4, 1, 3)]
    assert seen[0]["name"] == "testapp.Widget:finish:scheduler"


def test_scheduler__paused_trigger_schedules_nothing() -> None:
    widgets(1)
    assert run(Trigger("finish", state="paused")) == SchedulerReport()
    assert Job.objects.count() == 0


# -- tenants ----------------------------------------------------------------------------------


def test_tenants__only_listed_tenants_rows_are_processed() -> None:
    a, b, c = (Widget.objects.create(tenant=t) for t in ("a", "b", "c"))
    trigger = Trigger("finish", action="record_context", where=Q(done=False))
    with register(Widget, triggers=[trigger], list_tenants=["a", "b"], tenant_field="tenant"):
        result = schedule_and_run_triggers(Widget, drain_queues=True)
    assert result.success == 3  # the scheduler and two worker jobs
    done = {w.tenant: w.note for w in Widget.objects.filter(done=True)}
    assert done == {"a": "actor=None tenant=a attempt=1", "b": "actor=None tenant=b attempt=1"}
    assert not Widget.objects.get(pk=c.pk).done
    assert {j.tenant for j in Job.objects.filter(kind="trigger")} == {"a", "b"}
    assert a.pk and b.pk


def test_tenants__tenant_from_record_with_one_unscoped_scheduler() -> None:
    for tenant in ("x", "y", "z"):
        Widget.objects.create(tenant=tenant)
    trigger = Trigger(
        "finish", action="record_context", where=Q(done=False), use_tenant_from_record=True
    )
    with register(Widget, triggers=[trigger], tenant_field="tenant"):
        schedule_and_run_triggers(Widget, drain_queues=True)
    assert sorted(Job.objects.filter(kind="trigger").values_list("tenant", flat=True)) == [
        "x",
        "y",
        "z",
    ]
    assert sorted(Widget.objects.values_list("note", flat=True)) == [
        f"actor=None tenant={t} attempt=1" for t in "xyz"
    ]


def test_tenants__tenant_context_is_entered_around_jobs(settings: Any) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "TENANT_CONTEXT": "tests.testapp.tenancy.use_tenant"}
    from tests.testapp import tenancy

    tenancy.ENTERED.clear()
    widget = Widget.objects.create(tenant="t1")
    trigger = Trigger("finish", scheduler_cron=None)
    with register(Widget, triggers=[trigger], tenant_field="tenant"):
        run_trigger(widget, "finish", tenant="t1")
        drain_queues()
    assert tenancy.ENTERED == ["t1"]


# -- scheduled actions ------------------------------------------------------------------------


def test_scheduled_action__fans_out_to_one_job_per_tenant() -> None:
    action = ScheduledAction("nightly", "0 3 * * *", action_input={"full": True})
    with register(Widget, scheduled_actions=[action], list_tenants=["t1", "t2", "t3"]):
        result = schedule_and_run_triggers((Widget, "nightly"), drain_queues=True)
    assert result.success == 4  # the fan-out job and one job per tenant
    assert sorted(Widget.objects.filter(name="nightly").values_list("tenant", "note")) == [
        (t, "[('full', True)] last_attempt=True") for t in ("t1", "t2", "t3")
    ]


def test_scheduled_action__action_arguments_override_action_input() -> None:
    action = ScheduledAction(
        "nightly", "0 3 * * *", action_input={"full": True, "n": 1}, max_attempts=2
    )
    with register(Widget, scheduled_actions=[action]):
        job = schedule(Widget, "nightly", action_arguments={"n": 2})
        again = schedule(Widget, "nightly", action_arguments={"n": 2})
        drain_queues()
    assert again.conflict and again.pk == job.pk
    assert (
        Widget.objects.get(name="nightly").note == "[('full', True), ('n', 2)] last_attempt=False"
    )


# -- actors -----------------------------------------------------------------------------------


def test_actor__persisted_actor_is_seen_by_the_action() -> None:
    alice = User.objects.create_user("alice")
    widget = Widget.objects.create()
    with register(
        Widget, triggers=[Trigger("finish", action="record_context", scheduler_cron=None)]
    ):
        job = run_trigger(widget, "finish", actor=alice)
        drain_queues()
    assert job.args["actor"] == {"pk": alice.pk}
    widget.refresh_from_db()
    assert widget.note == "actor=alice tenant=None attempt=1"


def test_actor__scheduler_passes_its_actor_to_worker_jobs() -> None:
    bob = User.objects.create_user("bob")
    widget = Widget.objects.create()
    with register(
        Widget, triggers=[Trigger("finish", action="record_context", where=Q(done=False))]
    ):
        schedule_and_run_triggers(Widget, actor=bob, drain_queues=True)
    widget.refresh_from_db()
    assert widget.note == "actor=bob tenant=None attempt=1"


def test_actor__default_actor_comes_from_lookup_none(settings: Any) -> None:
    settings.ASH_OBAN = {"ACTOR_PERSISTER": "tests.testapp.actors.SystemDefaultPersister"}
    widget = Widget.objects.create()
    with register(
        Widget, triggers=[Trigger("finish", action="record_context", scheduler_cron=None)]
    ):
        job = run_trigger(widget, "finish")
        drain_queues()
    assert "actor" not in job.args
    widget.refresh_from_db()
    assert widget.note == "actor=system tenant=None attempt=1"


def test_actor__without_a_persister_is_an_error(settings: Any) -> None:
    settings.ASH_OBAN = {}
    alice = User.objects.create_user("alice")
    with (
        register(Widget, triggers=[Trigger("finish", scheduler_cron=None)]),
        pytest.raises(ImproperlyConfigured, match="ACTOR_PERSISTER"),
    ):
        run_trigger(Widget.objects.create(), "finish", actor=alice)
    assert Job.objects.count() == 0


# -- the public API -----------------------------------------------------------------------------


@pytest.fixture
def finish() -> Iterator[Trigger]:
    trigger = Trigger("finish", where=Q(done=False))
    with register(Widget, triggers=[trigger]):
        yield trigger


def test_run_trigger__duplicate_returns_the_existing_job_with_conflict(finish: Trigger) -> None:
    widget = Widget.objects.create()
    first = run_trigger(widget, "finish")
    second = run_trigger(widget, finish)
    assert (first.conflict, second.conflict, second.pk) == (False, True, first.pk)
    assert Job.objects.count() == 1


def test_run_trigger__job_options(finish: Trigger) -> None:
    widget = Widget.objects.create()
    job = run_trigger(
        widget, "finish", queue="urgent", priority=0, schedule_in=60, max_attempts=4, tags=["vip"]
    )
    job.refresh_from_db()
    assert (job.queue, job.priority, job.max_attempts, job.state) == ("urgent", 0, 4, "scheduled")
    assert job.tags == ["vip"]
    with pytest.raises(TypeError, match=r"Unknown job option\(s\) \['colour'\]"):
        run_trigger(widget, "finish", colour="red")


def test_run_triggers__inserts_all_with_one_statement(
    finish: Trigger,
) -> None:
    made = widgets(1, 2, 3)
    run_trigger(made[0], "finish")
    with CaptureQueriesContext(connection) as queries:
        jobs = run_triggers(made, "finish")
    assert [j.conflict for j in jobs] == [True, False, False]
    # One INSERT into the job table, whatever the rows (MariaDB/MySQL run a lock, a read of
    # the taken keys and a read back around it: see ledger/mysql.py).
    into = f"INSERT INTO {connection.ops.quote_name(Job._meta.db_table)}"
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(into)]
    assert len(inserts) == 1
    assert_triggered(made[1], "finish")


def test_build_trigger__is_unsaved_and_keeps_extra_args_apart(finish: Trigger) -> None:
    widget = Widget.objects.create()
    job = build_trigger(widget, "finish", action_arguments={"a": 1}, args={"trace": "t1"})
    assert job.pk is None
    assert job.args == {"trace": "t1", "action_arguments": {"a": 1}}
    refute_triggered(widget, "finish")


def test_trigger_once__completed_job_blocks_new_ones_even_after_pruning() -> None:
    widget = Widget.objects.create()
    trigger = Trigger("finish", action="record_context", trigger_once=True)  # matches always
    with register(Widget, triggers=[trigger]):
        assert schedule_and_run_triggers(Widget, drain_queues=True).success == 2
        from ash_oban_django.dispatch.maintenance import prune

        prune(older_than=0)
        assert Job.objects.filter(kind="trigger", state="completed").count() == 1
        assert Job.objects.filter(kind="scheduler").count() == 0
        again = run_trigger(widget, "finish")
        result = schedule_and_run_triggers(Widget, drain_queues=True)
    assert again.conflict
    assert result.success == 1  # only the scheduler ran


def test_schedule_and_run_triggers__counts_by_app_model_and_name() -> None:
    widgets(1, 2)
    triggers = [
        Trigger("finish", where=Q(done=False)),
        Trigger("noop", action="record_context", where=Q(done=True)),
    ]
    with register(
        Widget, triggers=triggers, scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")]
    ):
        not_drained = schedule_and_run_triggers("testapp")
        assert not_drained.queues_not_drained == ("testapp_widget_finish", "testapp_widget_noop")
        assert drain_queues().success == 4  # two schedulers, two finish jobs
        assert schedule_and_run_triggers(Widget, drain_queues=True).success == 4  # + 2 noop
        by_name = schedule_and_run_triggers((Widget, "nightly"), drain_queues=True)
        assert by_name.success == 1
        both = schedule_and_run_triggers(Widget, scheduled_actions=True, drain_queues=True)
    # two schedulers, the action, two noop jobs, and a finish job for the widget the
    # earlier nightly run created
    assert both.success == 6


def test_scheduler__uuid_pk_jobs_match_run_trigger_jobs() -> None:
    from tests.testapp.models import Token

    token = Token.objects.create()
    with register(Token, triggers=[Trigger("use", where=Q(used=False))]):
        report = run_scheduler(registry.get_trigger(Token, "use"))
        again = run_trigger(token, "use")
        assert (report.inserted, again.conflict) == (1, True)
        assert Job.objects.get().object_pk == str(token.pk)
        assert drain_queues().success == 1
    token.refresh_from_db()
    assert token.used


def metadata_or_bad(widget: Widget) -> dict[str, Any]:
    """Metadata the args cannot hold for rank 2 (NaN), a failure for rank 3."""
    if widget.rank == 3:
        raise KeyError("no metadata for rank 3")
    return {"score": float("nan") if widget.rank == 2 else widget.rank}


@pytest.mark.parametrize(
    "options",
    [
        {"read_metadata": metadata_or_bad},
        {"extra_args": metadata_or_bad},
        {"read_metadata": lambda w: {"rank": w.rank}, "extra_args": metadata_or_bad},
    ],
    ids=["read_metadata", "extra_args", "both"],
)
def test_scheduler__a_row_whose_values_cannot_be_stored_is_refused_alone(
    options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    made = widgets(1, 2, 3, 4)
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    trigger = Trigger("finish", sort=["rank"], stream_batch_size=10, **options)
    scheduler_finished.connect(receiver)
    try:
        with caplog.at_level(logging.ERROR, "ash_oban_django"):
            report = run(trigger)
            again = run(trigger)
    finally:
        scheduler_finished.disconnect(receiver)
    assert (report.matched, report.inserted, report.refused, report.duplicates) == (4, 2, 2, 0)
    assert (again.matched, again.inserted, again.refused, again.duplicates) == (4, 0, 2, 2)
    assert [(s["refused"], s["duplicates"]) for s in seen] == [(2, 0), (2, 2)]
    assert scheduled_pks() == [made[0].pk, made[3].pk]
    refusals = [r.getMessage() for r in caplog.records][:2]
    assert refusals[0].startswith(f"Scheduler of testapp.Widget:finish refused pk={made[1].pk}: ")
    assert "(record)['score'] is nan, which JSON has no form for" in refusals[0]
    assert refusals[1].startswith(
        f"Scheduler of testapp.Widget:finish refused pk={made[2].pk}: "
        "KeyError: 'no metadata for rank 3'\nTraceback (most recent call last):"
    )  # the traceback in the line, bounded like a stored error's


def test_scheduler__nan_metadata_refuses_its_row_and_the_page_goes_in() -> None:
    made = widgets(1, 2, 3)
    trigger = Trigger(
        "finish", read_metadata=lambda w: {"score": float("nan") if w.rank == 2 else 1.5}
    )
    report = run(trigger)
    assert (report.matched, report.inserted, report.refused) == (3, 2, 1)
    assert scheduled_pks() == [made[0].pk, made[2].pk]
