"""The ledger's vocabulary: the kind of a job and the states it moves through (Oban's).

Plain choices, importable before the app registry is ready: the registry, the enqueue side
and the worker all speak of `Kind`, and `models.Job` stores both.
"""

from __future__ import annotations

from django.db import models


class Kind(models.TextChoices):
    """What a job runs; also the role of a stable name in the registry."""

    TRIGGER = "trigger", "trigger worker"
    SCHEDULER = "scheduler", "trigger scheduler"
    ACTION = "action", "scheduled action"
    TASK = "task", "Django task"


class State(models.TextChoices):
    """A job's state (not a declaration's: see `declarations.DeclarationState`)."""

    AVAILABLE = "available"
    SCHEDULED = "scheduled"
    EXECUTING = "executing"
    RETRYABLE = "retryable"
    COMPLETED = "completed"
    DISCARDED = "discarded"
    CANCELLED = "cancelled"


INCOMPLETE_STATES = (State.AVAILABLE, State.SCHEDULED, State.EXECUTING, State.RETRYABLE)
FINISHED_STATES = (State.COMPLETED, State.DISCARDED, State.CANCELLED)
# States a claim may take a job from, once its scheduled_at has come.
RUNNABLE_STATES = (State.AVAILABLE, State.SCHEDULED, State.RETRYABLE)
# What `Job.meta["on_error"]` holds when the declaration's on_error handled the last failure.
ON_ERROR_HANDLED = "handled"
# States waiting for their scheduled_at; the stager makes them available when it comes.
WAITING_STATES = (State.SCHEDULED, State.RETRYABLE)
