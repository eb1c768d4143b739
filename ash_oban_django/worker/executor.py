"""Run one claimed job to its next state: an attempt is a pipeline of named steps.

    perform_and_claim(job)
      lock      the job's row, still `executing` this attempt (else it moved on: done)
      resolve   the declaration that owns its stable name: a runner, or an outcome at once
                (an unknown name is discarded, a paused or deleted declaration cancelled)
      perform   the runner's work, under the job's deadline
      complete  the job (and claim the next of the queue), committing with the work
    when perform (or the commit of its writes) raised, in a second transaction:
      lock      the job again
      decide    what the error means (`outcome.classify`); a final failure runs `on_error`
                here, so user code has run before anything is written
      record    the outcome: one ledger verb per state, the single write

An attempt that lost its database connection (the server ended the session, restarted or
failed over) is `Interrupted`: not the job's fault, so it runs again soon without spending an
attempt, up to `retry.MAX_INTERRUPTIONS` times. Its outcome is recorded on a new connection,
retried while the database stays away (`RECONNECT_FOR`).

Both transactions are bounded on the server (`deadline.idle_bound`): a worker that stops
mid-attempt loses its session, and its locks, once idle past its timeout plus a margin.
The first transaction holds the job row's lock for the whole attempt (on PostgreSQL and
MariaDB that lock is the proof that the worker is alive; see the rescue), so the work's
writes commit if and only if the job completes.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from django.db import transaction

from .. import ledger
from ..declarations import DeclarationState
from ..exceptions import JobOrphaned, UnknownDeclaration
from ..ledger import Backend
from ..ledger.notify import jobs_after_commit
from ..models import Job
from ..registry import registry
from ..signals import job_cancelled, job_discarded, job_finished, job_rescued, job_started
from ..states import Kind, State
from .deadline import deadline, idle_bound
from .logs import bounded
from .outcome import (
    Cancelled,
    Discarded,
    FailedFinally,
    Handled,
    Interrupted,
    Outcome,
    Rescued,
    Retrying,
    Snoozed,
    classify,
    classify_on_error,
    stand_in,
)
from .retry import RetryStrategy
from .runners import RUNNERS, Runner

logger = logging.getLogger("ash_oban_django")

# What `record` writes: every outcome but a final failure, which `decide` first hands to
# the declaration's `on_error`.
Recorded = Snoozed | Cancelled | Retrying | Interrupted | Handled | Discarded | Rescued
Recording = TypeVar("Recording")
# Seconds an attempt's outcome keeps being retried on a new connection while the database
# connection is lost; past it the job is left `executing`, for the rescue.
RECONNECT_FOR = 30.0


@dataclass(frozen=True, slots=True)
class Performed:
    """What one attempt came to: the job as it was left, the next job claimed with its
    completion (if asked and there was one), and the error the attempt raised."""

    job: Job
    claimed: Job | None = None
    error: BaseException | None = None


class AttemptFailed(Exception):
    """The job's own work failed (the runner raised, or the commit of its writes did): the
    attempt's transaction rolled back, and the outcome is decided and recorded apart."""

    def __init__(self, runner: Runner, error: BaseException) -> None:
        super().__init__(error)
        self.runner, self.error = runner, error


def perform(job: Job, *, default_timeout: float | None = None) -> Job:
    """Run a claimed job (state `executing`) and return it updated.

    `default_timeout` stands for the timeout of a declaration that has none in the bound the
    database puts on the attempt's transaction (see `deadline.idle_bound`): a dispatch task
    gives its django-q2 cluster's."""
    return perform_and_claim(job, default_timeout=default_timeout).job


