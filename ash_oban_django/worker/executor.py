"""Run one claimed job to its next state.

An attempt is one transaction that first locks the job row (on PostgreSQL that lock is the
proof that the worker is alive; see the rescue), then runs the job's runner and marks the job
`completed`: the action's writes commit if and only if the job completes. When the runner
raises, that transaction rolls back whole; the error is classified (`outcome.classify`) and
the outcome recorded by `record`, in a second transaction that locks the job again.
"""

from __future__ import annotations

import copy
import logging
import time

from django.db import transaction

from .. import ledger
from ..actors import lookup_actor
from ..declarations import DeclarationState
from ..exceptions import JobOrphaned, UnknownDeclaration
from ..ledger import Backend
from ..models import Job
from ..registry import RegisteredTrigger, registry
from ..signals import job_finished, job_started
from .deadline import deadline
from .outcome import (
    Cancelled,
    Discarded,
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
from .runners import RUNNERS, Runner

logger = logging.getLogger("ash_oban_django")


def perform(job: Job) -> Job:
    """Run a claimed job (state `executing`) and return it updated."""
    return perform_and_claim(job)[0]


def perform_and_claim(job: Job, claim_from: str | None = None) -> tuple[Job, Job | None]:
    """`perform`; when the job completes, also claim the next job of queue `claim_from`
    in the same transaction (see `Backend.complete`). Returns the job and the one claimed."""
    started = time.monotonic()
    engine = ledger.engine()
    runner: Runner | None = None
    error: BaseException | None = None
    claimed: Job | None = None
    try:
        with transaction.atomic(using=engine.alias):
            locked = engine.lock_executing(job)
            if locked is None:  # rescued or cancelled while it waited
                return job, None
            runner = runner_for(locked)
            if runner is None:
                error = unknown_name(locked)
                job = record(engine, locked, Discarded((error,)))
            elif runner.entry.state != DeclarationState.ACTIVE:
                reason = f"{runner.label} is {runner.entry.state}"
                job = record(engine, locked, Cancelled(reason), runner)
            else:
                job_started.send_robust(Job, job=locked, context=runner.context())
                actor = lookup_actor(locked.args.get("actor"))
                with deadline(runner.timeout):
                    runner.run(actor)
                claimed = engine.complete(locked, claim_from=claim_from)
                job = locked
    except Exception as exc:  # noqa: BLE001 - the attempt's outcome is recorded below
        if runner is None:
            raise  # our own machinery failed: the job stays executing and gets rescued
        error = exc
        job, claimed = conclude(engine, runner, exc), None
    job_finished.send_robust(
        Job, job=job, state=job.state, duration=time.monotonic() - started, error=error
    )
    return job, claimed


def runner_for(job: Job) -> Runner | None:
    """The runner of the declaration that owns the job's stable name; None if none does."""
    found = registry.by_stable_name(job.name)
    if found is None:
        return None
    entry, kind = found
    return RUNNERS[kind](job, entry)


def unknown_name(job: Job) -> UnknownDeclaration:
    error = UnknownDeclaration(
        f"No trigger or scheduled action has the stable name {job.name!r}. If it was "
        f"renamed, set worker_name={job.name!r} (or scheduler_name) on the renamed "
        "declaration so its queued jobs keep running; otherwise delete these jobs."
    )
    logger.error("Discarding job %s: %s", job.pk, error)
    return error


def conclude(engine: Backend, runner: Runner, error: BaseException) -> Job:
    """Record the outcome of an attempt whose transaction rolled back with `error`."""
    with transaction.atomic(using=engine.alias):
        locked = engine.lock_executing(runner.job, refresh=True)
        if locked is None:  # rescued meanwhile: the rescue recorded what happened
            return runner.job
        runner.job = locked
        decision = runner.retry_strategy.decide(runner.context(error=error))
        return record(engine, locked, classify(error, decision), runner)


def rescue_orphan(engine: Backend, job: Job) -> Job:
    """Rescue an `executing` job whose worker is gone (locked by the caller): available
    again, or the final-failure path when it has no attempts left.

    When the rescue itself fails, the job is discarded with the rescue's error and the
    failure, so one job that cannot be rescued neither stays `executing` nor runs `on_error`
    on every maintenance pass."""
    error = JobOrphaned(
        f"the worker running attempt {job.attempt} "
        f"({job.attempted_by or 'unknown'}) died; the job was rescued"
    )
    logger.warning("Rescuing job %s (%s): %s", job.pk, job.name, error)
    before = copy.copy(job)
    try:
        with transaction.atomic(using=engine.alias):
            runner = runner_for(job)
            if job.attempt < job.max_attempts:
                return record(engine, job, Rescued(error), runner)
            if runner is None:
                return record(engine, job, Discarded((error,)))
            return record(engine, job, FailedFinally(error), runner)
    except Exception as failure:  # noqa: BLE001 - recorded on the job, next to the rescue's error
        logger.exception("Rescue of job %s (%s) failed; discarding it", job.pk, job.name)
        return engine.discard(before, [error, failure])


def record(engine: Backend, job: Job, outcome: Outcome, runner: Runner | None = None) -> Job:
    """Write an outcome, in the transaction that holds the job's lock. The one place that
    turns outcomes into ledger verbs (and log lines).

    A final failure first goes through `on_error`. The write runs in a savepoint: when it
    fails (the database refused something the error carries, say), the outcome is written
    again with stand-ins for its errors, so what an action raised never leaves its job
    `executing`."""
    if isinstance(outcome, FailedFinally):
        assert runner is not None, f"{outcome!r} needs the job's runner"
        if runner.log_errors or runner.log_final_error:
            logger.error(
                "Final error on attempt %s of %s for pk=%s",
                job.attempt,
                runner.label,
                job.object_pk,
                exc_info=outcome.error,
            )
        outcome = call_on_error(engine, runner, outcome.error)
    before = copy.copy(job)
    try:
        with transaction.atomic(using=engine.alias):
            return write(engine, job, outcome, runner)
    except Exception as failure:  # noqa: BLE001 - written again without the details
        logger.exception(
            "Could not record the outcome of job %s (%s); recording it without the error's details",
            job.pk,
            job.name,
        )
        with transaction.atomic(using=engine.alias):
            locked = engine.lock_executing(before, refresh=True)
            if locked is None:
                return before
            return write(engine, locked, stand_in(outcome, failure), runner)


def write(engine: Backend, job: Job, outcome: Outcome, runner: Runner | None) -> Job:
    """The ledger verb (and log line) of an outcome that is not `FailedFinally`."""
    if isinstance(outcome, Snoozed):
        return engine.snooze(job, outcome.seconds, errors=outcome.errors)
    if isinstance(outcome, Cancelled):
        if runner is not None:
            runner.debug("%s cancelled for pk=%s: %s", runner.label, job.object_pk, outcome.reason)
        return engine.cancel(job, outcome.reason, errors=outcome.errors)
    if isinstance(outcome, Discarded):
        return engine.discard(job, outcome.errors)
    if isinstance(outcome, Rescued):
        return engine.rescue(job, outcome.error)
    assert runner is not None, f"{outcome!r} needs the job's runner"
    if isinstance(outcome, Retrying):
        if runner.log_errors:
            logger.warning(
                "Error on attempt %s/%s of %s for pk=%s",
                job.attempt,
                job.max_attempts,
                runner.label,
                job.object_pk,
                exc_info=outcome.error,
            )
        return engine.retry(job, outcome.error, outcome.delay)
    assert isinstance(outcome, Handled), f"{outcome!r} is recorded by `record`"
    entry = runner.entry
    fails = isinstance(entry, RegisteredTrigger) and entry.trigger.on_error_fails_job
    return engine.handled(job, outcome.error, discard=fails)


def call_on_error(engine: Backend, runner: Runner, error: BaseException) -> Outcome:
    """Call the declaration's `on_error` in a savepoint (its writes roll back if it
    raises) and classify what came of it."""
    if not runner.has_on_error:
        return Discarded((error,))
    try:
        with transaction.atomic(using=engine.alias):
            runner.on_error(lookup_actor(runner.job.args.get("actor")), error)
    except Exception as handler_error:  # noqa: BLE001 - recorded next to the first error
        outcome = classify_on_error(error, handler_error)
        if isinstance(outcome, Discarded):
            logger.error(
                "on_error of %s failed for pk=%s",
                runner.label,
                runner.job.object_pk,
                exc_info=handler_error,
            )
        return outcome
    return classify_on_error(error, None)
