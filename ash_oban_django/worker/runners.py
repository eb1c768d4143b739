"""What a job does, one runner per kind of job: a trigger's worker job calls the action on
its locked row, a scheduler job runs the trigger's scheduler, a scheduled-action job calls
the model's class-level method (first splitting itself per tenant).

A runner only does the work and raises what went wrong; the executor decides the outcome
and records it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from asgiref.sync import async_to_sync
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.db.models import Model, Q

from .. import ledger
from ..actors import lookup_actor
from ..conf import settings
from ..context import JobContext, job_context
from ..declarations import Declaration, DeclarationState
from ..enqueue.jobs import tenant_jobs
from ..enqueue.scheduler import run_scheduler
from ..exceptions import TriggerNoLongerApplies
from ..models import ALL_TENANTS, Job
from ..registry import Registered, RegisteredAction, RegisteredTrigger
from ..states import Kind
from ..tenants import filter_tenant, list_tenants, tenant_context
from .retry import RetryStrategy

logger = logging.getLogger("ash_oban_django")


class Runner:
    """Runs one kind of job for one declaration."""

    kind: ClassVar[Kind]

    def __init__(self, job: Job, entry: Registered) -> None:
        self.job = job
        self.entry = entry

    @property
    def label(self) -> str:
        """How log lines name what runs."""
        return self.entry.label

    @property
    def state(self) -> DeclarationState:
        """Whether the declaration's jobs run (`active`) or are cancelled."""
        return self.entry.state

    @property
    def timeout(self) -> float | None:
        return self.entry.declaration.timeout

    @property
    def retry_strategy(self) -> RetryStrategy:
        return RetryStrategy(self.entry.declaration.backoff)

    @property
    def declaration(self) -> Declaration | None:
        """The trigger or scheduled action the job belongs to."""
        return self.entry.declaration

    def actor(self) -> Any:
        """The job's actor, looked up again at each attempt: the stored one through the
        declaration's persister, or the declaration's default when the job carries none."""
        return lookup_actor(self.job.args.get("actor"), self.declaration)

    @property
    def log_errors(self) -> bool:
        return getattr(self.entry.declaration, "log_errors", True)

    @property
    def log_final_error(self) -> bool:
        return getattr(self.entry.declaration, "log_final_error", True)

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

    def debug(self, message: str, *args: Any) -> None:
        if self.entry.declaration.debug or settings.DEBUG_ALL_TRIGGERS:
            logger.debug(message, *args)

    def run(self, actor: Any) -> None:
        """Do the job's work, in the attempt's transaction."""
        raise NotImplementedError

    @property
    def has_on_error(self) -> bool:
        """Whether the declaration handles its jobs' final failures."""
        return False

    def on_error(self, actor: Any, error: BaseException) -> None:
        """Handle the final failure (only called when `has_on_error`)."""
        raise NotImplementedError

    @property
    def on_error_fails_job(self) -> bool:
        """Whether a final failure that `on_error` handled leaves the job `discarded`."""
        return False


class TriggerRunner(Runner):
    kind = Kind.TRIGGER

    @property
    def trigger_entry(self) -> RegisteredTrigger:
        assert isinstance(self.entry, RegisteredTrigger)
        return self.entry

    def run(self, actor: Any) -> None:
        job, entry = self.job, self.trigger_entry
        with tenant_context(job.tenant), job_context(self.context(actor, job.tenant)):
            record = self.locked_record("")
            check_permission(entry, record, actor)
            self.debug("Trigger %s triggered for pk=%s", entry.label, job.object_pk)
            self.call_action(record)

    def call_action(self, record: Model) -> None:
        """The trigger's action on the job's (locked) row, with the job's inputs."""
        job, trigger = self.job, self.trigger_entry.trigger
        if trigger.method_name == "delete":
            record.delete()
            return
        inputs = {**trigger.action_input, **job.args.get("action_arguments", {})}
        if trigger.read_metadata is not None:
            inputs["metadata"] = job.args.get("metadata", {})
        call(getattr(record, trigger.method_name), **inputs)

    @property
    def has_on_error(self) -> bool:
        return bool(self.trigger_entry.trigger.on_error)

    @property
    def on_error_fails_job(self) -> bool:
        return self.trigger_entry.trigger.on_error_fails_job

    def on_error(self, actor: Any, error: BaseException) -> None:
        job, method = self.job, self.trigger_entry.trigger.on_error
        assert method is not None
        with tenant_context(job.tenant), job_context(self.context(actor, job.tenant, error)):
            record = self.locked_record(", so on_error was not called")
            call(getattr(record, method), error=error)

    def locked_record(self, consequence: str) -> Model:
        """The job's row, re-read (and locked) under the trigger's rules; raises
        `TriggerNoLongerApplies` when it is gone or no longer matches `where`."""
        record = reread(self.trigger_entry, self.job)
        if record is None:
            raise TriggerNoLongerApplies(
                f"trigger no longer applies: {self.label} pk={self.job.object_pk} is gone or "
                f"no longer matches `where`{consequence}"
            )
        return record


class SchedulerRunner(Runner):
    kind = Kind.SCHEDULER

    @property
    def label(self) -> str:
        return f"{self.entry.label} scheduler"

    @property
    def timeout(self) -> float | None:
        return None  # a declaration's timeout bounds its worker jobs, not its scheduler

    @property
    def retry_strategy(self) -> RetryStrategy:
        return RetryStrategy()

    def run(self, actor: Any) -> None:
        assert isinstance(self.entry, RegisteredTrigger)
        with job_context(self.context(actor)):
            run_scheduler(self.entry, stored_actor=self.job.args.get("actor"))


class ActionRunner(Runner):
    kind = Kind.ACTION

    def run(self, actor: Any) -> None:
        job, entry = self.job, self.entry
        assert isinstance(entry, RegisteredAction)
        unbound = job.tenant_key == ALL_TENANTS
        tenants = list_tenants(entry) if unbound else [job.tenant]
        if unbound and len(tenants) > 1:
            # One job per tenant, each unique on its own: a tick fired twice adds nothing.
            ledger.insert(tenant_jobs(job, tenants))
            return
        if not tenants:
            return  # no tenant to run for, as a scheduler with no tenants enqueues nothing
        tenant = tenants[0]
        self.debug("Scheduled action %s triggered (tenant %r)", entry.label, tenant)
        with tenant_context(tenant), job_context(self.context(actor, tenant)):
            inputs = {**entry.action.action_input, **job.args.get("action_arguments", {})}
            call(getattr(entry.model, entry.action.method_name), **inputs)


RUNNERS: dict[Kind, type[Runner]] = {
    runner.kind: runner for runner in (TriggerRunner, SchedulerRunner, ActionRunner)
}


def call(method: Callable[..., Any], /, **inputs: Any) -> Any:
    """Call a model's method; an `async def` one is run to its end here, in this thread's
    transaction: its ORM calls (`await record.asave()`, `sync_to_async`) come back to this
    thread, so they run inside the attempt, under the row lock."""
    result = method(**inputs)
    if inspect.isawaitable(result):
        return async_to_sync(_awaited)(result)
    return result


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


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
