"""The ledger on MariaDB (>= 10.6) and MySQL (>= 8.0): row locks and `SKIP LOCKED` claims.

Neither has partial indexes, so migration 0003 adds, on these databases only, generated
columns that stand for them (see `migrations/0003_mysql_keys.py`): `unique_key_hash` holds a
digest of the unique key while `UNIQUE_WHILE` holds and NULL otherwise, under a unique index
(NULLs never collide), and `runnable_queue` holds the queue while the job is runnable, indexed
with the claim order. Orphans are found as on PostgreSQL: a live attempt holds its job row's
lock, so a row `SKIP LOCKED` can take is not being run.

A statement here runs in a transaction whenever it takes locks: MySQL releases the locks of
a `SELECT ... FOR UPDATE` run in autocommit at once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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
    f"SELECT id FROM {TABLE} WHERE runnable_queue = %s AND scheduled_at <= %s "
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
# Lock a job still executing the given attempt. Parameters: id, executing, attempt.
LOCK_EXECUTING = (
    f"SELECT {{columns}} FROM {TABLE} WHERE id = %s AND state = %s AND attempt = %s FOR UPDATE"
)
# The keys among the given digests that existing jobs hold. A plain read: no locks.
TAKEN = f"SELECT unique_key_hash FROM {TABLE} WHERE unique_key_hash IN ({{hashes}})"
# Insert rows given one by one; a row whose unique key is taken is a no-op (an update that
# changes nothing). Unlike `INSERT IGNORE`, any other error stays an error.
INSERT = f"INSERT INTO {TABLE} ({{columns}}) VALUES {{values}} ON DUPLICATE KEY UPDATE id = id"
# What an insert reports of the rows it made, found by the marker it wrote in
# `attempted_by`, from the first id it generated on. Parameters: first id, marker.
INSERTED = (
    f"SELECT id, {', '.join(UNIQUE_KEY)}, queue, state FROM {TABLE} "
    "WHERE id >= %s AND attempted_by = %s ORDER BY id"
)
# Give the inserted rows their `attempted_by` back. Parameters: value, first id, marker.
UNMARK = f"UPDATE {TABLE} SET attempted_by = %s WHERE id >= %s AND attempted_by = %s"
# Create a named lock's row or lock it, until the transaction ends. On a taken key the update
# takes an exclusive lock at once, so concurrent first uses queue up instead of deadlocking.
# Parameter: name.
SERIALIZE = (
    "INSERT INTO ash_oban_django_lock (name_hash) VALUES (UNHEX(SHA2(%s, 256))) "
    "ON DUPLICATE KEY UPDATE name_hash = name_hash"
)
# Take a named lock of the session unless it holds it already; 1 when it holds it. The lock
# dies with the session, so a killed leader frees it at once. Parameter: the name, twice.
LEAD = "SELECT CASE WHEN IS_USED_LOCK(%s) = CONNECTION_ID() THEN 1 ELSE GET_LOCK(%s, 0) END"
# Release that named lock. Parameter: the name.
RESIGN = "SELECT RELEASE_LOCK(%s)"
# MariaDB: the session's statement time limit in seconds (0: none), every statement.
MARIADB_TIMEOUT = ("max_statement_time", "SELECT @@SESSION.max_statement_time")
# MySQL: the session's time limit of read-only SELECTs in milliseconds (0: none).
MYSQL_TIMEOUT = ("max_execution_time", "SELECT @@SESSION.max_execution_time")
# Set a session variable named above. Parameter: its value.
SET_TIMEOUT = "SET SESSION {name} = %s"
# Rows per INSERT statement: keeps a page well under `max_allowed_packet`.
INSERT_CHUNK = 1000


def key_hash(name: str, object_pk: str, tenant_key: str, args_key: str) -> bytes:
    """The `unique_key_hash` migration 0003 generates for a job's unique key: sha256 of each
    text prefixed by its length in characters (so no two keys share an input), UTF-8."""
    text = f"{len(name)}:{name}{len(object_pk)}:{object_pk}{len(tenant_key)}:{tenant_key}{args_key}"
    return hashlib.sha256(text.encode()).digest()


class MySQLBackend(Backend):
    vendor = "mysql"
    lock_executing_sql = LOCK_EXECUTING
    job_columns = JOB_COLUMNS
    insert_statements = 5  # lock, keys taken, insert, read back, unmark

    def insert(self, rows: Rows) -> list[Inserted]:
        # 1. Rows whose key an existing job holds are left out first, by a plain read: an
        #    insert that meets a taken key locks that job's index entry, and a worker then
        #    completing the job (its key leaves the index) would deadlock with it. What remains
        #    meets a taken key only in a race with another insert, as on PostgreSQL.
        #    Inserts of one declaration's jobs are serialised (a lock per name, held to the
        #    end of the transaction): two inserts that meet the same taken key would otherwise
        #    both lock the gap after the newest job and deadlock on it.
        # 2. Neither database reports which rows a conflict-skipping insert made (MySQL has
        #    no RETURNING; MariaDB's also returns the rows kept), so they are written with a
        #    marker no other insert uses, read back by it, and given their value again, in one
        #    transaction: no other transaction ever sees the marker.
        connection = self.connection
        values = {n: [v] * len(rows) for n, v in rows.common.items()} | rows.varying
        hashes = [key_hash(*key) for key in zip(*(values[n] for n in UNIQUE_KEY), strict=True)]
        marker = f"inserting:{uuid.uuid4().hex}"
        restore = rows.common.get("attempted_by", "")
        prepared = {
            n: [FIELDS[n].get_db_prep_save(v, connection) for v in vs] for n, vs in values.items()
        }
        prepared["attempted_by"] = [marker] * len(rows)
        row = "(" + ", ".join(["%s"] * len(ATTNAMES)) + ")"
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
                params = [prepared[n][i] for i in chunk for n in ATTNAMES]
                sql = INSERT.format(columns=columns, values=", ".join([row] * len(chunk)))
                cursor.execute(sql, params)
                # The first id this statement generated; 0 when every row was a conflict.
                # A statement's rows get increasing ids, so its rows have this id or a later.
                if cursor.lastrowid:
                    first_ids.append(cursor.lastrowid)
            if not first_ids:
                return []
            cursor.execute(INSERTED, [min(first_ids), marker])
            inserted: list[Inserted] = list(cursor.fetchall())
            cursor.execute(UNMARK, [restore, min(first_ids), marker])
        return inserted

    def claim(self, queue: str, limit: int, *, max_running: int | None = None) -> list[Job]:
        if max_running is not None:
            return super().claim(queue, limit, max_running=max_running)
        # The dispatch path's claim runs once per job: written out, on the claim index.
        return self._claim(PICK_NEXT, [queue, now(), queue, limit])

    def claim_among(self, candidates: QuerySet[Job], limit: int) -> list[Job]:
        pick = candidates.order_by("priority", "scheduled_at", "id").values("id")[:limit]
        sql, params = pick.query.get_compiler(connection=self.connection).as_sql()
        return self._claim(f"{sql} FOR UPDATE SKIP LOCKED", list(params))

    def _claim(self, pick: str, params: Sequence[Any]) -> list[Job]:
        # MySQL takes no LIMIT in an `IN` subquery: pick, then update, in one transaction
        # that holds the picked rows' locks.
        with transaction.atomic(using=self.alias, savepoint=False):
            with self.connection.cursor() as cursor:
                cursor.execute(pick, params)
                ids = ", ".join(str(int(pk)) for (pk,) in cursor.fetchall())
                if not ids:
                    return []
                cursor.execute(CLAIM.format(ids=ids), [State.EXECUTING, now(), node_name()])
            claimed = self.fetch(SELECT_BY_IDS.format(ids=ids), [])
        return sorted(claimed, key=lambda job: (job.priority, job.scheduled_at, job.id))

    def complete(self, job: Job, *, claim_from: str | None = None) -> Job | None:
        job.state, job.completed_at = State.COMPLETED, now()
        self.execute(COMPLETE, [job.state, job.completed_at, job.pk])
        if claim_from is None:
            return None
        # In the attempt's transaction: the next job's claim commits with this completion.
        claimed = self._claim(PICK_NEXT, [claim_from, now(), claim_from, 1])
        return claimed[0] if claimed else None

    def serialize(self, name: str) -> None:
        # A row lock, not GET_LOCK(): a named lock belongs to the session and outlives a
        # rollback (Django has no hook to release it then), while a row lock ends with the
        # transaction, whichever way it ends, as PostgreSQL's advisory xact lock does.
        self.execute(SERIALIZE, [name])

    def elect(self, name: str, node: str, ttl: float) -> bool:
        # The session's named lock decides; the lease row says who leads, for those who look.
        lock = f"ash_oban_django:lead:{name}"
        (holds,) = self.execute(LEAD, [lock, lock])
        return bool(holds) and self.lease(name, node, ttl, take_over=True)

    def resign(self, name: str, node: str) -> None:
        super().resign(name, node)
        self.execute(RESIGN, [f"ash_oban_django:lead:{name}"])

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
