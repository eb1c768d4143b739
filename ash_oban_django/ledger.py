"""Reads and writes of the job ledger that the rest of the package shares.

Uniqueness lives in the database (the partial unique index on `Job`): an insert is
`INSERT ... ON CONFLICT DO NOTHING RETURNING`, so a duplicate is a no-op that the caller sees
as `job.conflict`, whatever runs concurrently. Claims are conditional updates, so one claimer
wins; on PostgreSQL candidates are picked with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .conf import settings
from .models import (
    ALL_TENANTS,
    INCOMPLETE_STATES,
    RUNNABLE_STATES,
    UNIQUE_WHILE,
    Job,
    State,
    tenant_key,
)

# Rows per INSERT statement: keeps SQLite under its bound-parameter limit.
INSERT_CHUNK = 1000

_FIELDS = {f.attname: f for f in Job._meta.concrete_fields if not f.primary_key}
_ATTNAMES = list(_FIELDS)
# Every column, in field order, for statements that return whole jobs, and how to read them.
_SELECT = ", ".join(f'"{f.column}"' for f in Job._meta.concrete_fields)
_ALL_ATTNAMES = [f.attname for f in Job._meta.concrete_fields]
_CONVERTERS = [
    (i, f.from_db_value)
    for i, f in enumerate(Job._meta.concrete_fields)
    if hasattr(f, "from_db_value")
]


def now() -> datetime:
    return timezone.now()


def node_name() -> str:
    """Who attempted a job: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def database() -> str:
    return settings.DATABASE


def jobs() -> QuerySet[Job]:
    return Job.objects.using(database())


