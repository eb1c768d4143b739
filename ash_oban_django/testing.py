"""Test helpers: run jobs in this process and assert what was enqueued.

Everything runs in-process with no cluster, on SQLite, PostgreSQL and MariaDB/MySQL alike,
inside the test's transaction:

- `inline()` (or `ASH_OBAN["TESTING"] = "inline"`): each job runs as soon as its insert
  commits, in the inserting process;
- `perform_job(record, name, **options)`: one attempt of a declaration for a record;
- `drain_queues(...)`, `schedule_and_run_triggers(...)`: run what waits, recursively;
- `captured_jobs()`: the jobs a block of code inserted;
- `assert_triggered` / `refute_triggered`, `assert_would_schedule` / `refute_would_schedule`;
- `assert_enqueued` / `refute_enqueued`: a Django task's waiting jobs.

They work on jobs of every kind alike, Django tasks (`tasks.LedgerBackend`) included, since
every job goes through the same ledger and executor. Also a pytest plugin (installed with
the package) with two fixtures:

- `ash_oban`: the helpers below as methods, with dispatch to django-q2 turned off;
- `ash_oban_drain`: `drain_queues` itself.

>>> def test_paid_orders_are_processed(ash_oban, db):
...     order = Order.objects.create(paid=True)
...     result = ash_oban.schedule_and_run_triggers(Order)
...     assert result.success == 2  # the scheduler and the order's worker job
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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
    with_safety: bool = True,
) -> Result:
    """Run the jobs of `queues` (every queue when None) in this process until none is left.

    `with_safety=False` raises the error of the first job whose attempt fails instead of
    recording it: that attempt leaves no trace (the job is as it was before it, `on_error`
    has not run), so the test sees the exception and its traceback. Snoozes and cancels are
    recorded as usual."""
    from .worker import drain

    if isinstance(queues, str):
        queues = [queues]
    return drain(
        queues,
        with_scheduled=with_scheduled,
        with_recursion=with_recursion,
        with_safety=with_safety,
    )


@contextmanager
def inline() -> Iterator[None]:
    """Inside the block, each job runs in this process as soon as its insert commits (see
    `ASH_OBAN["TESTING"] = "inline"` for a whole test run).

    A job inserted outside a transaction runs before `run_trigger` returns; one inserted in
    a transaction runs when it commits, and never when it rolls back. A test case's own
    transaction counts as committed. Jobs due later (`schedule_in`, retries) wait for
    `drain_queues(with_scheduled=True)`. The job object an insert returns is as inserted:
    `refresh_from_db()` shows what the run made of it.

    >>> with inline():
    ...     job = run_trigger(order, "process")
    >>> job.refresh_from_db(); job.state
    'completed'
    """
    from .worker.inline import INLINE, testing_mode

    with testing_mode(INLINE):
        yield


@contextmanager
def captured_jobs() -> Iterator[list[Job]]:
    """Yield a list that receives every job inserted inside the block, in insertion order,
    each as it was inserted (refresh it to see what became of it). A duplicate that the
    ledger did not insert (`job.conflict`) is not in it.

    >>> with captured_jobs() as jobs:
    ...     place_order(cart)
    >>> [job.name for job in jobs]
    ['shop.Order:process']
    """
    from .worker.inline import capturing

    with capturing() as captured:
        yield captured


def perform_job(
    record: Model | type[Model] | Job,
    name: str | None = None,
    *,
    with_safety: bool = True,
    **options: Any,
) -> Job:
    """Run one attempt of a declaration, in this process, and return the job as it left it.

    - `perform_job(order, "process", **options)`: the worker job of trigger `process` for
      the row `order`; `options` are those of `run_trigger` (`actor`, `tenant`,
      `action_arguments`, `args`, `max_attempts`, ...).
    - `perform_job(Order, "import_orders", actor=..., action_arguments=...)`: the job of a
      scheduled action (or the scheduler job of a trigger), as `schedule` inserts it.
    - `perform_job(job)`: an unsaved job built elsewhere (`build_trigger`, say).

    The job is inserted and run at once, whatever its `scheduled_at`; the jobs it inserts
    wait (or run, under `inline()`). When an equal job already waits (the same unique key),
    that job is run instead. `with_safety=False` raises the attempt's error instead of
    recording it, as for `drain_queues`.

    >>> job = perform_job(order, "process", action_arguments={"rush": True})
    >>> job.state, job.attempt
    ('completed', 1)
    """
    from . import ledger
    from .models import Job
    from .states import RUNNABLE_STATES
    from .worker.drain import attempt_now
    from .worker.inline import INLINE, MANUAL, mode, run_pending, testing_mode

    job = record if isinstance(record, Job) else _job_to_perform(record, name, options)
    if isinstance(record, Job) and (name is not None or options):
        raise TypeError("perform_job(job) takes the job alone: its options are on the job.")
    if job.pk is not None:
        raise ValueError(f"perform_job() runs a new job; job #{job.pk} is already in the ledger.")
    inline_mode = mode() == INLINE
    with testing_mode(MANUAL):  # neither run inline nor handed to django-q2 as it goes in
        job = ledger.insert_one(job)
    if job.conflict and job.state not in RUNNABLE_STATES:
        raise ValueError(
            f"An equal job is in the ledger and cannot run now: {_describe([job])}. "
            "Pass other action_arguments, or delete that job."
        )
    candidates = ledger.jobs().filter(pk=job.pk, state__in=RUNNABLE_STATES)
    ran = {each.pk: each for each in attempt_now(candidates, with_safety=with_safety)}
    if job.pk not in ran:
        raise RuntimeError(f"Job #{job.pk} was claimed by another worker before it could run.")
    if inline_mode:
        run_pending()
    return ran[job.pk]


def _job_to_perform(record: Model | type[Model], name: str | None, options: dict[str, Any]) -> Job:
    """The unsaved job `perform_job` runs for a row (a trigger's worker job) or a model (the
    job its cron inserts)."""
    from django.db.models import Model

    from .actors import store_actor
    from .enqueue import build_trigger
    from .enqueue.jobs import checked_meta, cron_job
    from .registry import registry

    if name is None:
        raise TypeError("perform_job(record, name): name the trigger or scheduled action.")
    if isinstance(record, type) and issubclass(record, Model):
        unknown = set(options) - {"actor", "action_arguments", "meta"}
        if unknown:
            raise TypeError(
                f"perform_job({record.__name__}, {name!r}) takes actor=, action_arguments= "
                f"and meta= only, got {sorted(unknown)}."
            )
        entry = registry.get(record, name)
        return cron_job(
            entry,
            stored_actor=store_actor(options.get("actor"), entry.declaration),
            action_arguments=options.get("action_arguments"),
            meta=checked_meta(options.get("meta")),
        )
    return build_trigger(record, name, **options)


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
    perform_job = staticmethod(perform_job)
    inline = staticmethod(inline)
    captured_jobs = staticmethod(captured_jobs)
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
