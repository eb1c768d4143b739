"""The ledger on MariaDB (>= 10.6) and MySQL (>= 8.0): row locks and `SKIP LOCKED` claims.

Neither has partial indexes, so the initial migration adds, on these databases only, generated
columns that stand for them (see `migrations/0001_initial.py`): `unique_key_hash` holds a
digest of the unique key while `UNIQUE_WHILE` holds and NULL otherwise, under a unique index
(NULLs never collide), and `runnable_queue` holds the queue while the job is runnable, indexed
with the claim order. Orphans are found as on PostgreSQL: a live attempt holds its job row's
lock, so a row `SKIP LOCKED` can take is not being run.

A statement here runs in a transaction whenever it takes locks: MySQL releases the locks of
a `SELECT ... FOR UPDATE` run in autocommit at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import QuerySet

from ..models import UNIQUE_KEY, Job, Queue
from ..states import State
from .backend import Backend
from .rows import ATTNAMES, FIELDS, Inserted, Rows, node_name, now

TABLE = f"`{Job._meta.db_table}`"
JOB_COLUMNS = ", ".join(f"`{f.column}`" for f in Job._meta.concrete_fields)
# The oldest versions with `SKIP LOCKED` (and, on MariaDB, generated columns under a unique
# index): older servers are refused by check E021.
MINIMUM_MARIADB = (10, 6)
MINIMUM_MYSQL = (8, 0, 1)

# The next runnable jobs of one queue by priority, scheduled_at, id, through the
# `runnable_queue` index; rows others hold are skipped; none of a queue paused or given a
# limit at runtime (a primary-key probe, read without locking the queue's row).
# Parameters: queue, now, queue, limit.
PICK_NEXT = (
    f"SELECT {JOB_COLUMNS} FROM {TABLE} WHERE runnable_queue = %s AND scheduled_at <= %s "
    f"AND NOT EXISTS (SELECT 1 FROM `{Queue._meta.db_table}` c WHERE c.name = %s "
    "AND (c.paused OR c.concurrency_limit IS NOT NULL)) "
    "ORDER BY priority, scheduled_at, id LIMIT %s FOR UPDATE SKIP LOCKED"
)
# Move picked jobs to `executing`. Parameters: executing, now, node; the ids are inlined.
CLAIM = (
    f"UPDATE {TABLE} SET state = %s, attempt = attempt + 1, attempted_at = %s, "
    "attempted_by = %s WHERE id IN ({ids})"
)
# Read whole jobs by id (the ids are inlined integers).
SELECT_BY_IDS = f"SELECT {JOB_COLUMNS} FROM {TABLE} WHERE id IN ({{ids}})"
# Mark one job completed. Parameters: completed, now, id.
COMPLETE = f"UPDATE {TABLE} SET state = %s, completed_at = %s WHERE id = %s"
# Mark one job completed and move the next, picked and locked, to `executing`, in one
# statement. Parameters: done id, completed, executing; done id, now; next id, now; next id,
# node; done id, next id.
COMPLETE_AND_CLAIM = (
    f"UPDATE {TABLE} SET state = IF(id = %s, %s, %s), "
    "completed_at = IF(id = %s, %s, completed_at), "
    "attempt = IF(id = %s, attempt + 1, attempt), attempted_at = IF(id = %s, %s, attempted_at), "
    "attempted_by = IF(id = %s, %s, attempted_by) WHERE id IN (%s, %s)"
)
# Lock a job still executing the given attempt. Parameters: id, executing, attempt.
LOCK_EXECUTING = (
    f"SELECT {{columns}} FROM {TABLE} WHERE id = %s AND state = %s AND attempt = %s FOR UPDATE"
)
# The keys among the given digests that existing jobs hold. A plain read: no locks.
TAKEN = f"SELECT unique_key_hash FROM {TABLE} WHERE unique_key_hash IN ({{hashes}})"
# Insert a page of jobs: the values all rows share are sent once, in the select list; the
# others come from a derived table of one `SELECT` per row. A row whose unique key is taken
# is a no-op (an update that changes nothing); unlike `INSERT IGNORE`, any other error stays
# an error.
INSERT = (
    f"INSERT INTO {TABLE} ({{columns}}) SELECT {{select}} FROM ({{rows}}) AS page "
    "ON DUPLICATE KEY UPDATE id = id"
)
# What an insert reports of the rows it made: those of its key digests, from the first id it
# generated on. Parameters: the digests, then the first id.
INSERTED = (
    f"SELECT id, {', '.join(UNIQUE_KEY)}, queue, state FROM {TABLE} "
    "WHERE unique_key_hash IN ({hashes}) AND id >= %s ORDER BY id"
)
# Create a named lock's row or lock it, until the transaction ends. On a taken key the update
# takes an exclusive lock at once, so concurrent first uses queue up instead of deadlocking.
# Parameter: name.
SERIALIZE = (
    "INSERT INTO ash_oban_django_lock (name_hash) VALUES (UNHEX(SHA2(%s, 256))) "
    "ON DUPLICATE KEY UPDATE name_hash = name_hash"
)
# MariaDB: the session's statement time limit in seconds (0: none), every statement.
MARIADB_TIMEOUT = ("max_statement_time", "SELECT @@SESSION.max_statement_time")
# MySQL: the session's time limit of read-only SELECTs in milliseconds (0: none).
MYSQL_TIMEOUT = ("max_execution_time", "SELECT @@SESSION.max_execution_time")
# Set a session variable named above. Parameter: its value.
SET_TIMEOUT = "SET SESSION {name} = %s"
# Client and server error codes of a connection lost or ended by the server: 2006 (server
# gone), 2013 and 2055 (lost during a query), 2002/2003 (cannot connect), 1053 (server
# shutdown), 1927 (connection killed, MariaDB), 4031 (disconnected for inactivity, MySQL).
CONNECTION_LOST_CODES = frozenset({2002, 2003, 2006, 2013, 2055, 1053, 1927, 4031})
# Rows per INSERT statement: keeps a page well under `max_allowed_packet`.
INSERT_CHUNK = 1000


def key_hash(name: str, object_pk: str, tenant_key: str, args_key: str) -> bytes:
    """The `unique_key_hash` the initial migration generates for a job's unique key: sha256 of each
    text prefixed by its length in characters (so no two keys share an input), UTF-8."""
    text = f"{len(name)}:{name}{len(object_pk)}:{object_pk}{len(tenant_key)}:{tenant_key}{args_key}"
    return hashlib.sha256(text.encode()).digest()


class MySQLBackend(Backend):
    vendor = "mysql"
    lock_executing_sql = LOCK_EXECUTING
    job_columns = JOB_COLUMNS
    insert_statements = 4  # lock, keys taken, insert, read back

    def insert(self, rows: Rows) -> list[Inserted]:
        # Rows whose key an existing job holds are left out first, by a plain read: an insert
        # that meets a taken key locks that job's index entry, and a worker then completing
        # the job (its key leaves the index) would deadlock with it. Inserts of one
        # declaration's jobs are serialised (a lock per name, held to the end of the
        # transaction): two inserts that meet the same key would otherwise both lock the gap
        # after the newest job and deadlock on it. So within the lock no other insert can take
        # a key this one found free, and the rows it made are those of its digests from the
        # first id it generated on (neither database reports them: MySQL has no RETURNING,
        # and MariaDB's also returns the rows an ON DUPLICATE KEY kept).
        connection = self.connection
        values = {n: [v] * len(rows) for n, v in rows.common.items()} | rows.varying
        hashes = [key_hash(*key) for key in zip(*(values[n] for n in UNIQUE_KEY), strict=True)]
        common = [n for n in ATTNAMES if n in rows.common]
        varying = [n for n in ATTNAMES if n not in rows.common]
        shared = [FIELDS[n].get_db_prep_save(rows.common[n], connection) for n in common]
        prepared = {
            n: [FIELDS[n].get_db_prep_save(v, connection) for v in rows.varying[n]] for n in varying
        }
        select = ", ".join(
            "%s" if n in rows.common else f"page.c{varying.index(n)}" for n in ATTNAMES
        )
        first_row = "SELECT " + ", ".join(f"%s AS c{i}" for i in range(len(varying)))
        next_row = "SELECT " + ", ".join(["%s"] * len(varying))
        columns = ", ".join(f"`{FIELDS[n].column}`" for n in ATTNAMES)
        first_ids = []
        with transaction.atomic(using=self.alias, savepoint=False), connection.cursor() as cursor:
            for name in sorted(set(values["name"])):
                self.serialize(f"ash_oban_django:insert:{name}")
            cursor.execute(TAKEN.format(hashes=", ".join(["%s"] * len(hashes))), hashes)
            taken = {bytes(h) for (h,) in cursor.fetchall()}
            free = [i for i, h in enumerate(hashes) if h not in taken]
            for start in range(0, len(free), INSERT_CHUNK):
                chunk = free[start : start + INSERT_CHUNK]
                page = " UNION ALL ".join([first_row, *[next_row] * (len(chunk) - 1)])
                params = [*shared, *(prepared[n][i] for i in chunk for n in varying)]
                cursor.execute(INSERT.format(columns=columns, select=select, rows=page), params)
                # The first id this statement generated; 0 when every row was a conflict.
                if cursor.lastrowid:
                    first_ids.append(cursor.lastrowid)
            if not first_ids:
                return []
            inserted_hashes = [hashes[i] for i in free]
            cursor.execute(
                INSERTED.format(hashes=", ".join(["%s"] * len(inserted_hashes))),
                [*inserted_hashes, min(first_ids)],
            )
            inserted: list[Inserted] = list(cursor.fetchall())
        return inserted

    def claim(self, queue: str, limit: int, *, max_running: int | None = None) -> list[Job]:
        if max_running is not None:
            return super().claim(queue, limit, max_running=max_running)
        # The dispatch path's claim runs once per job: written out, on the claim index, the
        # picked rows read whole, so they need no second read.
        with transaction.atomic(using=self.alias, savepoint=False):
            picked = self.fetch(PICK_NEXT, [queue, now(), queue, limit])
            if picked:
                self._mark_claimed(picked)
        return picked

    def claim_among(self, candidates: QuerySet[Job], limit: int) -> list[Job]:
        pick = candidates.order_by("priority", "scheduled_at", "id").values("id")[:limit]
        sql, params = pick.query.get_compiler(connection=self.connection).as_sql()
        # MySQL takes no LIMIT in an `IN` subquery: pick, then update, in one transaction
        # that holds the picked rows' locks.
        with transaction.atomic(using=self.alias, savepoint=False):
            with self.connection.cursor() as cursor:
                cursor.execute(f"{sql} FOR UPDATE SKIP LOCKED", params)
                ids = ", ".join(str(int(pk)) for (pk,) in cursor.fetchall())
            if not ids:
                return []
            picked = self.fetch(SELECT_BY_IDS.format(ids=ids), [])
            self._mark_claimed(picked)
        return sorted(picked, key=lambda job: (job.priority, job.scheduled_at, job.id))

    def _mark_claimed(self, picked: list[Job]) -> None:
        """Move picked (locked) jobs to `executing`, in the database and on the objects."""
        at, node = now(), node_name()
        ids = ", ".join(str(int(job.pk)) for job in picked)
        self.execute(CLAIM.format(ids=ids), [State.EXECUTING, at, node])
        for job in picked:
            job.state, job.attempt = State.EXECUTING, job.attempt + 1
            job.attempted_at, job.attempted_by = at, node

    def complete(self, job: Job, *, claim_from: str | None = None) -> Job | None:
        job.state, job.completed_at = State.COMPLETED, now()
        picked = self.fetch(PICK_NEXT, [claim_from, now(), claim_from, 1]) if claim_from else []
        if not picked:
            self.execute(COMPLETE, [job.state, job.completed_at, job.pk])
            return None
        # In the attempt's transaction: the next job's claim commits with this completion.
        (following,) = picked
        at, node = now(), node_name()
        self.execute(
            COMPLETE_AND_CLAIM,
            [
                *(job.pk, State.COMPLETED, State.EXECUTING),
                *(job.pk, job.completed_at),
                *(following.pk, following.pk, at),
                *(following.pk, node),
                *(job.pk, following.pk),
            ],
        )
        following.state, following.attempt = State.EXECUTING, following.attempt + 1
        following.attempted_at, following.attempted_by = at, node
        return following

    def serialize(self, name: str) -> None:
        # A row lock, not GET_LOCK(): a named lock belongs to the session and outlives a
        # rollback (Django has no hook to release it then), while a row lock ends with the
        # transaction, whichever way it ends, as PostgreSQL's advisory xact lock does.
        self.execute(SERIALIZE, [name])

    def connection_lost(self, error: BaseException) -> bool:
        # mysqlclient's error (Django's `__cause__`) carries the code as its first argument.
        code = next(iter(getattr(error.__cause__ or error, "args", ())), None)
        return code in CONNECTION_LOST_CODES

    @contextmanager
    def statements_bounded(self, seconds: float) -> Iterator[None]:
        # Session variables are not transactional: restored whichever way the block ends.
        connection = self.connection
        mariadb = bool(getattr(connection, "mysql_is_mariadb", False))
        name, current = MARIADB_TIMEOUT if mariadb else MYSQL_TIMEOUT
        (previous,) = self.execute(current, [])
        bound: float | int = max(seconds, 0.001) if mariadb else max(int(seconds * 1000), 1)
        self.execute(SET_TIMEOUT.format(name=name), [bound])
        try:
            yield
        finally:
            self.execute(SET_TIMEOUT.format(name=name), [previous])