def perform_and_claim(
    job: Job, claim_from: str | None = None, *, default_timeout: float | None = None
) -> Performed:
    """`perform`; when the job completes, also claim the next job of queue `claim_from`
    in the same transaction (see `Backend.complete_and_commit`)."""
    started = time.monotonic()
    engine = ledger.engine()
    try:
        performed = attempt(engine, job, claim_from, default_timeout)
    except AttemptFailed as failed:
        concluded = reconnecting(
            engine, partial(conclude, engine, failed.runner, failed.error, default_timeout)
        )
        performed = Performed(concluded, error=failed.error)
        if claim_from is not None and engine.connection_lost(failed.error):
            # The commit may have claimed the next job before the session ended.
            reconnecting(engine, partial(release_claimed, engine, failed.error))
    except Exception as error:
        # Lost before the work began (locking the job, say): the attempt never ran.
        runner = runner_for(job) if engine.connection_lost(error) else None
        if runner is None:
            raise
        performed = Performed(
            reconnecting(engine, partial(conclude, engine, runner, error, default_timeout)),
            error=error,
        )
    if performed is None:  # rescued or cancelled while it waited: someone else recorded it
        return Performed(job)
    job_finished.send_robust(
        Job,
        job=performed.job,
        state=performed.job.state,
        duration=time.monotonic() - started,
        error=performed.error,
    )
    return performed


def attempt(
    engine: Backend, job: Job, claim_from: str | None, default_timeout: float | None = None
) -> Performed | None:
    """Lock, resolve, perform and complete, in one transaction that the database ends if the
    worker stops mid-attempt (`deadline.idle_bound`); None when the job moved on. Raises
    `AttemptFailed` when the job's work failed; any other error is the package's own (the
    job stays `executing` and is rescued)."""
    declared = runner_for(job)  # once: its timeout bounds the transaction it then runs in
    bound = idle_bound(None if declared is None else declared.timeout, default_timeout)
    with failures_of_the_work() as work, engine.attempt_transaction(job, bound) as locked:
        if locked is None:
            return None
        resolved = resolve(locked, declared)
        if not isinstance(resolved, Runner):
            error = resolved.errors[0] if resolved.errors else None
            return Performed(record(engine, locked, resolved), error=error)
        work.runner = resolved
        run(resolved)
        return Performed(locked, claimed=engine.complete_and_commit(locked, claim_from))


@dataclass(slots=True)
class _Work:
    """Whose code runs: None while the package prepares the attempt, then the runner."""

    runner: Runner | None = None


@contextmanager
def failures_of_the_work() -> Iterator[_Work]:
    """Turn what the job's work raises into `AttemptFailed` (placed outside the attempt's
    transaction, so a commit refused because of the work's writes counts as the work's)."""
    work = _Work()
    try:
        yield work
    except Exception as error:
        if work.runner is None:
            raise
        raise AttemptFailed(work.runner, error) from error


def resolve(job: Job, runner: Runner | None) -> Runner | Discarded | Cancelled:
    """The job's runner (`runner_for`), or the outcome of a job that must not run: one whose
    stable name no declaration owns, or whose declaration is paused or deleted."""
    if runner is None:
        return Discarded((unknown_name(job),))
    runner.job = job
    if runner.state != DeclarationState.ACTIVE:
        return Cancelled(f"{runner.label} is {runner.state}")
    return runner


def runner_for(job: Job) -> Runner | None:
    """The runner of the declaration that owns the job's stable name; None if none does.
    A Django task's job is run by the task its name gives."""
    if job.kind == Kind.TASK:
        # Imported on first use: the Django Tasks API is optional on Django 5.2.
        from .task_runner import TaskRunner

        return TaskRunner(job)
    found = registry.by_stable_name(job.name)
    if found is None:
        return None
    entry, kind = found
    return RUNNERS[kind](job, entry)


def run(runner: Runner) -> None:
    """The job's work: announce it, then run it as its actor, within its deadline."""
    job_started.send_robust(Job, job=runner.job, context=runner.context())
    actor = runner.actor()
    with deadline(runner.timeout):
        runner.run(actor)


