"""Maintenance, one function per step: stage due jobs (and wake their queues), rescue
orphans, prune old jobs.

The leader (`leader.py`) runs the steps on their intervals. `maintain`, the function of
django-q2's maintenance cron row, is the fallback: once a minute it runs every step, unless a
live leader already does. Each step runs in its own transaction and fails alone: its failure
is logged and the next step runs. Within the rescue, each orphan has its own transaction too,
and fails alone (see `rescue`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from django.db import transaction

from .. import ledger
from ..conf import settings
from ..ledger.peer import peers
from ..states import State
from ..worker import rescue_orphan
from .wake import wake

logger = logging.getLogger("ash_oban_django")
T = TypeVar("T")

# Without row locks (SQLite) a running job cannot be told from an orphan, so an executing
# job is only rescued once it is older than this.
RESCUE_WITHOUT_LOCKS_AFTER = 3600.0


# The lease the leader holds (see `leader.py`).
LEASE = "maintenance"


def stage_due() -> dict[str, int]:
    """Make due jobs available; returns every queue with available jobs and their count."""
    return ledger.engine().stage()


def stage_and_wake() -> int:
    """Make due jobs available and wake every queue with available jobs (so a lost wake
    task delays a job, never loses it); returns how many jobs are waiting."""
    waiting = stage_due()
    if waiting:
        wake(waiting)
    return sum(waiting.values())


def run_step(name: str, step: Callable[[], T], default: T) -> tuple[T, bool]:
    """Run one step; a failure is logged and gives `default`, but a lost database connection
    is raised (it fails the whole pass, logged once per outage). Returns the result and
    whether the step succeeded."""
    try:
        return step(), True
    except Exception as error:
        if ledger.engine().connection_lost(error):
            raise  # not this step's failure: the whole pass waits for the database
        logger.exception("Maintenance step %s failed", name)
        return default, False


def rescue() -> int:
    """Rescue `executing` jobs whose worker is gone (on PostgreSQL: whose row lock is gone)
    and that were attempted more than `RESCUE_AFTER` seconds ago. Returns how many.

    Each orphan is rescued in its own transaction. One whose rescue fails is discarded with
    the failure recorded (`worker.rescue_orphan`); if even that fails, it is logged and left
    for the next pass, and the rescue goes on with the other orphans."""
    engine = ledger.engine()
    age = settings.RESCUE_AFTER
    if not engine.rescues_by_lock:
        age = max(age, RESCUE_WITHOUT_LOCKS_AFTER)
    cutoff = ledger.now() - timedelta(seconds=age)
    rescued = 0
    failed: list[int] = []  # orphans whose rescue raised: left for the next pass
    while True:
        orphan = None
        try:
            with transaction.atomic(using=engine.alias):
                orphan = engine.lock_orphan(cutoff, skip=failed)
                if orphan is None:
                    return rescued
                job = rescue_orphan(engine, orphan)
        except Exception as error:
            if orphan is None or engine.connection_lost(error):
                raise  # finding orphans failed, or the database is away: the step fails
            # `rescue_orphan` records its own failures: this one could not even be recorded.
            logger.exception("Rescue of job %s failed; it is left for the next pass", orphan.pk)
            failed.append(orphan.pk)
            continue
        if job.state == State.AVAILABLE:
            ledger.announce({job.queue: 1})
        rescued += 1


def prune(older_than: float | None = None) -> int:
    """Delete jobs finished more than `PRUNE_AFTER` seconds ago (completed `trigger_once`
    jobs stay: they keep their row from being triggered again)."""
    seconds = settings.PRUNE_AFTER if older_than is None else older_than
    return ledger.engine().prune(ledger.now() - timedelta(seconds=seconds))


def maintain() -> dict[str, int]:
    """Every step once, unless a live leader runs them: stage due jobs and wake their queues,
    rescue orphans, prune. A step that fails is logged and counted in `failed`; the next
    steps still run."""
    if peers().leader(LEASE) is not None:
        return {"waiting": 0, "rescued": 0, "pruned": 0, "failed": 0}
    results = {
        "waiting": run_step("stage", stage_and_wake, 0),
        "rescued": run_step("rescue", rescue, 0),
        "pruned": run_step("prune", prune, 0),
    }
    counts = {name: result for name, (result, _) in results.items()}
    return {**counts, "failed": sum(not ok for _, ok in results.values())}
