"""The job ledger: the one place that reads and changes job rows.

Every state change is a verb of `Backend` (see `backend.py`); a module per database
(`postgresql.py`, `mysql.py` for MariaDB and MySQL, `sqlite.py`) overrides what its database
does differently, and `engine()` gives the one of the ledger's database. The queries the
other layers read jobs with are in `queries.py`. Inserting is done here, on top of the
backend's insert, because it also tells the rest of the package about the new work: once the
transaction commits, `jobs_available` is sent with the queues that have new available jobs. The ledger never calls dispatch; dispatch listens.

Uniqueness lives in the database (the partial unique index on `Job`; on MariaDB and MySQL a
unique index on a generated column, see `migrations/0001_initial.py`): an insert skips a taken key
(`ON CONFLICT DO NOTHING`, `ON DUPLICATE KEY UPDATE id = id`), so a duplicate is a no-op that
the caller sees as `job.conflict`, whatever runs concurrently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.models import QuerySet
from django.dispatch import Signal

from ..conf import settings
from ..models import UNIQUE_KEY, UNIQUE_WHILE, Job, Queue
from ..registry import registry
from ..signals import job_cancelled, job_inserted, queue_changed
from ..states import State
from . import queues
from .backend import Backend
from .bulk import BATCH_SIZE, JobFilter, Progress, eligible, in_batches
from .mysql import MySQLBackend
from .notify import after_commit, jobs_after_commit
from .postgresql import PostgreSQLBackend
from .queries import jobs, queue_rows, runnable
from .queues import QueueControl, queue_controls, queue_limit
from .rows import (
    Inserted,
    Rows,
    available_by_queue,
    job_values,
    new_job,
    node_name,
    now,
    schedule_in,
    unique_key,
)
from .sqlite import SQLiteBackend

__all__ = [
    "Backend",
    "Inserted",
    "QueueControl",
    "Rows",
    "announce",
    "cancel_job",
    "cancel_jobs",
    "count_jobs",
    "database",
    "delete_jobs",
    "engine",
    "insert",
    "insert_one",
    "insert_rows",
    "job_values",
    "jobs",
    "jobs_available",
    "jobs_inserted",
    "new_job",
    "node_name",
    "known_queues",
    "now",
    "pause_all_queues",
    "pause_queue",
    "queue_controls",
    "queue_limit",
    "queue_rows",
    "resume_all_queues",
    "resume_queue",
    "retry_jobs",
    "runnable",
    "scale_queue",
    "schedule_in",
    "select_jobs",
]

# The ledger's backend for each database vendor Django reports.
BACKENDS: dict[str, type[Backend]] = {
    MySQLBackend.vendor: MySQLBackend,
    PostgreSQLBackend.vendor: PostgreSQLBackend,
    SQLiteBackend.vendor: SQLiteBackend,
}

# Sent once a transaction that made jobs available commits: `queues={queue: count}`.
jobs_available = Signal()
# Sent as soon as rows are inserted, in the inserting transaction: `ids=[...]` of the new
# jobs (a taken key is not among them). The test helpers listen (`captured_jobs`, inline).
jobs_inserted = Signal()


def database() -> str:
    """The alias of the ledger's database (`ASH_OBAN["DATABASE"]`)."""
    return settings.DATABASE


def engine() -> Backend:
    """The backend of the ledger's database."""
    alias = database()
    vendor = connections[alias].vendor
    try:
        return BACKENDS[vendor](alias)
    except KeyError:
        raise ImproperlyConfigured(
            f"The ledger database {alias!r} is {vendor}; ash_oban_django supports "
            f"{' and '.join(sorted(BACKENDS))}. Point ASH_OBAN['DATABASE'] at one of those."
        ) from None


def announce(queues: dict[str, int]) -> None:
    """Send `jobs_available` for `queues` once the current transaction commits (at once in
    autocommit)."""
    if queues:
        transaction.on_commit(
            partial(jobs_available.send_robust, Job, queues=queues), using=database()
        )