def job_values(
    *,
    kind: str,
    name: str,
    queue: str,
    priority: int,
    max_attempts: int,
    object_pk: str = "",
    tenant: Any = None,
    bound: bool = True,
    args: dict[str, Any] | None = None,
    tags: Iterable[str] = (),
    once: bool = False,
    scheduled_at: datetime | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of a new job, inserted `at` (now). `bound=False` marks a
    scheduler/action job that covers all tenants."""
    at = at or now()
    due = scheduled_at or at
    return {
        "kind": kind,
        "name": name,
        "queue": queue,
        "priority": priority,
        "max_attempts": max_attempts,
        "object_pk": object_pk,
        "tenant": tenant if bound else None,
        "tenant_key": tenant_key(tenant) if bound else ALL_TENANTS,
        "once": once,
        "args": args or {},
        "meta": {},
        "tags": list(tags),
        "attempt": 0,
        "errors": [],
        "inserted_at": at,
        "scheduled_at": due,
        "attempted_at": None,
        "completed_at": None,
        "cancelled_at": None,
        "discarded_at": None,
        "attempted_by": "",
        "state": State.SCHEDULED if due > at else State.AVAILABLE,
    }


def new_job(**values: Any) -> Job:
    """An unsaved job (arguments as for `job_values`)."""
    return Job(**job_values(**values))


@dataclass
class Rows:
    """Jobs to insert, as columns: `common` values shared by every row, `varying` lists."""

    common: dict[str, Any]
    varying: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(next(iter(self.varying.values()))) if self.varying else 1

    @classmethod
    def of(cls, rows: Sequence[dict[str, Any]]) -> Rows:
        common: dict[str, Any] = {}
        varying: dict[str, list[Any]] = {}
        for name in _ATTNAMES:
            values = [row[name] for row in rows]
            if all(value == values[0] for value in values):
                common[name] = values[0]
            else:
                varying[name] = values
        if not varying:  # keep the row count in the columns
            varying["object_pk"] = [common.pop("object_pk")] * len(rows)
        return cls(common, varying)


# What an insert returns of each inserted row.
Inserted = tuple[int, str, str, str, str, str]  # id, name, object_pk, tenant_key, queue, state
_RETURNING = "RETURNING id, name, object_pk, tenant_key, queue, state"


def insert(new_jobs: Sequence[Job]) -> list[Job]:
    """Insert jobs in bulk; a job whose unique key is taken is skipped and marked `conflict`.

    Returns the jobs given, with `pk` set on the inserted ones. After commit, the queues of
    the inserted jobs are woken up (see `queue.wake`).
    """
    using = database()
    for start in range(0, len(new_jobs), INSERT_CHUNK):
        chunk = new_jobs[start : start + INSERT_CHUNK]
        returned = insert_rows(Rows.of([{n: getattr(job, n) for n in _ATTNAMES} for job in chunk]))
        by_key = {(name, pk_, key): pk for pk, name, pk_, key, _, _ in returned}
        for job in chunk:
            pk = by_key.pop((job.name, job.object_pk, job.tenant_key), None)
            job.pk, job.conflict = pk, pk is None
            if pk is not None:
                job._state.adding, job._state.db = False, using
    return list(new_jobs)


def insert_rows(rows: Rows) -> list[Inserted]:
    """Insert rows with `ON CONFLICT DO NOTHING`; returns the rows actually inserted.

    Rows whose unique key is taken are skipped silently, whatever runs concurrently. The
    queues of available inserted jobs are woken once the transaction commits.
    """
    using = database()
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql, params = _insert_unnest(rows, connection)
        else:
            sql, params = _insert_values(rows, connection)
        cursor.execute(sql, params)
        returned: list[Inserted] = cursor.fetchall()
    woken: dict[str, int] = {}
    for *_, queue, state in returned:
        if state == State.AVAILABLE:
            woken[queue] = woken.get(queue, 0) + 1
    if woken:
        _wake_on_commit(woken, using)
    return returned


def _wake_on_commit(queues: dict[str, int], using: str) -> None:
    """Wake the queues once the transaction commits, with one callback per transaction: a
    scheduler inserting page after page keeps one set of counts, not a callback per page."""
    connection = transaction.get_connection(using)
    pending: dict[str, int] = getattr(connection, "_ash_oban_pending", None) or {}
    for queue, count in queues.items():
        pending[queue] = pending.get(queue, 0) + count
    connection._ash_oban_pending = pending
    flush = getattr(connection, "_ash_oban_flush", None)
    # A rolled-back transaction drops its callbacks: register again when ours is gone.
    if flush is None or not any(entry[1] is flush for entry in connection.run_on_commit):

        def flush() -> None:
            from .queue import wake

            woken = connection._ash_oban_pending
            connection._ash_oban_pending = {}
            if woken:
                wake(woken)

        connection._ash_oban_flush = flush
        transaction.on_commit(flush, using=using)


def _prep(name: str, value: Any, connection: Any) -> Any:
    return _FIELDS[name].get_db_prep_save(value, connection)


def _insert_values(rows: Rows, connection: Any) -> tuple[str, list[Any]]:
    table = connection.ops.quote_name(Job._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(_FIELDS[n].column) for n in _ATTNAMES)
    row = "(" + ", ".join(["%s"] * len(_ATTNAMES)) + ")"
    common = {n: _prep(n, v, connection) for n, v in rows.common.items()}
    varying = {n: [_prep(n, v, connection) for v in vs] for n, vs in rows.varying.items()}
    params = [
        common[n] if n in common else varying[n][i] for i in range(len(rows)) for n in _ATTNAMES
    ]
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(rows))} "
        f"ON CONFLICT DO NOTHING {_RETURNING}"
    )
    return sql, params


def _insert_unnest(rows: Rows, connection: Any) -> tuple[str, list[Any]]:
    # Shared values are sent once, the rest as one array per column: the statement does not
    # grow with the rows, and no value is quoted twice.
    table = connection.ops.quote_name(Job._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(_FIELDS[n].column) for n in _ATTNAMES)
    varying = list(rows.varying)
    select, params = [], []
    for name in _ATTNAMES:
        if name in rows.common:
            select.append(f"%s::{_FIELDS[name].db_type(connection)}")
            params.append(_prep(name, rows.common[name], connection))
        else:
            select.append(f"u.c{varying.index(name)}")
    arrays = ", ".join(f"%s::{_FIELDS[n].db_type(connection)}[]" for n in varying)
    params += [[_prep(n, v, connection) for v in rows.varying[n]] for n in varying]
    aliases = ", ".join(f"c{i}" for i in range(len(varying)))
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {', '.join(select)} "
        f"FROM unnest({arrays}) AS u({aliases}) ON CONFLICT DO NOTHING {_RETURNING}"
    )
    return sql, params


def insert_one(job: Job) -> Job:
    """Insert one job; on a conflict, return the job that holds its unique key instead,
    with `conflict` set."""
    insert([job])
    if job.conflict:
        existing = (
            jobs()
            .filter(UNIQUE_WHILE, name=job.name, object_pk=job.object_pk, tenant_key=job.tenant_key)
            .order_by("-id")
            .first()
        )
        if existing is not None:
            existing.conflict = True
            return existing
    return job


# -- claiming ---------------------------------------------------------------------------------


def runnable(queue: str | None = None) -> QuerySet[Job]:
    """Jobs a claim may take now: available, or scheduled/retryable and due."""
    qs = jobs().filter(state__in=RUNNABLE_STATES, scheduled_at__lte=now())
    return qs if queue is None else qs.filter(queue=queue)


def claim(
    queue: str | None,
    limit: int,
    *,
    max_running: int | None = None,
    candidates: QuerySet[Job] | None = None,
) -> list[Job]:
    """Move up to `limit` runnable jobs to `executing` (attempt + 1) and return them.

    Jobs are taken by `priority, scheduled_at, id`. Every claim is a conditional update, so
    concurrent claimers never take the same job. `max_running` caps the queue's executing
    jobs (claims of one queue are serialised by an advisory lock on PostgreSQL for that).
    """
    using = database()
    connection = connections[using]
    if connection.vendor == "postgresql" and max_running is None:
        if queue is not None and candidates is None:
            return _claim_next(queue, limit, connection)
        return _claim_returning(
            runnable(queue) if candidates is None else candidates, limit, connection
        )
    candidates = (runnable(queue) if candidates is None else candidates).order_by(
        "priority", "scheduled_at", "id"
    )
    with transaction.atomic(using=using):
        if max_running is not None and queue is not None:
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"ash_oban_django:{queue}"]
                    )
            running = jobs().filter(queue=queue, state=State.EXECUTING).count()
            limit = min(limit, max_running - running)
            if limit <= 0:
                return []
        if connection.vendor == "postgresql":
            return _claim_returning(candidates, limit, connection)
        # No row locks (SQLite): each job is taken by its own compare-and-set.
        changes = {
            "state": State.EXECUTING,
            "attempt": F("attempt") + 1,
            "attempted_at": now(),
            "attempted_by": node_name(),
        }
        picked = [
            pk
            for pk in candidates.values_list("id", flat=True)[:limit]
            if jobs().filter(id=pk, state__in=RUNNABLE_STATES).update(**changes)
        ]
    return list(jobs().filter(id__in=picked).order_by("priority", "scheduled_at", "id"))


def lock_executing(job: Job, *, refresh: bool = False) -> Job | None:
    """Lock the row of a job still `executing` the same attempt (in the caller's
    transaction); None when it moved on (rescued, cancelled, or run by someone else).

    The job as claimed is returned as it is, unless `refresh` asks for the row's values.
    """
    connection = connections[database()]
    table = connection.ops.quote_name(Job._meta.db_table)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    columns = _SELECT if refresh else "id"
    sql = f"SELECT {columns} FROM {table} WHERE id = %s AND state = %s AND attempt = %s{lock}"
    params: list[Any] = [job.pk, State.EXECUTING, job.attempt]
    if refresh:
        found = _fetch(connection, sql, params)
        return found[0] if found else None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return job if cursor.fetchone() else None


def complete(job: Job, *, claim_from: str | None = None) -> Job | None:
    """Mark a job `completed` (the success path, inside the attempt's transaction).

    With `claim_from` (PostgreSQL), the same statement also claims the next job of that
    queue, which then commits with this one: a dispatch task going through a queue pays
    one statement and one commit per job for both.
    """
    job.state, job.completed_at = State.COMPLETED, now()
    connection = connections[database()]
    table = connection.ops.quote_name(Job._meta.db_table)
    done = f"UPDATE {table} SET state = %s, completed_at = %s WHERE id = %s"
    params: list[Any] = [job.state, job.completed_at, job.pk]
    if claim_from is None or connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(done, params)
        return None
    claim_sql, claim_params = _claim_statement(connection, _CLAIM_NEXT, [claim_from, now(), 1])
    claimed = _fetch(connection, f"WITH done AS ({done}) {claim_sql}", [*params, *claim_params])
    return claimed[0] if claimed else None


def _fetch(connection: Any, sql: str, params: list[Any]) -> list[Job]:
    """Jobs from a statement that returns every column (a raw SELECT or RETURNING)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    jobs_found = []
    for row in rows:
        values = list(row)
        for i, convert in _CONVERTERS:
            values[i] = convert(values[i], None, connection)
        jobs_found.append(Job.from_db(connection.alias, _ALL_ATTNAMES, values))
    return jobs_found


def _claim_returning(candidates: QuerySet[Job], limit: int, connection: Any) -> list[Job]:
    """One statement: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`."""
    # Compiled without select_for_update (Django refuses that outside a transaction); the
    # statement is atomic on its own, so it also runs in autocommit as one round trip.
    pick = candidates.order_by("priority", "scheduled_at", "id").values("id")[:limit]
    pick_sql, pick_params = pick.query.get_compiler(connection=connection).as_sql()
    return _claim_sql(connection, f"{pick_sql} FOR UPDATE SKIP LOCKED", list(pick_params))


_CLAIM_NEXT = (
    f'SELECT id FROM "{Job._meta.db_table}" WHERE queue = %s AND state IN '
    f"({', '.join(repr(str(s)) for s in RUNNABLE_STATES)}) AND scheduled_at <= %s "
    "ORDER BY priority, scheduled_at, id LIMIT %s FOR UPDATE SKIP LOCKED"
)


def _claim_next(queue: str, limit: int, connection: Any) -> list[Job]:
    """The dispatch path's claim, written out: it runs once per job, so no ORM compiling."""
    return _claim_sql(connection, _CLAIM_NEXT, [queue, now(), limit])


def _claim_statement(
    connection: Any, pick_sql: str, pick_params: list[Any]
) -> tuple[str, list[Any]]:
    table = connection.ops.quote_name(Job._meta.db_table)
    sql = (
        f"UPDATE {table} SET state = %s, attempt = attempt + 1, attempted_at = %s, "
        f"attempted_by = %s WHERE id IN ({pick_sql}) RETURNING {_SELECT}"
    )
    return sql, [State.EXECUTING, now(), node_name(), *pick_params]


def _claim_sql(connection: Any, pick_sql: str, pick_params: list[Any]) -> list[Job]:
    claimed = _fetch(connection, *_claim_statement(connection, pick_sql, pick_params))
    return sorted(claimed, key=lambda job: (job.priority, job.scheduled_at, job.id))


# -- recording outcomes -----------------------------------------------------------------------


def error_entry(job: Job, error: BaseException) -> dict[str, Any]:
    return {
        "attempt": job.attempt,
        "at": now().isoformat(),
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error)),
    }


