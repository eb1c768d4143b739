"""Leadership: which one process, among every running cluster, leads (Oban's `Peer`).

A node (`host:pid`) bids with `elect` on every pass of its leader thread and gives the lead up
with `resign` when its process stops; `leader` says who leads. The lease row (`Peer`) says who
leads on every database, for those who look (the fallback maintenance, the dashboard, the
metrics). What decides who leads is the database's strongest tool:

- PostgreSQL: a session advisory lock. It dies with the holder's session, so a killed
  leader frees the lead at once.
- MariaDB/MySQL: a named lock (`GET_LOCK`), likewise per session; named locks are
  server-wide, so the lock's name carries the database's.
- SQLite (and the base class): the lease row alone, renewed on every pass and taken over once
  it lapses, `ttl` seconds after the holder's last pass.

The job verbs (`backend.py` and the vendor modules) know nothing of leadership, and this
module uses none of them (import-linter keeps both apart).
"""

from __future__ import annotations

import math
import zlib
from datetime import timedelta
from typing import Any, ClassVar

from django.db import IntegrityError, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..conf import settings
from ..models import Peer

__all__ = ["MySQLPeers", "Peers", "PostgreSQLPeers", "peers"]


class Peers:
    """Leadership on the database `alias`. Here the lease row alone decides (SQLite, or any
    database); a subclass whose database has session locks names the statements that take
    and release the lead's lock, and the lease row then only says who leads."""

    vendor: ClassVar[str] = "sqlite"
    # Take the lead's lock unless this session holds it already; true when it holds it.
    lead_sql: ClassVar[str | None] = None
    # Release it, if this session holds it.
    resign_sql: ClassVar[str | None] = None
    # Whether this session holds it.
    holds_sql: ClassVar[str | None] = None

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def elect(self, name: str, node: str, ttl: float) -> bool:
        """Take or renew the lead `name` for `node` for `ttl` seconds; True when `node` leads.
        A lease another node let lapse is taken over; with a session lock, the lock decides."""
        if self.lead_sql is None:
            return self.lease(name, node, ttl, take_over=False)
        holds = self._execute(self.lead_sql, self.lock_params(name))
        return bool(holds) and self.lease(name, node, ttl, take_over=True)

    def resign(self, name: str, node: str) -> bool:
        """Give up the lead `name` if `node` holds it (a node that stops): the next bid of
        another node wins. A node that does not hold it changes nothing. Returns whether
        `node` held the lease row."""
        # The row first: once the lock is free, the next leader writes its own.
        held = Peer.objects.using(self.alias).filter(name=name, node=node).delete()[0]
        if self.resign_sql is not None:
            self._execute(self.resign_sql, self.lock_params(name))
        return bool(held)

    def holds(self, name: str, node: str) -> bool:
        """Whether `node`, on this thread's session, still holds the lead `name`: checked
        between the steps of a pass, so a leader whose session was ended (it hung, and another
        took over) runs no further step, even on a connection opened afresh."""
        if self.holds_sql is None:
            return self.leases(name).filter(node=node, expires_at__gte=timezone.now()).exists()
        return bool(self._execute(self.holds_sql, self.holds_params(name)))

    def bound_session(self, idle: float, in_transaction: float | None) -> None:
        """Have the database end this thread's session once it sits idle for longer than
        `idle` seconds, or idle in a transaction for longer than `in_transaction` (None: no
        bound but `idle`, where the database cannot tell them apart).

        The leader's session, which renews the lead every `STAGE_INTERVAL`, is never idle
        longer while its process lives; a leader that hangs (stopped, paused, cut off) loses
        its session, the session lock with it, and another process leads. With the lease row
        alone there is nothing to do: it lapses on its own."""

    def leases(self, name: str) -> QuerySet[Peer]:
        return Peer.objects.using(self.alias).filter(name=name)

    def leader(self, name: str) -> Peer | None:
        """The live holder of the lead `name`, if any."""
        return (
            Peer.objects.using(self.alias).filter(name=name, expires_at__gte=timezone.now()).first()
        )

    def lease(self, name: str, node: str, ttl: float, *, take_over: bool) -> bool:
        """The lease row: renewed by its node, taken over once it lapsed (or at once with
        `take_over`, by a node the database's lock already chose); True when `node` holds it."""
        at = timezone.now()
        expires = at + timedelta(seconds=ttl)
        with transaction.atomic(using=self.alias):
            leases = Peer.objects.using(self.alias).filter(name=name)
            if leases.filter(node=node).update(expires_at=expires):
                return True
            # Conditional: of two nodes taking over at once, the second finds it renewed.
            lapsed = leases if take_over else leases.filter(expires_at__lt=at)
            if lapsed.update(node=node, started_at=at, expires_at=expires):
                return True
            try:
                with transaction.atomic(using=self.alias):
                    Peer.objects.using(self.alias).create(
                        name=name, node=node, started_at=at, expires_at=expires
                    )
            except IntegrityError:  # another node holds it
                return False
            return True

    def lock_params(self, name: str) -> list[Any]:
        """The parameters of `lead_sql` and `resign_sql` for the lead `name`."""
        return []

    def holds_params(self, name: str) -> list[Any]:
        """The parameters of `holds_sql` for the lead `name`."""
        return self.lock_params(name)

    def _execute(self, sql: str, params: list[Any]) -> Any:
        """Run one statement on this thread's connection (a session lock is the session's);
        returns its first value, None without a row."""
        with connections[self.alias].cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone() if cursor.description else None
        return None if row is None else row[0]


# -- PostgreSQL --------------------------------------------------------------------------------

