"""A Django task as a ledger job, and a task job read back as a `TaskResult`.

A task's job has the kind `task`, the task's module path as its stable name, and its
arguments as JSON in `args` (`{"args": [...], "kwargs": {...}}`). Its return value goes to
`meta["return_value"]`, and the backend alias to `meta["backend"]`. A task has no row, so
its `object_pk` is empty. When the task is `unique`, the job's unique key holds the digest of
its arguments (as a trigger's does): two enqueues of the same arguments share a key, and the
second inserts nothing while the first is incomplete. Otherwise the key holds a random value
in place of that digest, so every enqueue is a task of its own.

Django orders tasks by priority from -100 to 100, higher first; the ledger claims by its
priority column, lower first. `ledger_priority` maps one onto the other, keeping the order:
a Django priority `p` is stored as `100 - p` (0 to 200; Django's default, 0, is 100).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.utils.module_loading import import_string

from .ledger.rows import check_json, new_job
from .models import Job
from .states import Kind, State
from .taskapi import (
    InvalidTask,
    LedgerTaskResult,
    Task,
    TaskError,
    TaskResultStatus,
    normalize_json,
    option_value,
)

# The Django priority stored as the ledger's 0 (the ledger's highest).
HIGHEST = 100

# A job's state as Django reports a task's status.
STATUSES: dict[str, TaskResultStatus] = {
    State.AVAILABLE: TaskResultStatus.READY,
    State.SCHEDULED: TaskResultStatus.READY,
    State.RETRYABLE: TaskResultStatus.READY,
    State.EXECUTING: TaskResultStatus.RUNNING,
    State.COMPLETED: TaskResultStatus.SUCCESSFUL,
    State.DISCARDED: TaskResultStatus.FAILED,
    State.CANCELLED: TaskResultStatus.FAILED,
}


def ledger_priority(priority: int) -> int:
    """The ledger's priority (lower runs first) of a Django priority (higher runs first)."""
    return HIGHEST - priority


def django_priority(priority: int) -> int:
    """The Django priority of a ledger priority (the inverse of `ledger_priority`)."""
    return HIGHEST - priority


def json_arguments(task: Task[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The task's arguments as the JSON its job stores. One that JSON cannot carry is
    refused with the error `ledger.rows.check_json` raises (`TypeError` for a type JSON has
    no form for, `ValueError` for a value it cannot hold), saying where it sits."""
    try:
        check_json("args", list(args))
        check_json("kwargs", dict(kwargs))
    except (TypeError, ValueError) as error:
        raise type(error)(
            f"Task {task.module_path}: its arguments are stored as JSON, and {error}. "
            "Nothing was enqueued."
        ) from None
    return normalize_json({"args": list(args), "kwargs": dict(kwargs)})


def task_job(
    task: Task[..., Any], args: Sequence[Any], kwargs: dict[str, Any], backend: str
) -> Job:
    """The unsaved job that runs `task(*args, **kwargs)`."""
    unique = option_value(task, "unique")
    job = new_job(
        kind=Kind.TASK,
        name=task.module_path,
        queue=task.queue_name,
        priority=ledger_priority(task.priority),
        max_attempts=option_value(task, "max_attempts"),
        tags=option_value(task, "tags"),
        args=json_arguments(task, args, kwargs),
        scheduled_at=task.run_after,
    )
    if not unique:
        job.args_key = uuid.uuid4().hex
    job.meta = {"backend": backend}
    return job


def task_of(job: Job) -> Task[..., Any]:
    """The task a job runs, as it was enqueued (queue, priority, backend); `ImportError`
    when its module path no longer names a task."""
    try:
        found = import_string(job.name)
    except ImportError as error:
        raise ImportError(
            f"The task {job.name!r} of job {job.pk} cannot be imported ({error}). A task's "
            "job names its function by module path: keep a moved or renamed task importable "
            "there until its jobs have run."
        ) from error
    if not isinstance(found, Task):
        raise ImportError(
            f"{job.name!r} (job {job.pk}) is not a task: decorate it with @task, or keep the "
            "task there until its jobs have run."
        )
    changes: dict[str, Any] = {}
    if found.queue_name != job.queue:
        changes["queue_name"] = job.queue
    if found.priority != django_priority(job.priority):
        changes["priority"] = django_priority(job.priority)
    backend = job.meta.get("backend", found.backend)
    if found.backend != backend:
        changes["backend"] = backend
    if not changes:
        return found
    try:
        return replace(found, **changes)
    except InvalidTask:  # the settings changed since: the task as declared stands for it
        return found


def result_of(job: Job, task: Task[..., Any] | None = None) -> LedgerTaskResult:
    """A task job as Django's `TaskResult`.

    `worker_ids` has one entry per attempt: the worker of a failed attempt is kept in its
    `errors` entry, the last attempt's is the job's `attempted_by`. `started_at` is when the
    first attempt began, `last_attempted_at` when the last one did.
    """
    task = task if task is not None else task_of(job)
    workers: dict[int, str] = {}
    starts: dict[int, str] = {}
    errors = []
    for entry in job.errors:
        attempt = entry.get("attempt", 0)
        workers.setdefault(attempt, entry.get("worker") or "")
        if entry.get("started_at"):
            starts.setdefault(attempt, entry["started_at"])
        errors.append(
            TaskError(
                exception_class_path=entry.get("exception") or _class_path(entry),
                traceback=entry.get("traceback", ""),
            )
        )
    last = job.attempt
    worker_ids = [
        workers.get(n) or (job.attempted_by if n == last else "") for n in range(1, last + 1)
    ]
    status = STATUSES[job.state]
    started_at = datetime.fromisoformat(starts[1]) if 1 in starts else job.attempted_at
    finished = status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
    result = LedgerTaskResult(
        task=task,
        id=str(job.pk),
        status=status,
        enqueued_at=job.inserted_at,
        started_at=started_at if last else None,
        finished_at=(job.completed_at or job.discarded_at or job.cancelled_at)
        if finished
        else None,
        last_attempted_at=job.attempted_at,
        args=job.args.get("args", []),
        kwargs=job.args.get("kwargs", {}),
        backend=task.backend,
        errors=errors,
        worker_ids=worker_ids,
        conflict=job.conflict,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.meta.get("return_value"))
    return result


def _class_path(entry: dict[str, Any]) -> str:
    """The error's class from an entry written before entries held its path: its name."""
    name = str(entry.get("error", "")).split(":", 1)[0]
    return name if "." in name else f"builtins.{name or 'Exception'}"
