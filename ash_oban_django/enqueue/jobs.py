"""The jobs a declaration inserts, built but not saved: worker jobs (one per row), the job a
cron inserts (a scheduler or scheduled-action job), and a scheduled action's per-tenant jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Model

from .. import ledger
from ..ledger.rows import (
    ERROR_MESSAGE_LIMIT,
    ERROR_TRACEBACK_LIMIT,
    check_json,
    describe,
    format_traceback,
    storable,
)
from ..models import Job
from ..registry import Registered, RegisteredAction, RegisteredTrigger
from ..states import Kind

logger = logging.getLogger("ash_oban_django")


# The `meta` keys the ledger writes as a job runs (a snooze count, an interruption count, a
# cancel's reason, how on_error ended it): metadata given at insert may not use them.
LEDGER_META_KEYS = frozenset({"snoozed", "interrupted", "cancel_reason", "on_error"})


def checked_meta(meta: Any) -> dict[str, Any] | None:
    """`meta` given at insert, checked: a dict with string keys that JSON can store, none
    of them `LEDGER_META_KEYS`. Raises `ValueError` saying what to change."""
    if meta is None:
        return None
    if not isinstance(meta, dict) or not all(isinstance(key, str) for key in meta):
        raise ValueError(f"`meta` must be a dict with string keys, got {meta!r}")
    check_json("meta", meta)
    taken = sorted(LEDGER_META_KEYS & set(meta))
    if taken:
        raise ValueError(
            f"`meta` may not use the key(s) {taken}: the ledger writes them as the job runs. "
            "Use other names."
        )
    return dict(meta)


class UnstorableValue(ValueError):
    """A row's `read_metadata` or `extra_args` gave a value the job's args cannot hold."""


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
        extra_args = of_record("extra_args", extra_args, record) if record is not None else None
    if extra_args:
        args["extra_args"] = dict(extra_args)
    if action_arguments:
        args["action_arguments"] = action_arguments
    if trigger.read_metadata is not None and record is not None:
        args["metadata"] = of_record("read_metadata", trigger.read_metadata, record)
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
        meta=options.get("meta"),
    )


def of_record(option: str, function: Callable[[Any], Any], record: Model) -> Any:
    """What the `option` callable gives for `record`; `UnstorableValue` when the job's
    args could not hold it (checked here: only callables give values per row)."""
    value = function(record)
    try:
        check_json(f"{option}(record)", value)
    except (TypeError, ValueError) as problem:
        raise UnstorableValue(f"the value cannot be stored: {problem}") from None
    return value


def worker_job(
    entry: RegisteredTrigger, row: Any, tenant: Any, stored_actor: Any, **options: Any
) -> Job:
    """The unsaved worker job for one row (options as for `job_row`)."""
    return Job(**job_row(entry, row, tenant, stored_actor, **options))


def page_rows(
    entry: RegisteredTrigger, page: Sequence[Any], tenant: Any, stored_actor: Any
) -> tuple[ledger.Rows | None, int]:
    """The worker jobs of one scanned page, as columns for one insert (None when no row
    gets one), and how many rows were refused: a row whose `read_metadata` or `extra_args`
    raises or gives a value that cannot be stored gets no job, and an error log line."""
    at = ledger.now()
    if isinstance(page[0], Model):
        rows = []
        for record in page:
            try:
                rows.append(job_row(entry, record, tenant, stored_actor, at=at))
            except Exception as error:  # noqa: BLE001 - the row alone is refused
                logger.error(
                    "Scheduler of %s refused pk=%s: %s%s",
                    entry.label,
                    record.pk,
                    storable(describe(error), ERROR_MESSAGE_LIMIT),
                    ""
                    if isinstance(error, UnstorableValue)
                    else "\n" + storable(format_traceback(error), ERROR_TRACEBACK_LIMIT),
                )
        return (ledger.Rows.of(rows) if rows else None), len(page) - len(rows)
    # Plain values: every job is the same but for its row's pk.
    common = job_row(entry, page[0], tenant, stored_actor, at=at)
    del common["object_pk"]
    return ledger.Rows(common, {"object_pk": [str(row[-1]) for row in page]}), 0


def cron_job(
    entry: Registered,
    *,
    stored_actor: Any = None,
    action_arguments: dict[str, Any] | None = None,
    slot: datetime | None = None,
    meta: dict[str, Any] | None = None,
) -> Job:
    """The job a declaration's cron inserts: a trigger's scheduler job, or a scheduled
    action's job. It covers every tenant (a scheduled action fans out when it runs).

    The job of a cron `slot` (the time the cron fired for) carries it in its args, which
    are part of its unique key, and keeps blocking once completed: each slot runs once,
    however many paths fire it."""
    args: dict[str, Any] = {}
    if stored_actor is not None:
        args["actor"] = stored_actor
    if slot is not None:
        args["cron_slot"] = slot.isoformat()
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
        once=slot is not None,
        meta=meta,
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
            once=job.once,
        )
        for tenant in tenants
    ]
