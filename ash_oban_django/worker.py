"""Run one claimed job to its next state.

An attempt is one transaction that first locks the job row (on PostgreSQL that lock is the
proof that the worker is alive, see `queue.rescue`), then re-reads and locks the record,
calls the action and marks the job `completed`: the action's writes commit if and only if
the job completes. When the action fails, that transaction rolls back as a whole, and the
outcome (snooze, cancel, retry, on_error, discard) is recorded by a second transaction that
locks the job again.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connections, transaction
from django.db.models import Model, Q

from . import ledger
from .actors import lookup_actor
from .conf import settings
from .context import JobContext, job_context
from .exceptions import (
    Cancel,
    JobTimeout,
    Snooze,
    TriggerNoLongerApplies,
    UnknownDeclaration,
)
from .models import ALL_TENANTS, Job, State
from .registry import Registered, RegisteredAction, RegisteredTrigger, registry
from .signals import job_finished, job_started
from .tenants import filter_tenant, list_tenants, tenant_context

logger = logging.getLogger("ash_oban_django")


def perform(job: Job) -> Job:
    """Run a job claimed by `ledger.claim` (state `executing`) and return it updated."""
    return perform_and_claim(job)[0]


def perform_and_claim(job: Job, claim_from: str | None = None) -> tuple[Job, Job | None]:
    """`perform`; when the job completes, also claim the next job of queue `claim_from`
    in the same transaction (see `ledger.complete`). Returns the job and the one claimed."""
    started = time.monotonic()
    attempt: Attempt | None = None
    error: BaseException | None = None
    claimed: Job | None = None
    try:
        with transaction.atomic(using=ledger.database()):
            locked = ledger.lock_executing(job)
            if locked is None:  # rescued or cancelled while it waited
                return job, None
            found = registry.by_stable_name(locked.name)
            if found is None:
                error = unknown_name(locked)
                ledger.record(locked, State.DISCARDED, errors=[error])
                job = locked
            else:
                attempt = Attempt(locked, *found)
                claimed = attempt.run(claim_from)
                job = attempt.job
    except Exception as exc:  # noqa: BLE001 - the attempt's outcome is recorded below
        if attempt is None:
            raise  # our own machinery failed: the job stays executing and gets rescued
        error = attempt.conclude(exc)
        job, claimed = attempt.job, None
    job_finished.send_robust(
        Job, job=job, state=job.state, duration=time.monotonic() - started, error=error
    )
    return job, claimed


def unknown_name(job: Job) -> UnknownDeclaration:
    error = UnknownDeclaration(
        f"No trigger or scheduled action has the stable name {job.name!r}. If it was "
        f"renamed, set worker_name={job.name!r} (or scheduler_name) on the renamed "
        "declaration so its queued jobs keep running; otherwise delete these jobs."
    )
    logger.error("Discarding job %s: %s", job.pk, error)
    return error


class Attempt:
    """One attempt of one job."""

    def __init__(self, job: Job, entry: Registered, role: str) -> None:
        self.job = job
        self.entry = entry
        self.role = role
        self.label = entry.label if role != "scheduler" else f"{entry.label} scheduler"

    @property
    def using(self) -> str:
        return ledger.database()

    def context(
        self, actor: Any = None, tenant: Any = None, error: BaseException | None = None
    ) -> JobContext:
        job = self.job
        return JobContext(
            id=job.pk,
            name=job.name,
            kind=job.kind,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            tenant=tenant,
            actor=actor,
            tags=tuple(job.tags),
            args=dict(job.args),
            error=error,
        )

    def run(self, claim_from: str | None = None) -> Job | None:
        """Run the body and complete the job, inside the transaction holding the job's lock;
        returns the next job claimed from `claim_from`, if asked.

        Raises what the body raises: the caller rolls back and calls `conclude`.
        """
        job = self.job
        if self.entry.state != "active":
            reason = f"{self.label} is {self.entry.state}"
            ledger.record(job, State.CANCELLED, meta={"cancel_reason": reason})
            return None
        job_started.send_robust(Job, job=job, context=self.context())
        actor = lookup_actor(job.args.get("actor"))
        with deadline(self.timeout):
            self.body(actor)
        return ledger.complete(job, claim_from=claim_from)

    def conclude(self, error: Exception) -> Exception | None:
        """Record the outcome of an attempt whose transaction rolled back with `error`;
        returns the error when the attempt failed."""
        with transaction.atomic(using=self.using):
            locked = ledger.lock_executing(self.job, refresh=True)
            if locked is None:  # rescued meanwhile: the rescue recorded what happened
                return error
            self.job = job = locked
            if isinstance(error, Snooze):
                ledger.record(
                    job,
                    State.SCHEDULED,
                    scheduled_at=ledger.schedule_in(error.seconds),
                    attempt=job.attempt - 1,
                    meta={"snoozed": int(job.meta.get("snoozed", 0)) + 1},
                )
                return None
            if isinstance(error, Cancel | TriggerNoLongerApplies):
                self.debug("%s no longer applies to pk=%s: %s", self.label, job.object_pk, error)
                ledger.record(job, State.CANCELLED, meta={"cancel_reason": str(error)})
                return None
            self.fail(error)
            return error

    # -- what the job does -------------------------------------------------------------------

    @property
    def timeout(self) -> float | None:
        if self.role == "scheduler":
            return None
        return self.entry.declaration.timeout

    def body(self, actor: Any) -> None:
        if self.role == "worker":
            assert isinstance(self.entry, RegisteredTrigger)
            self.run_trigger(self.entry, actor)
        elif self.role == "scheduler":
            from .scheduler import run_scheduler

            assert isinstance(self.entry, RegisteredTrigger)
            with job_context(self.context(actor)):
                run_scheduler(self.entry, actor=actor, stored_actor=self.job.args.get("actor"))
        else:
            assert isinstance(self.entry, RegisteredAction)
            self.run_action(self.entry, actor)

    def run_trigger(self, entry: RegisteredTrigger, actor: Any) -> None:
        job, trigger = self.job, entry.trigger
        with tenant_context(job.tenant), job_context(self.context(actor, job.tenant)):
            record = reread(entry, job)
            if record is None:
                raise TriggerNoLongerApplies(
                    f"trigger no longer applies: {entry.label} pk={job.object_pk} is gone or "
                    "no longer matches `where`"
                )
            check_permission(entry, record, actor)
            self.debug("Trigger %s triggered for pk=%s", entry.label, job.object_pk)
            if trigger.method_name == "delete":
                record.delete()
                return
            inputs = {**trigger.action_input, **job.args.get("action_arguments", {})}
            if trigger.read_metadata is not None:
                inputs["metadata"] = job.args.get("metadata", {})
            getattr(record, trigger.method_name)(**inputs)

    def run_action(self, entry: RegisteredAction, actor: Any) -> None:
        job, action = self.job, entry.action
        tenants = list_tenants(entry)
        if job.tenant_key == ALL_TENANTS and len(tenants) > 1:
            # One job per tenant, each unique on its own: a tick fired twice adds nothing.
            ledger.insert(
                [
                    ledger.new_job(
                        kind=job.kind,
                        name=job.name,
                        queue=job.queue,
                        priority=job.priority,
                        max_attempts=job.max_attempts,
                        tenant=tenant,
                        args=job.args,
                        tags=job.tags,
                    )
                    for tenant in tenants
                ]
            )
            return
        if job.tenant_key == ALL_TENANTS and not tenants:
            return  # no tenant to run for, as a scheduler with no tenants enqueues nothing
        tenant = job.tenant if job.tenant_key != ALL_TENANTS else tenants[0]
        self.debug("Scheduled action %s triggered (tenant %r)", entry.label, tenant)
        with tenant_context(tenant), job_context(self.context(actor, tenant)):
            inputs = {**action.action_input, **job.args.get("action_arguments", {})}
            getattr(entry.model, action.method_name)(**inputs)

    # -- failures ----------------------------------------------------------------------------

    def fail(self, error: Exception) -> None:
        job = self.job
        if job.attempt < job.max_attempts:
            if self.log_errors:
                logger.warning(
                    "Error on attempt %s/%s of %s for pk=%s",
                    job.attempt,
                    job.max_attempts,
                    self.label,
                    job.object_pk,
                    exc_info=error,
                )
            delay = backoff(self.entry, self.context(error=error), self.role)
            ledger.record(
                job, State.RETRYABLE, errors=[error], scheduled_at=ledger.schedule_in(delay)
            )
        else:
            self.fail_finally(error)

    def fail_finally(self, error: BaseException) -> None:
        """The last attempt failed: call on_error (triggers) or discard the job."""
        job = self.job
        if self.log_errors or self.log_final_error:
            logger.error(
                "Final error on attempt %s of %s for pk=%s",
                job.attempt,
                self.label,
                job.object_pk,
                exc_info=error,
            )
        entry = self.entry
        on_error = entry.trigger.on_error if isinstance(entry, RegisteredTrigger) else None
        if self.role != "worker" or not on_error:
            ledger.record(job, State.DISCARDED, errors=[error])
            return
        assert isinstance(entry, RegisteredTrigger)
        try:
            with transaction.atomic(using=self.using):
                actor = lookup_actor(job.args.get("actor"))
                with (
                    tenant_context(job.tenant),
                    job_context(self.context(actor, job.tenant, error)),
                ):
                    record = reread(entry, job)
                    if record is None:
                        raise TriggerNoLongerApplies(
                            f"trigger no longer applies: {entry.label} pk={job.object_pk} "
                            "is gone or no longer matches `where`, so on_error was not called"
                        )
                    getattr(record, on_error)(error=error)
        except Snooze as snooze:
            ledger.record(
                job,
                State.SCHEDULED,
                errors=[error],
                attempt=job.attempt - 1,
                scheduled_at=ledger.schedule_in(snooze.seconds),
            )
        except (Cancel, TriggerNoLongerApplies) as cancel:
            ledger.record(job, State.CANCELLED, errors=[error], meta={"cancel_reason": str(cancel)})
        except Exception as handler_error:  # noqa: BLE001 - recorded next to the first error
            logger.error(
                "on_error %r of %s failed for pk=%s",
                on_error,
                self.label,
                job.object_pk,
                exc_info=handler_error,
            )
            ledger.record(job, State.DISCARDED, errors=[error, handler_error])
        else:
            fails = entry.trigger.on_error_fails_job
            ledger.record(
                job,
                State.DISCARDED if fails else State.COMPLETED,
                errors=[error],
                meta={"on_error": "handled"},
            )

    # -- logging -----------------------------------------------------------------------------

    @property
    def log_errors(self) -> bool:
        return getattr(self.entry.declaration, "log_errors", True)

    @property
    def log_final_error(self) -> bool:
        return getattr(self.entry.declaration, "log_final_error", True)

    def debug(self, message: str, *args: Any) -> None:
        if self.entry.declaration.debug or settings.DEBUG_ALL_TRIGGERS:
            logger.debug(message, *args)


def reread(entry: RegisteredTrigger, job: Job) -> Model | None:
    """The job's row, if it still matches `where`; locked when `lock_for_update`."""
    trigger = entry.trigger
    queryset = filter_tenant(entry.queryset(for_worker=True), entry, job.tenant)
    queryset = queryset.filter(trigger.where or Q(), pk=job.object_pk)
    if trigger.lock_for_update:
        features = connections[queryset.db].features
        of = ("self",) if features.has_select_for_update_of else ()
        queryset = queryset.select_for_update(of=of)
    # At most one row (the pk): evaluated as it is, without first()'s ordering and slicing.
    return next(iter(queryset), None)


