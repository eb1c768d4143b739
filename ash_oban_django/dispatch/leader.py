"""The leader: one process among all running clusters does the once-per-installation work.

Every django-q2 worker process starts a `Leader` thread when it spawns (django-q2's
`post_spawn` signal, connected in `apps.py`), so users run plain `manage.py qcluster` and
nothing else. Each thread asks the ledger for the lease (`Backend.elect`) every
`STAGE_INTERVAL`; the one holding it runs the steps:

- stage due jobs and wake their queues, and fire due crons: every `STAGE_INTERVAL` (1 s),
  so a retry or snooze starts about a second after its time, and a cron within about a
  second of its minute;
- rescue orphaned jobs: every `RESCUE_INTERVAL`;
- prune finished jobs: every `PRUNE_INTERVAL`.

The lease lasts `LEADER_TTL` seconds and is renewed on every pass: when the leader dies,
another process takes over once it lapses. The thread never runs jobs, so maintenance never
waits behind them; a database outage only makes its passes fail until the database is back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import connections
from django_q.conf import Conf

from .. import ledger
from ..conf import settings
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

    def tick(self) -> bool:
        """One pass: renew or take the lease, then run the steps that are due. Returns
        whether this process leads."""
        leading = ledger.engine().elect(LEASE, self.node, settings.LEADER_TTL)
        if leading != self.leading:
            logger.info("%s %s the lead", self.node, "takes" if leading else "loses")
            self.leading = leading
        if not leading:
            return False
        run_step("stage", stage_and_wake, 0)
        run_step("cron", self.crons.fire_due, 0)
        now = time.monotonic()
        if now - self.last_rescue >= settings.RESCUE_INTERVAL:
            self.last_rescue = now
            run_step("rescue", rescue, 0)
        if now - self.last_prune >= settings.PRUNE_INTERVAL:
            self.last_prune = now
            run_step("prune", prune, 0)
        return True

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until `stop` is set; a failed pass (the database down, say) is
        logged once and retried on a fresh connection."""
        failing = False
        while not stop.is_set():
            try:
                self.tick()
                failing = False
            except Exception:
                if not failing:
                    logger.warning("Leader pass of %s failed; retrying", self.node, exc_info=True)
                failing, self.leading = True, False
                connections[ledger.database()].close()
            stop.wait(settings.STAGE_INTERVAL)


_thread: threading.Thread | None = None


def start(sender: Any = None, **kwargs: Any) -> None:
    """Start this process's leader thread (django-q2's `post_spawn` receiver); once. Not in
    django-q2's `sync` mode, where a task runs in the process that queued it."""
    global _thread
    if Conf.SYNC or (_thread is not None and _thread.is_alive()):
        return
    leader = Leader(ledger.node_name())
    _thread = threading.Thread(
        target=leader.run, args=(threading.Event(),), name="ash_oban_django leader", daemon=True
    )
    _thread.start()
