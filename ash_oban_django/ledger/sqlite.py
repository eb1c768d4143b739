"""The ledger on SQLite, for development, the demo and tests.

What this module overrides in `Backend`, and why:

- `rescues_by_lock`: there are no row locks, so a running job cannot be told from an
  orphan; the rescue waits much longer before it acts.
- `insert`: `INSERT ... VALUES ... ON CONFLICT DO NOTHING RETURNING`, in chunks that keep
  under SQLite's bound-parameter limit.
- `hold_lock`: nothing to hold: SQLite runs one writing transaction at a time.
- `tagged`: SQLite has no JSON containment lookup; the tags are looked through one by one.

Claims use the shared statement (`Backend.claim`): one `UPDATE ... RETURNING` whose pick
runs inside the statement, under SQLite's single writer lock, so two claimers never take the
same job.
"""

from __future__ import annotations

from django.db.models import Q
from django.db.models.expressions import RawSQL

from . import _sql
from .backend import Backend
from .rows import ATTNAMES, Inserted, Rows

# Insert rows given one by one. Parameters: every column of every row, in `ATTNAMES` order.
INSERT = (
    f"INSERT INTO {{table}} ({{columns}}) VALUES {{values}} ON CONFLICT DO NOTHING {_sql.RETURNING}"
)
# The ids of the jobs whose `tags` hold a value. Parameter: the tag.
TAGGED = "SELECT j.id FROM {table} j, json_each(j.tags) t WHERE t.value = %s"
# Rows per INSERT statement: keeps SQLite under its bound-parameter limit.
INSERT_CHUNK = 500


class SQLiteBackend(Backend):
    vendor = "sqlite"
    rescues_by_lock = False

    def insert(self, rows: Rows) -> list[Inserted]:
        connection = self.connection
        prepared = rows.prepared(connection)
        common, varying = prepared.common, prepared.varying
        row = "(" + ", ".join(["%s"] * len(ATTNAMES)) + ")"
        inserted: list[Inserted] = []
        for start in range(0, len(rows), INSERT_CHUNK):
            indexes = range(start, min(start + INSERT_CHUNK, len(rows)))
            params = [
                common[n] if n in common else varying[n][i] for i in indexes for n in ATTNAMES
            ]
            sql = INSERT.format(
                table=self.sql.table,
                columns=self.sql.insert_columns,
                values=", ".join([row] * len(indexes)),
            )
            inserted += _sql.fetch_rows(self.alias, sql, params)
        return inserted

    def hold_lock(self, name: str) -> None:
        """Nothing to do: SQLite runs one writing transaction at a time."""

    def tagged(self, tag: str) -> Q:
        return Q(pk__in=RawSQL(TAGGED.format(table=self.sql.table), [tag]))