def check_permission(entry: RegisteredTrigger, record: Model, actor: Any) -> None:
    permission = entry.trigger.permission
    allowed = not permission or actor is None or not settings.AUTHORIZE
    if not allowed and not actor.has_perm(permission, record):
        raise PermissionDenied(
            f"{actor} lacks the permission {permission!r} on {entry.label} pk={record.pk}"
        )


def backoff(entry: Registered, context: JobContext, role: str) -> float:
    """Seconds before the next attempt: the declared backoff, or Oban's default."""
    declared = None if role == "scheduler" else entry.declaration.backoff
    if callable(declared):
        return float(declared(context))
    if declared is not None:
        return float(declared)
    base = 15 + 2 ** min(context.attempt, 20)
    return base + random.uniform(0, base * 0.1)


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Fail the attempt with `JobTimeout` once it runs longer than `seconds`.

    In a process's main thread (a django-q2 worker) SIGALRM interrupts the action, and the
    alarm it replaces is restored afterwards. Elsewhere the action cannot be interrupted, so
    an attempt that finishes late fails after the fact: its writes still roll back.
    """
    if seconds is None:
        yield
        return
    started = time.monotonic()
    message = f"the attempt ran longer than its timeout of {seconds:g} seconds"
    use_alarm = threading.current_thread() is threading.main_thread()
    if use_alarm:

        def on_alarm(signum: int, frame: Any) -> None:
            raise JobTimeout(message)

        previous_handler = signal.signal(signal.SIGALRM, on_alarm)
        previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_delay:
                elapsed = time.monotonic() - started
                signal.setitimer(signal.ITIMER_REAL, max(previous_delay - elapsed, 0.001))
    if time.monotonic() - started > seconds:
        raise JobTimeout(message)
