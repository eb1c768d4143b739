"""`current_job()` (docs/running.md): what the running job is, inside a job only."""

from __future__ import annotations

import threading

import pytest

from ash_oban_django import current_job
from ash_oban_django.context import JobContext, job_context


def context(attempt: int = 1, max_attempts: int = 3, **fields: object) -> JobContext:
    return JobContext(
        id=7,
        name="shop.Order:process",
        kind="trigger",
        attempt=attempt,
        max_attempts=max_attempts,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("attempt", "last"), [(1, False), (2, False), (3, True), (4, True)])
def test_last_attempt__from_the_third_of_three_on(attempt: int, last: bool) -> None:
    assert context(attempt, 3).last_attempt is last


def test_current_job__none_outside_a_job() -> None:
    assert current_job() is None


def test_job_context__sets_the_job_and_restores_the_outer_one() -> None:
    outer, inner = context(), context(attempt=2)
    with job_context(outer):
        assert current_job() is outer
        with job_context(inner):
            assert current_job() is inner
        assert current_job() is outer
    assert current_job() is None


def test_job_context__restored_when_the_job_raises() -> None:
    with pytest.raises(ValueError), job_context(context()):
        raise ValueError("boom")
    assert current_job() is None


def test_job_context__not_seen_by_another_thread() -> None:
    seen: list[JobContext | None] = []
    with job_context(context()):
        thread = threading.Thread(target=lambda: seen.append(current_job()))
        thread.start()
        thread.join()
    assert seen == [None]


def test_job_context__args_are_not_shared_between_contexts() -> None:
    first, second = context(), context()
    first.args["note"] = "x"
    assert second.args == {}