def unknown_name(job: Job) -> UnknownDeclaration:
    error = UnknownDeclaration(
        f"No trigger or scheduled action has the stable name {job.name!r}. If it was "
        f"renamed, set worker_name={job.name!r} (or scheduler_name) on the renamed "
        "declaration so its queued jobs keep running; otherwise delete these jobs."
    )
    logger.error("Discarding job %s: %s", job.pk, error)
    return error


def conclude(
    engine: Backend, runner: Runner, error: BaseException, default_timeout: float | None = None
) -> Job:
    """Decide and record the outcome of an attempt whose transaction rolled back (`on_error`
    included, under the same bound as the attempt)."""
    bound = idle_bound(runner.timeout, default_timeout)
    with engine.attempt_transaction(runner.job, bound, refresh=True) as locked:
        if locked is None:  # rescued meanwhile: the rescue recorded what happened
            return runner.job
        runner.job = locked
        strategy = runner.retry_strategy
        retry = strategy.decide(runner.context(error=error))
        lost = engine.connection_lost(error)
        interruption = strategy.after_interruption(locked.interruptions) if lost else None
        outcome = classify(error, retry, interruption)
        return record(engine, locked, decide(engine, runner, outcome), runner)


def reconnecting(engine: Backend, record_outcome: Callable[[], Recording]) -> Recording:
    """`record_outcome()`, tried again on a new connection while the connection is lost,
    for up to `RECONNECT_FOR` seconds. Inside a caller's transaction (a drain in a test,
    say) it is not: a new connection would leave that transaction behind."""
    give_up = time.monotonic() + RECONNECT_FOR
    pause = 0.1
    while True:
        try:
            return record_outcome()
        except Exception as error:
            connection = engine.connection
            lost = engine.connection_lost(error) and not connection.in_atomic_block
            if not lost or time.monotonic() + pause > give_up:
                raise
            logger.debug("Recording an outcome lost its connection; reconnecting: %s", error)
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def release_claimed(engine: Backend, error: BaseException) -> list[Job]:
    """Give back the jobs this process claimed but is not running, after its connection was
    lost: a claim the server committed just before it ended the session reports an error,
    yet leaves its jobs `executing` in this node's name. A worker process runs one job at a
    time, so between jobs every such job is one of those; each is `Interrupted` (its attempt
    given back) rather than left for the rescue to count as a failure."""
    released = []
    strategy = RetryStrategy()
    with transaction.atomic(using=engine.alias):
        for job in engine.claimed_by(ledger.node_name()):
            if strategy.after_interruption(job.interruptions).retry:
                released.append(record(engine, job, Interrupted(error, 0.0)))
        ledger.announce(dict(Counter(job.queue for job in released)))
    return released


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
    before = copy.copy(job)
    try:
        with transaction.atomic(using=engine.alias):
            if job.attempt < job.max_attempts:
                return record(engine, job, Rescued(error))
            runner = runner_for(job)
            if runner is None:
                return record(engine, job, Discarded((error,)))
            return record(engine, job, decide(engine, runner, FailedFinally(error)), runner)
    except Exception as failure:  # noqa: BLE001 - recorded on the job, next to the rescue's error
        if engine.connection_lost(failure):
            raise  # the database is away: the job is rescued on a later pass
        logger.error(
            "Rescue of job %s (%s) failed; discarding it: %s", job.pk, job.name, bounded(failure)
        )
        with transaction.atomic(using=engine.alias):
            return acknowledge(engine, before, Discarded((error, failure)), None)


