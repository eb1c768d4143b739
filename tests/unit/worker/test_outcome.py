"""What an attempt came to (docs/running.md): decided from what it raised, before anything
is written."""

from __future__ import annotations

import pytest

from ash_oban_django.exceptions import Cancel, Snooze, TriggerNoLongerApplies
from ash_oban_django.worker.outcome import (
    Cancelled,
    Discarded,
    ErrorNotRecorded,
    FailedFinally,
    Handled,
    Outcome,
    Rescued,
    Retrying,
    Snoozed,
    classify,
    classify_on_error,
    stand_in,
)
from ash_oban_django.worker.retry import RetryDecision

RETRY_IN_30 = RetryDecision(retry=True, delay=30.0)
FINAL = RetryDecision(retry=False)


def test_classify__snooze_gives_the_attempt_back_whatever_the_retry_decision() -> None:
    assert classify(Snooze(12), FINAL) == Snoozed(12.0)
    assert classify(Snooze(0), RETRY_IN_30) == Snoozed(0.0)


def test_classify__cancel_keeps_its_reason() -> None:
    assert classify(Cancel("customer left"), RETRY_IN_30) == Cancelled("customer left")


def test_classify__a_row_that_no_longer_applies_is_cancelled_with_the_message() -> None:
    error = TriggerNoLongerApplies("the row no longer matches `where`")
    assert classify(error, RETRY_IN_30) == Cancelled("the row no longer matches `where`")


def test_classify__an_error_with_attempts_left_retries_after_the_decided_delay() -> None:
    error = ValueError("boom")
    assert classify(error, RETRY_IN_30) == Retrying(error, 30.0)


def test_classify__an_error_on_the_last_attempt_fails_finally() -> None:
    error = ValueError("boom")
    assert classify(error, FINAL) == FailedFinally(error)


def test_classify_on_error__a_handler_that_returns_handles_the_failure() -> None:
    error = ValueError("boom")
    assert classify_on_error(error, None) == Handled(error)


def test_classify_on_error__a_handler_may_snooze_and_the_first_error_is_kept() -> None:
    error = ValueError("boom")
    assert classify_on_error(error, Snooze(5)) == Snoozed(5.0, errors=(error,))


@pytest.mark.parametrize(
    ("raised", "reason"),
    [(Cancel("give up"), "give up"), (TriggerNoLongerApplies("gone"), "gone")],
)
def test_classify_on_error__a_handler_may_cancel_and_the_first_error_is_kept(
    raised: BaseException, reason: str
) -> None:
    error = ValueError("boom")
    assert classify_on_error(error, raised) == Cancelled(reason, errors=(error,))


def test_classify_on_error__a_handler_that_raises_discards_with_both_errors() -> None:
    error, handler_error = ValueError("boom"), KeyError("missing")
    assert classify_on_error(error, handler_error) == Discarded((error, handler_error))


@pytest.mark.parametrize(
    "outcome",
    [
        Retrying(ValueError("boom"), 30.0),
        FailedFinally(ValueError("boom")),
        Handled(ValueError("boom")),
        Rescued(ValueError("boom")),
    ],
    ids=lambda outcome: type(outcome).__name__,
)
def test_stand_in__replaces_the_error_and_keeps_the_rest(outcome: Outcome) -> None:
    replaced = stand_in(outcome, UnicodeEncodeError("utf-8", "x", 0, 1, "no"))
    assert type(replaced) is type(outcome)
    assert isinstance(replaced.error, ErrorNotRecorded)  # type: ignore[union-attr]
    assert str(replaced.error) == (  # type: ignore[union-attr]
        "ValueError (recording it failed: UnicodeEncodeError)"
    )
    if isinstance(outcome, Retrying):
        assert isinstance(replaced, Retrying) and replaced.delay == 30.0


@pytest.mark.parametrize(
    "outcome",
    [
        Snoozed(5.0, errors=(ValueError("a"), KeyError("b"))),
        Cancelled("give up", errors=(ValueError("a"), KeyError("b"))),
        Discarded((ValueError("a"), KeyError("b"))),
    ],
    ids=lambda outcome: type(outcome).__name__,
)
def test_stand_in__replaces_each_of_several_errors_in_order(outcome: Outcome) -> None:
    replaced = stand_in(outcome, OverflowError())
    errors = replaced.errors  # type: ignore[union-attr]
    assert [str(e) for e in errors] == [
        "ValueError (recording it failed: OverflowError)",
        "KeyError (recording it failed: OverflowError)",
    ]
    assert all(isinstance(e, ErrorNotRecorded) for e in errors)
    if isinstance(outcome, Snoozed):
        assert isinstance(replaced, Snoozed) and replaced.seconds == 5.0
    if isinstance(outcome, Cancelled):
        assert isinstance(replaced, Cancelled) and replaced.reason == "give up"


def test_stand_in__an_outcome_without_errors_is_unchanged() -> None:
    assert stand_in(Snoozed(5.0), OverflowError()) == Snoozed(5.0)
    assert stand_in(Cancelled("why"), OverflowError()) == Cancelled("why")
