"""Test helpers: run jobs in this process and assert what was enqueued.

`drain_queues` runs Django tasks (`tasks.LedgerBackend`) like every other job, and
`assert_enqueued` / `refute_enqueued` look for a task's waiting jobs.

Everything runs in-process with no cluster, on SQLite and PostgreSQL alike, inside the
test's transaction. Also a pytest plugin (installed with the package) with two fixtures:

- `ash_oban`: the helpers below as methods, with dispatch to django-q2 turned off;
- `ash_oban_drain`: `drain_queues` itself.

>>> def test_paid_orders_are_processed(ash_oban, db):
...     order = Order.objects.create(paid=True)
...     result = ash_oban.schedule_and_run_triggers(Order)
...     assert result.success == 2  # the scheduler and the order's worker job
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .dispatch.wake import set_dispatch

try:
    import pytest
except ImportError:  # the helpers work without pytest; only the fixtures need it
    pytest = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from django.db.models import Model

    from .enqueue import Target
    from .models import Job
    from .taskapi import Task, TaskResult
    from .worker import Result


def schedule_and_run_triggers(
    target: Target,
    *,
    actor: Any = None,
    triggers: bool = True,
    scheduled_actions: bool = False,
    drain_queues: bool = True,
    queue: str | None = None,
    with_scheduled: bool = False,
    with_limit: int | None = None,
) -> Result:
    """`ash_oban_django.schedule_and_run_triggers`, draining the queues by default."""
    from .worker import schedule_and_run_triggers as run

    return run(
        target,
        actor=actor,
        triggers=triggers,
        scheduled_actions=scheduled_actions,
        drain_queues=drain_queues,
        queue=queue,
        with_scheduled=with_scheduled,
        with_limit=with_limit,
    )


def drain_queues(
    queues: Iterable[str] | str | None = None,
    with_scheduled: bool = False,
    with_recursion: bool = True,
) -> Result:
    """Run the jobs of `queues` (every queue when None) in this process until none is left."""
    from .worker import drain

    if isinstance(queues, str):
        queues = [queues]
    return drain(queues, with_scheduled=with_scheduled, with_recursion=with_recursion)


def _enqueued(record: Model, name: str, args_subset: dict[str, Any]) -> tuple[list[Job], list[Job]]:
    """(matching, all) waiting jobs of the record's trigger."""
    from . import ledger
    from .models import State
    from .registry import registry

    entry = registry.get_trigger(type(record), name)
    found = list(
        ledger.jobs()
        .filter(
            name=entry.worker_name,
            object_pk=str(record.pk),
            state__in=(State.AVAILABLE, State.SCHEDULED, State.RETRYABLE),
        )
        .order_by("id")
    )
    return [job for job in found if _contains(job.args, args_subset)], found


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    return bool(actual == expected)


def _describe(jobs: list[Job]) -> str:
    if not jobs:
        return "none"
    return "; ".join(f"#{j.pk} {j.state} args={j.args}" for j in jobs)


def assert_triggered(record: Model, name: str, **args_subset: Any) -> list[Job]:
    """Assert a waiting job of trigger `name` exists for `record` whose args contain
    `args_subset` (nested dicts match as subsets); returns the matching jobs."""
    matching, found = _enqueued(record, name, args_subset)
    assert matching, (
        f"Expected a job of trigger {name!r} for {type(record).__name__} pk={record.pk}"
        f"{' with args ' + repr(args_subset) if args_subset else ''}, but none was found. "
        f"Jobs of that trigger for the row: {_describe(found)}"
    )
    return matching


def refute_triggered(record: Model, name: str, **args_subset: Any) -> None:
    """Assert no waiting job of trigger `name` for `record` matches `args_subset`."""
    matching, _ = _enqueued(record, name, args_subset)
    assert not matching, (
        f"Expected no job of trigger {name!r} for {type(record).__name__} pk={record.pk}, "
        f"but found {len(matching)}: {_describe(matching)}"
    )


