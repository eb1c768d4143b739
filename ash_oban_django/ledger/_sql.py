"""The plumbing under the ledger's hand-written SQL: the statements the databases share, each
written once and quoted by the connection, and how their rows become `Job` objects.

The statements are built once per backend class (`Backend.sql`), from the connection's
quoting (`ops.quote_name`) and features (`FOR UPDATE`, `SKIP LOCKED`); a vendor module adds
only the statements that really differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from ..models import CLAIM_ORDER, UNIQUE_KEY, Job
from ..states import RUNNABLE_STATES
from .queries import HELD, queue_rows
from .rows import ATTNAMES, FIELDS

# What an insert returns of each row it made (`rows.Inserted`), where an insert returns rows.
RETURNING = f"RETURNING id, {', '.join(UNIQUE_KEY)}, queue, state"
# What a claim sets on each job it takes. Parameters: executing, now, node.
CLAIM_SET = "state = %s, attempt = attempt + 1, attempted_at = %s, attempted_by = %s"
# The jobs of one queue a claim may take, by their state (the claim index's condition).
# Parameter: queue.
RUNNABLE_IN_QUEUE = "state IN ({}) AND queue = %s".format(
    ", ".join(f"'{state}'" for state in RUNNABLE_STATES)
)
# How `fetch` reads each column, per database alias (see `_converters`).
_READERS: dict[str, list[tuple[int, Any, Any]]] = {}
_ATTNAMES = [f.attname for f in Job._meta.concrete_fields]


class Statements:
    """The ledger's shared statements in one database's SQL.

    `runnable_in_queue` selects one queue's runnable jobs (parameter: the queue);
    `pick_columns` says whether a pick reads whole jobs (a database whose claim cannot
    return the rows it updated) or their ids. Built once per backend class (`Backend.sql`).
    """

    def __init__(
        self, connection: BaseDatabaseWrapper, *, runnable_in_queue: str, pick_columns: bool
    ) -> None:
        self._claims: dict[tuple[str, str], str] = {}
        quote, features = connection.ops.quote_name, connection.features
        table = self.table = quote(Job._meta.db_table)
        # Every column of a job in field order, as `fetch` reads them; qualified, so that a
        # statement that joins another relation names them without doubt.
        self.columns = ", ".join(
            f"{table}.{quote(str(f.column))}" for f in Job._meta.concrete_fields
        )
        # The columns an insert writes, in `rows.ATTNAMES` order.
        self.insert_columns = ", ".join(quote(str(FIELDS[name].column)) for name in ATTNAMES)
        # Without row locks (SQLite) the caller's transaction, one writer at a time, is the lock.
        lock = f" {connection.ops.for_update_sql()}" if features.has_select_for_update else ""
        # Asked for on every database with row locks: a server without `SKIP LOCKED` refuses
        # the statement (and check E021 says why) rather than claiming without it.
        self.skip_locked = f" {connection.ops.for_update_sql(skip_locked=True)}" if lock else ""
        self.order = ", ".join(quote(column) for column in CLAIM_ORDER)
        held = queue_rows(connection.alias).filter(HELD).values("name")
        held_sql, held_params = held.query.get_compiler(connection=connection).as_sql()
        self.held_params = list(held_params)

        # Lock a job still executing the given attempt: the whole row, or its id.
        # Parameters: id, executing, attempt.
        self.where_attempt = f"FROM {table} WHERE id = %s AND state = %s AND attempt = %s{lock}"
        self.lock_attempt_row = f"SELECT {self.columns} {self.where_attempt}"
        self.lock_attempt_id = f"SELECT id {self.where_attempt}"
        # Mark one job completed. Parameters: completed, now, id.
        self.complete = f"UPDATE {table} SET state = %s, completed_at = %s WHERE id = %s"
        # The next runnable jobs of one queue in claim order, none of a queue paused or given
        # a limit at runtime (`queries.HELD`, one scan of the small queue table per
        # statement); rows others hold are skipped. Parameters: see `pick_params`.
        self.pick_next = (
            f"SELECT {self.columns if pick_columns else 'id'} FROM {table} "
            f"WHERE {runnable_in_queue} AND scheduled_at <= %s AND queue NOT IN ({held_sql}) "
            f"ORDER BY {self.order} LIMIT %s{self.skip_locked}"
        )

    def pick_params(self, queue: str, at: Any, limit: int) -> list[Any]:
        """The parameters of `pick_next`."""
        return [queue, at, *self.held_params, limit]

    def claim(self, pick: str, first: str = "") -> str:
        """One statement that moves the jobs `pick` selects (their ids) to `executing` and
        returns them whole; `first` adds common table expressions that run before it.

        The pick is fenced in a materialized CTE: as a subquery of the UPDATE, the planner
        may join it in a way that runs it more than once and updates more rows than its
        LIMIT. Parameters: the pick's (after `first`'s), then executing, now, node."""
        found = self._claims.get((first, pick))
        if found is None:
            found = self._claims[first, pick] = (
                f"WITH {first}picked AS MATERIALIZED ({pick}) "
                f"UPDATE {self.table} SET {CLAIM_SET} FROM picked "
                f"WHERE {self.table}.id = picked.id RETURNING {self.columns}"
            )
        return found


def fetch(alias: str, sql: str, params: Sequence[Any]) -> list[Job]:
    """Jobs from a statement that returns `Statements.columns` (a SELECT or a RETURNING)."""
    return jobs_from(alias, fetch_rows(alias, sql, params))


def jobs_from(alias: str, rows: Sequence[Sequence[Any]]) -> list[Job]:
    """Jobs from rows of `Statements.columns`, as the driver returned them."""
    connection = connections[alias]
    converters = _converters(alias)
    found = []
    for row in rows:
        values = list(row)
        for i, col, convert in converters:
            values[i] = convert(values[i], col, connection)
        found.append(Job.from_db(alias, _ATTNAMES, values))
    return found


def fetch_rows(alias: str, sql: str, params: Sequence[Any]) -> list[Any]:
    """Run one statement; returns its rows as the driver gives them."""
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def execute(alias: str, sql: str, params: Sequence[Any]) -> Any:
    """Run one statement; returns its first row, if any."""
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def _converters(alias: str) -> list[tuple[int, Any, Any]]:
    """How each column of a job is read, as Django's compiler reads it: the database's
    converters (aware datetimes on SQLite and MySQL, say), then the field's. Worked out once
    per database: a claim fetches on every job."""
    cached = _READERS.get(alias)
    if cached is not None:
        return cached
    connection = connections[alias]
    found = []
    for i, field in enumerate(Job._meta.concrete_fields):
        col = field.get_col(Job._meta.db_table)
        for convert in [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]:
            found.append((i, col, convert))
    _READERS[alias] = found
    return found
