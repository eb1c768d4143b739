"""The ledger on SQLite, for development, the demo and tests.

SQLite serialises writers and has no row locks: a claim is a compare-and-set per job, and a
running job cannot be told from an orphan, so the rescue waits much longer before it acts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import F, QuerySet

from ..models import Job
from ..states import State
from .backend import TABLE, Backend
from .rows import ATTNAMES, FIELDS, RETURNING, Inserted, Rows, node_name, now

# Insert rows given one by one. Parameters: every column of every row, in `ATTNAMES` order.
INSERT = f"INSERT INTO {TABLE} ({{columns}}) VALUES {{values}} ON CONFLICT DO NOTHING {RETURNING}"
# Read a job still executing the given attempt (the caller's transaction is SQLite's lock:
# writers are serialised). Parameters: id, executing, attempt.
SELECT_EXECUTING = f"SELECT {{columns}} FROM {TABLE} WHERE id = %s AND state = %s AND attempt = %s"
# Rows per INSERT statement: keeps SQLite under its bound-parameter limit.
INSERT_CHUNK = 500


class SQLiteBackend(Backend):
    vendor = "sqlite"
    lock_executing_sql = SELECT_EXECUTING
    rescues_by_lock = False

    def insert(self, rows: Rows) -> list[Inserted]:
        connection = self.connection
        common = {n: FIELDS[n].get_db_prep_save(v, connection) for n, v in rows.common.items()}
        varying = {
            n: [FIELDS[n].get_db_prep_save(v, connection) for v in vs]
            for n, vs in rows.varying.items()
        }
        row = "(" + ", ".join(["%s"] * len(ATTNAMES)) + ")"
        columns = ", ".join(f'"{FIELDS[n].column}"' for n in ATTNAMES)
        inserted: list[Inserted] = []
        for start in range(0, len(rows), INSERT_CHUNK):
            indexes = range(start, min(start + INSERT_CHUNK, len(rows)))
            params = [
                common[n] if n in common else varying[n][i] for i in indexes for n in ATTNAMES
            ]
            sql = INSERT.format(columns=columns, values=", ".join([row] * len(indexes)))
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                inserted += cursor.fetchall()
        return inserted

    def claim_among(self, candidates: QuerySet[Job], limit: int) -> list[Job]:
        # No row locks: each job is taken by its own compare-and-set, which applies the
        # candidates' whole filter again (due, queue not paused), in the same statement: a
        # job read as a candidate that another worker has since run and made `retryable`
        # (due later) is not taken.
        changes = {
            "state": State.EXECUTING,
            "attempt": F("attempt") + 1,
            "attempted_at": now(),
            "attempted_by": node_name(),
        }
        ordered = candidates.order_by("priority", "scheduled_at", "id")
        picked = [
            pk
            for pk in ordered.values_list("id", flat=True)[:limit]
            if candidates.filter(id=pk).update(**changes)
        ]
        return list(self.jobs().filter(id__in=picked).order_by("priority", "scheduled_at", "id"))

    def serialize(self, name: str) -> None:
        """Nothing to do: SQLite runs one writing transaction at a time."""

    def next_orphan(self, attempted_before: datetime, skip: Sequence[int] = ()) -> Job | None:
        return (
            self.jobs()
            .filter(state=State.EXECUTING, attempted_at__lt=attempted_before)
            .exclude(pk__in=skip)
            .order_by("id")
            .first()
        )
