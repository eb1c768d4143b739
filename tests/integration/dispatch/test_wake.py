"""Waking queues (docs/operations.md): a broker that cannot take the tasks delays the jobs,
and never fails the code that inserted them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django_q.conf import Conf
from django_q.models import OrmQ

from ash_oban_django import Trigger, register, run_trigger, run_triggers
from ash_oban_django.dispatch.wake import TASKS_PER_WORKER, set_dispatch, wake
from ash_oban_django.models import Job
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatching() -> Iterator[None]:
    previous = set_dispatch(True)
    try:
        yield
    finally:
        set_dispatch(previous)


def test_wake__a_broker_that_is_down_logs_a_warning_and_keeps_the_job(
    dispatching: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # django-q2 reads Q_CLUSTER once, into `Conf`: point it at a Redis broker on a port
    # where nothing listens, so every task handed over fails for real.
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "BROKER_CLASS", None)
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:9/0")
    with (
        register(Widget, triggers=[Trigger("finish", scheduler_cron=None)]),
        caplog.at_level(logging.WARNING, "ash_oban_django"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        job = run_trigger(Widget.objects.create(), "finish")
    assert Job.objects.get(pk=job.pk).state == "available"
    (record,) = [r for r in caplog.records if r.name == "ash_oban_django"]
    assert record.levelno == logging.WARNING
    assert "Could not hand queue 'testapp_widget_finish' to django-q2" in record.getMessage()
    assert record.exc_info is not None


def test_wake__the_broker_holds_a_few_waiting_tasks_per_worker_at_most(
    dispatching: None, django_capture_on_commit_callbacks: Any
) -> None:
    """However many jobs and wakes, the pending wake tasks stay bounded (2 workers here)."""
    with register(Widget, triggers=[Trigger("finish", scheduler_cron=None)]):
        for _ in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                run_triggers([Widget.objects.create() for _ in range(20)], "finish")
        wake({"testapp_widget_finish": 100})
    assert OrmQ.objects.count() == TASKS_PER_WORKER * 2
