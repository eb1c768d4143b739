"""The public functions: insert jobs now, and run schedulers (optionally draining queues)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Model

from . import ledger
from .actors import store_actor
from .declarations import Trigger
from .models import RUNNABLE_STATES, Job, Kind, State
from .registry import Registered, RegisteredAction, RegisteredTrigger, registry
from .scheduler import build_job

JOB_OPTIONS = frozenset(
    {"queue", "priority", "scheduled_at", "schedule_in", "max_attempts", "tags"}
)


@dataclass(frozen=True, slots=True)
class Result:
    """How many jobs a run left in each state; `+` adds two results."""

    success: int = 0
    failure: int = 0
    discard: int = 0
    cancelled: int = 0
    snoozed: int = 0
    queues_not_drained: tuple[str, ...] = ()

    def __add__(self, other: Result) -> Result:
        queues = tuple(dict.fromkeys([*self.queues_not_drained, *other.queues_not_drained]))
        return Result(
            self.success + other.success,
            self.failure + other.failure,
            self.discard + other.discard,
            self.cancelled + other.cancelled,
            self.snoozed + other.snoozed,
            queues,
        )

    @classmethod
    def of(cls, job: Job) -> Result:
        """The count one run of `job` adds, by the state the run left it in."""
        state = job.state
        return cls(
            success=int(state == State.COMPLETED),
            failure=int(state == State.RETRYABLE),
            discard=int(state == State.DISCARDED),
            cancelled=int(state == State.CANCELLED),
            snoozed=int(state == State.SCHEDULED),
        )


# -- inserting worker jobs ---------------------------------------------------------------------


def _job_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = set(options) - JOB_OPTIONS
    if unknown:
        raise TypeError(
            f"Unknown job option(s) {sorted(unknown)}; the options are {sorted(JOB_OPTIONS)}."
        )
    options = dict(options)
    if "schedule_in" in options:
        options["scheduled_at"] = ledger.schedule_in(float(options.pop("schedule_in")))
    return options


def _trigger_of(record: Model, trigger: str | Trigger) -> RegisteredTrigger:
    return registry.get_trigger(type(record), trigger)


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
    entry = _trigger_of(record, trigger)
    return build_job(
        entry,
        record,
        tenant,
        store_actor(actor),
        action_arguments=action_arguments,
        extra=args,
        **_job_options(job_options),
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

    The job is unique per (trigger, row, tenant) while incomplete: inserting it again returns
    the existing job with `job.conflict` set.

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
    jobs = [
        build_trigger(
            record,
            trigger,
            actor=actor,
            tenant=tenant,
            action_arguments=action_arguments,
            args=args,
            **job_options,
        )
        for record in records
    ]
    return ledger.insert(jobs)


# -- schedulers and scheduled actions ---------------------------------------------------------


def schedule(
    model: type[Model],
    name: str,
    *,
    actor: Any = None,
    action_arguments: dict[str, Any] | None = None,
) -> Job:
    """Insert the scheduler job of a trigger, or the job of a scheduled action, now."""
    return schedule_entry(registry.get(model, name), actor=actor, action_arguments=action_arguments)


def schedule_entry(
    entry: Registered, *, actor: Any = None, action_arguments: dict[str, Any] | None = None
) -> Job:
    args: dict[str, Any] = {}
    stored = store_actor(actor)
    if stored is not None:
        args["actor"] = stored
    if isinstance(entry, RegisteredTrigger):
        trigger = entry.trigger
        if trigger.scheduler_cron is None:
            raise ValueError(
                f"{entry.label} has no scheduler (scheduler_cron=None); "
                "use run_trigger() for its rows instead."
            )
        job = ledger.new_job(
            kind=Kind.SCHEDULER,
            name=entry.scheduler_name,
            queue=entry.scheduler_queue,
            priority=trigger.scheduler_priority,
            max_attempts=trigger.max_scheduler_attempts,
            bound=False,
            args=args,
            tags=trigger.tags,
        )
    else:
        assert isinstance(entry, RegisteredAction)
        if action_arguments:
            args["action_arguments"] = action_arguments
        action = entry.action
        job = ledger.new_job(
            kind=Kind.ACTION,
            name=entry.worker_name,
            queue=entry.queue,
            priority=action.priority,
            max_attempts=action.max_attempts,
            bound=False,
            args=args,
            tags=action.tags,
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
    queues: list[str] = []
    for entry in entries:
        names = [entry.queue]
        if isinstance(entry, RegisteredTrigger):
            names.insert(0, entry.scheduler_queue)
        queues.extend(q for q in names if q not in queues)
    return queues


def schedule_and_run_triggers(
    target: Target,
    *,
    actor: Any = None,
    triggers: bool = True,
    scheduled_actions: bool = False,
    drain_queues: bool = False,
    queue: str | None = None,
    with_scheduled: bool = False,
    with_limit: int | None = None,
    on_job: Callable[[Job], None] | None = None,
) -> Result:
    """Insert the scheduler jobs of `target` (and its scheduled-action jobs when asked) and,
    with `drain_queues=True`, run every job they lead to in this process (calling
    `on_job(job)` after each one).

    >>> schedule_and_run_triggers(Order, drain_queues=True)
    Result(success=3, failure=0, discard=0, cancelled=0, snoozed=0, queues_not_drained=())
    """
    entries = resolve_target(target, triggers=triggers, scheduled_actions=scheduled_actions)
    for entry in entries:
        schedule_entry(entry, actor=actor)
    queues = [queue] if queue else queues_of(entries)
    if not drain_queues:
        return Result(queues_not_drained=tuple(queues))
    return drain(queues, with_scheduled=with_scheduled, with_limit=with_limit, on_job=on_job)


def drain(
    queues: Iterable[str] | None = None,
    *,
    with_scheduled: bool = False,
    with_recursion: bool = True,
    with_limit: int | None = None,
    on_job: Callable[[Job], None] | None = None,
) -> Result:
    """Run the runnable jobs of `queues` (all when None) in this process, schedulers first,
    until none is left (`with_recursion`: including the jobs they insert; without it, only
    the jobs that existed when the drain began).

    `with_scheduled` also runs jobs scheduled for later (retries and snoozes included);
    `with_limit` caps how many jobs run in all; `on_job(job)` is called after each job runs
    (progress bars).
    """
    from .worker import perform

    queue_list = None if queues is None else list(queues)
    result = Result()
    ran = 0
    last_id = (
        None
        if with_recursion
        else ledger.jobs().order_by("-id").values_list("id", flat=True).first() or 0
    )
    while with_limit is None or ran < with_limit:
        candidates = ledger.jobs().filter(state__in=RUNNABLE_STATES)
        if last_id is not None:
            candidates = candidates.filter(id__lte=last_id)
        if queue_list is not None:
            candidates = candidates.filter(queue__in=queue_list)
        if not with_scheduled:
            candidates = candidates.filter(scheduled_at__lte=ledger.now())
        # Schedulers first, then scheduled actions, then worker jobs.
        for kind in (Kind.SCHEDULER, Kind.ACTION, Kind.TRIGGER):
            claimed = ledger.claim(None, 1, candidates=candidates.filter(kind=kind))
            if claimed:
                break
        if not claimed:
            break
        job = perform(claimed[0])
        result += Result.of(job)
        ran += 1
        if on_job is not None:
            on_job(job)
    return result