def record(
    job: Job,
    state: str,
    *,
    errors: Sequence[BaseException] = (),
    scheduled_at: datetime | None = None,
    attempt: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Job:
    """Write a job's outcome (inside the caller's transaction) and return the job."""
    at = now()
    job.state = state
    job.errors = [*job.errors, *(error_entry(job, e) for e in errors)]
    if attempt is not None:
        job.attempt = attempt
    if meta:
        job.meta = {**job.meta, **meta}
    fields = ["state", "errors", "attempt", "meta"]
    if scheduled_at is not None:
        job.scheduled_at = scheduled_at
        fields.append("scheduled_at")
    stamp = {
        State.COMPLETED: "completed_at",
        State.CANCELLED: "cancelled_at",
        State.DISCARDED: "discarded_at",
    }.get(State(state))
    if stamp:
        setattr(job, stamp, at)
        fields.append(stamp)
    job.save(using=database(), update_fields=fields)
    return job


def schedule_in(seconds: float) -> datetime:
    return now() + timedelta(seconds=seconds)


# -- operator actions (admin, commands) ---------------------------------------------------------


_RETRY_FIELDS = [
    "state",
    "scheduled_at",
    "max_attempts",
    "completed_at",
    "cancelled_at",
    "discarded_at",
]


def retry(queryset: QuerySet[Job]) -> int:
    """Make finished or waiting jobs run again now; a job out of attempts gets one more.

    Executing and available jobs are left alone, and so is a job whose unique key another
    incomplete job holds. Returns how many jobs were retried; their queues are woken.
    """
    using = database()
    queues: dict[str, int] = {}
    with transaction.atomic(using=using):
        for job in queryset.exclude(
            state__in=(State.EXECUTING, State.AVAILABLE)
        ).select_for_update():
            job.state = State.AVAILABLE
            job.scheduled_at = now()
            job.max_attempts = max(job.max_attempts, job.attempt + 1)
            job.completed_at = job.cancelled_at = job.discarded_at = None
            try:
                with transaction.atomic(using=using):
                    job.save(using=using, update_fields=_RETRY_FIELDS)
            except IntegrityError:  # another incomplete job already holds its key
                continue
            queues[job.queue] = queues.get(job.queue, 0) + 1
        if queues:
            from .queue import wake

            transaction.on_commit(lambda: wake(queues), using=using)
    return sum(queues.values())


def cancel(queryset: QuerySet[Job], reason: str = "cancelled by an operator") -> int:
    """Cancel jobs that have not started; a running job cannot be stopped from outside.

    The reason goes to `meta["cancel_reason"]`, next to what `meta` already holds. Returns
    how many jobs were cancelled.
    """
    waiting = [s for s in INCOMPLETE_STATES if s != State.EXECUTING]
    using = database()
    at = now()
    count = 0
    with transaction.atomic(using=using):
        rows = queryset.filter(state__in=waiting).select_for_update().values_list("id", "meta")
        for pk, meta in rows:
            # Conditional: without row locks a claim may have taken the job meanwhile.
            count += (
                jobs()
                .filter(pk=pk, state__in=waiting)
                .update(
                    state=State.CANCELLED, cancelled_at=at, meta={**meta, "cancel_reason": reason}
                )
            )
    return count


def q_finished_before(cutoff: datetime) -> Q:
    return (
        Q(state=State.COMPLETED, completed_at__lt=cutoff)
        | Q(state=State.CANCELLED, cancelled_at__lt=cutoff)
        | Q(state=State.DISCARDED, discarded_at__lt=cutoff)
    )