def decide(engine: Backend, runner: Runner, outcome: Outcome) -> Recorded:
    """The outcome to record: a final failure is logged and handed to `on_error` (in a
    savepoint: its writes roll back if it raises), and what came of that is recorded."""
    if not isinstance(outcome, FailedFinally):
        return outcome
    error = outcome.error
    if runner.log_errors or runner.log_final_error:
        logger.error(
            "Final error on attempt %s of %s for pk=%s: %s",
            runner.job.attempt,
            runner.label,
            runner.job.object_pk,
            bounded(error),
        )
    if not runner.has_on_error:
        return Discarded((error,))
    try:
        with transaction.atomic(using=engine.alias):
            runner.on_error(runner.actor(), error)
    except Exception as handler_error:  # noqa: BLE001 - recorded next to the first error
        handled = classify_on_error(error, handler_error)
        if isinstance(handled, Discarded):
            logger.error(
                "on_error of %s failed for pk=%s: %s",
                runner.label,
                runner.job.object_pk,
                bounded(handler_error),
            )
        return handled
    return classify_on_error(error, None)


def record(engine: Backend, job: Job, outcome: Recorded, runner: Runner | None = None) -> Job:
    """Write an outcome, in the transaction that holds the job's lock: the one place that
    turns outcomes into ledger verbs.

    The write runs in a savepoint: when it fails (the database refused something the error
    carries, say), the outcome is written again with stand-ins for its errors, so what an
    action raised never leaves its job `executing`."""
    before = copy.copy(job)
    try:
        with transaction.atomic(using=engine.alias):
            return acknowledge(engine, job, outcome, runner)
    except Exception as failure:  # noqa: BLE001 - written again without the details
        if engine.connection_lost(failure):
            raise  # nothing was refused: the write is tried again on a new connection
        logger.error(
            "Could not record the outcome of job %s (%s); recording it without the error's "
            "details: %s",
            job.pk,
            job.name,
            bounded(failure),
        )
        with transaction.atomic(using=engine.alias):
            locked = engine.lock_attempt(before, refresh=True)
            if locked is None:
                return before
            return acknowledge(engine, locked, stand_in(outcome, failure), runner)


def acknowledge(engine: Backend, job: Job, outcome: Recorded, runner: Runner | None) -> Job:
    """The ledger verb (and log line) of each outcome, and its lifecycle signal once it
    commits."""
    recorded = write(engine, job, outcome, runner)
    if isinstance(outcome, Cancelled):
        jobs_after_commit(job_cancelled, [recorded], engine.alias, reason=outcome.reason)
    elif isinstance(outcome, Rescued):
        jobs_after_commit(job_rescued, [recorded], engine.alias)
    elif recorded.state == State.DISCARDED:
        jobs_after_commit(job_discarded, [recorded], engine.alias)
    return recorded


def write(engine: Backend, job: Job, outcome: Recorded, runner: Runner | None) -> Job:
    """The ledger verb (and log line) of each outcome."""
    match outcome:
        case Snoozed(seconds, errors):
            return engine.snooze(job, seconds, errors=errors)
        case Cancelled(reason, errors):
            if runner is not None:
                runner.debug("%s cancelled for pk=%s: %s", runner.label, job.object_pk, reason)
            return engine.cancel(job, reason, errors=errors)
        case Discarded(errors):
            return engine.discard(job, errors)
        case Rescued(error):
            return engine.rescue(job, error)
        case Interrupted(error, delay):
            logger.info(
                "Attempt %s of job %s (%s) lost its database connection; it runs again in "
                "%g s without counting: %s",
                job.attempt,
                job.pk,
                job.name,
                delay,
                bounded(error, traceback=False),
            )
            return engine.interrupt(job, error, delay)
        case Retrying(error, delay):
            assert runner is not None, "a retry is decided by the job's runner"
            if runner.log_errors:
                logger.warning(
                    "Error on attempt %s/%s of %s for pk=%s: %s",
                    job.attempt,
                    job.max_attempts,
                    runner.label,
                    job.object_pk,
                    bounded(error),
                )
            return engine.error(job, error, delay)
        case Handled(error):
            assert runner is not None, "on_error is the job's runner's"
            return engine.finish_handled(job, error, discard=runner.on_error_fails_job)
