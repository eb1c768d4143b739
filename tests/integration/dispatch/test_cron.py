"""Cron rows in django-q2 (docs/operations.md, docs/architecture.md): sync, states, removal, and what django-q2 fires."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.scheduler import scheduler as django_q_scheduler

from ash_oban_django import ScheduledAction, Trigger, register
from ash_oban_django.dispatch.cron import CRON_TICK, MAINTENANCE_NAME, sync_schedules
from ash_oban_django.dispatch.tasks import cron_tick
from ash_oban_django.models import Job
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


def rows() -> dict[str, tuple[str, int, str | None]]:
    return {
        s.name: (s.cron, s.repeats, s.args)
        for s in Schedule.objects.filter(func=CRON_TICK).order_by("name")
    }


@pytest.fixture
def declared() -> Iterator[None]:
    with register(
        Widget,
        triggers=[Trigger("finish", scheduler_cron="*/5 * * * *")],
        scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")],
    ):
        yield


def test_sync__one_cron_row_per_scheduler_and_action(declared: None) -> None:
    report = sync_schedules()
    assert "testapp.Widget:finish:scheduler" in report.created
    assert rows()["testapp.Widget:finish:scheduler"] == (
        "*/5 * * * *",
        -1,
        "'testapp.Widget:finish:scheduler'",
    )
    assert rows()["testapp.Widget:nightly"] == ("0 3 * * *", -1, "'testapp.Widget:nightly'")
    assert Schedule.objects.filter(name=MAINTENANCE_NAME, cron="* * * * *").count() == 1
    assert sync_schedules().changed is False  # idempotent
    row = Schedule.objects.get(name="testapp.Widget:nightly")
    assert row.next_run > timezone.now() and row.cluster == "default"


def test_sync__declarations_removed_from_code_lose_their_row() -> None:
    with register(
        Widget,
        triggers=[Trigger("finish")],
        scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")],
    ):
        sync_schedules()
    with register(Widget, triggers=[Trigger("other", action="finish")]):
        report = sync_schedules()
    assert set(report.deleted) >= {"testapp.Widget:finish:scheduler", "testapp.Widget:nightly"}
    assert "testapp.Widget:finish:scheduler" not in rows()


@pytest.fixture
def django_q_inline(monkeypatch: pytest.MonkeyPatch, ash_oban: Any) -> None:
    """django-q2's scheduler runs the tasks it creates in this process and keeps the test's
    connection open (its `sync` mode); everything else is the real scheduler pass."""
    monkeypatch.setattr(Conf, "SYNC", True)


def test_sync__paused_keeps_a_row_that_does_not_fire_and_deleted_removes_it(
    django_q_inline: None,
) -> None:
    with register(
        Widget,
        triggers=[
            Trigger("finish", state="paused"),
            Trigger("purge", action="delete", state="deleted"),
            Trigger("active", action="finish"),
        ],
    ):
        sync_schedules()
        assert rows()["testapp.Widget:finish:scheduler"][1] == 0
        assert "testapp.Widget:purge:scheduler" not in rows()
        Schedule.objects.filter(name__startswith="testapp.").update(
            next_run=timezone.now() - timedelta(minutes=1)
        )
        django_q_scheduler(broker=get_broker())
    fired = list(Job.objects.filter(name__startswith="testapp.").values_list("name", flat=True))
    assert fired == ["testapp.Widget:active:scheduler"]  # not the paused one


def test_sync__cron_change_and_unpause_update_the_row() -> None:
    with register(Widget, triggers=[Trigger("finish", state="paused")]):
        sync_schedules()
    with register(Widget, triggers=[Trigger("finish", scheduler_cron="0 * * * *")]):
        report = sync_schedules()
    assert report.updated == ("testapp.Widget:finish:scheduler",)
    assert rows()["testapp.Widget:finish:scheduler"][:2] == ("0 * * * *", -1)


def test_sync__duplicate_rows_from_a_race_are_removed(declared: None) -> None:
    sync_schedules()
    Schedule.objects.create(
        name="testapp.Widget:nightly",
        func=CRON_TICK,
        cron="0 3 * * *",
        schedule_type=Schedule.CRON,
        args="'testapp.Widget:nightly'",
    )
    assert sync_schedules().deleted == ("testapp.Widget:nightly",)
    assert Schedule.objects.filter(name="testapp.Widget:nightly").count() == 1


def test_sync__due_cron_row_fires_through_django_q2_and_inserts_the_scheduler_job(
    declared: None, django_q_inline: None
) -> None:
    sync_schedules()
    due = Schedule.objects.filter(name="testapp.Widget:finish:scheduler")
    # Only this row is due, even when the test runs on a minute boundary.
    Schedule.objects.exclude(pk__in=due).update(next_run=timezone.now() + timedelta(days=1))
    due.update(next_run=timezone.now() - timedelta(seconds=1))
    django_q_scheduler(broker=get_broker())
    due.update(next_run=timezone.now() - timedelta(seconds=1))
    django_q_scheduler(broker=get_broker())  # a tick fired twice does no double work
    job = Job.objects.get()
    assert (job.kind, job.name, job.priority) == ("scheduler", "testapp.Widget:finish:scheduler", 3)


def test_cron_tick__never_raises(
    declared: None, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    cron_tick("no.Such:thing")
    assert "no declaration has" in caplog.text
    settings.ASH_OBAN = {"DATABASE": "missing"}  # the ledger's alias cannot be read
    cron_tick("testapp.Widget:finish:scheduler")
    assert "Cron tick for 'testapp.Widget:finish:scheduler' failed" in caplog.text
    assert "ASH_OBAN['DATABASE'] must be an alias in DATABASES" in caplog.text


def test_command__check_exits_1_until_synced(declared: None) -> None:
    out = io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("ash_oban_sync", "--check", stdout=out)
    assert info.value.returncode == 1
    assert "testapp.Widget:nightly: would be created" in out.getvalue()
    call_command("ash_oban_sync", stdout=io.StringIO())
    out = io.StringIO()
    call_command("ash_oban_sync", "--check", stdout=out)
    assert "up to date" in out.getvalue()


def test_post_migrate__syncs_the_example_schedules() -> None:
    # pytest-django migrated the test database: the shop's declarations have their rows.
    assert set(rows()) >= {"shop.Order:process:scheduler", "shop.Order:import_orders"}
    assert Schedule.objects.filter(name=MAINTENANCE_NAME).exists()
