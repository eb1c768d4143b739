"""What an attempt came to, decided before anything is written.

`classify` looks at what an attempt raised and says what it means for the job, with no side
effect. The executor records every outcome through one function (`executor.record`), so a
snooze, say, is written the same way whether the action or `on_error` raised it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from ..exceptions import Cancel, Snooze, TriggerNoLongerApplies
from ..ledger.rows import message
from .retry import RetryDecision, backoff_note


@dataclass(frozen=True, slots=True)
class Snoozed:
    """Run again in `seconds`, giving the attempt back."""

    seconds: float
    errors: tuple[BaseException, ...] = ()


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Will not run: `Cancel` was raised, the row no longer applies, or the declaration is
    paused or deleted."""

    reason: str
    errors: tuple[BaseException, ...] = ()


@dataclass(frozen=True, slots=True)
class Retrying:
    """Failed with attempts left: run again in `delay` seconds."""

    error: BaseException
    delay: float


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The attempt lost its database connection (not the job's fault): run again in `delay`
    seconds, giving the attempt back."""

    error: BaseException
    delay: float


@dataclass(frozen=True, slots=True)
class FailedFinally:
    """The last attempt failed: `on_error` decides what follows (see `executor`)."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class Handled:
    """The last attempt failed and `on_error` handled it: completed."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class Discarded:
    """Failed for good."""

    errors: tuple[BaseException, ...]


@dataclass(frozen=True, slots=True)
class Rescued:
    """The worker died with attempts left: available again now."""

    error: BaseException


Outcome = (
    Snoozed | Cancelled | Retrying | Interrupted | FailedFinally | Handled | Discarded | Rescued
)


def classify(
    error: BaseException, retry: RetryDecision, interruption: RetryDecision | None = None
) -> Outcome:
    """The outcome of an attempt that raised `error`, given the retry strategy's decisions:
    `retry` for a failure of the job, `interruption` when the error says the database
    connection was lost (None when it does not)."""
    if interruption is not None and interruption.retry:
        return Interrupted(error, interruption.delay)
    if isinstance(error, Snooze):
        return Snoozed(error.seconds)
    if isinstance(error, Cancel | TriggerNoLongerApplies):
        return Cancelled(message(error))
    if retry.retry:
        return Retrying(error, retry.delay)
    if retry.failure is not None:
        # The attempt's error stays the one recorded (and given to on_error); its stored
        # traceback ends with why it was not retried.
        error.add_note(backoff_note(retry.failure))
    return FailedFinally(error)


def classify_on_error(
    error: BaseException, handler_error: BaseException | None
) -> Handled | Snoozed | Cancelled | Discarded:
    """The outcome of a final failure once `on_error` ran (`handler_error`: what it raised).

    The first error is kept on every path; `on_error` may snooze or cancel like an action.
    """
    if handler_error is None:
        return Handled(error)
    if isinstance(handler_error, Snooze):
        return Snoozed(handler_error.seconds, errors=(error,))
    if isinstance(handler_error, Cancel | TriggerNoLongerApplies):
        return Cancelled(message(handler_error), errors=(error,))
    return Discarded((error, handler_error))


class ErrorNotRecorded(Exception):
    """Stands in for an error that could not be recorded as it was."""


AnyOutcome = TypeVar("AnyOutcome", bound=Outcome)


def stand_in(outcome: AnyOutcome, failure: BaseException) -> AnyOutcome:
    """The same outcome with each of its errors replaced by a minimal `ErrorNotRecorded`
    that names the error's type and why recording it failed."""

    def plain(error: BaseException) -> BaseException:
        return ErrorNotRecorded(
            f"{type(error).__name__} (recording it failed: {type(failure).__name__})"
        )

    changes: dict[str, Any] = {}
    for f in fields(outcome):
        value = getattr(outcome, f.name)
        if f.name == "error":
            changes["error"] = plain(value)
        elif f.name == "errors":
            changes["errors"] = tuple(plain(e) for e in value)
    return replace(outcome, **changes)
