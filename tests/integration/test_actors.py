"""`default_actor` and `actor_persister` per declaration (docs/tenants-and-actors.md), with
the global `ASH_OBAN["ACTOR_PERSISTER"]` as the default."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import Q

from ash_oban_django import ScheduledAction, Trigger, register, run_trigger, schedule
from ash_oban_django.testing import drain_queues, perform_job
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

NAMES = "tests.testapp.actors.NamePersister"


def note_of(widget: Widget) -> str:
    widget.refresh_from_db()
    return widget.note


def record_context(**options: Any) -> Trigger:
    return Trigger(
        "finish", action="record_context", where=Q(done=False), scheduler_cron=None, **options
    )


def test_default_actor__a_value_is_the_actor_of_jobs_that_carry_none(ash_oban: Any) -> None:
    robot = User.objects.create(username="robot")
    with register(Widget, triggers=[record_context(default_actor=robot)]):
        plain, given = Widget.objects.create(), Widget.objects.create()
        run_trigger(plain, "finish")
        run_trigger(given, "finish", actor=User.objects.create(username="ann"))
        assert drain_queues().success == 2
    assert note_of(plain) == "actor=robot tenant=None attempt=1"
    assert note_of(given) == "actor=ann tenant=None attempt=1"  # a stored actor wins


def test_default_actor__a_callable_is_called_at_each_attempt(ash_oban: Any) -> None:
    calls: list[int] = []

    def on_duty() -> User:
        calls.append(1)
        return User.objects.get_or_create(username=f"duty-{len(calls)}")[0]

    with register(Widget, triggers=[record_context(default_actor=on_duty)]):
        first, second = Widget.objects.create(), Widget.objects.create()
        perform_job(first, "finish")
        perform_job(second, "finish")
    assert (note_of(first), note_of(second)) == (
        "actor=duty-1 tenant=None attempt=1",
        "actor=duty-2 tenant=None attempt=1",
    )


def test_default_actor__without_one_the_persisters_lookup_none_gives_the_default(
    ash_oban: Any, settings: Any
) -> None:
    settings.ASH_OBAN = {"ACTOR_PERSISTER": "tests.testapp.actors.SystemDefaultPersister"}
    with register(Widget, triggers=[record_context()]):
        widget = Widget.objects.create()
        perform_job(widget, "finish")
    assert note_of(widget) == "actor=system tenant=None attempt=1"


def test_default_actor__is_the_scheduled_actions_actor(ash_oban: Any) -> None:
    seen: list[Any] = []

    class Actioned(Widget):
        class Meta:
            proxy = True
            app_label = "testapp"

        @classmethod
        def report(cls, **inputs: Any) -> None:
            from ash_oban_django import current_job

            job = current_job()
            assert job is not None
            seen.append(job.actor)

    with register(
        Actioned, scheduled_actions=[ScheduledAction("report", "@daily", default_actor="cron")]
    ):
        schedule(Actioned, "report")
        assert drain_queues().success == 1
    assert seen == ["cron"]


def test_actor_persister__per_declaration_stores_and_looks_up_its_jobs_actors(
    ash_oban: Any,
) -> None:
    with register(Widget, triggers=[record_context(actor_persister=NAMES)]):
        widget, other = Widget.objects.create(), Widget.objects.create()
        job = run_trigger(widget, "finish", actor="ann")
        run_trigger(other, "finish")
        assert job.args["actor"] == {"name": "ann"}  # stored by the declaration's persister
        drain_queues()
    assert note_of(widget) == "actor=ann (looked up) tenant=None attempt=1"
    assert note_of(other) == "actor=nobody tenant=None attempt=1"  # its lookup(None)


def test_actor_persister__an_instance_works_and_the_default_actor_comes_first(
    ash_oban: Any,
) -> None:
    from tests.testapp.actors import NamePersister

    trigger = record_context(actor_persister=NamePersister(), default_actor="boss")
    with register(Widget, triggers=[trigger]):
        widget = Widget.objects.create()
        perform_job(widget, "finish")
    assert note_of(widget) == "actor=boss tenant=None attempt=1"


def test_actor_persister__the_schedulers_jobs_carry_the_declarations_stored_actor(
    ash_oban: Any,
) -> None:
    trigger = Trigger("finish", action="record_context", where=Q(done=False), actor_persister=NAMES)
    with register(Widget, triggers=[trigger]):
        widget = Widget.objects.create()
        schedule(Widget, "finish", actor="scheduler-user")
        assert drain_queues().success == 2
    assert note_of(widget) == "actor=scheduler-user (looked up) tenant=None attempt=1"
