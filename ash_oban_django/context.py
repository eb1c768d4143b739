"""`current_job()`: what the running job is, for actions, permission backends and rules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class JobContext:
    """The job an action, on_error method or scheduled action is running in."""

    id: int
    name: str
    kind: str
    attempt: int
    max_attempts: int
    tenant: Any = None
    actor: Any = None
    tags: tuple[str, ...] = ()
    args: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None

    @property
    def last_attempt(self) -> bool:
        """True on the job's final attempt (AshOban's `last_oban_attempt?`)."""
        return self.attempt >= self.max_attempts


_current: ContextVar[JobContext | None] = ContextVar("ash_oban_current_job", default=None)


def current_job() -> JobContext | None:
    """The running job's context, or None outside a job.

    Use it where AshOban uses the `AshObanInteraction` check, e.g. in a permission backend:

    >>> from ash_oban_django import current_job
    >>> def has_perm(self, user, perm, obj=None):
    ...     return current_job() is not None
    """
    return _current.get()


@contextmanager
def job_context(context: JobContext) -> Iterator[JobContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
