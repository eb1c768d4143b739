"""What a wake task does: run a queue's runnable jobs, then hand the queue on."""

from __future__ import annotations

import time

from .. import ledger
from ..conf import settings
from ..models import Job
from ..worker import perform_and_claim
from .wake import wake

# A task claims one job at a time: a job claimed but still waiting behind another would
# hold no row lock, and could look orphaned to the rescue if the one before it ran long.
CLAIM_BATCH = 1
# Seconds a task keeps claiming before it hands the queue to a fresh task: well inside
# django-q2's own task timeout, and fair to the other queues.
TASK_SECONDS = 30.0
# A task whose queue is empty waits this long for a job due soon (a short retry backoff or
# snooze) rather than leave it to the next maintenance pass.
LINGER = 5.0


def consume(queue: str) -> int:
    """Run runnable jobs of `queue` until it is empty or the batch is done, then hand the
    rest to a fresh task so other queues get their turn. Returns the jobs run."""
    engine = ledger.engine()
    ran = 0
    budget = settings.DISPATCH_BATCH
    limit = settings.queue_limit(queue)
    stop_at = time.monotonic() + TASK_SECONDS
    job: Job | None = None
    while job is not None or (ran < budget and time.monotonic() < stop_at):
        if job is None:
            claimed = engine.claim(queue, CLAIM_BATCH, max_running=limit)
            if not claimed:
                if not wait_for_due(queue):
                    return ran
                continue
            job = claimed[0]
        # While the task goes on, each completion also claims the next job, in the same
        # statement (not for limited queues, whose claims count the running jobs first).
        more = limit is None and ran + 1 < budget and time.monotonic() < stop_at
        _, job = perform_and_claim(job, claim_from=queue if more else None)
        ran += 1
    if engine.runnable(queue).exists():
        wake({queue: 1})
    return ran


def wait_for_due(queue: str) -> bool:
    """Sleep until the queue's next job is due, if that is within `LINGER` seconds."""
    soonest = ledger.engine().next_due(queue)
    if soonest is None:
        return False
    delay = (soonest - ledger.now()).total_seconds()
    if delay > LINGER:
        return False
    time.sleep(max(delay, 0))
    return True
