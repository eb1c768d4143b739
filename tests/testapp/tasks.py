"""Django tasks the tests enqueue on the ledger's backend (`TASKS` in tests/settings.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.db.models import F

from tests.testapp.models import Widget

try:
    from django.tasks import TaskContext, task
except ImportError:  # Django 5.2: the backport
    from django_tasks import TaskContext, task  # type: ignore[no-redef]


@task
def add(a: int, b: int) -> int:
    return a + b


@task(queue_name="emails", priority=10, max_attempts=5, tags=["mail"])
def send_welcome(user_id: int, *, greeting: str = "Welcome") -> str:
    return f"{greeting}, user {user_id}"


@task(takes_context=True, max_attempts=2, backoff=0)
def attempt_number(context: TaskContext, fail_first: bool = False) -> int:
    if fail_first and context.attempt == 1:
        raise RuntimeError("the first attempt fails")
    return context.attempt


@task
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


class TaskBroke(Exception):
    """What `always_fails` raises."""


@task(queue_name="tasks_retry", max_attempts=3, backoff=0)
def always_fails(pk: int) -> None:
    # Written, then rolled back with the failed attempt.
    Widget.objects.filter(pk=pk).update(calls=F("calls") + 1)
    raise TaskBroke(f"attempt on widget {pk} failed")


@task
def returns_object() -> Any:
    return object()


@task(unique=True)
def unique_touch(pk: int) -> None:
    Widget.objects.filter(pk=pk).update(calls=F("calls") + 1)


@task(queue_name="tasks_ordered")
def record_order(label: str) -> None:
    widget = Widget.objects.create(name=label)
    Widget.objects.filter(pk=widget.pk).update(rank=widget.pk)


@task
def touch(pk: int) -> int:
    Widget.objects.filter(pk=pk).update(calls=F("calls") + 1)
    return Widget.objects.get(pk=pk).calls


@task(atomic=False)
def outside_transaction(pk: int, fail: bool) -> int:
    # Committed at once, on a connection of the task's own: kept when the attempt fails.
    Widget.objects.filter(pk=pk).update(calls=F("calls") + 1)
    if fail:
        raise TaskBroke("failed after its write")
    return Widget.objects.get(pk=pk).calls
