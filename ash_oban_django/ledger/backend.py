"""The ledger engine's interface: every change of a job's state is one named verb.

`Backend` holds the verbs that the ORM expresses the same way on every database (recording
an outcome, staging, pruning, the operator's retry and cancel). A backend module per database
subclasses it with that database's SQL for the verbs where databases differ: inserting with
`ON CONFLICT DO NOTHING`, claiming, locking a running job, serialising a critical section,
and finding orphans. Adding a database means adding one module (see `ledger/__init__.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from django.db import IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, Q, QuerySet

from ..models import Job, Queue
from ..states import (
    INCOMPLETE_STATES,
    ON_ERROR_HANDLED,
    RUNNABLE_STATES,
    WAITING_STATES,
    Kind,
    State,
)
from .rows import ERROR_MESSAGE_LIMIT, Inserted, Rows, error_entry, now, schedule_in, storable

# Every column, in field order, as statements that return whole jobs select them.
JOB_COLUMNS = ", ".join(f'"{f.column}"' for f in Job._meta.concrete_fields)
TABLE = f'"{Job._meta.db_table}"'
_ATTNAMES = [f.attname for f in Job._meta.concrete_fields]
# How `fetch` reads each column, per database alias (see `Backend._converters`).
_READERS: dict[str, list[tuple[int, Any, Any]]] = {}
# The timestamp each finished state sets.
_STAMPS = {
    State.COMPLETED: "completed_at",
    State.CANCELLED: "cancelled_at",
    State.DISCARDED: "discarded_at",
}


class Backend:
    """The verbs of the ledger on the database `alias`.

    Every verb that writes runs in the caller's transaction, if there is one; a verb that
    must be atomic on its own says so.
    """

    vendor: ClassVar[str]
    # False where a running job's row lock cannot be told from an orphan's (SQLite): the
    # rescue then waits `RESCUE_WITHOUT_LOCKS_AFTER` instead of `RESCUE_AFTER`.
    rescues_by_lock: ClassVar[bool] = True
    # The backend's statement for `lock_executing`, and every column of a job as it quotes
    # them. Parameters: id, executing, attempt; `{columns}` is filled in.
    lock_executing_sql: ClassVar[str]
    job_columns: ClassVar[str] = JOB_COLUMNS
    # How many statements `insert` runs at most for a page, whatever its rows (up to a chunk).
    insert_statements: ClassVar[int] = 1

    def __init__(self, alias: str) -> None:
        self.alias = alias

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.alias]

    def jobs(self) -> QuerySet[Job]:
        return Job.objects.using(self.alias)

    def queues(self) -> QuerySet[Queue]:
        """The queues' runtime controls (`ledger.queues`)."""
        return Queue.objects.using(self.alias)

    def runnable(self, queue: str | None = None, *, unlimited: bool = False) -> QuerySet[Job]:
        """Jobs a claim may take now: available, or scheduled/retryable and due, of a queue
        that is not paused. With `unlimited`, not of a queue given a limit at runtime either
        (those are claimed by counting their running jobs: `claim` with `max_running`)."""
        held = Q(paused=True) | Q(limit__isnull=False) if unlimited else Q(paused=True)
        queryset = self.jobs().filter(state__in=RUNNABLE_STATES, scheduled_at__lte=now())
        queryset = queryset.exclude(queue__in=self.queues().filter(held).values("name"))
        return queryset if queue is None else queryset.filter(queue=queue)

    # -- database-specific verbs -------------------------------------------------------------

    def insert(self, rows: Rows) -> list[Inserted]:
        """Insert rows; a row whose unique key is taken is skipped, whatever runs at the same
        time. Returns the rows inserted."""
        raise NotImplementedError

    def claim_among(self, candidates: QuerySet[Job], limit: int) -> list[Job]:
        """Move up to `limit` of `candidates` to `executing` (attempt + 1), by
        `priority, scheduled_at, id`; concurrent claimers never take the same job."""
        raise NotImplementedError

    def lock_executing(self, job: Job, *, refresh: bool = False) -> Job | None:
        """Lock the row of a job still `executing` the same attempt (in the caller's
        transaction); None when it moved on (rescued, or run by someone else). The job is
        returned as given unless `refresh` asks for the row's values."""
        params = [job.pk, State.EXECUTING, job.attempt]
        if refresh:
            found = self.fetch(self.lock_executing_sql.format(columns=self.job_columns), params)
            return found[0] if found else None
        sql = self.lock_executing_sql.format(columns="id")
        return job if self.execute(sql, params) else None

    def serialize(self, name: str) -> None:
        """Hold a lock named `name` until the caller's transaction ends."""
        raise NotImplementedError

    def next_orphan(self, attempted_before: datetime, skip: Sequence[int] = ()) -> Job | None:
        """An `executing` job attempted before the cutoff whose worker is gone, locked in
        the caller's transaction, but none of the ids in `skip`; None when there is none.

        With row locks (`rescues_by_lock`), a live attempt holds its job's lock, so the first
        such job `SKIP LOCKED` can take is an orphan; a backend without them overrides this.
        """
        return (
            self.jobs()
            .filter(state=State.EXECUTING, attempted_at__lt=attempted_before)
            .exclude(pk__in=skip)
            .select_for_update(skip_locked=True)
            .order_by("id")
            .first()
        )

    def connection_lost(self, error: BaseException) -> bool:
        """Whether `error` (Django's, or the driver's own: some escape unwrapped) says the
        ledger's connection was lost or ended by the server, a fault of the infrastructure
        and not of the job; False where connections are not lost (SQLite)."""
        return False

    def claimed_by(self, node: str) -> list[Job]:
        """The `executing` jobs attempted by `node` that no live attempt holds, locked in the
        caller's transaction (all of the node's where rows are not locked)."""
        claimed = self.jobs().filter(state=State.EXECUTING, attempted_by=node).order_by("id")
        if self.rescues_by_lock:
            claimed = claimed.select_for_update(skip_locked=True)
        return list(claimed)

    @contextmanager
    def statements_bounded(self, seconds: float) -> Iterator[None]:
        """Within the block, cancel any statement that runs longer than `seconds`, where
        the database can (an attempt's `timeout`); nothing elsewhere."""
        yield

    # -- claiming ----------------------------------------------------------------------------

    def claim(self, queue: str, limit: int, *, max_running: int | None = None) -> list[Job]:
        """Claim up to `limit` runnable jobs of `queue`, with at most `max_running` of the
        queue's jobs executing at once (claims of a limited queue are serialised).

        The queue's `Queue` row rules: a paused queue gives nothing; a limit stored there
        overrides `max_running`. Without `max_running`, a queue that got a stored limit gives
        nothing either: its next task claims it by counting (`ledger.queue_controls`)."""
        if max_running is None:
            return self.claim_among(self.runnable(queue, unlimited=True), limit)
        with transaction.atomic(using=self.alias):
            self.serialize(f"ash_oban_django:queue:{queue}")
            control = self.queues().filter(name=queue).values_list("paused", "limit").first()
            if control is not None:
                paused, stored = control
                if paused:
                    return []
                max_running = max_running if stored is None else stored
            running = self.jobs().filter(queue=queue, state=State.EXECUTING).count()
            limit = min(limit, max_running - running)
            return self.claim_among(self.runnable(queue), limit) if limit > 0 else []

    def complete(self, job: Job, *, claim_from: str | None = None) -> Job | None:
        """Mark a job `completed` (the success path, in the attempt's transaction).

        `claim_from` asks to claim the next job of that queue too, committing with this one;
        backends that can do both in one statement return the job claimed, the others None.
        """
        self._record(job, State.COMPLETED)
        return None

    def next_due(self, queue: str) -> datetime | None:
        """When the queue's next waiting (scheduled or retryable) job is due."""
        return (
            self.jobs()
            .filter(queue=queue, state__in=WAITING_STATES)
            .order_by("scheduled_at")
            .values_list("scheduled_at", flat=True)
            .first()
        )

    # -- recording outcomes (in the transaction that holds the job's lock) -----------------------

    def snooze(self, job: Job, seconds: float, *, errors: Sequence[BaseException] = ()) -> Job:
        """Run the job again in `seconds`, giving the attempt back; counted in
        `meta["snoozed"]`."""
        return self._record(
            job,
            State.SCHEDULED,
            errors=errors,
            scheduled_at=schedule_in(seconds),
            attempt=job.attempt - 1,
            meta={"snoozed": int(job.meta.get("snoozed", 0)) + 1},
        )

    def interrupt(self, job: Job, error: BaseException, delay: float) -> Job:
        """The attempt lost its database connection: run again in `delay` seconds, giving
        the attempt back; counted in `meta["interrupted"]`."""
        return self._record(
            job,
            State.RETRYABLE,
            errors=[error],
            scheduled_at=schedule_in(delay),
            attempt=job.attempt - 1,
            meta={"interrupted": job.interruptions + 1},
        )

    def retry(self, job: Job, error: BaseException, delay: float) -> Job:
        """The attempt failed with attempts left: run again in `delay` seconds."""
        return self._record(job, State.RETRYABLE, errors=[error], scheduled_at=schedule_in(delay))

    def rescue(self, job: Job, error: BaseException) -> Job:
        """An orphan with attempts left: available again now."""
        return self._record(job, State.AVAILABLE, errors=[error])

    def discard(self, job: Job, errors: Sequence[BaseException]) -> Job:
        """The job failed for good."""
        return self._record(job, State.DISCARDED, errors=errors)

    def cancel(self, job: Job, reason: str, *, errors: Sequence[BaseException] = ()) -> Job:
        """The job will not run: the reason goes to `meta["cancel_reason"]`."""
        reason = storable(reason, ERROR_MESSAGE_LIMIT)
        return self._record(job, State.CANCELLED, errors=errors, meta={"cancel_reason": reason})

    def handled(self, job: Job, error: BaseException, *, discard: bool = False) -> Job:
        """The last attempt failed and `on_error` handled it: `completed` (`discarded` with
        `on_error_fails_job`), marked so in `meta["on_error"]`."""
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
        job.errors = [*job.errors, *(error_entry(job.attempt, e) for e in errors)]
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
        """Make due `scheduled`/`retryable` jobs `available`; returns every queue with
        available jobs and their count (to be woken, so a lost wake delays, never loses),
        but the paused ones (resuming one wakes it)."""
        self.jobs().filter(state__in=WAITING_STATES, scheduled_at__lte=now()).update(
            state=State.AVAILABLE
        )
        waiting = self.jobs().filter(state=State.AVAILABLE)
        waiting = waiting.exclude(queue__in=self.queues().filter(paused=True).values("name"))
        return dict(waiting.values_list("queue").annotate(n=Count("id")).order_by())

    def prune(self, finished_before: datetime) -> int:
        """Delete jobs finished before the cutoff, but the completed worker jobs of
        `trigger_once` triggers: they keep their row from being triggered again. One delete
        per finished state, each on its own partial index."""
        deleted = 0
        for state, stamp in _STAMPS.items():
            finished = self.jobs().filter(state=state, **{f"{stamp}__lt": finished_before})
            if state == State.COMPLETED:
                finished = finished.exclude(once=True, kind=Kind.TRIGGER)
            deleted += finished.delete()[0]
        return deleted

    # -- operator actions (admin, commands) --------------------------------------------------

    def retry_now(self, queryset: QuerySet[Job]) -> dict[str, int]:
        """Make finished or waiting jobs run again now; a job out of attempts gets one more.

        Executing and available jobs are left alone, and so is a job whose unique key another
        incomplete job holds. Returns the retried jobs' count per queue.
        """
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

    def cancel_waiting(self, queryset: QuerySet[Job], reason: str) -> int:
        """Cancel jobs that have not started (a running job cannot be stopped from outside);
        returns how many were cancelled."""
        waiting = [s for s in INCOMPLETE_STATES if s != State.EXECUTING]
        at = now()
        count = 0
        with transaction.atomic(using=self.alias):
            rows = queryset.filter(state__in=waiting).select_for_update().values_list("id", "meta")
            for pk, meta in rows:
                # Conditional: without row locks a claim may have taken the job meanwhile.
                count += (
                    self.jobs()
                    .filter(pk=pk, state__in=waiting)
                    .update(
                        state=State.CANCELLED,
                        cancelled_at=at,
                        meta={**meta, "cancel_reason": reason},
                    )
                )
        return count

    # -- reading rows -----------------------------------------------------------------------

    def fetch(self, sql: str, params: Sequence[Any]) -> list[Job]:
        """Jobs from a statement that returns `JOB_COLUMNS` (a SELECT or a RETURNING)."""
        connection = self.connection
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        converters = self._converters()
        found = []
        for row in rows:
            values = list(row)
            for i, col, convert in converters:
                values[i] = convert(values[i], col, connection)
            found.append(Job.from_db(self.alias, _ATTNAMES, values))
        return found

    def _converters(self) -> list[tuple[int, Any, Any]]:
        """How each column of `JOB_COLUMNS` is read, as Django's compiler reads it: the
        database's converters (aware datetimes on SQLite and MySQL, say), then the field's.
        Worked out once per database: a claim fetches on every job."""
        connection = self.connection
        cached = _READERS.get(self.alias)
        if cached is not None:
            return cached
        found = []
        for i, field in enumerate(Job._meta.concrete_fields):
            col = field.get_col(Job._meta.db_table)
            for convert in [
                *connection.ops.get_db_converters(col),
                *col.get_db_converters(connection),
            ]:
                found.append((i, col, convert))
        _READERS[self.alias] = found
        return found

    def execute(self, sql: str, params: Sequence[Any]) -> Any:
        """Run one statement; returns its first row, if any."""
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None
