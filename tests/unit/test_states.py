"""The ledger's vocabulary (docs/running.md#states): how the job states group."""

from __future__ import annotations

from ash_oban_django.states import (
    FINISHED_STATES,
    INCOMPLETE_STATES,
    RUNNABLE_STATES,
    WAITING_STATES,
    State,
)


def test_states__every_state_is_incomplete_or_finished_never_both() -> None:
    assert set(INCOMPLETE_STATES) | set(FINISHED_STATES) == set(State)
    assert set(INCOMPLETE_STATES) & set(FINISHED_STATES) == set()


def test_states__a_claim_takes_any_incomplete_job_but_a_running_one() -> None:
    assert set(RUNNABLE_STATES) == set(INCOMPLETE_STATES) - {State.EXECUTING}


def test_states__the_stager_moves_only_jobs_that_wait_for_their_time() -> None:
    assert set(WAITING_STATES) == set(RUNNABLE_STATES) - {State.AVAILABLE}
