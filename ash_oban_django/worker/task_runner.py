"""The runner of a Django task's job: call the `@task` function with the job's arguments.

Like a trigger's action, the function runs inside the attempt's transaction, so what it
writes commits with its outcome, and its return value (JSON, in `meta["return_value"]`) too.
A task with `atomic=False` runs in a thread of its own instead, on its own connections in
autocommit: the attempt's transaction then holds only the job's lock (the proof its worker
lives), and the task's writes stay even if the attempt fails. On SQLite, which serialises
writers, a second connection would wait for the attempt's, so tasks run inside it there.

Django's `task_started` is sent as the function starts, `task_finished` once the attempt's
outcome is recorded (from `job_finished`), with the task's result as it then stands.

This module is imported when the first task job runs, not with the worker package: the
Django Tasks API it speaks is optional on Django 5.2.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Any

from django.db import connections

from .. import ledger
from ..conf import settings
from ..context import job_context
from ..declarations import DeclarationState
from ..ledger.rows import check_json
from ..models import Job
from ..signals import job_finished
from ..states import Kind
from ..task_jobs import result_of, task_of
from ..taskapi import (
    Task,
    TaskContext,
    normalize_json,
    option_value,
    task_finished,
    task_started,
)
from .retry import RetryStrategy
from .runners import Runner

logger = logging.getLogger("ash_oban_django")


class TaskRunner(Runner):
    kind = Kind.TASK

    def __init__(self, job: Job) -> None:
        # No declaration: the task itself holds the options, found by the job's name.
        self.job = job
        self.task: Task[..., Any] | None = None
        self.missing: ImportError | None = None
        try:
            self.task = task_of(job)
        except ImportError as error:
            self.missing = error

    @property
    def state(self) -> DeclarationState:
        return DeclarationState.ACTIVE

    @property
    def declaration(self) -> None:
        return None  # a task's actor goes through ASH_OBAN["ACTOR_PERSISTER"]

    @property
    def label(self) -> str:
        return f"task {self.job.name}"

    @property
    def timeout(self) -> float | None:
        return None if self.task is None else option_value(self.task, "timeout")

    @property
    def retry_strategy(self) -> RetryStrategy:
        return RetryStrategy(None if self.task is None else option_value(self.task, "backoff"))

    @property
    def log_errors(self) -> bool:
        return True

    @property
    def log_final_error(self) -> bool:
        return True

    def debug(self, message: str, *args: Any) -> None:
        if settings.DEBUG_ALL_TRIGGERS:
            logger.debug(message, *args)

    def run(self, actor: Any) -> None:
        if self.task is None:
            assert self.missing is not None
            raise self.missing
        job, task = self.job, self.task
        result = result_of(job, task)
        task_started.send(type(task.get_backend()), task_result=result)
        args = list(job.args.get("args", []))
        if task.takes_context:
            args.insert(0, TaskContext(task_result=result))
        kwargs = job.args.get("kwargs", {})
        with job_context(self.context(actor)):
            if option_value(task, "atomic") or connections[ledger.database()].vendor == "sqlite":
                value = task.call(*args, **kwargs)
            else:
                value = in_own_thread(task.call, *args, **kwargs)
        stored = storable_return(task, value)
        if stored is not None:
            job.meta = {**job.meta, "return_value": stored}
            ledger.jobs().filter(pk=job.pk).update(meta=job.meta)


def storable_return(task: Task[..., Any], value: Any) -> Any:
    """The task's return value as JSON; `TypeError` (failing the attempt) when JSON cannot
    carry it."""
    try:
        check_json("the return value", value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"Task {task.module_path} returned a {type(value).__name__}, which cannot be "
            f"stored as its result: {error}. The attempt failed, and its writes were rolled "
            "back."
        ) from None
    return normalize_json(value)


def in_own_thread(function: Any, *args: Any, **kwargs: Any) -> Any:
    """`function(*args, **kwargs)` in a new thread, on its own database connections (in
    autocommit), with this thread's context (`current_job()`); waits for it."""
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(function, *args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name="ash_oban_django task", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def send_task_finished(sender: Any, job: Job, **kwargs: Any) -> None:
    """Django's `task_finished`, once a task job's attempt is recorded."""
    if job.kind != Kind.TASK:
        return
    try:
        result = result_of(job)
    except ImportError:
        return  # the task is gone: the job's errors say so
    task_finished.send(type(result.task.get_backend()), task_result=result)


job_finished.connect(send_task_finished, dispatch_uid="ash_oban_django.task_finished")
