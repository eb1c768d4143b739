"""`LedgerBackend`: Django Tasks (`@task` functions) run as ledger jobs.

    TASKS = {"default": {"BACKEND": "ash_oban_django.tasks.LedgerBackend",
                         "QUEUES": ["default", "emails"], "OPTIONS": {"max_attempts": 3}}}

A task is a job of the kind `task`, run by the same clusters, claims, leader, rescue and
pruner as every other job (`task_jobs.py` says how it is stored, `worker/task_runner.py` how
it runs). `enqueue` inserts the job in the caller's transaction when there is one: a
rollback leaves no task, and the queue is woken once the job is committed.

Django builds the backend from `TASKS` whether or not the app is installed, so this module
reaches the ORM-bound ones (`ledger`, `task_jobs`) only from inside its methods; the app
missing is then a system check error (`check`), not an import error.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import transaction

from .states import Kind, State
from .taskapi import (
    BaseTaskBackend,
    InvalidTask,
    LedgerTask,
    LedgerTaskResult,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    check_options,
    task_enqueued,
)

__all__ = ["LedgerBackend", "LedgerTask", "LedgerTaskResult"]

# `ash_oban_django.E022` of `checks/ids.py`: the checks package needs the app's models, so
# the one check that runs without them names its id here.
APP_MISSING = "ash_oban_django.E022"


class LedgerBackend(BaseTaskBackend):
    """A Django Tasks backend on the ash_oban_django job ledger."""

    task_class = LedgerTask
    # Tasks may wait for `run_after`: the job is scheduled for that time.
    supports_defer = True
    # `async def` tasks run to their end in the worker, inside the attempt.
    supports_async_task = True
    # Results live in the ledger until the pruner removes the job (`PRUNE_AFTER`).
    supports_get_result = True
    # A queue's jobs are claimed by priority (mapped onto the ledger's, see `task_jobs`).
    supports_priority = True

    def validate_task(self, task: Task[..., Any]) -> None:
        """Django's checks (module-level function, a queue of `QUEUES`, an aware
        `run_after`, a priority from -100 to 100), each error naming the task and the fix,
        then the ledger's options."""
        if self.queues and task.queue_name not in self.queues:
            raise InvalidTask(
                f"Task {task.module_path}: queue {task.queue_name!r} is not one of "
                f"TASKS[{self.alias!r}]['QUEUES'] ({', '.join(sorted(self.queues))}); add it "
                "there, or use one of those."
            )
        try:
            super().validate_task(task)
        except InvalidTask as error:
            raise InvalidTask(f"Task {task.module_path}: {error}") from None
        check_options(task)

    def enqueue(
        self, task: Task[..., Any], args: Sequence[Any], kwargs: dict[str, Any]
    ) -> TaskResult[Any, Any]:
        """Insert the task's job (in the caller's transaction, if any) and return its result;
        a `unique` task already waiting with these arguments gives that task's result, with
        `conflict` set."""
        from . import ledger
        from .task_jobs import result_of, task_job

        self.validate_task(task)
        job = ledger.insert_one(task_job(task, args, kwargs, self.alias), announce_available=False)
        result = result_of(job, task)
        if not job.conflict:
            available = job.queue if job.state == State.AVAILABLE else None
            _after_commit(type(self), result, available)
        return result

    def get_result(self, result_id: str) -> LedgerTaskResult:
        """The result of the task job `result_id`; `TaskResultDoesNotExist` when there is
        no such job (never enqueued, or pruned: see `ASH_OBAN["PRUNE_AFTER"]`)."""
        from . import ledger
        from .task_jobs import result_of

        job = None
        if str(result_id).isdigit():
            job = ledger.jobs().filter(pk=int(result_id), kind=Kind.TASK).first()
        if job is None:
            raise TaskResultDoesNotExist(
                f"No task result {result_id!r}: no task job has that id (finished jobs are "
                'pruned after ASH_OBAN["PRUNE_AFTER"] seconds).'
            )
        try:
            return result_of(job)
        except ImportError as error:
            raise TaskResultDoesNotExist(str(error)) from error

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """What Django's task checks ask of the backend: the app must be installed (the
        other checks of `TASKS` run with the app's, see `checks/tasks.py`)."""
        if apps.is_installed("ash_oban_django"):
            return []
        return [
            checks.Error(
                f"TASKS[{self.alias!r}] uses ash_oban_django.tasks.LedgerBackend, but "
                "ash_oban_django is not in INSTALLED_APPS: its tasks would have no ledger.",
                hint="Add 'ash_oban_django' (and 'django_q') to INSTALLED_APPS and run "
                "`manage.py migrate`.",
                id=APP_MISSING,
            )
        ]


class _Enqueued:
    """What one transaction enqueued, told once it commits: the queues with new available
    tasks are announced together (one wake, however many tasks), then `task_enqueued` is
    sent for each task."""

    def __init__(self) -> None:
        self.queues: dict[str, int] = {}
        self.results: list[tuple[type[LedgerBackend], LedgerTaskResult]] = []

    def add(
        self, backend: type[LedgerBackend], result: LedgerTaskResult, queue: str | None
    ) -> None:
        if queue is not None:
            self.queues[queue] = self.queues.get(queue, 0) + 1
        self.results.append((backend, result))

    def __call__(self) -> None:
        from . import ledger
        from .models import Job

        if self.queues:
            ledger.jobs_available.send_robust(Job, queues=self.queues)
        for backend, result in self.results:
            task_enqueued.send(backend, task_result=result)


# The open transaction's `_Enqueued`, per thread and database alias.
_batches = threading.local()


def _after_commit(
    backend: type[LedgerBackend], result: LedgerTaskResult, queue: str | None
) -> None:
    """Tell of an enqueued task once the caller's transaction commits (at once in
    autocommit), with the transaction's other tasks. A batch whose callback is no longer
    pending (committed, or rolled back with its savepoint) is not reused."""
    from . import ledger

    alias = ledger.database()
    connection = transaction.get_connection(alias)
    if not connection.in_atomic_block:
        alone = _Enqueued()
        alone.add(backend, result, queue)
        alone()
        return
    batch: _Enqueued | None = getattr(_batches, alias, None)
    if batch is None or not any(func is batch for _, func, *_ in connection.run_on_commit):
        batch = _Enqueued()
        setattr(_batches, alias, batch)
        transaction.on_commit(batch, using=alias)
    batch.add(backend, result, queue)
