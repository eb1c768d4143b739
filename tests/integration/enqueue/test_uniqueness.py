"""The unique key of a job holds its arguments (docs/running.md, Uniqueness): `action_arguments`,
the extra `args` and a trigger's `extra_args`, but not `metadata` or the actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Q

from ash_oban_django import ScheduledAction, Trigger, register, run_trigger, run_triggers, schedule
from ash_oban_django.enqueue.scheduler import run_scheduler
from ash_oban_django.models import Job
from ash_oban_django.registry import registry
from ash_oban_django.testing import drain_queues
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


@pytest.fixture
def finish(ash_oban: Any) -> Iterator[Trigger]:
    trigger = Trigger("finish", where=Q(done=False))
    with register(Widget, triggers=[trigger]):
        yield trigger


def test_run_trigger__other_action_arguments_make_another_job(finish: Trigger) -> None:
    widget = Widget.objects.create()
    first = run_trigger(widget, "finish", action_arguments={"rush": True})
    other = run_trigger(widget, "finish", action_arguments={"rush": False})
    none = run_trigger(widget, "finish")
    same = run_trigger(widget, "finish", action_arguments={"rush": True})
    assert [j.conflict for j in (first, other, none, same)] == [False, False, False, True]
    assert same.pk == first.pk
    assert Job.objects.count() == 3


def test_run_trigger__other_args_make_another_job(finish: Trigger) -> None:
    widget = Widget.objects.create()
    first = run_trigger(widget, "finish", args={"reason": "a", "n": [1, 2]})
    other = run_trigger(widget, "finish", args={"reason": "b", "n": [1, 2]})
    same = run_trigger(widget, "finish", args={"n": [1, 2], "reason": "a"})  # key order
    assert [j.conflict for j in (first, other, same)] == [False, False, True]
    assert same.pk == first.pk
    assert Job.objects.count() == 2


def test_run_triggers__one_batch_maps_each_job_to_its_row(finish: Trigger) -> None:
    widget = Widget.objects.create()
    run_trigger(widget, "finish", args={"n": 2})
    one = run_triggers([widget], "finish", args={"n": 1})
    two = run_triggers([widget], "finish", args={"n": 2})
    assert [(j.conflict, j.args) for j in one + two] == [(False, {"n": 1}), (True, {"n": 2})]
    assert Job.objects.get(pk=one[0].pk).args == {"n": 1}


def test_args_key__digest_of_the_keyed_args_only(finish: Trigger) -> None:
    from ash_oban_django.models import args_key

    widget = Widget.objects.create()
    plain = run_trigger(widget, "finish")
    job = run_trigger(widget, "finish", action_arguments={"b": 1, "a": 2}, args={"t": "x"})
    assert plain.args_key == "" and len(job.args_key) == 64
    assert job.args_key == args_key({"t": "x", "action_arguments": {"a": 2, "b": 1}})
    assert job.args_key == args_key({**job.args, "actor": {"pk": 1}, "metadata": {"m": 1}})
    assert args_key({"actor": {"pk": 1}, "metadata": {"m": 1}}) == ""


def test_scheduler__repeated_runs_over_unchanged_rows_add_nothing(ash_oban: Any) -> None:
    """`extra_args` of the row are in the key, `metadata` is not: a scheduler finding a row
    whose job still waits skips it, even when the metadata it reads has changed."""
    made = [Widget.objects.create(name=n, rank=i) for i, n in enumerate("ab")]
    trigger = Trigger(
        "finish",
        where=Q(done=False),
        extra_args=lambda w: {"name": w.name},
        read_metadata=lambda w: {"rank": w.rank},
    )
    with register(Widget, triggers=[trigger]):
        entry = registry.get_trigger(Widget, "finish")
        assert run_scheduler(entry).inserted == 2
        assert run_scheduler(entry).inserted == 0
        Widget.objects.filter(pk=made[0].pk).update(rank=9)  # metadata only
        assert run_scheduler(entry).inserted == 0
        Widget.objects.filter(pk=made[1].pk).update(name="c")  # its extra_args
        report = run_scheduler(entry)
        assert (report.matched, report.inserted) == (2, 1)
        # run_trigger builds the same key as the scheduler
        assert run_trigger(made[0], "finish").conflict
    assert Job.objects.count() == 3


def test_trigger_once__completed_job_blocks_the_same_arguments_only(ash_oban: Any) -> None:
    widget = Widget.objects.create()
    trigger = Trigger("finish", action="record_context", trigger_once=True, scheduler_cron=None)
    with register(Widget, triggers=[trigger]):
        run_trigger(widget, "finish", action_arguments={"n": 1})
        assert drain_queues().success == 1
        assert run_trigger(widget, "finish", action_arguments={"n": 1}).conflict
        assert not run_trigger(widget, "finish", action_arguments={"n": 2}).conflict


def test_schedule__action_arguments_of_a_scheduled_action_are_in_the_key(ash_oban: Any) -> None:
    with register(Widget, scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")]):
        first = schedule(Widget, "nightly", action_arguments={"n": 1})
        other = schedule(Widget, "nightly", action_arguments={"n": 2})
        same = schedule(Widget, "nightly", action_arguments={"n": 1})
    assert [j.conflict for j in (first, other, same)] == [False, False, True]
    assert same.pk == first.pk
