"""A dispatch task notices its cluster stopping and claims no more (the real SIGTERM path
is in tests/e2e/test_qcluster.py)."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Count
from django_q.cluster import Sentinel

from ash_oban_django import Trigger, register, run_triggers
from ash_oban_django.dispatch import stopping
from ash_oban_django.dispatch.consume import consume
from ash_oban_django.models import Job
from tests.integration.dispatch.test_consume import SlowWidget

pytestmark = pytest.mark.django_db


@pytest.fixture
def stop_event(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    event = multiprocessing.get_context("fork").Event()
    monkeypatch.setattr(stopping, "_stop_event", event)
    yield event


def test_stopping__a_task_stops_claiming_once_its_cluster_stops(
    ash_oban: Any, stop_event: Any
) -> None:
    with register(SlowWidget, triggers=[Trigger("finish", scheduler_cron=None)]):
        run_triggers([SlowWidget.objects.create() for _ in range(200)], "finish")
        threading.Timer(0.3, stop_event.set).start()
        started = time.monotonic()
        ran = consume("testapp_slowwidget_finish")
        took = time.monotonic() - started
    assert took < 0.3 + 2, took
    states = dict(Job.objects.values_list("state").annotate(n=Count("id")).order_by())
    assert 0 < ran < 200 and states == {"completed": ran, "available": 200 - ran}, states


def test_stopping__a_stopped_cluster_claims_nothing(ash_oban: Any, stop_event: Any) -> None:
    stop_event.set()
    with register(SlowWidget, triggers=[Trigger("finish", scheduler_cron=None)]):
        run_triggers([SlowWidget.objects.create() for _ in range(3)], "finish")
        assert consume("testapp_slowwidget_finish") == 0
    assert set(Job.objects.values_list("state", flat=True)) == {"available"}


def test_stopping__the_event_is_found_on_the_sentinels_stack() -> None:
    context = multiprocessing.get_context("fork")
    event = context.Event()
    sentinel = Sentinel(event, context.Event(), uuid.uuid4(), broker=object(), start=False)

    def spawned_by(self: Sentinel) -> Any:  # the frame a fork leaves under a worker
        return stopping.sentinel_stop_event()

    assert spawned_by(sentinel) is event
    assert stopping.sentinel_stop_event() is None  # not a django-q2 worker process


def test_stopping__outside_a_cluster_is_never_stopping() -> None:
    assert stopping._stop_event is None
    assert stopping.stopping() is False