def _task_jobs(
    task: Task[..., Any], args: Sequence[Any] | None, kwargs: dict[str, Any] | None
) -> tuple[list[Job], list[Job]]:
    """(matching, all) waiting jobs of a Django task."""
    from . import ledger
    from .models import State
    from .task_jobs import json_arguments

    found = list(
        ledger.jobs()
        .filter(
            name=task.module_path,
            state__in=(State.AVAILABLE, State.SCHEDULED, State.RETRYABLE),
        )
        .order_by("id")
    )
    expected = json_arguments(task, args or [], kwargs or {})
    matching = [
        job
        for job in found
        if (args is None or job.args.get("args") == expected["args"])
        and _contains(job.args.get("kwargs", {}), expected["kwargs"])
    ]
    return matching, found


def _describe_tasks(jobs: list[Job]) -> str:
    if not jobs:
        return "none"
    return "; ".join(
        f"#{j.pk} {j.state} args={j.args.get('args')} kwargs={j.args.get('kwargs')}" for j in jobs
    )


def assert_enqueued(
    task: Task[..., Any],
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> list[TaskResult[..., Any]]:
    """Assert a waiting job of the Django task `task` exists, with exactly `args` (when
    given) and keyword arguments that contain `kwargs`; returns the matching tasks' results.

    >>> send_welcome.enqueue(42)
    >>> assert_enqueued(send_welcome, args=[42])
    """
    from .task_jobs import result_of

    matching, found = _task_jobs(task, args, kwargs)
    wanted = "".join(
        f" with {name} {value!r}" for name, value in (("args", args), ("kwargs", kwargs)) if value
    )
    assert matching, (
        f"Expected a waiting task {task.module_path}{wanted}, but none was found. "
        f"Waiting tasks of {task.name}: {_describe_tasks(found)}"
    )
    return [result_of(job, task) for job in matching]


def refute_enqueued(
    task: Task[..., Any],
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> None:
    """Assert no waiting job of the Django task `task` matches `args` and `kwargs`."""
    matching, _ = _task_jobs(task, args, kwargs)
    assert not matching, (
        f"Expected no waiting task {task.module_path} like this, but found "
        f"{len(matching)}: {_describe_tasks(matching)}"
    )


def _would_schedule(record: Model, name: str) -> bool:
    from .enqueue import matching
    from .registry import registry

    entry = registry.get_trigger(type(record), name)
    field = entry.options.tenant_field
    tenant = getattr(record, field) if field else None
    return matching(entry, tenant).filter(pk=record.pk).exists()


def assert_would_schedule(record: Model, name: str) -> None:
    """Assert the trigger's scheduler would enqueue `record` now (it matches `where`)."""
    assert _would_schedule(record, name), (
        f"Expected {type(record).__name__} pk={record.pk} to match trigger {name!r}, "
        "but it does not match its queryset and `where`."
    )


def refute_would_schedule(record: Model, name: str) -> None:
    """Assert the trigger's scheduler would not enqueue `record` now."""
    assert not _would_schedule(record, name), (
        f"Expected {type(record).__name__} pk={record.pk} not to match trigger {name!r}, "
        "but it does."
    )


class AshObanHelpers:
    """The helpers as methods (the `ash_oban` fixture)."""

    schedule_and_run_triggers = staticmethod(schedule_and_run_triggers)
    drain_queues = staticmethod(drain_queues)
    assert_triggered = staticmethod(assert_triggered)
    refute_triggered = staticmethod(refute_triggered)
    assert_would_schedule = staticmethod(assert_would_schedule)
    refute_would_schedule = staticmethod(refute_would_schedule)
    assert_enqueued = staticmethod(assert_enqueued)
    refute_enqueued = staticmethod(refute_enqueued)


if pytest is not None:

    @pytest.fixture
    def ash_oban() -> Iterator[AshObanHelpers]:
        """Test helpers; jobs are not handed to django-q2 while the test runs."""
        previous = set_dispatch(False)
        try:
            yield AshObanHelpers()
        finally:
            set_dispatch(previous)

    @pytest.fixture
    def ash_oban_drain(ash_oban: AshObanHelpers) -> Any:
        """`drain_queues`, with dispatch to django-q2 turned off."""
        return drain_queues
