"""The leader: one process among all running clusters does the once-per-installation work.

Every django-q2 worker process starts a `Leader` thread when it spawns (django-q2's
`post_spawn` signal, connected in `apps.py`), so users run plain `manage.py qcluster` and
nothing else. Each thread bids for the lead (`ledger.peer`) every `STAGE_INTERVAL`; the one
holding it runs the steps:

- stage due jobs and wake their queues, and fire due crons: every `STAGE_INTERVAL` (1 s),
  so a retry or snooze starts about a second after its time, and a cron within about a
  second of its minute;
- rescue orphaned jobs: every `RESCUE_INTERVAL`;
- prune finished jobs: every `PRUNE_INTERVAL`.

When its process stops (its cluster shuts down on SIGTERM, or django-q2 recycles the worker),
the thread resigns: another process leads from its next pass, on every database. A leader that
dies without stopping (SIGKILL) frees its session lock with its connection on PostgreSQL and
MariaDB/MySQL; on SQLite its lease lapses `LEADER_TTL` seconds after its last pass. The thread
never runs jobs, so maintenance never waits behind them; a database outage only makes its
passes fail until the database is back.

The thread has a connection of its own (`own_connection`), which holds the lead's session
lock: nothing closes it while it works, whatever its age, so a live leader keeps the lead.
(Django's per-thread connection would not do: django-q2's ORM broker, which the steps use to
wake queues, closes a connection older than `CONN_MAX_AGE` in the calling thread, and the
lock would go with it.) The database ends that session once it sits idle longer than
`LEADER_TTL` (`Peers.bound_session`): a leader that hangs (stopped, paused, cut off) loses the
lead, and another process takes over. Every step runs on that session, and only while it
still holds the lead (`Peers.holds`), so a leader that thaws steps down at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from multiprocessing.util import Finalize
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend
from django_q.conf import Conf

from .. import ledger
from ..conf import settings
from ..ledger.outage import Outage
from ..ledger.peer import peers
from ..models import Peer
from ..signals import leader_elected, leader_resigned
from ..worker.deadline import idle_bound
from .cron import CronFiring
from .maintenance import LEASE, prune, rescue, run_step, stage_and_wake

logger = logging.getLogger("ash_oban_django")


class Leader:
    """One process's bid for the lease, and the steps it runs while it holds it."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.leading = False
        self.crons = CronFiring()
        self.last_rescue = self.last_prune = float("-inf")
        self.outage = Outage(f"leader {node}", logger)
        # The database session whose idleness is bounded (see `bound_session`).
        self.bounded: object = None

    def tick(self) -> bool:
        """One pass: renew or take the lease, then run the steps that are due, each while
        this session still leads. Returns whether this process leads."""
        self.set_leading(peers().elect(LEASE, self.node, settings.LEADER_TTL))
        if not self.leading:
            return False
        now = time.monotonic()
        steps: list[tuple[str, Callable[[], int]]] = [
            ("stage", stage_and_wake),
            ("cron", self.crons.fire_due),
        ]
        if now - self.last_rescue >= settings.RESCUE_INTERVAL:
            self.last_rescue = now
            steps.append(("rescue", rescue))
        if now - self.last_prune >= settings.PRUNE_INTERVAL:
            self.last_prune = now
            steps.append(("prune", prune))
        for number, (name, step) in enumerate(steps):
            # The first step runs right after the bid; each next one only if the session
            # still holds the lead (it may have been ended meanwhile, and a new one opened).
            if number and not peers().holds(LEASE, self.node):
                self.set_leading(False)
                return False
            run_step(name, step, 0)
        return True

    def set_leading(self, leading: bool) -> None:
        """Whether this node leads now; a change is sent as `leader_elected`, or as
        `leader_resigned` with `lost=True` (another node took it, or a pass cannot tell)."""
        if leading != self.leading:
            self.leading = leading
            if leading:
                leader_elected.send_robust(Peer, name=LEASE, node=self.node)
            else:
                leader_resigned.send_robust(Peer, name=LEASE, node=self.node, lost=True)

    def bound_session(self) -> None:
        """Bound the idleness of this thread's own session (`own_connection`), once per
        session: the database ends it once it sits idle longer than `LEADER_TTL` (between
        passes), or idle in a transaction longer than an attempt without `timeout` may (the
        rescue may run an `on_error`)."""
        connection = connections[ledger.database()]
        connection.ensure_connection()
        if connection.connection is not self.bounded:
            in_transaction = idle_bound(None, Conf.TIMEOUT)
            peers().bound_session(settings.LEADER_TTL, in_transaction)
            self.bounded = connection.connection

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until `stop` is set, then resign. A failed pass is retried on a
        fresh connection; a lost database is logged once per outage (`ledger.outage`), any
        other failure once until a pass succeeds again."""
        failing = False
        own_connection(ledger.database())
        try:
            while not stop.is_set():
                try:
                    self.bound_session()
                    self.tick()
                    failing = False
                    self.outage.answered()
                except Exception as error:
                    if ledger.engine().connection_lost(error):
                        self.outage.failed(error)
                    elif not failing:
                        logger.warning(
                            "Leader pass of %s failed; retrying", self.node, exc_info=True
                        )
                    failing = True
                    self.set_leading(False)  # the session, and its lock, may be gone
                    connections[ledger.database()].close()
                stop.wait(settings.STAGE_INTERVAL)
        finally:
            self.resign()

    def resign(self) -> None:
        """Give up the lead, from this thread: the session lock is its connection's. Closing
        that connection frees the lock even when the resign itself fails."""
        held = self.leading
        try:
            held = peers().resign(LEASE, self.node) or held
        except Exception:
            logger.warning("%s could not resign the lead", self.node, exc_info=True)
        finally:
            self.leading = False
            connections[ledger.database()].close()
        if held:
            leader_resigned.send_robust(Peer, name=LEASE, node=self.node, lost=False)


def own_connection(alias: str) -> BaseDatabaseWrapper:
    """Give this thread a connection to `alias` of its own, which nothing closes for its age
    (`CONN_MAX_AGE` ignored): only a failure, or the thread itself, closes it. Everything the
    thread runs on `alias` (its bids, its steps, the wakes sent through django-q2's ORM
    broker) uses it, so the lead's session lock stays as long as the thread leads."""
    settings_dict = {**connections.settings[alias], "CONN_MAX_AGE": None}
    connection: BaseDatabaseWrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(
        settings_dict, alias
    )
    connections[alias] = connection
    return connection


