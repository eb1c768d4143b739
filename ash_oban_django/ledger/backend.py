"""The ledger engine's interface: every change of a job's state is one named verb.

`Backend` implements each verb once, for every database: the ORM where it writes alike
everywhere (recording an outcome, staging, pruning, the operator's retry and cancel), the
shared statements of `_sql.py` on the hot path (claiming, completing, locking a running
job). A backend module per database subclasses it: it must provide what has no common form
(`insert`, `hold_lock`) and overrides only what its database does differently; each module
opens with the list of what it overrides and why. Adding a database means adding one module
(see `docs/architecture.md`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from django.core import checks
from django.db import IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, Q, QuerySet

from ..models import CLAIM_ORDER, Job
from ..signals import jobs_pruned, jobs_staged
from ..states import INCOMPLETE_STATES, ON_ERROR_HANDLED, WAITING_STATES, Kind, State
from . import _sql
from .notify import after_commit
from .queries import PAUSED, jobs, queue_rows, runnable
from .rows import (
    ERROR_MESSAGE_LIMIT,
    Inserted,
    Rows,
    error_entry,
    node_name,
    now,
    schedule_in,
    storable,
)

# The system check id of a database server the ledger cannot run on (`Backend.check`;
# `checks.ids.E021` lists it).
SERVER_UNSUPPORTED = "ash_oban_django.E021"
# The timestamp each finished state sets.
_STAMPS = {
    State.COMPLETED: "completed_at",
    State.CANCELLED: "cancelled_at",
    State.DISCARDED: "discarded_at",
}
# Each backend class's statements, built at its first use (`Backend.sql`).
_STATEMENTS: dict[type[Backend], _sql.Statements] = {}


class Backend(ABC):
    """The verbs of the ledger on the database `alias`.

    Every verb that writes runs in the caller's transaction, if there is one; a verb that
    must be atomic on its own says so.
    """

    vendor: ClassVar[str]
    # False where a running job's row lock cannot be told from an orphan's (SQLite): the
    # rescue then waits `RESCUE_WITHOUT_LOCKS_AFTER` instead of `RESCUE_AFTER`.
    rescues_by_lock: ClassVar[bool] = True
    # The SQL that selects one queue's runnable jobs in `_sql.Statements.pick_next`.
    runnable_in_queue: ClassVar[str] = _sql.RUNNABLE_IN_QUEUE
    # True where a claim cannot return the rows it updated, so its pick reads them whole.
    picks_whole_jobs: ClassVar[bool] = False

    def __init__(self, alias: str) -> None:
        self.alias = alias

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.alias]

    @property
    def sql(self) -> _sql.Statements:
        """The shared statements in this database's SQL (built once per backend class)."""
        built = _STATEMENTS.get(type(self))
        if built is None:
            built = _STATEMENTS[type(self)] = _sql.Statements(
                self.connection,
                runnable_in_queue=self.runnable_in_queue,
                pick_columns=self.picks_whole_jobs,
            )
        return built

    # -- what each database must provide ----------------------------------------------------

    @abstractmethod
    def insert(self, rows: Rows) -> list[Inserted]:
        """Insert rows, skipping those whose unique key is taken; returns the rows inserted."""
        # Whatever runs at the same time: the unique key is the database's.

    @abstractmethod
    def hold_lock(self, name: str) -> None:
        """Hold the lock `name` until the caller's transaction ends, however it ends."""

    # -- claiming -----------------------------------------------------------------------------

    def claim(self, queue: str, limit: int, *, max_running: int | None = None) -> list[Job]:
        """Move up to `limit` runnable jobs of `queue` to `executing`, in claim order."""
        # With `max_running`, while at most that many of the queue's jobs execute.
        # The queue's `Queue` row rules: a paused queue gives nothing; a limit stored there
        # overrides `max_running`. Without `max_running`, a queue that got a stored limit
        # gives nothing either: its next task claims it by counting (`ledger.queue_controls`).
        # The counting claims of a queue are serialised.
        if max_running is None:
            # The dispatch path's claim, once per job: one shared statement, no ORM compiling.
            return self._claim_picked(
                self.sql.pick_next, self.sql.pick_params(queue, self._now(), limit)
            )
        with transaction.atomic(using=self.alias):
            limit = min(limit, self._room(queue, max_running))
            if limit <= 0:
                return []
            return self.claim_matching(runnable(queue, using=self.alias), limit)

    def _room(self, queue: str, max_running: int) -> int:
        """How many more of the queue's jobs may start now, with at most `max_running`
        executing (or the limit stored on the queue; none while it is paused). Holds the
        queue's lock until the caller's transaction ends: counting claims are serialised."""
        self.hold_lock(f"ash_oban_django:queue:{queue}")
        control = queue_rows(self.alias).filter(name=queue)
        found = control.values_list("paused", "limit").first()
        if found is not None:
            paused, stored = found
            if paused:
                return 0
            max_running = max_running if stored is None else stored
        return max_running - jobs(self.alias).filter(queue=queue, state=State.EXECUTING).count()

    def claim_one(self, queue: str, *, max_running: int | None = None) -> Job | None:
        """Claim the next runnable job of `queue` (as `claim`); None when there is none."""
        claimed = self.claim(queue, 1, max_running=max_running)
        return claimed[0] if claimed else None

    def claim_matching(self, candidates: QuerySet[Job], limit: int) -> list[Job]:
        """Move up to `limit` of the runnable jobs `candidates` selects to `executing`."""
        # Compiled without select_for_update (Django refuses that outside a transaction):
        # the lock is the pick's, and the claim is atomic on its own.
        ordered = candidates.order_by(*CLAIM_ORDER)[:limit]
        pick = (ordered if self.picks_whole_jobs else ordered.values("id")).query
        sql, params = pick.get_compiler(connection=self.connection).as_sql()
        return self._claim_picked(f"{sql}{self.sql.skip_locked}", list(params))

    def _claim_picked(self, pick: str, params: Sequence[Any]) -> list[Job]:
        """Claim the jobs the statement `pick` selects, in claim order; concurrent claimers
        never take the same job. One statement (`_sql.Statements.claim`): a database without
        `UPDATE ... RETURNING` overrides it."""
        claimed = _sql.fetch(
            self.alias,
            self.sql.claim(pick),
            [*params, State.EXECUTING, self._now(), node_name()],
        )
        return sorted(claimed, key=claim_order)

    # -- running ------------------------------------------------------------------------------

    def lock_attempt(self, job: Job, *, refresh: bool = False) -> Job | None:
        """Lock a job still `executing` the same attempt; None when it moved on."""
        # In the caller's transaction. Moved on: rescued, or run by someone else. The job is
        # returned as given unless `refresh` asks for the row's values.
        params = [job.pk, State.EXECUTING, job.attempt]
        if refresh:
            found = _sql.fetch(self.alias, self.sql.lock_attempt_row, params)
            return found[0] if found else None
        return job if _sql.execute(self.alias, self.sql.lock_attempt_id, params) else None

    @contextmanager
    def attempt_transaction(
        self, job: Job, idle: float | None, *, refresh: bool = False
    ) -> Iterator[Job | None]:
        """An attempt's transaction: `bound_transaction(idle)` holding the lock of a job still
        `executing` the same attempt (`lock_attempt`); yields the job, None when it moved on."""
        with self.bound_transaction(idle):
            yield self.lock_attempt(job, refresh=refresh)

    def complete_and_commit(self, job: Job, claim_from: str | None = None) -> Job | None:
        """The last statement of a successful `attempt_transaction`: `complete` the job, or
        `complete_and_claim` when `claim_from` names a queue (returning the job claimed)."""
        # The transaction commits as its block ends. A database that can sends the COMMIT
        # in the same round trip (and the block's end then has nothing left to send).
        if claim_from is None:
            self.complete(job)
            return None
        return self.complete_and_claim(job, claim_from)

    def complete(self, job: Job) -> None:
        """Mark a running job `completed` (the success path, in the attempt's transaction)."""
        _sql.execute(self.alias, self.sql.complete, self._completing(job))

    def _completing(self, job: Job) -> list[Any]:
        """Mark the job `completed` on the object; returns the parameters of `complete`."""
        job.state, job.completed_at = State.COMPLETED, now()
        return [job.state, self._at(job.completed_at), job.pk]

    def complete_and_claim(self, job: Job, queue: str) -> Job | None:
        """`complete` the job and claim the next job of `queue` with it; None if none was."""
        # The claim is `claim`'s without `max_running` (a held queue gives nothing). A
        # database that cannot do both at once completes only and returns None: the caller
        # claims next.
        self.complete(job)
        return None

    def connection_lost(self, error: BaseException) -> bool:
        """Whether `error` says the ledger's connection was lost or ended by the server."""
        # Django's error, or the driver's own (some escape unwrapped): a fault of the
        # infrastructure, not of the job. False where connections are not lost (SQLite).
        return False

    @contextmanager
    def bound_statements(self, seconds: float) -> Iterator[None]:
        """Within the block, have the database cancel statements that run past `seconds`."""
        # An attempt's `timeout`; a database that cannot does nothing.
        yield

    # -- chunks (a chunked trigger's jobs, run together) --------------------------------------

    def claim_chunk(
        self, queue: str, among: Q, limit: int, *, max_running: int | None = None
    ) -> list[Job]:
        """Claim up to `limit` runnable jobs of `queue` that `among` selects (the jobs that
        may share a chunk), as `claim` claims."""
        if max_running is None:
            candidates = runnable(queue, unlimited=True, using=self.alias)
            return self.claim_matching(candidates.filter(among), limit)
        with transaction.atomic(using=self.alias):
            limit = min(limit, self._room(queue, max_running))
            if limit <= 0:
                return []
            return self.claim_matching(runnable(queue, using=self.alias).filter(among), limit)

    def lock_chunk(self, chunk: Sequence[Job]) -> list[Job]:
        """Lock the jobs of a chunk still `executing` their attempt, in one statement (in
        the caller's transaction); returns those, in the order given."""
        attempts = {job.pk: job.attempt for job in chunk}
        held = (
            jobs(self.alias)
            .filter(pk__in=list(attempts), state=State.EXECUTING)
            .select_for_update()
            .order_by("id")
            .values_list("id", "attempt")
        )
        mine = {pk for pk, attempt in held if attempts[pk] == attempt}
        return [job for job in chunk if job.pk in mine]

    @contextmanager
    def savepoints_batched(self) -> Iterator[None]:
        """Within the block (in a transaction), send savepoint statements with the next
        statement instead of on their own, where the database can: a chunk's savepoint per
        row then costs no round trip of its own."""
        yield

    def complete_all(self, chunk: Sequence[Job]) -> None:
        """Mark running jobs `completed` in one statement (a chunk's successes)."""
        if not chunk:
            return
        at = now()
        jobs(self.alias).filter(pk__in=[job.pk for job in chunk]).update(
            state=State.COMPLETED, completed_at=at
        )
        for job in chunk:
            job.state, job.completed_at = State.COMPLETED, at

    @contextmanager
    def bound_transaction(self, idle: float | None) -> Iterator[None]:
        """A transaction (`transaction.atomic`) whose session the database ends once it sits
        idle in it for longer than `idle` seconds; None: no bound."""
        # An attempt's: a worker that stops mid-attempt (frozen, paused, cut off) loses its
        # row locks within the bound, the rescue runs the job again, and the stale attempt
        # can never commit. SQLite has no sessions to end (and no row locks): no bound.
        with transaction.atomic(using=self.alias):
            yield

    # -- recording outcomes (in the transaction that holds the job's lock) ------------------

    def snooze(self, job: Job, seconds: float, *, errors: Sequence[BaseException] = ()) -> Job:
        """Schedule the job again in `seconds`, giving the attempt back (`meta["snoozed"]`)."""
        return self._record(
            job,
            State.SCHEDULED,
            errors=errors,
            scheduled_at=schedule_in(seconds),
            attempt=job.attempt - 1,
            meta={"snoozed": int(job.meta.get("snoozed", 0)) + 1},
        )

    def interrupt(self, job: Job, error: BaseException, delay: float) -> Job:
        """Schedule a job whose attempt lost its connection again, giving the attempt back."""
        # Run again in `delay` seconds; counted in `meta["interrupted"]`.
        return self._record(
            job,
            State.RETRYABLE,
            errors=[error],
            scheduled_at=schedule_in(delay),
            attempt=job.attempt - 1,
            meta={"interrupted": job.interruptions + 1},
        )

    def error(self, job: Job, error: BaseException, delay: float) -> Job:
        """Record a failed attempt with attempts left: `retryable`, due in `delay` seconds."""
        return self._record(job, State.RETRYABLE, errors=[error], scheduled_at=schedule_in(delay))

    def rescue(self, job: Job, error: BaseException) -> Job:
        """Make an orphan with attempts left `available` again now."""
        return self._record(job, State.AVAILABLE, errors=[error])

    def discard(self, job: Job, errors: Sequence[BaseException]) -> Job:
        """Mark the job `discarded`: it failed for good."""
        return self._record(job, State.DISCARDED, errors=errors)

    def cancel(self, job: Job, reason: str, *, errors: Sequence[BaseException] = ()) -> Job:
        """Mark the job `cancelled`: it will not run, for `reason` (`meta["cancel_reason"]`)."""
        reason = storable(reason, ERROR_MESSAGE_LIMIT)
        return self._record(job, State.CANCELLED, errors=errors, meta={"cancel_reason": reason})

    def finish_handled(self, job: Job, error: BaseException, *, discard: bool = False) -> Job:
        """Finish a job whose last failure `on_error` handled: `completed`, or `discarded`."""
        # `discard`: the trigger's `on_error_fails_job`. Marked in `meta["on_error"]`.
        state = State.DISCARDED if discard else State.COMPLETED
        return self._record(job, state, errors=[error], meta={"on_error": ON_ERROR_HANDLED})

    def _record(
        self,
        job: Job,
        state: str,
        *,
        errors: Sequence[BaseException] = (),
        scheduled_at: datetime | None = None,
        attempt: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Job:
        job.state = state
        job.errors = [
            *job.errors,
            *(
                error_entry(job.attempt, e, worker=job.attempted_by, started_at=job.attempted_at)
                for e in errors
            ),
        ]
        if attempt is not None:
            job.attempt = attempt
        if meta:
            job.meta = {**job.meta, **meta}
        fields = ["state", "errors", "attempt", "meta"]
        if scheduled_at is not None:
            job.scheduled_at = scheduled_at
            fields.append("scheduled_at")
        stamp = _STAMPS.get(State(state))
        if stamp:
            setattr(job, stamp, now())
            fields.append(stamp)
        job.save(using=self.alias, update_fields=fields)
        return job

    # -- maintenance --------------------------------------------------------------------------

    def stage(self) -> dict[str, int]:
        """Make due jobs `available`; returns the queues with available jobs, and how many."""
        # Every such queue is woken, so a lost wake delays, never loses; not the paused ones
        # (resuming one wakes it).
        # `jobs_staged` is sent once it commits, when some were.
        waiting = jobs(self.alias).filter(state__in=WAITING_STATES, scheduled_at__lte=now())
        staged = waiting.update(state=State.AVAILABLE)
        paused = queue_rows(self.alias).filter(PAUSED).values("name")
        available = jobs(self.alias).filter(state=State.AVAILABLE).exclude(queue__in=paused)
        queues = dict(available.values_list("queue").annotate(n=Count("id")).order_by())
        if staged:
            after_commit(jobs_staged, Job, self.alias, count=staged, queues=queues)
        return queues

    def lock_orphan(self, attempted_before: datetime, skip: Sequence[int] = ()) -> Job | None:
        """Lock an `executing` job attempted before the cutoff whose worker is gone, or None."""
        # Never one of the ids in `skip`. With row locks (`rescues_by_lock`), a live attempt
        # holds its job's lock, so the first such job `SKIP LOCKED` can take is an orphan.
        # Without them (SQLite, where Django drops the lock clause) every old enough
        # `executing` job counts.
        return (
            jobs(self.alias)
            .filter(state=State.EXECUTING, attempted_at__lt=attempted_before)
            .exclude(pk__in=skip)
            .select_for_update(skip_locked=True)
            .order_by("id")
            .first()
        )

    def claimed_by(self, node: str) -> list[Job]:
        """Lock the `executing` jobs attempted by `node` that no live attempt holds."""
        # In the caller's transaction; all of the node's where rows are not locked.
        claimed = jobs(self.alias).filter(state=State.EXECUTING, attempted_by=node)
        claimed = claimed.order_by("id")
        if self.rescues_by_lock:
            claimed = claimed.select_for_update(skip_locked=True)
        return list(claimed)

    def prune(self, finished_before: datetime) -> int:
        """Delete jobs finished before the cutoff, but `trigger_once` markers; returns how many."""
        # A completed `trigger_once` worker job keeps its row from being triggered again.
        # One delete per finished state, each on its own partial index. `jobs_pruned` is
        # sent once it commits, when some were.
        deleted = 0
        for state, stamp in _STAMPS.items():
            finished = jobs(self.alias).filter(state=state, **{f"{stamp}__lt": finished_before})
            if state == State.COMPLETED:
                finished = finished.exclude(once=True, kind=Kind.TRIGGER)
            deleted += finished.delete()[0]
        if deleted:
            after_commit(jobs_pruned, Job, self.alias, count=deleted)
        return deleted

    # -- operator actions (admin, commands) --------------------------------------------------

    def retry(self, queryset: QuerySet[Job]) -> dict[str, int]:
        """Make finished or waiting jobs `available` now; returns how many, per queue."""
        # A job out of attempts gets one more. Executing and available jobs are left alone,
        # and so is a job whose unique key another incomplete job holds.
        queues: dict[str, int] = {}
        with transaction.atomic(using=self.alias):
            waiting = queryset.exclude(state__in=(State.EXECUTING, State.AVAILABLE))
            for job in waiting.select_for_update():
                job.state = State.AVAILABLE
                job.scheduled_at = now()
                job.max_attempts = max(job.max_attempts, job.attempt + 1)
                job.completed_at = job.cancelled_at = job.discarded_at = None
                job.meta.pop("on_error", None)  # the next outcome is this run's own
                try:
                    with transaction.atomic(using=self.alias):
                        job.save(
                            using=self.alias,
                            update_fields=[
                                "state",
                                "scheduled_at",
                                "max_attempts",
                                "completed_at",
                                "cancelled_at",
                                "discarded_at",
                                "meta",
                            ],
                        )
                except IntegrityError:  # another incomplete job already holds its key
                    continue
                queues[job.queue] = queues.get(job.queue, 0) + 1
        return queues

    def cancel_unstarted(self, queryset: QuerySet[Job], reason: str) -> int:
        """Mark the jobs that have not started `cancelled`; returns how many."""
        # A running job cannot be stopped from outside.
        unstarted = [s for s in INCOMPLETE_STATES if s != State.EXECUTING]
        at = now()
        count = 0
        with transaction.atomic(using=self.alias):
            rows = queryset.filter(state__in=unstarted).select_for_update()
            for pk, meta in rows.values_list("id", "meta"):
                # Conditional: without row locks a claim may have taken the job meanwhile.
                count += (
                    jobs(self.alias)
                    .filter(pk=pk, state__in=unstarted)
                    .update(
                        state=State.CANCELLED,
                        cancelled_at=at,
                        meta={**meta, "cancel_reason": reason},
                    )
                )
        return count

    # -- what differs outside the verbs ------------------------------------------------------

    def check(self) -> list[checks.CheckMessage]:
        """System check messages about what keeps the database from running the ledger."""
        # As Django's `connection.validation.check()`; empty when nothing does.
        return []

    def tagged(self, tag: str) -> Q:
        """A filter on jobs whose `tags` list holds exactly `tag`."""
        return Q(tags__contains=[tag])

    # -- plumbing -----------------------------------------------------------------------------

    def _now(self) -> Any:
        """Now, as a parameter of a hand-written statement (see `_at`)."""
        return self._at(now())

    def _at(self, moment: datetime) -> Any:
        """A datetime as a parameter of a hand-written statement, stored as the ORM stores
        it (SQLite and MySQL keep naive UTC text)."""
        return self.connection.ops.adapt_datetimefield_value(moment)


def claim_order(job: Job) -> tuple[Any, ...]:
    """A job's place in claim order (`models.CLAIM_ORDER`), for sorting claimed jobs."""
    return tuple(getattr(job, field) for field in CLAIM_ORDER)
