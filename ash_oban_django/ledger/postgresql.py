"""The ledger on PostgreSQL: row locks, `SKIP LOCKED` claims, `unnest` page inserts.

What this module overrides in `Backend`, and why:

- `insert`: one `INSERT ... SELECT FROM unnest(...)` per page, whatever its rows: the values
  every row shares are sent once, the others as one array per column.
- `hold_lock`: a transaction-scoped advisory lock (`pg_advisory_xact_lock`).
- `complete_and_claim`: completing a job and claiming the next is one statement (a
  data-modifying CTE), so the dispatch path costs one round trip per job.
- `bound_statements`: `statement_timeout` cancels any statement past an attempt's timeout.
- `savepoints_batched`: in psycopg's pipeline mode a chunk's savepoint statements travel
  with the row's next statement.
- `bound_transaction`: `idle_in_transaction_session_timeout`, for the transaction only;
  `attempt_transaction` sets it in the statement that locks the job.
- `complete_and_commit`: the completion and the `COMMIT` travel together, one query.
- `connection_lost`: psycopg's errors and the server's SQLSTATEs say when a connection broke.

A live attempt holds its job row's lock for its whole transaction, so a row that
`SKIP LOCKED` can take is provably not being run: that is how orphans are found (the
`Backend` default). Claims are single statements (`Backend.claim`), which also run in
autocommit as one round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import InterfaceError, OperationalError, transaction

from ..models import Job
from ..states import State
from . import _sql
from .backend import Backend
from .rows import ATTNAMES, FIELDS, Inserted, Rows, node_name

# Set the current transaction's statement timeout (e.g. '2000ms'); returns the one it had.
STATEMENT_TIMEOUT = (
    "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)"
)
# Set how long the current transaction may sit idle before the server ends its session
# (e.g. '15000ms'); returns the bound it had.
IDLE_IN_TRANSACTION = (
    "SELECT current_setting('idle_in_transaction_session_timeout'), "
    "set_config('idle_in_transaction_session_timeout', %s, true)"
)
# Lock a job still executing an attempt and bound the transaction as IDLE_IN_TRANSACTION
# does, in one statement: the bound it had, the bound set, then the job's id or row.
# Parameters: the bound, then `where_attempt`'s.
LOCK_AND_BOUND = (
    "SELECT current_setting('idle_in_transaction_session_timeout'), "
    "set_config('idle_in_transaction_session_timeout', %s, true), {what} {where}"
)
# A transaction-scoped advisory lock on a name.
HOLD_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"
# Insert a page of jobs given as columns: shared values once, the others as arrays.
INSERT = (
    "INSERT INTO {table} ({columns}) SELECT {select} FROM unnest({arrays}) AS u({aliases}) "
    f"ON CONFLICT DO NOTHING {_sql.RETURNING}"
)

# The statements Django's savepoints run that need not wait for the server (see
# `savepoints_batched`); rolling back to a savepoint is not one: it is synced.
BATCHED_SAVEPOINTS = ("SAVEPOINT ", "RELEASE SAVEPOINT ")

# SQLSTATEs of a connection lost or ended by the server: class 08 (connection exception),
# and 57P01-57P03 (administrator command, crash or shutdown; cannot connect now).
CONNECTION_LOST_STATES = ("57P01", "57P02", "57P03")


@functools.cache
def complete_and_claim_statement(sql: _sql.Statements) -> str:
    """Complete one job and claim the next of a queue, in one statement. Parameters:
    completed, now, id; then the pick's; then executing, now, node."""
    return sql.claim(sql.pick_next, first=f"done AS ({sql.complete}), ")


def milliseconds(seconds: float) -> str:
    """A duration as PostgreSQL's time settings take it (at least 1 ms: 0 would mean none)."""
    return f"{max(int(seconds * 1000), 1)}ms"


def binds_on_client(connection: Any) -> bool:
    """Whether Django's cursors on `connection` (connected) bind parameters on the client
    (its default), so that one query may hold several statements."""
    return issubclass(connection.connection.cursor_factory, psycopg.ClientCursor)