# The first key of every session lock of the package (the second is the lead's name).
LEAD_KEY = 0x0A5_0BA
# Whether this session holds the lead's lock. Parameters: the two keys.
_HOLDS = (
    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = pg_backend_pid() AND classid = %s AND objid = %s AND objsubid = 2"
)
# Take the lead's session lock unless this session holds it already (the lock counts how often
# it was taken); true when it holds it. Parameters: the two keys, twice.
PG_LEAD = f"SELECT EXISTS ({_HOLDS}) OR pg_try_advisory_lock(%s, %s)"
# Release it, if this session holds it (another session's lock cannot be released, and trying
# warns). Parameters: the two keys, twice.
PG_RESIGN = f"SELECT pg_advisory_unlock(%s, %s) WHERE EXISTS ({_HOLDS})"
# Whether this session holds the lead's lock. Parameters: the two keys.
PG_HOLDS = f"SELECT EXISTS ({_HOLDS})"
# Bound the session's idleness, outside a transaction (PostgreSQL 14 and later) and in one
# (e.g. '5000ms'; '0' for none), for the rest of the session.
PG_BOUND_SESSION = (
    "SELECT set_config('idle_session_timeout', %s, false), "
    "set_config('idle_in_transaction_session_timeout', %s, false)"
)
# The first version with `idle_session_timeout`.
PG_IDLE_SESSION_SINCE = 140000


class PostgreSQLPeers(Peers):
    """A session advisory lock decides."""

    vendor = "postgresql"
    lead_sql = PG_LEAD
    resign_sql = PG_RESIGN
    holds_sql = PG_HOLDS

    def lock_params(self, name: str) -> list[Any]:
        # The two keys twice: for the lock, and for the check that this session holds it.
        return [LEAD_KEY, _lead_key(name)] * 2

    def holds_params(self, name: str) -> list[Any]:
        return [LEAD_KEY, _lead_key(name)]

    def bound_session(self, idle: float, in_transaction: float | None) -> None:
        # Before PostgreSQL 14 nothing bounds an idle session: a hung leader keeps the lead
        # until its connection dies (docs/operations.md).
        if connections[self.alias].pg_version < PG_IDLE_SESSION_SINCE:  # type: ignore[attr-defined]
            return
        self._execute(PG_BOUND_SESSION, [_milliseconds(idle), _milliseconds(in_transaction)])


def _milliseconds(seconds: float | None) -> str:
    return "0" if seconds is None else f"{max(int(seconds * 1000), 1)}ms"


def _lead_key(name: str) -> int:
    """The second key of the lead `name`'s session lock (a stable positive int4)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


# -- MariaDB and MySQL -------------------------------------------------------------------------

# Named locks are server-wide: a lock's name is the digest of the database's name and ours,
# so installations on other databases of the server do not share it (at most 64 characters).
_LOCK_NAME = "SELECT SHA1(CONCAT(DATABASE(), ':', %s)) AS name"
# Take the lead's named lock unless this session holds it already; 1 when it holds it.
# Parameter: the lock's name in this database.
MYSQL_LEAD = (
    "SELECT CASE WHEN IS_USED_LOCK(lock_name.name) = CONNECTION_ID() THEN 1 "
    f"ELSE GET_LOCK(lock_name.name, 0) END FROM ({_LOCK_NAME}) AS lock_name"
)
# Release it; only its holder can (another session gets 0, a free lock NULL).
# Parameter: the lock's name in this database.
MYSQL_RESIGN = f"SELECT RELEASE_LOCK(lock_name.name) FROM ({_LOCK_NAME}) AS lock_name"
# Whether this session holds it. Parameter: the lock's name in this database.
MYSQL_HOLDS = (
    f"SELECT IS_USED_LOCK(lock_name.name) <=> CONNECTION_ID() FROM ({_LOCK_NAME}) AS lock_name"
)
# Bound the session's idleness in whole seconds, for the rest of the session: MariaDB, outside
# a transaction and in one (`wait_timeout`, `idle_transaction_timeout`); MySQL has only the
# first, which bounds both.
MARIADB_BOUND_SESSION = "SET SESSION wait_timeout = %s, SESSION idle_transaction_timeout = %s"
MYSQL_BOUND_SESSION = "SET SESSION wait_timeout = %s"
# The longest bound either server takes (a year): no bound, in effect.
MYSQL_LONGEST_BOUND = 31536000


class MySQLPeers(Peers):
    """A named lock of the session decides."""

    vendor = "mysql"
    lead_sql = MYSQL_LEAD
    resign_sql = MYSQL_RESIGN
    holds_sql = MYSQL_HOLDS

    def bound_session(self, idle: float, in_transaction: float | None) -> None:
        seconds = max(math.ceil(idle), 1)
        if not getattr(connections[self.alias], "mysql_is_mariadb", False):
            # MySQL: a transaction of the leader idle longer than `idle` ends its session too.
            self._execute(MYSQL_BOUND_SESSION, [seconds])
            return
        in_seconds = MYSQL_LONGEST_BOUND if in_transaction is None else math.ceil(in_transaction)
        self._execute(MARIADB_BOUND_SESSION, [seconds, max(in_seconds, 1)])

    def lock_params(self, name: str) -> list[Any]:
        return [f"ash_oban_django:lead:{name}"]


# Leadership for each database vendor Django reports.
VENDORS: dict[str, type[Peers]] = {
    PostgreSQLPeers.vendor: PostgreSQLPeers,
    MySQLPeers.vendor: MySQLPeers,
    Peers.vendor: Peers,
}


def peers(alias: str | None = None) -> Peers:
    """Leadership on the database `alias`, the ledger's database by default. A database
    without session locks we know is led by the lease row alone."""
    alias = alias or settings.DATABASE
    return VENDORS.get(connections[alias].vendor, Peers)(alias)
