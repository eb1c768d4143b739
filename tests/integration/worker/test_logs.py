"""Log lines of failed attempts are bounded like the errors stored on the job."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db.models import Q

from ash_oban_django import Trigger, register, run_trigger
from ash_oban_django.ledger.rows import ERROR_MESSAGE_LIMIT, ERROR_TRACEBACK_LIMIT
from ash_oban_django.testing import drain_queues
from ash_oban_django.worker.logs import bounded
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

HUGE = 1_000_000


class Verbose(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        raise ValueError("x" * HUGE)

    def mark_errored(self, *, error: BaseException) -> None:
        raise RuntimeError("y" * HUGE)


def test_logs__every_failure_line_is_bounded(
    ash_oban: Any, caplog: pytest.LogCaptureFixture
) -> None:
    trigger = Trigger(
        "finish",
        where=Q(errored=False),
        scheduler_cron=None,
        max_attempts=2,
        backoff=0,
        on_error="mark_errored",
    )
    with register(Verbose, triggers=[trigger]), caplog.at_level(logging.WARNING):
        job = run_trigger(Verbose.objects.create(), "finish")
        result = drain_queues(with_scheduled=True)
    assert (result.failure, result.discard) == (1, 1)
    lines = [record.getMessage() for record in caplog.records]
    assert [line.split(" ", 3)[:3] for line in lines] == [
        ["Error", "on", "attempt"],
        ["Final", "error", "on"],
        ["on_error", "of", "testapp.Verbose:finish"],
    ]
    limit = ERROR_MESSAGE_LIMIT + ERROR_TRACEBACK_LIMIT + 500
    assert all(len(line) < limit for line in lines), [len(line) for line in lines]
    assert all(record.exc_info is None for record in caplog.records)  # no unbounded traceback
    assert "characters cut of 1000012" in lines[0]  # "ValueError: " + the message
    job.refresh_from_db()
    assert job.state == "discarded"


def test_logs__bounded_keeps_a_short_error_whole() -> None:
    try:
        raise KeyError("missing")
    except KeyError as error:
        text = str(bounded(error))
        head = str(bounded(error, traceback=False))
    assert head == "KeyError: 'missing'"
    assert text.startswith("KeyError: 'missing'\nTraceback (most recent call last):")
    assert text.endswith("KeyError: 'missing'\n")
