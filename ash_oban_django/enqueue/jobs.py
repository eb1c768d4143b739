"""The jobs a declaration inserts, built but not saved: worker jobs (one per row), the job a
cron inserts (a scheduler or scheduled-action job), and a scheduled action's per-tenant jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Model

from .. import ledger
from ..models import Job
from ..registry import Registered, RegisteredAction, RegisteredTrigger
from ..states import Kind


def job_row(
    entry: RegisteredTrigger,
    row: Any,
    tenant: Any,
    stored_actor: Any,
    *,
    action_arguments: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    at: datetime | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The worker job's values for one row (a model instance or a values tuple ending with
    the pk). In the args, our keys win over `extra_args`, which win over `extra`."""
    trigger = entry.trigger
    record = row if isinstance(row, Model) else None
    pk = record.pk if record is not None else row[-1]
    if tenant is None and trigger.use_tenant_from_record and record is not None:
        field = entry.options.tenant_field
        tenant = getattr(record, field) if field else None
    args: dict[str, Any] = dict(extra or {})
    extra_args = trigger.extra_args
    if callable(extra_args):
        extra_args = extra_args(record) if record is not None else None
    if extra_args:
        args["extra_args"] = dict(extra_args)
    if action_arguments:
        args["action_arguments"] = action_arguments
    if trigger.read_metadata is not None and record is not None:
        args["metadata"] = trigger.read_metadata(record)
    if stored_actor is not None:
        args["actor"] = stored_actor
    return ledger.job_values(
        kind=Kind.TRIGGER,
        name=entry.worker_name,
        queue=options.get("queue") or entry.queue,
        priority=options.get("priority", trigger.worker_priority),
        max_attempts=options.get("max_attempts", trigger.max_attempts),
        object_pk=str(pk),
        tenant=tenant,
        args=args,
        tags=[*trigger.tags, *options.get("tags", ())],
        once=trigger.trigger_once,
        scheduled_at=options.get("scheduled_at"),
        at=at,
    )


def worker_job(
    entry: RegisteredTrigger, row: Any, tenant: Any, stored_actor: Any, **options: Any
) -> Job:
    """The unsaved worker job for one row (options as for `job_row`)."""
    return Job(**job_row(entry, row, tenant, stored_actor, **options))


def page_rows(
    entry: RegisteredTrigger, page: Sequence[Any], tenant: Any, stored_actor: Any
) -> ledger.Rows:
    """The worker jobs of one scanned page, as columns for one insert."""
    at = ledger.now()
    if isinstance(page[0], Model):
        return ledger.Rows.of([job_row(entry, row, tenant, stored_actor, at=at) for row in page])
    # Plain values: every job is the same but for its row's pk.
    common = job_row(entry, page[0], tenant, stored_actor, at=at)
    del common["object_pk"]
    return ledger.Rows(common, {"object_pk": [str(row[-1]) for row in page]})


def cron_job(
    entry: Registered, *, stored_actor: Any = None, action_arguments: dict[str, Any] | None = None
) -> Job:
    """The job a declaration's cron inserts: a trigger's scheduler job, or a scheduled
    action's job. It covers every tenant (a scheduled action fans out when it runs)."""
    args: dict[str, Any] = {}
    if stored_actor is not None:
        args["actor"] = stored_actor
    if isinstance(entry, RegisteredTrigger):
        trigger = entry.trigger
        if trigger.scheduler_cron is None:
            raise ValueError(
                f"{entry.label} has no scheduler (scheduler_cron=None); "
                "use run_trigger() for its rows instead."
            )
        kind, priority, max_attempts = (
            Kind.SCHEDULER,
            trigger.scheduler_priority,
            trigger.max_scheduler_attempts,
        )
    else:
        assert isinstance(entry, RegisteredAction)
        if action_arguments:
            args["action_arguments"] = action_arguments
        kind, priority, max_attempts = Kind.ACTION, entry.action.priority, entry.action.max_attempts
    return ledger.new_job(
        kind=kind,
        name=entry.cron_name,
        queue=entry.cron_queue,
        priority=priority,
        max_attempts=max_attempts,
        bound=False,
        args=args,
        tags=entry.declaration.tags,
    )


def tenant_jobs(job: Job, tenants: Iterable[Any]) -> list[Job]:
    """A scheduled-action job that covers every tenant, split into one job per tenant."""
    return [
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
