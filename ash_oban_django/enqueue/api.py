"""The public functions that insert jobs now: worker jobs for records, and the jobs a cron
would insert (schedulers and scheduled actions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db.models import Model

from .. import ledger
from ..actors import store_actor
from ..declarations import Trigger
from ..ledger.rows import check_json
from ..models import Job
from ..registry import Registered, RegisteredAction, RegisteredTrigger, registry
from .jobs import checked_meta, cron_job, worker_job

JOB_OPTIONS = frozenset(
    {"queue", "priority", "scheduled_at", "schedule_in", "max_attempts", "tags", "meta"}
)


def _job_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = set(options) - JOB_OPTIONS
    if unknown:
        raise TypeError(
            f"Unknown job option(s) {sorted(unknown)}; the options are {sorted(JOB_OPTIONS)}."
        )
    options = dict(options)
    if "meta" in options:
        options["meta"] = checked_meta(options["meta"])
    if "schedule_in" in options:
        options["scheduled_at"] = ledger.schedule_in(float(options.pop("schedule_in")))
    return options


def build_trigger(
    record: Model,
    trigger: str | Trigger,
    *,
    actor: Any = None,
    tenant: Any = None,
    action_arguments: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    **job_options: Any,
) -> Job:
    """The worker job `run_trigger` would insert, unsaved.

    >>> job = build_trigger(order, "process", action_arguments={"rush": True})
    >>> job.args["action_arguments"]
    {'rush': True}
    """
    check_arguments(action_arguments, args, tenant)
    return _worker_job(record, trigger, actor, {}, tenant, action_arguments, args, job_options)


def check_arguments(action_arguments: Any, args: Any, tenant: Any) -> None:
    """Refuse, before anything is sent, arguments JSON cannot carry exactly on every
    database (`ledger.rows.check_json`), naming the key."""
    check_json("action_arguments", action_arguments)
    check_json("args", args)
    check_json("tenant", tenant)


def stored_actor(actor: Any, entry: Registered, stored: dict[int, Any]) -> Any:
    """`actor` as the declaration's persister stores it, stored once per declaration (in
    `stored`) however many rows get a job."""
    key = id(entry.declaration)
    if key not in stored:
        stored[key] = store_actor(actor, entry.declaration)
    return stored[key]


def _worker_job(
    record: Model,
    trigger: str | Trigger,
    actor: Any,
    stored: dict[int, Any],
    tenant: Any,
    action_arguments: dict[str, Any] | None,
    args: dict[str, Any] | None,
    job_options: dict[str, Any],
) -> Job:
    check_record(record)
    entry = registry.get_trigger(type(record), trigger)
    return worker_job(
        entry,
        record,
        tenant,
        stored_actor(actor, entry, stored),
        action_arguments=action_arguments,
        extra=args,
        **_job_options(job_options),
    )


def check_record(record: object) -> None:
    """A worker job is for one saved row: refuse anything else before inserting."""
    if isinstance(record, type):
        raise TypeError(
            f"Expected a row of the model, got the model class {record.__name__}: pass an "
            f"instance, e.g. {record.__name__}.objects.get(pk=...)."
        )
    if not isinstance(record, Model):
        raise TypeError(f"Expected a model instance, got {record!r}.")
    if record.pk is None:
        raise ValueError(
            f"{type(record).__name__} instance has no primary key: save() it before "
            "triggering a job for it."
        )


def run_trigger(
    record: Model,
    trigger: str | Trigger,
    *,
    actor: Any = None,
    tenant: Any = None,
    action_arguments: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    **job_options: Any,
) -> Job:
    """Insert the worker job of `trigger` for `record` now.

    `job_options`: `queue`, `priority`, `scheduled_at`, `schedule_in` (seconds),
    `max_attempts`, `tags`, and `meta`: a dict of JSON values stored on the job (shown and
    searchable in the admin), not passed to the action and not part of its unique key.

    The job is unique per (trigger, row, tenant, arguments) while incomplete: inserting it
    again with the same `action_arguments` and `args` returns the existing job with
    `job.conflict` set; other arguments make another job.

    >>> job = run_trigger(order, "process")
    >>> job.state, job.conflict
    ('available', False)
    """
    job = build_trigger(
        record,
        trigger,
        actor=actor,
        tenant=tenant,
        action_arguments=action_arguments,
        args=args,
        **job_options,
    )
    return ledger.insert_one(job)


def run_triggers(
    records: Iterable[Model],
    trigger: str | Trigger,
    *,
    actor: Any = None,
    tenant: Any = None,
    action_arguments: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    **job_options: Any,
) -> list[Job]:
    """Insert the worker jobs of many rows with one statement; duplicates come back with
    `conflict` set (and no pk)."""
    check_arguments(action_arguments, args, tenant)
    stored: dict[int, Any] = {}  # the actor, stored once per declaration
    jobs = [
        _worker_job(record, trigger, actor, stored, tenant, action_arguments, args, job_options)
        for record in records
    ]
    return ledger.insert(jobs)


def schedule(
    model: type[Model],
    name: str,
    *,
    actor: Any = None,
    action_arguments: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> Job:
    """Insert the scheduler job of a trigger, or the job of a scheduled action, now.
    `meta` is stored on the job (shown in the admin), not passed to the action."""
    return schedule_declaration(
        registry.get(model, name), actor=actor, action_arguments=action_arguments, meta=meta
    )


def schedule_declaration(
    entry: Registered,
    *,
    actor: Any = None,
    action_arguments: dict[str, Any] | None = None,
    slot: datetime | None = None,
    meta: dict[str, Any] | None = None,
) -> Job:
    """Insert the job the declaration's cron inserts (unique: a second one is a conflict),
    for the cron `slot` when a cron fires it."""
    check_json("action_arguments", action_arguments)
    job = cron_job(
        entry,
        stored_actor=store_actor(actor, entry.declaration),
        action_arguments=action_arguments,
        slot=slot,
        meta=checked_meta(meta),
    )
    return ledger.insert_one(job)


Target = type[Model] | tuple[type[Model], str] | str | Sequence[Any]


def resolve_target(
    target: Target, *, triggers: bool = True, scheduled_actions: bool = False
) -> list[Registered]:
    """The declarations a target names: a model, `(model, name)`, an app label, or a list."""
    if isinstance(target, tuple) and len(target) == 2 and isinstance(target[1], str):
        entry = registry.get(target[0], target[1])
        if isinstance(entry, RegisteredTrigger) and entry.trigger.scheduler_cron is None:
            return []
        return [entry]
    if isinstance(target, str):
        models = list(apps.get_app_config(target).get_models())
        return [
            e
            for m in models
            for e in resolve_target(m, triggers=triggers, scheduled_actions=scheduled_actions)
        ]
    if isinstance(target, type) and issubclass(target, Model):
        return [
            e
            for e in registry.for_model(target)
            if (
                triggers
                and isinstance(e, RegisteredTrigger)
                and e.trigger.scheduler_cron is not None
            )
            or (scheduled_actions and isinstance(e, RegisteredAction))
        ]
    if isinstance(target, list | tuple):
        found: list[Registered] = []
        for item in target:
            found.extend(
                e
                for e in resolve_target(
                    item, triggers=triggers, scheduled_actions=scheduled_actions
                )
                if e not in found
            )
        return found
    raise TypeError(
        f"Cannot schedule {target!r}: give a model, (model, name), an app label or a list of these."
    )


def queues_of(entries: Iterable[Registered]) -> list[str]:
    """The queues the declarations' jobs go to, each once, in order."""
    return list(dict.fromkeys(queue for entry in entries for queue in entry.queues))
