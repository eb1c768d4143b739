"""The ledger on PostgreSQL: row locks, `SKIP LOCKED` claims, `unnest` page inserts.

A live attempt holds its job row's lock for its whole transaction, so a row that
`SKIP LOCKED` can take is provably not being run: that is how orphans are found. Claims and
completions are single statements, which also run in autocommit as one round trip.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import InterfaceError, OperationalError
from django.db.models import QuerySet

from ..models import Job, Queue
from ..states import RUNNABLE_STATES, State
from .backend import JOB_COLUMNS, TABLE, Backend
from .rows import ATTNAMES, FIELDS, RETURNING, Inserted, Rows, node_name, now

_RUNNABLE = ", ".join(["%s"] * len(RUNNABLE_STATES))

# A queue paused or given a limit at runtime: its jobs are not for the unlimited claim.
# The lookup is one primary-key probe, evaluated once per statement. Parameter: queue.
HELD = (
    f'NOT EXISTS (SELECT 1 FROM "{Queue._meta.db_table}" c WHERE c.name = %s '
    "AND (c.paused OR c.concurrency_limit IS NOT NULL))"
)
# The next runnable jobs of one queue by priority, scheduled_at, id; rows others hold are
# skipped. Parameters: the runnable states, queue, now, queue, limit.
PICK_NEXT = (
    f"SELECT id FROM {TABLE} WHERE state IN ({_RUNNABLE}) AND queue = %s "
    f"AND scheduled_at <= %s AND {HELD} "
    "ORDER BY priority, scheduled_at, id LIMIT %s FOR UPDATE SKIP LOCKED"
)
# Move the jobs a pick statement selects to `executing` and return them whole.
# Parameters: executing, now, node, then the pick's.
CLAIM = (
    f"UPDATE {TABLE} SET state = %s, attempt = attempt + 1, attempted_at = %s, "
    f"attempted_by = %s WHERE id IN ({{pick}}) RETURNING {JOB_COLUMNS}"
)
# Mark one job completed. Parameters: completed, now, id.
COMPLETE = f"UPDATE {TABLE} SET state = %s, completed_at = %s WHERE id = %s"
# Complete one job and claim the next of a queue, in one statement.
COMPLETE_AND_CLAIM = f"WITH done AS ({COMPLETE}) {CLAIM.format(pick=PICK_NEXT)}"
# Lock a job still executing the given attempt. Parameters: id, executing, attempt.
LOCK_EXECUTING = (
    f"SELECT {{columns}} FROM {TABLE} WHERE id = %s AND state = %s AND attempt = %s FOR UPDATE"
)
# Set the current transaction's statement timeout (e.g. '2000ms'); returns the one it had.
STATEMENT_TIMEOUT = (
    "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)"
)
# A transaction-scoped advisory lock on a name.
SERIALIZE = "SELECT pg_advisory_xact_lock(hashtext(%s))"
# Insert a page of jobs given as columns: shared values once, the others as arrays.
INSERT = (
    f"INSERT INTO {TABLE} ({{columns}}) SELECT {{select}} FROM unnest({{arrays}}) AS u({{aliases}}) "
    f"ON CONFLICT DO NOTHING {RETURNING}"
)

# SQLSTATEs of a connection lost or ended by the server: class 08 (connection exception),
# and 57P01-57P03 (administrator command, crash or shutdown; cannot connect now).
CONNECTION_LOST_STATES = ("57P01", "57P02", "57P03")


class PostgreSQLBackend(Backend):
    vendor = "postgresql"
    lock_executing_sql = LOCK_EXECUTING

    def insert(self, rows: Rows) -> list[Inserted]:
        # The statement does not grow with the rows, and no value is quoted twice.
        connection = self.connection
        varying = list(rows.varying)
        select, params = [], []
        for name in ATTNAMES:
            field = FIELDS[name]
            if name in rows.common:
                select.append(f"%s::{field.db_type(connection)}")
                params.append(field.get_db_prep_save(rows.common[name], connection))
            else:
                select.append(f"u.c{varying.index(name)}")
        params += [
            [FIELDS[n].get_db_prep_save(v, connection) for v in rows.varying[n]] for n in varying
        ]
        sql = INSERT.format(
            columns=", ".join(f'"{FIELDS[n].column}"' for n in ATTNAMES),
            select=", ".join(select),
            arrays=", ".join(f"%s::{FIELDS[n].db_type(connection)}[]" for n in varying),
            aliases=", ".join(f"c{i}" for i in range(len(varying))),
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            inserted: list[Inserted] = cursor.fetchall()
        return inserted

    def claim(self, queue: str, limit: int, *, max_running: int | None = None) -> list[Job]:
        if max_running is not None:
            return super().claim(queue, limit, max_running=max_running)
        # The dispatch path's claim runs once per job: written out, no ORM compiling.
        return self._claim(PICK_NEXT, [*RUNNABLE_STATES, queue, now(), queue, limit])

    def claim_among(self, candidates: QuerySet[Job], limit: int) -> list[Job]:
        # Compiled without select_for_update (Django refuses that outside a transaction);
        # the statement is atomic on its own.
        pick = candidates.order_by("priority", "scheduled_at", "id").values("id")[:limit]
        sql, params = pick.query.get_compiler(connection=self.connection).as_sql()
        return self._claim(f"{sql} FOR UPDATE SKIP LOCKED", list(params))

    def _claim(self, pick: str, params: Sequence[Any]) -> list[Job]:
        claimed = self.fetch(
            CLAIM.format(pick=pick), [State.EXECUTING, now(), node_name(), *params]
        )
        return sorted(claimed, key=lambda job: (job.priority, job.scheduled_at, job.id))

    def complete(self, job: Job, *, claim_from: str | None = None) -> Job | None:
        job.state, job.completed_at = State.COMPLETED, now()
        done = [job.state, job.completed_at, job.pk]
        if claim_from is None:
            self.execute(COMPLETE, done)
            return None
        at = now()
        claim = [State.EXECUTING, at, node_name(), *RUNNABLE_STATES, claim_from, at, claim_from, 1]
        claimed = self.fetch(COMPLETE_AND_CLAIM, [*done, *claim])
        return claimed[0] if claimed else None

    def serialize(self, name: str) -> None:
        self.execute(SERIALIZE, [name])

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
    def statements_bounded(self, seconds: float) -> Iterator[None]:
        previous, _ = self.execute(STATEMENT_TIMEOUT, [f"{max(int(seconds * 1000), 1)}ms"])
        yield
        # Reached only when the block succeeded; a failed one rolls back, and the setting
        # with it. Restored, so a drain inside a caller's transaction does not keep it.
        self.execute(STATEMENT_TIMEOUT, [previous])