# Exit finalizers run by descending priority: the leader resigns before the lower ones run.
RESIGN_PRIORITY = 100
# This process's leader thread and the event that stops it.
_running: tuple[threading.Thread, threading.Event] | None = None


def start(sender: Any = None, **kwargs: Any) -> None:
    """Start this process's leader thread (django-q2's `post_spawn` receiver); once. Not in
    django-q2's `sync` mode, where a task runs in the process that queued it.

    The thread is stopped, and resigns, when the process exits: django-q2's workers are
    `multiprocessing` children, which end by running multiprocessing's exit finalizers and
    then `os._exit` (never `atexit`), so the stop is one of those finalizers."""
    global _running
    if Conf.SYNC or (_running is not None and _running[0].is_alive()):
        return
    stopping = threading.Event()
    thread = threading.Thread(
        target=Leader(ledger.node_name()).run,
        args=(stopping,),
        name="ash_oban_django leader",
        daemon=True,
    )
    _running = (thread, stopping)
    thread.start()
    Finalize(None, stop, exitpriority=RESIGN_PRIORITY)


def stop(timeout: float | None = None) -> bool:
    """Stop this process's leader thread, which resigns the lead if it holds it; waits at most
    `timeout` seconds (`LEADER_TTL` by default: waiting longer gains nothing, the lease has
    lapsed by then), so a pass stuck on the database cannot hold up the process's exit.
    Returns whether the thread has ended."""
    if _running is None:
        return True
    thread, stopping = _running
    stopping.set()
    thread.join(settings.LEADER_TTL if timeout is None else timeout)
    return not thread.is_alive()
