"""Lifecycle log lines (ash_oban_django/logs.py): one per event, on the concern's logger,
with the job's facts as `extra` fields and bounded messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Q

from ash_oban_django import Trigger, cancel_jobs, ledger, pause_queue, register, run_trigger
from ash_oban_django.ledger.rows import ERROR_MESSAGE_LIMIT
from ash_oban_django.testing import drain_queues
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

QUEUE = "logs_widgets"


@pytest.fixture
def declared(ash_oban: Any) -> Iterator[None]:
    with register(
        Widget,
        triggers=[
            Trigger("finish", where=Q(done=False), scheduler_cron=None, queue=QUEUE),
            Trigger("fail", action="mark_errored", scheduler_cron=None, queue=QUEUE),
        ],
    ):
        yield


def events(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == event]


def test_logs__a_discarded_job_is_logged_once_with_its_facts(
    declared: None, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    caplog.set_level(logging.DEBUG, logger="ash_oban_django")
    with django_capture_on_commit_callbacks(execute=True):
        job = run_trigger(Widget.objects.create(), "fail")
        drain_queues()
    (inserted,) = events(caplog, "job_inserted")
    (discarded,) = events(caplog, "job_discarded")
    assert (inserted.name, inserted.levelno) == ("ash_oban_django.jobs", logging.DEBUG)
    assert (discarded.name, discarded.levelno) == ("ash_oban_django.jobs", logging.WARNING)
    facts = {k: getattr(discarded, k) for k in ("job_id", "job_name", "queue", "attempt", "state")}
    assert facts == {
        "job_id": job.pk,
        "job_name": "testapp.Widget:fail",
        "queue": QUEUE,
        "attempt": 1,
        "state": "discarded",
    }
    assert discarded.error.startswith("TypeError: ")  # type: ignore[attr-defined]
    assert len(events(caplog, "job_finished")) == 1


def test_logs__a_long_cancel_reason_is_bounded_like_a_stored_error(
    declared: None, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    caplog.set_level(logging.INFO, logger="ash_oban_django")
    run_trigger(Widget.objects.create(), "finish")
    with django_capture_on_commit_callbacks(execute=True):
        assert cancel_jobs(None, "why " * 10_000, queue=QUEUE) == 1
    (cancelled,) = events(caplog, "job_cancelled")
    assert cancelled.name == "ash_oban_django.jobs"
    assert len(cancelled.reason) <= ERROR_MESSAGE_LIMIT  # type: ignore[attr-defined]
    assert len(cancelled.getMessage()) < ERROR_MESSAGE_LIMIT + 100
    assert "characters cut of 40000" in cancelled.getMessage()


def test_logs__queues_and_maintenance_have_their_own_loggers(
    declared: None, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    caplog.set_level(logging.INFO, logger="ash_oban_django")
    with django_capture_on_commit_callbacks(execute=True):
        pause_queue(QUEUE, by="ops")
        ledger.engine().prune(ledger.now())  # nothing finished: nothing logged
    (paused,) = events(caplog, "queue_changed")
    assert (paused.name, paused.getMessage()) == (
        "ash_oban_django.queues",
        f"Queue {QUEUE} paused by ops",
    )
    assert (paused.change, paused.by) == ("paused", "ops")  # type: ignore[attr-defined]
    assert events(caplog, "jobs_pruned") == []
