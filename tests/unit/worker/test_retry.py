"""When a failed attempt runs again (docs/running.md#retries): the retry strategy turns a
declaration's `backoff` into a decision."""

from __future__ import annotations

import pytest

from ash_oban_django.context import JobContext
from ash_oban_django.worker.retry import RetryDecision, RetryStrategy


def context(attempt: int, max_attempts: int = 5) -> JobContext:
    return JobContext(
        id=1, name="shop.Order:process", kind="trigger", attempt=attempt, max_attempts=max_attempts
    )


def test_decide__retries_while_attempts_are_left() -> None:
    assert RetryStrategy(10).decide(context(1, 3)) == RetryDecision(retry=True, delay=10.0)
    assert RetryStrategy(10).decide(context(2, 3)) == RetryDecision(retry=True, delay=10.0)


@pytest.mark.parametrize("attempt", [3, 4])
def test_decide__no_retry_once_the_attempts_are_used_up(attempt: int) -> None:
    assert RetryStrategy(10).decide(context(attempt, 3)) == RetryDecision(retry=False)


def test_decide__a_single_attempt_job_never_retries() -> None:
    """The backoff is not even asked for (a callable backoff is user code)."""

    def backoff(ctx: JobContext) -> float:
        raise AssertionError("not called on the last attempt")

    assert RetryStrategy(backoff).decide(context(1, 1)) == RetryDecision(retry=False)


@pytest.mark.parametrize("attempt", [1, 2, 7])
def test_delay__an_int_backoff_is_exact(attempt: int) -> None:
    assert {RetryStrategy(42).delay(context(attempt)) for _ in range(50)} == {42.0}


def test_delay__a_zero_backoff_retries_at_once() -> None:
    assert RetryStrategy(0).decide(context(1)) == RetryDecision(retry=True, delay=0.0)


def test_delay__a_callable_backoff_gets_the_job_context() -> None:
    seen: list[JobContext] = []

    def backoff(ctx: JobContext) -> float:
        seen.append(ctx)
        return ctx.attempt * 1.5

    ctx = context(4, 9)
    assert RetryStrategy(backoff).decide(ctx) == RetryDecision(retry=True, delay=6.0)
    assert seen == [ctx]


def test_delay__a_callable_backoff_returning_an_int_gives_a_float() -> None:
    delay = RetryStrategy(lambda ctx: 7).delay(context(1))
    assert delay == 7.0 and isinstance(delay, float)


@pytest.mark.parametrize(("attempt", "base"), [(1, 17.0), (2, 19.0), (5, 47.0), (10, 1039.0)])
def test_delay__default_backoff_is_oban_s_with_up_to_ten_percent_jitter(
    attempt: int, base: float
) -> None:
    delays = [RetryStrategy().delay(context(attempt, 20)) for _ in range(500)]
    assert all(base <= d <= base * 1.1 for d in delays)
    # The jitter spreads retries of jobs that failed together over the window.
    assert len(set(delays)) > 1
    assert max(delays) - min(delays) > base * 0.05


def test_delay__default_backoff_stops_growing_after_attempt_20() -> None:
    base = 15.0 + 2.0**20
    for attempt in (20, 21, 50):
        delay = RetryStrategy().delay(context(attempt, 100))
        assert base <= delay <= base * 1.1
