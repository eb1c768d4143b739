"""Django tasks run by real qcluster processes (tests/e2e/test_tasks.py, bench/tasks.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.db.models import F

from tests.e2eapp.models import Ticket

try:
    from django.tasks import TaskContext, task
except ImportError:  # Django 5.2: the backport
    from django_tasks import TaskContext, task  # type: ignore[no-redef]


@task
def mark_ticket(pk: int) -> None:
    """The benchmark's task: one UPDATE of a row."""
    Ticket.objects.filter(pk=pk).update(processed=True)


@task
def ping() -> None:
    """Nothing: the test reads when it started."""


@task(takes_context=True, max_attempts=2, backoff=1)
def fails_once(context: TaskContext) -> None:
    if context.attempt == 1:
        raise RuntimeError("the first attempt fails")


@task(takes_context=True, max_attempts=2)
def audited(context: TaskContext, pk: int) -> int:
    """Counts its run in the ticket (in the task's own transaction); the first attempt then
    tells the test its process id and hangs, to be killed."""
    Ticket.objects.filter(pk=pk).update(calls=F("calls") + 1)
    if context.attempt == 1:
        Path(os.environ["E2E_PID_FILE"]).write_text(str(os.getpid()))
        time.sleep(120)
    Ticket.objects.filter(pk=pk).update(processed=True, handled_by=str(os.getpid()))
    return context.attempt