def insert_rows(rows: Rows, *, announce_available: bool = True) -> list[Inserted]:
    """Insert rows, skipping those whose unique key is taken; returns the rows inserted.

    A caller inserting many pages in one transaction (the scheduler) passes
    `announce_available=False` and announces its totals once. No `job_inserted` is sent for
    these rows: one signal per row, held until the commit, would make a scheduler run's
    memory grow with its rows; the scheduler reports its counts (`scheduler_finished`).
    """
    inserted = engine().insert(rows)
    if inserted:
        jobs_inserted.send(Job, ids=[row[0] for row in inserted])
    if announce_available:
        announce(available_by_queue(inserted))
    return inserted


def insert(new_jobs: Sequence[Job], *, announce_available: bool = True) -> list[Job]:
    """Insert jobs in bulk; a job whose unique key is taken is skipped and marked `conflict`.

    Returns the jobs given, with `pk` set on the inserted ones. `announce_available=False`
    leaves announcing them to the caller (see `insert_rows`). `job_inserted` is sent for each,
    inserted or not, once the transaction commits.
    """
    if not new_jobs:
        return []
    inserted = insert_rows(Rows.of_jobs(new_jobs), announce_available=announce_available)
    _inserted(new_jobs, inserted)
    return list(new_jobs)


def _inserted(new_jobs: Sequence[Job], inserted: Sequence[Inserted]) -> None:
    """Mark which of `new_jobs` were inserted (`pk`) and which conflicted, and send
    `job_inserted` for each once the transaction commits."""
    alias = database()
    by_key = {tuple(key): pk for pk, *key, _, _ in inserted}
    for job in new_jobs:
        pk = by_key.pop(unique_key(job), None)
        job.pk, job.conflict = pk, pk is None
        if pk is not None:
            job._state.adding, job._state.db = False, alias
    for conflict in (False, True):
        jobs_after_commit(
            job_inserted, [j for j in new_jobs if j.conflict is conflict], alias, conflict=conflict
        )


def insert_one(job: Job, *, announce_available: bool = True) -> Job:
    """Insert one job; on a conflict, return the job that holds its unique key instead,
    with `conflict` set."""
    insert([job], announce_available=announce_available)
    if job.conflict:
        existing = (
            jobs()
            .filter(UNIQUE_WHILE, **dict(zip(UNIQUE_KEY, unique_key(job), strict=True)))
            .order_by("-id")
            .first()
        )
        if existing is not None:
            existing.conflict = True
            return existing
    return job


# -- operator actions (API, admin, dashboard, commands) ---------------------------------------

# What an operator's cancel records, unless told why.
CANCELLED_BY_OPERATOR = "cancelled by an operator"


def select_jobs(
    selected: QuerySet[Job] | None = None,
    *,
    queue: str | Iterable[str] | None = None,
    state: str | Iterable[str] | None = None,
    name: str | Iterable[str] | None = None,
    tag: str | None = None,
    before: datetime | timedelta | None = None,
    after: datetime | timedelta | None = None,
) -> QuerySet[Job]:
    """The jobs of `selected` (every job by default) that the filter keywords select (see
    `bulk.JobFilter`); raises `ValueError` on a keyword's value it cannot use."""
    found = JobFilter(queue, state, name, tag, before, after)
    return found.apply(jobs() if selected is None else selected.using(database()), engine())


def count_jobs(action: str, selected: QuerySet[Job] | None = None, **filters: Any) -> int:
    """How many jobs `action` (`"retry"`, `"cancel"` or `"delete"`) would change, for the
    same arguments as `retry_jobs`, `cancel_jobs` or `delete_jobs`."""
    return eligible(action, select_jobs(selected, **filters)).count()


def retry_jobs(
    selected: QuerySet[Job] | None = None,
    /,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    **filters: Any,
) -> int:
    """Run again now every finished or waiting job the filter keywords select (`queue=`,
    `state=`, `name=`, `tag=`, `before=`/`after=`; see `bulk.JobFilter`), or of the queryset
    `selected`; returns how many were retried.

    Executing and available jobs are left alone, and so is a job whose unique key another
    incomplete job holds; a job out of attempts gets one more. Works in batches of
    `batch_size`, one short transaction each (`progress(n)` is called after each); the
    queues are woken as each batch commits.

    >>> retry_jobs(state="discarded", after=timedelta(hours=12))
    40000
    """

    def retry(batch: QuerySet[Job]) -> int:
        retried = engine().retry(batch)
        announce(retried)
        return sum(retried.values())

    found = select_jobs(selected, **filters)
    return in_batches("retry", found, retry, batch_size=batch_size, progress=progress)


