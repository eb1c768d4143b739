"""A wake task's loop (docs/operations.md): it serves its queue, and does not let another
queue starve while it does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ash_oban_django import Trigger, register, run_trigger, run_triggers
from ash_oban_django.dispatch import consume as consume_module
from ash_oban_django.dispatch.consume import consume
from ash_oban_django.models import Job
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


class SlowWidget(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        time.sleep(0.05)
        super().finish(**inputs)


@pytest.fixture
def two_queues(ash_oban: Any) -> Iterator[None]:
    with register(
        SlowWidget,
        triggers=[
            Trigger("finish", scheduler_cron=None, queue="backlog"),
            Trigger("urgent", action="finish", scheduler_cron=None, queue="idle"),
        ],
    ):
        yield


def test_consume__a_starving_queue_is_served_between_a_backlogs_jobs(
    two_queues: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consume_module, "STARVING_AFTER", 0.0)
    monkeypatch.setattr(consume_module, "STARVING_CHECK", 0.1)
    run_triggers([SlowWidget.objects.create() for _ in range(10)], "finish")
    urgent = run_trigger(SlowWidget.objects.create(), "urgent")
    assert consume("backlog") == 11  # its own ten, and the idle queue's job on the way
    order = list(Job.objects.order_by("attempted_at").values_list("queue", flat=True))
    assert order.index("idle") < 5, order  # run after about 0.1 s, not after the backlog
    assert Job.objects.get(pk=urgent.pk).state == "completed"
