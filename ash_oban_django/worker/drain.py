"""Running jobs in this process instead of on a cluster: the test helpers, `ash_oban_run
--drain`, and `schedule_and_run_triggers(drain_queues=True)`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from .. import ledger
from ..enqueue import Target, queues_of, resolve_target, schedule_declaration
from ..exceptions import Cancel, Snooze, TriggerNoLongerApplies
from ..ledger.queries import PAUSED
from ..models import Job
from ..states import RUNNABLE_STATES, Kind, State
from .chunks import chunks_of, perform_chunk
from .executor import perform, perform_and_claim


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
        schedule_declaration(entry, actor=actor)
    queues = [queue] if queue else queues_of(entries)
    if not drain_queues:
        return Result(queues_not_drained=tuple(queues))
    return drain(queues, with_scheduled=with_scheduled, with_limit=with_limit, on_job=on_job)


def drainable(queues: Iterable[str] | None, *, with_scheduled: bool = False) -> QuerySet[Job]:
    """The jobs a drain of `queues` (all when None) would run now; `with_scheduled` adds
    those due later. A paused queue's jobs are left out: a drain claims like a cluster."""
    return _waiting(queues, with_scheduled).exclude(queue__in=_paused())


def _waiting(queues: Iterable[str] | None, with_scheduled: bool) -> QuerySet[Job]:
    candidates = ledger.jobs().filter(state__in=RUNNABLE_STATES)
    if queues is not None:
        candidates = candidates.filter(queue__in=list(queues))
    return candidates if with_scheduled else candidates.filter(scheduled_at__lte=ledger.now())


def _paused() -> QuerySet[Any]:
    """The names of the paused queues, as a subquery (read again at every claim)."""
    return ledger.queue_rows().filter(PAUSED).values("name")


def drain(
    queues: Iterable[str] | None = None,
    *,
    with_scheduled: bool = False,
    with_recursion: bool = True,
    with_limit: int | None = None,
    on_job: Callable[[Job], None] | None = None,
    with_safety: bool = True,
) -> Result:
    """Run the runnable jobs of `queues` (all when None) in this process, schedulers first,
    until none is left (`with_recursion`: including the jobs they insert; without it, only
    the jobs that existed when the drain began).

    `with_scheduled` also runs jobs scheduled for later (retries and snoozes included);
    `with_limit` caps how many jobs run in all; `on_job(job)` is called after each job runs
    (progress bars); `with_safety=False` raises a job's error (see `attempt_now`).

    A paused queue is skipped, as every claim skips it, from the next claim after the pause:
    the result's `queues_not_drained` names each paused queue whose jobs were left waiting.
    """
    queue_list = None if queues is None else list(queues)
    result = Result()
    if queue_list == []:
        return result  # nothing to drain (e.g. a model that declares no trigger)
    ran = 0
    last_id = (
        None
        if with_recursion
        else ledger.jobs().order_by("-id").values_list("id", flat=True).first() or 0
    )
    while with_limit is None or ran < with_limit:
        candidates = drainable(queue_list, with_scheduled=with_scheduled)
        if last_id is not None:
            candidates = candidates.filter(id__lte=last_id)
        # Schedulers first, then scheduled actions, then worker jobs and Django tasks.
        for kinds in ((Kind.SCHEDULER,), (Kind.ACTION,), (Kind.TRIGGER, Kind.TASK)):
            most = None if with_limit is None else with_limit - ran
            ran_now = attempt_now(
                candidates.filter(kind__in=kinds), with_safety=with_safety, most=most
            )
            if ran_now:
                break
        if not ran_now:
            break
        for job in ran_now:
            result += Result.of(job)
            ran += 1
            if on_job is not None:
                on_job(job)
    held = _waiting(queue_list, with_scheduled).filter(queue__in=_paused())
    if last_id is not None:
        held = held.filter(id__lte=last_id)
    paused = held.order_by("queue").values_list("queue", flat=True).distinct()
    return result + Result(queues_not_drained=tuple(paused))


# What a job's work may raise that is not a failure: the job was snoozed or cancelled.
NOT_FAILURES = (Snooze, Cancel, TriggerNoLongerApplies)


def attempt_now(
    candidates: QuerySet[Job], *, with_safety: bool = True, most: int | None = None
) -> list[Job]:
    """Claim the first of `candidates` and run one attempt of it in this process; returns
    the jobs run as the attempt left them: none when there was none to claim, and for a
    chunked trigger's job its whole chunk (no waiting for it to fill; at most `most` jobs).

    With `with_safety=False`, an attempt that fails raises the job's error instead: the
    claim and the attempt roll back together, so nothing is recorded (the job is as it was,
    and `on_error` has not run). A snooze or a cancel is recorded as usual, and so is every
    outcome of a chunk, whose jobs run together."""
    engine = ledger.engine()
    if with_safety:
        claimed = engine.claim_matching(candidates, 1)
        if not claimed:
            return []
        if chunks_of(claimed[0]) is not None:
            return perform_chunk(claimed[0], wait=False, most=most)
        return [perform(claimed[0])]
    with transaction.atomic(using=engine.alias):
        claimed = engine.claim_matching(candidates, 1)
        if not claimed:
            return []
        if chunks_of(claimed[0]) is not None:
            return perform_chunk(claimed[0], wait=False, most=most)
        performed = perform_and_claim(claimed[0])
        if performed.error is not None and not isinstance(performed.error, NOT_FAILURES):
            raise performed.error
        return [performed.job]
