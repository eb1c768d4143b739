"""Django Tasks' API, wherever it comes from, and the task class of the ledger's backend.

Django 6 ships the API as `django.tasks`; on Django 5.2 the `django-tasks` backport has the
same one as `django_tasks` (`pip install 'ash_oban_django[tasks]'`). Everything of ours that
speaks it imports it from here, so one class serves both.

`LedgerTask` is the backend's `task_class`: a `Task` with the options a ledger job takes
beyond the standard fields, each declared once in `declarations.JOB_OPTIONS` (as a trigger's)
or here, and checked when the task is decorated (`check_options`). A task that leaves an
option out gets the backend's `OPTIONS` value, else the option's own default (`option_value`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .declarations import JOB_OPTIONS, option
from .validators import Invalid, boolean

if TYPE_CHECKING:
    from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import DEFAULT_TASK_PRIORITY, TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json

    TaskBase = Task[..., Any]
    TaskResultBase = TaskResult[..., Any]
else:
    try:
        from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus, task_backends
        from django.tasks.backends.base import BaseTaskBackend
        from django.tasks.base import DEFAULT_TASK_PRIORITY, TaskError
        from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
        from django.tasks.signals import task_enqueued, task_finished, task_started
        from django.utils.json import normalize_json
    except ImportError:
        try:
            from django_tasks import task_backends
            from django_tasks.backends.base import BaseTaskBackend
            from django_tasks.base import (
                DEFAULT_TASK_PRIORITY,
                Task,
                TaskContext,
                TaskError,
                TaskResult,
                TaskResultStatus,
            )
            from django_tasks.exceptions import InvalidTaskError as InvalidTask
            from django_tasks.exceptions import TaskResultDoesNotExist
            from django_tasks.signals import task_enqueued, task_finished, task_started
            from django_tasks.utils import normalize_json
        except ImportError as missing:
            raise ImportError(
                "ash_oban_django's Django Tasks backend needs Django 6.0 or later, or, on "
                "Django 5.2, the django-tasks backport: pip install 'ash_oban_django[tasks]'"
            ) from missing
    TaskBase = Task
    TaskResultBase = TaskResult

__all__ = [
    "DEFAULT_TASK_PRIORITY",
    "TASK_OPTIONS",
    "UNSET",
    "BaseTaskBackend",
    "InvalidTask",
    "LedgerTask",
    "LedgerTaskResult",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "check_options",
    "normalize_json",
    "option_value",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]


class Unset:
    """An option the task left out: the backend's `OPTIONS` or the option's default apply."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerTask(TaskBase):
    """A task of `tasks.LedgerBackend`: `@task(max_attempts=5, backoff=30, unique=True)`."""

    max_attempts: int | Unset = JOB_OPTIONS["max_attempts"](default=UNSET)
    backoff: Any = JOB_OPTIONS["backoff"](default=UNSET)
    timeout: float | None | Unset = JOB_OPTIONS["timeout"](default=UNSET)
    tags: tuple[str, ...] | Unset = JOB_OPTIONS["tags"](default=UNSET)
    unique: bool | Unset = option(
        default=UNSET,
        help="At most one incomplete job of the task per arguments: a second enqueue while "
        "the first waits or runs inserts nothing (default False: every enqueue is a task).",
        check=boolean,
    )
    atomic: bool | Unset = option(
        default=UNSET,
        help="Run each attempt inside its job's transaction, so the task's writes commit "
        "with its outcome (default True); False runs it in autocommit, and its writes may "
        "happen twice when a worker dies mid-task.",
        check=boolean,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerTaskResult(TaskResultBase):  # type: ignore[misc]  # the stubs leave it unfrozen
    """A `TaskResult` that also says whether `enqueue` found the task already waiting:
    `conflict` is True when a `unique` task's enqueue inserted nothing, and the result is
    the one of the task that holds its arguments."""

    conflict: bool = False


# The options a `LedgerTask` adds to Django's, with the default each has when neither the
# task nor the backend's `OPTIONS` gives it.
TASK_OPTIONS: dict[str, Any] = {
    **{name: declared().default for name, declared in JOB_OPTIONS.items()},
    "unique": False,
    "atomic": True,
}


def check_value(name: str, value: Any) -> Any:
    """`value` checked as the option `name` (normalised, e.g. a list of tags made a tuple);
    raises `validators.Invalid` when it is not valid."""
    check = LedgerTask.__dataclass_fields__[name].metadata["check"]
    return check(value)


def check_options(task: Any) -> None:
    """Check (and normalise) the options a `LedgerTask` was given; `InvalidTask` says which
    one is wrong and what it must be."""
    for name in TASK_OPTIONS:
        value = getattr(task, name, UNSET)
        if value is UNSET:
            continue
        try:
            checked = check_value(name, value)
        except Invalid as invalid:
            subject = f"Task {task.module_path}: `{name}`"
            raise InvalidTask("; ".join(invalid.messages(subject))) from None
        if checked is not value:
            object.__setattr__(task, name, checked)


def option_value(task: Any, name: str) -> Any:
    """The value of the option `name` for `task`: its own, else its backend's `OPTIONS`,
    else the option's default."""
    value = getattr(task, name, UNSET)
    if value is not UNSET:
        return value
    options = task.get_backend().options
    if name not in options:
        return TASK_OPTIONS[name]
    try:
        return check_value(name, options[name])
    except Invalid as invalid:
        subject = f"TASKS[{task.backend!r}]['OPTIONS'][{name!r}]"
        raise InvalidTask("; ".join(invalid.messages(subject))) from None
