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

from collections.abc import Sequence
from functools import partial

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.db.models import QuerySet
from django.dispatch import Signal

from ..conf import settings
from ..models import UNIQUE_KEY, UNIQUE_WHILE, Job, Queue
from . import queues
from .backend import Backend
from .mysql import MySQLBackend
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
    "database",
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
    "now",
    "pause_queue",
    "queue_controls",
    "queue_limit",
    "queue_rows",
    "resume_queue",
    "retry_jobs",
    "runnable",
    "scale_queue",
    "schedule_in",
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
    `announce_available=False` and announces its totals once.
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
    leaves announcing them to the caller (see `insert_rows`).
    """
    if not new_jobs:
        return []
    alias = database()
    inserted = insert_rows(Rows.of_jobs(new_jobs), announce_available=announce_available)
    by_key = {tuple(key): pk for pk, *key, _, _ in inserted}
    for job in new_jobs:
        pk = by_key.pop(unique_key(job), None)
        job.pk, job.conflict = pk, pk is None
        if pk is not None:
            job._state.adding, job._state.db = False, alias
    return list(new_jobs)


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


# -- operator actions (admin, commands) -------------------------------------------------------


def retry_jobs(queryset: QuerySet[Job]) -> int:
    """Run finished or waiting jobs again now (see `Backend.retry`); their queues are
    woken once it commits. Returns how many were retried."""
    queues = engine().retry(queryset)
    announce(queues)
    return sum(queues.values())


def cancel_jobs(queryset: QuerySet[Job], reason: str = "cancelled by an operator") -> int:
    """Cancel jobs that have not started; returns how many were cancelled."""
    return engine().cancel_unstarted(queryset, reason)


def cancel_job(job_id: int, reason: str = "cancelled by an operator") -> bool:
    """Cancel one job that has not started; False when it is executing, finished or gone.

    >>> cancel_job(42)
    True
    """
    return cancel_jobs(jobs().filter(pk=job_id), reason) == 1


# -- runtime queue control (see `queues.py`) ---------------------------------------------------


def pause_queue(name: str) -> Queue:
    """Stop claiming `name`'s jobs, in every cluster, from its next claim on. Waiting jobs
    stay; jobs already running finish.

    >>> pause_queue("mail").paused
    True
    """
    return queues.pause(name)


def resume_queue(name: str) -> Queue:
    """Claim `name`'s jobs again, and wake the queue for those waiting."""
    row = queues.resume(name)
    _wake(name)
    return row


def scale_queue(name: str, limit: int | None) -> Queue:
    """Run at most `limit` of `name`'s jobs at once, over `ASH_OBAN["QUEUES"]`'s limit; None
    goes back to that setting. The queue is woken, so a raised limit is used at once.

    >>> scale_queue("mail", 5).limit
    5
    """
    row = queues.scale(name, limit)
    _wake(name)
    return row


def _wake(name: str) -> None:
    announce({name: count} if (count := runnable(name).count()) else {})
