"""A `backoff` that raises: the failure is final, recorded in the outcome's transaction."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db.models import Q

from ash_oban_django import Trigger, register, run_trigger
from ash_oban_django.context import JobContext
from ash_oban_django.testing import drain_queues
from tests.integration.worker.test_executor import Failing

pytestmark = pytest.mark.django_db


def broken_backoff(context: JobContext) -> float:
    raise ZeroDivisionError(f"no delay for attempt {context.attempt}")


def test_retry__a_raising_backoff_makes_the_failure_final_and_calls_on_error(
    ash_oban: Any, caplog: pytest.LogCaptureFixture
) -> None:
    trigger = Trigger(
        "finish",
        where=Q(errored=False),
        scheduler_cron=None,
        max_attempts=3,
        backoff=broken_backoff,
        on_error="mark_errored",
    )
    with register(Failing, triggers=[trigger]), caplog.at_level(logging.ERROR, "ash_oban_django"):
        widget = Failing.objects.create()
        job = run_trigger(widget, "finish")
        result = drain_queues()
        job.refresh_from_db()
    widget.refresh_from_db()
    assert (result.success, result.failure) == (1, 0)  # on_error handled the final failure
    assert (job.state, job.attempt, job.meta["on_error"]) == ("completed", 1, "handled")
    (entry,) = job.errors
    assert entry["error"] == f"RuntimeError: boom {widget.pk}"  # the attempt's own error
    assert (
        "No retry: backoff raised ZeroDivisionError: no delay for attempt 1" in entry["traceback"]
    )
    assert widget.errored and widget.note == f"RuntimeError: boom {widget.pk}"
    assert "backoff of testapp.Failing:finish raised on attempt 1" in caplog.text


def test_retry__a_raising_backoff_without_on_error_discards(ash_oban: Any) -> None:
    trigger = Trigger("finish", scheduler_cron=None, max_attempts=2, backoff=broken_backoff)
    with register(Failing, triggers=[trigger]):
        job = run_trigger(Failing.objects.create(), "finish")
        assert drain_queues().discard == 1
        job.refresh_from_db()
    assert (job.state, job.attempt, len(job.errors)) == ("discarded", 1, 1)
    assert job.discarded_at is not None