def cancel_jobs(
    selected: QuerySet[Job] | None = None,
    reason: str = CANCELLED_BY_OPERATOR,
    /,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    **filters: Any,
) -> int:
    """Cancel every job that has not started among those the filter keywords select (as
    `retry_jobs`), or of the queryset `selected`, for `reason`; returns how many were
    cancelled. `job_cancelled` is sent for each. A running job cannot be stopped from
    outside: executing jobs are left alone.

    >>> cancel_jobs(name="shop.Order:process")
    1200
    """
    alias = database()

    def cancel(batch: QuerySet[Job]) -> int:
        ids = list(batch.values_list("pk", flat=True))
        count = engine().cancel_unstarted(batch, reason)
        cancelled = jobs().filter(pk__in=ids, state=State.CANCELLED)
        if job_cancelled.has_listeners(Job):
            jobs_after_commit(job_cancelled, cancelled, alias, reason=reason)
        return count

    found = select_jobs(selected, **filters)
    return in_batches("cancel", found, cancel, batch_size=batch_size, progress=progress)


def delete_jobs(
    selected: QuerySet[Job] | None = None,
    /,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    **filters: Any,
) -> int:
    """Delete every job but the executing ones among those the filter keywords select (as
    `retry_jobs`), or of the queryset `selected`; returns how many were deleted.

    >>> delete_jobs(state="cancelled", before=timedelta(days=7))
    310
    """

    def delete(batch: QuerySet[Job]) -> int:
        return batch.delete()[0]

    found = select_jobs(selected, **filters)
    return in_batches("delete", found, delete, batch_size=batch_size, progress=progress)


def cancel_job(job_id: int, reason: str = CANCELLED_BY_OPERATOR) -> bool:
    """Cancel one job that has not started; False when it is executing, finished or gone.

    >>> cancel_job(42)
    True
    """
    return cancel_jobs(jobs().filter(pk=job_id), reason) == 1


# -- runtime queue control (see `queues.py`) ---------------------------------------------------


def pause_queue(name: str, *, by: Any = None) -> Queue:
    """Stop claiming `name`'s jobs, in every cluster, from its next claim on. Waiting jobs
    stay; jobs already running finish. `by` names who did it (sent with `queue_changed`).

    >>> pause_queue("mail").paused
    True
    """
    return _changed(queues.pause(name), "paused", by)


def resume_queue(name: str, *, by: Any = None) -> Queue:
    """Claim `name`'s jobs again, and wake the queue for those waiting."""
    row = queues.resume(name)
    _wake(name)
    return _changed(row, "resumed", by)


def scale_queue(name: str, limit: int | None, *, by: Any = None) -> Queue:
    """Run at most `limit` of `name`'s jobs at once, over `ASH_OBAN["QUEUES"]`'s limit; None
    goes back to that setting. The queue is woken, so a raised limit is used at once.

    >>> scale_queue("mail", 5).limit
    5
    """
    row = queues.scale(name, limit)
    _wake(name)
    return _changed(row, "scaled", by)


def known_queues() -> list[str]:
    """Every queue the installation knows: its declarations', the settings', and those with
    a runtime control row."""
    names = {queue for entry in registry.entries() for queue in entry.queues}
    names.update(settings.QUEUES)
    names.update(queue_rows().values_list("name", flat=True))
    return sorted(names)


def pause_all_queues(*, by: Any = None) -> list[Queue]:
    """`pause_queue` every queue the installation knows (see `known_queues`)."""
    return [pause_queue(name, by=by) for name in known_queues()]


def resume_all_queues(*, by: Any = None) -> list[Queue]:
    """`resume_queue` every queue the installation knows, paused or not."""
    return [resume_queue(name, by=by) for name in known_queues()]


def _changed(row: Queue, change: str, by: Any) -> Queue:
    after_commit(
        queue_changed,
        Queue,
        database(),
        queue=row.name,
        change=change,
        paused=row.paused,
        limit=row.limit,
        by=by,
    )
    return row


def _wake(name: str) -> None:
    announce({name: count} if (count := runnable(name).count()) else {})
