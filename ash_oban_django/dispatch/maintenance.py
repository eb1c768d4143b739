"""Maintenance, one function per step: stage due jobs, rescue orphans, prune old jobs.

`maintain` runs every step; each step runs in its own transaction, so one step's failure
does not undo another's work.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from .. import ledger
from ..conf import settings
from ..states import State
from ..worker import rescue_orphan
from .wake import wake

# Without row locks (SQLite) a running job cannot be told from an orphan, so an executing
# job is only rescued once it is older than this.
RESCUE_WITHOUT_LOCKS_AFTER = 3600.0


def stage_due() -> dict[str, int]:
    """Make due jobs available; returns every queue with available jobs and their count."""
    return ledger.engine().stage()


def rescue() -> int:
    """Rescue `executing` jobs whose worker is gone (on PostgreSQL: whose row lock is gone)
    and that were attempted more than `RESCUE_AFTER` seconds ago. Returns how many."""
    engine = ledger.engine()
    age = settings.RESCUE_AFTER
    if not engine.rescues_by_lock:
        age = max(age, RESCUE_WITHOUT_LOCKS_AFTER)
    cutoff = ledger.now() - timedelta(seconds=age)
    rescued = 0
    while True:
        with transaction.atomic(using=engine.alias):
            orphan = engine.next_orphan(cutoff)
            if orphan is None:
                return rescued
            job = rescue_orphan(engine, orphan)
            if job.state == State.AVAILABLE:
                ledger.announce({job.queue: 1})
            rescued += 1


def prune(older_than: float | None = None) -> int:
    """Delete jobs finished more than `PRUNE_AFTER` seconds ago (completed `trigger_once`
    jobs stay: they keep their row from being triggered again)."""
    seconds = settings.PRUNE_AFTER if older_than is None else older_than
    return ledger.engine().prune(ledger.now() - timedelta(seconds=seconds))


def maintain() -> dict[str, int]:
    """Every step once: stage due jobs, rescue orphans, prune, then wake every queue with
    available jobs (so a lost wake task delays a job, never loses it)."""
    waiting = stage_due()
    rescued = rescue()
    pruned = prune()
    if waiting:
        wake(waiting)
    return {"waiting": sum(waiting.values()), "rescued": rescued, "pruned": pruned}
