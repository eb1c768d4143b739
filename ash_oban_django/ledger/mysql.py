"""The ledger on MariaDB (>= 10.6) and MySQL (>= 8.0): row locks and `SKIP LOCKED` claims.

What this module overrides in `Backend`, and why:

- `runnable_in_queue`: a claim finds one queue's runnable jobs through the generated
  `runnable_queue` column and its index, which stand for PostgreSQL's partial claim index.
- `picks_whole_jobs`, `_claim_picked`: neither database returns the rows an `UPDATE` changed,
  so a claim picks the rows whole (locked, `SKIP LOCKED`), then updates them by id, in one
  transaction.
- `complete_and_claim`: picks the next job, then completes one job and claims the other in
  one `UPDATE`.
- `insert`: no `INSERT ... RETURNING` that reports only the rows made, and no partial unique
  index: inserts are serialised per declaration and read back (see `insert`).
- `hold_lock`: a row of `ash_oban_django_lock`, locked until the transaction ends.
- `bound_statements`: `max_statement_time` (MariaDB) or `max_execution_time` (MySQL).
- `bound_transaction`: `idle_transaction_timeout` (MariaDB) or `wait_timeout` (MySQL), set
  for the transaction and restored after.
- `check`: servers older than MariaDB 10.6 or MySQL 8.0.1 lack `SKIP LOCKED`.
- `connection_lost`: the client's and server's error codes say when a connection broke.

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
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.core import checks
from django.db import DatabaseError, transaction

from ..models import UNIQUE_KEY, Job
from ..states import State
from . import _sql
from .backend import SERVER_UNSUPPORTED, Backend, claim_order
from .rows import ATTNAMES, Inserted, Rows, node_name, now

# The oldest versions with `SKIP LOCKED` (and, on MariaDB, generated columns under a unique
# index): `MySQLBackend.check` refuses older servers.
MINIMUM_MARIADB = (10, 6)
MINIMUM_MYSQL = (8, 0, 1)

# Move picked (locked) jobs to `executing`. Parameters: executing, now, node; the ids are
# inlined integers.
CLAIM = f"UPDATE {{table}} SET {_sql.CLAIM_SET} WHERE id IN ({{ids}})"
# Mark one job completed and move the next, picked and locked, to `executing`, in one
# statement. Parameters: done id, completed, executing; done id, now; next id, now; next id,
# node; done id, next id.
COMPLETE_AND_CLAIM = (
    "UPDATE {table} SET state = IF(id = %s, %s, %s), "
    "completed_at = IF(id = %s, %s, completed_at), "
    "attempt = IF(id = %s, attempt + 1, attempt), attempted_at = IF(id = %s, %s, attempted_at), "
    "attempted_by = IF(id = %s, %s, attempted_by) WHERE id IN (%s, %s)"
)
# The keys among the given digests that existing jobs hold. A plain read: no locks.
TAKEN = "SELECT unique_key_hash FROM {table} WHERE unique_key_hash IN ({hashes})"
# Insert a page of jobs: the values all rows share are sent once, in the select list; the
# others come from a derived table of one `SELECT` per row. A row whose unique key is taken
# is a no-op (an update that changes nothing); unlike `INSERT IGNORE`, any other error stays
# an error.
INSERT = (
    "INSERT INTO {table} ({columns}) SELECT {select} FROM ({rows}) AS page "
    "ON DUPLICATE KEY UPDATE id = id"
)
# What an insert reports of the rows it made: those of its key digests, from the first id it
# generated on. Parameters: the digests, then the first id.
INSERTED = (
    f"SELECT id, {', '.join(UNIQUE_KEY)}, queue, state FROM {{table}} "
    "WHERE unique_key_hash IN ({hashes}) AND id >= %s ORDER BY id"
)
# Create a named lock's row or lock it, until the transaction ends. On a taken key the update
# takes an exclusive lock at once, so concurrent first uses queue up instead of deadlocking.
# Parameter: name.
HOLD_LOCK = (
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
# How long a session may sit idle in a transaction before the server ends it, in whole
# seconds: MariaDB's `idle_transaction_timeout`. MySQL has no bound on idleness in a
# transaction alone: its `wait_timeout` bounds any idleness of the session, in a transaction
# or not, which during an attempt comes to the same.
MARIADB_IDLE = "idle_transaction_timeout"
MYSQL_IDLE = "wait_timeout"
# Set that session variable, keeping the value it had in a user variable.
# Parameter: the bound in seconds.
SET_IDLE = "SET @ash_oban_idle = @@SESSION.{name}, SESSION {name} = %s"
# Put back the value `SET_IDLE` kept.
RESTORE_IDLE = "SET SESSION {name} = @ash_oban_idle"
# Rows per INSERT statement: keeps a page well under `max_allowed_packet`.
INSERT_CHUNK = 1000


def key_hash(name: str, object_pk: str, tenant_key: str, args_key: str) -> bytes:
    """The `unique_key_hash` the initial migration generates for a job's unique key: sha256 of each
    text prefixed by its length in characters (so no two keys share an input), UTF-8."""
    text = f"{len(name)}:{name}{len(object_pk)}:{object_pk}{len(tenant_key)}:{tenant_key}{args_key}"
    return hashlib.sha256(text.encode()).digest()


class MySQLBackend(Backend):
    vendor = "mysql"
    runnable_in_queue = "runnable_queue = %s"
    picks_whole_jobs = True

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
        prepared = rows.prepared(connection)
        varying = list(rows.varying)
        shared = [prepared.common[n] for n in ATTNAMES if n in rows.common]
        select = ", ".join(
            "%s" if n in rows.common else f"page.c{varying.index(n)}" for n in ATTNAMES
        )
        first_row = "SELECT " + ", ".join(f"%s AS c{i}" for i in range(len(varying)))
        next_row = "SELECT " + ", ".join(["%s"] * len(varying))
        table, columns = self.sql.table, self.sql.insert_columns
        first_ids = []
        with transaction.atomic(using=self.alias, savepoint=False), connection.cursor() as cursor:
            for name in sorted(set(values["name"])):
                self.hold_lock(f"ash_oban_django:insert:{name}")
            cursor.execute(
                TAKEN.format(table=table, hashes=", ".join(["%s"] * len(hashes))), hashes
            )
            taken = {bytes(h) for (h,) in cursor.fetchall()}
            free = [i for i, h in enumerate(hashes) if h not in taken]
            for start in range(0, len(free), INSERT_CHUNK):
                chunk = free[start : start + INSERT_CHUNK]
                page = " UNION ALL ".join([first_row, *[next_row] * (len(chunk) - 1)])
                params = [*shared, *(prepared.varying[n][i] for i in chunk for n in varying)]
                sql = INSERT.format(table=table, columns=columns, select=select, rows=page)
                cursor.execute(sql, params)
                # The first id this statement generated; 0 when every row was a conflict.
                if cursor.lastrowid:
                    first_ids.append(cursor.lastrowid)
            if not first_ids:
                return []
            inserted_hashes = [hashes[i] for i in free]
            cursor.execute(
                INSERTED.format(table=table, hashes=", ".join(["%s"] * len(inserted_hashes))),
                [*inserted_hashes, min(first_ids)],
            )
            inserted: list[Inserted] = list(cursor.fetchall())
        return inserted

    def hold_lock(self, name: str) -> None:
        # A row lock, not GET_LOCK(): a named lock belongs to the session and outlives a
        # rollback (Django has no hook to release it then), while a row lock ends with the
        # transaction, whichever way it ends, as PostgreSQL's advisory xact lock does.
        _sql.execute(self.alias, HOLD_LOCK, [name])

    def _claim_picked(self, pick: str, params: Sequence[Any]) -> list[Job]:
        # The pick and the update in one transaction, which holds the picked rows' locks.
        with transaction.atomic(using=self.alias, savepoint=False):
            picked = _sql.fetch(self.alias, pick, params)
            if picked:
                self._mark_claimed(picked)
        return sorted(picked, key=claim_order)

    def _mark_claimed(self, picked: list[Job]) -> None:
        """Move picked (locked) jobs to `executing`, in the database and on the objects."""
        at, node = now(), node_name()
        ids = ", ".join(str(int(job.pk)) for job in picked)
        sql = CLAIM.format(table=self.sql.table, ids=ids)
        _sql.execute(self.alias, sql, [State.EXECUTING, self._at(at), node])
        for job in picked:
            job.state, job.attempt = State.EXECUTING, job.attempt + 1
            job.attempted_at, job.attempted_by = at, node

    def complete_and_claim(self, job: Job, queue: str) -> Job | None:
        # In the attempt's transaction: the next job's claim commits with this completion.
        params = self.sql.pick_params(queue, self._now(), 1)
        picked = _sql.fetch(self.alias, self.sql.pick_next, params)
        if not picked:
            self.complete(job)
            return None
        (following,) = picked
        _, completed_at, _ = self._completing(job)
        at, node = now(), node_name()
        _sql.execute(
            self.alias,
            COMPLETE_AND_CLAIM.format(table=self.sql.table),
            [
                *(job.pk, State.COMPLETED, State.EXECUTING),
                *(job.pk, completed_at),
                *(following.pk, following.pk, self._at(at)),
                *(following.pk, node),
                *(job.pk, following.pk),
            ],
        )
        following.state, following.attempt = State.EXECUTING, following.attempt + 1
        following.attempted_at, following.attempted_by = at, node
        return following

    def check(self) -> list[checks.CheckMessage]:
        connection: Any = self.connection  # Django's MySQL wrapper
        return version_problems(self.alias, connection.mysql_is_mariadb, connection.mysql_version)

    def connection_lost(self, error: BaseException) -> bool:
        # mysqlclient's error (Django's `__cause__`) carries the code as its first argument.
        code = next(iter(getattr(error.__cause__ or error, "args", ())), None)
        return code in CONNECTION_LOST_CODES

    @contextmanager
    def bound_statements(self, seconds: float) -> Iterator[None]:
        # Session variables are not transactional: restored whichever way the block ends.
        connection = self.connection
        mariadb = bool(getattr(connection, "mysql_is_mariadb", False))
        name, current = MARIADB_TIMEOUT if mariadb else MYSQL_TIMEOUT
        (previous,) = _sql.execute(self.alias, current, [])
        bound: float | int = max(seconds, 0.001) if mariadb else max(int(seconds * 1000), 1)
        _sql.execute(self.alias, SET_TIMEOUT.format(name=name), [bound])
        try:
            yield
        finally:
            _sql.execute(self.alias, SET_TIMEOUT.format(name=name), [previous])

    @contextmanager
    def bound_transaction(self, idle: float | None) -> Iterator[None]:
        if idle is None:
            with transaction.atomic(using=self.alias):
                yield
            return
        # A session variable, not transactional: set before the transaction begins, and
        # restored whichever way it ends.
        connection = self.connection
        name = MARIADB_IDLE if getattr(connection, "mysql_is_mariadb", False) else MYSQL_IDLE
        _sql.execute(self.alias, SET_IDLE.format(name=name), [max(math.ceil(idle), 1)])
        try:
            with transaction.atomic(using=self.alias):
                yield
        finally:
            try:
                _sql.execute(self.alias, RESTORE_IDLE.format(name=name), [])
            except DatabaseError:
                # The server ended the session (the bound was reached): the variable went
                # with it. Closed, so the next use connects afresh.
                connection.close()


def version_problems(
    alias: str, mariadb: bool, version: tuple[int, ...]
) -> list[checks.CheckMessage]:
    """E021 when a MariaDB or MySQL server `version` is older than the ledger needs."""
    server, needed = ("MariaDB", MINIMUM_MARIADB) if mariadb else ("MySQL", MINIMUM_MYSQL)
    if tuple(version) >= needed:
        return []
    found, wanted = ".".join(map(str, version)), ".".join(map(str, needed))
    return [
        checks.Error(
            f"The ledger database {alias!r} is {server} {found}; ash_oban_django needs "
            f"{server} {wanted} or later (SELECT ... FOR UPDATE SKIP LOCKED).",
            hint=f"Upgrade the server to {server} {wanted} or later, or point "
            "ASH_OBAN['DATABASE'] at a PostgreSQL database.",
            id=SERVER_UNSUPPORTED,
        )
    ]
