"""Run Django model methods in the background when rows match a condition.

The Django counterpart of Elixir's AshOban: models declare triggers in an inner
`class Oban:`, a cron-fired scheduler enqueues one job per matching row, and each job locks
its row, re-checks the condition and calls the model's method.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from .context import JobContext, current_job
from .declarations import Chunks, ScheduledAction, Trigger
from .exceptions import (
    AlreadyRegistered,
    AshObanError,
    Cancel,
    InvalidDeclaration,
    JobOrphaned,
    JobTimeout,
    Snooze,
    TriggerNoLongerApplies,
    UnknownDeclaration,
)
from .registry import register

if TYPE_CHECKING:
    from .enqueue import build_trigger, run_trigger, run_triggers, schedule
    from .ledger import (
        cancel_job,
        cancel_jobs,
        delete_jobs,
        pause_all_queues,
        pause_queue,
        resume_all_queues,
        resume_queue,
        retry_jobs,
        scale_queue,
    )
    from .worker import Result, schedule_and_run_triggers

try:
    __version__ = version("ash_oban_django")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

# These need the ORM, which may not be ready when the package is first imported
# (INSTALLED_APPS loads it), so they are imported on first use.
_LAZY = {
    "Result": "worker",
    "build_trigger": "enqueue",
    "cancel_job": "ledger",
    "cancel_jobs": "ledger",
    "delete_jobs": "ledger",
    "pause_all_queues": "ledger",
    "pause_queue": "ledger",
    "resume_all_queues": "ledger",
    "resume_queue": "ledger",
    "retry_jobs": "ledger",
    "scale_queue": "ledger",
    "run_trigger": "enqueue",
    "run_triggers": "enqueue",
    "schedule": "enqueue",
    "schedule_and_run_triggers": "worker",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ash_oban_django' has no attribute {name!r}")


__all__ = [
    "AlreadyRegistered",
    "AshObanError",
    "Cancel",
    "Chunks",
    "InvalidDeclaration",
    "JobContext",
    "JobOrphaned",
    "JobTimeout",
    "Result",
    "ScheduledAction",
    "Snooze",
    "Trigger",
    "TriggerNoLongerApplies",
    "UnknownDeclaration",
    "__version__",
    "build_trigger",
    "cancel_job",
    "cancel_jobs",
    "current_job",
    "delete_jobs",
    "pause_all_queues",
    "pause_queue",
    "register",
    "resume_all_queues",
    "resume_queue",
    "retry_jobs",
    "run_trigger",
    "run_triggers",
    "scale_queue",
    "schedule",
    "schedule_and_run_triggers",
]