class PostgreSQLBackend(Backend):
    vendor = "postgresql"

    def insert(self, rows: Rows) -> list[Inserted]:
        # The statement does not grow with the rows, and no value is quoted twice.
        connection = self.connection
        prepared = rows.prepared(connection)
        varying = list(rows.varying)
        select, params = [], []
        for name in ATTNAMES:
            if name in rows.common:
                select.append(f"%s::{FIELDS[name].db_type(connection)}")
                params.append(prepared.common[name])
            else:
                select.append(f"u.c{varying.index(name)}")
        params += [prepared.varying[name] for name in varying]
        sql = INSERT.format(
            table=self.sql.table,
            columns=self.sql.insert_columns,
            select=", ".join(select),
            arrays=", ".join(f"%s::{FIELDS[n].db_type(connection)}[]" for n in varying),
            aliases=", ".join(f"c{i}" for i in range(len(varying))),
        )
        return _sql.fetch_rows(self.alias, sql, params)

    def hold_lock(self, name: str) -> None:
        _sql.execute(self.alias, HOLD_LOCK, [name])

    def complete_and_claim(self, job: Job, queue: str) -> Job | None:
        claimed = _sql.fetch(self.alias, *self._complete_and_claim(job, queue))
        return claimed[0] if claimed else None

    def _complete_and_claim(self, job: Job, queue: str) -> tuple[str, list[Any]]:
        """The statement (and its parameters) that completes `job` and claims the next job
        of `queue`."""
        at = self._now()
        return complete_and_claim_statement(self.sql), [
            *self._completing(job),
            *self.sql.pick_params(queue, at, 1),
            *(State.EXECUTING, at, node_name()),
        ]

    @contextmanager
    def attempt_transaction(
        self, job: Job, idle: float | None, *, refresh: bool = False
    ) -> Iterator[Job | None]:
        # The bound is set by the statement that locks the job: one round trip for both.
        if idle is None:
            with super().attempt_transaction(job, idle, refresh=refresh) as locked:
                yield locked
            return
        nested = self.connection.in_atomic_block
        with transaction.atomic(using=self.alias):
            what = self.sql.columns if refresh else "id"
            found = _sql.fetch_rows(
                self.alias,
                LOCK_AND_BOUND.format(what=what, where=self.sql.where_attempt),
                [milliseconds(idle), job.pk, State.EXECUTING, job.attempt],
            )
            if not found:  # moved on; nothing was bounded, and nothing is left to run
                yield None
                return
            (previous, _, *row) = found[0]
            yield _sql.jobs_from(self.alias, [row])[0] if refresh else job
            if nested:  # within a caller's transaction (a drain), which goes on: restored
                _sql.execute(self.alias, IDLE_IN_TRANSACTION, [previous])

    def complete_and_commit(self, job: Job, claim_from: str | None = None) -> Job | None:
        # The completion and the COMMIT are one query of two statements, one round trip; the
        # atomic block then finds the transaction committed, and only runs its on-commit
        # hooks. Only an outermost block's transaction is committed here: inside a caller's
        # (a drain) the completion is sent alone. So is it with server-side binding (Django's
        # `server_side_binding` option), which takes one statement a query.
        connection = self.connection
        outermost = (
            connection.in_atomic_block
            and connection.commit_on_exit
            and not connection.savepoint_ids
        )
        if not (outermost and binds_on_client(connection)):
            return super().complete_and_commit(job, claim_from)
        if claim_from is None:
            sql, params = self.sql.complete, self._completing(job)
        else:
            sql, params = self._complete_and_claim(job, claim_from)
        # A COMMIT refused because of the work's writes (a deferred foreign key, say) raises
        # here, as Django's commit would have.
        with connection.cursor() as cursor:
            cursor.execute(f"{sql}; COMMIT", params)
            claimed = _sql.jobs_from(self.alias, cursor.fetchall()) if claim_from else []
        return claimed[0] if claimed else None

    def connection_lost(self, error: BaseException) -> bool:
        # psycopg's error (Django's `__cause__`) carries the server's SQLSTATE when the server
        # said why; a connection that broke without a word is closed or broken.
        state = getattr(error.__cause__ or error, "sqlstate", None) or ""
        if state.startswith("08") or state in CONNECTION_LOST_STATES:
            return True
        cause = error.__cause__ or error
        unsaid = isinstance(error, OperationalError | InterfaceError) or (
            type(cause).__module__.startswith("psycopg")
            and type(cause).__name__ in ("OperationalError", "InterfaceError")
        )
        return not state and unsaid

    @contextmanager
    def savepoints_batched(self) -> Iterator[None]:
        # psycopg's pipeline mode queues statements; every statement but a savepoint's
        # (creating or releasing one) is synced at once, so it runs, raises and returns its
        # rows and row count as usual, and the queued savepoints go with it.
        connection = self.connection
        connection.ensure_connection()
        if not psycopg.Pipeline.is_supported():
            yield
            return
        with connection.connection.pipeline() as pipeline:

            def synced(execute: Any, sql: str, *args: Any) -> Any:
                result = execute(sql, *args)
                if not sql.startswith(BATCHED_SAVEPOINTS):
                    pipeline.sync()
                return result

            with connection.execute_wrapper(synced):
                yield

    @contextmanager
    def bound_statements(self, seconds: float) -> Iterator[None]:
        previous, _ = _sql.execute(self.alias, STATEMENT_TIMEOUT, [milliseconds(seconds)])
        yield
        # Reached only when the block succeeded; a failed one rolls back, and the setting
        # with it. Restored, so a drain inside a caller's transaction does not keep it.
        _sql.execute(self.alias, STATEMENT_TIMEOUT, [previous])

    @contextmanager
    def bound_transaction(self, idle: float | None) -> Iterator[None]:
        # `SET LOCAL`: the bound ends with the transaction, whichever way it ends.
        nested = self.connection.in_atomic_block
        with transaction.atomic(using=self.alias):
            if idle is None:
                yield
                return
            previous, _ = _sql.execute(self.alias, IDLE_IN_TRANSACTION, [milliseconds(idle)])
            yield
            if nested:  # within a caller's transaction (a drain), which goes on: restored
                _sql.execute(self.alias, IDLE_IN_TRANSACTION, [previous])
