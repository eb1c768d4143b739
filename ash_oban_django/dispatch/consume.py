"""What a wake task does: run a queue's runnable jobs, then hand the queue on.

A task serves one queue, but it does not let another queue of its cluster starve: every
`STARVING_CHECK` seconds it looks for a job of another queue that has waited longer than
`STARVING_AFTER`, and runs that one first. So a job on an idle queue starts within about a
second even while every worker is busy with another queue's backlog, and wake tasks never
need to pile up behind that backlog (see `wake.TASKS_PER_WORKER`).
"""

from __future__ import annotations

import time
from datetime import timedelta

from .. import ledger
from ..conf import settings
from ..ledger import Backend
from ..models import Job
from ..worker import chunks_of, perform, perform_and_claim, perform_chunk
from .routing import cluster_for, cluster_timeout
from .stopping import stopping
from .wake import wake

# Seconds a task keeps claiming before it hands the queue to a fresh task: well inside
# django-q2's own task timeout.
TASK_SECONDS = 30.0
# A runnable job of another queue that has waited this long is starving; a busy task looks
# for one every STARVING_CHECK seconds.
STARVING_AFTER = 0.25
STARVING_CHECK = 0.25


def consume(queue: str) -> int:
    """Run runnable jobs of `queue` until it is empty or the batch is done, then hand the
    rest to a fresh task. Returns the jobs run."""
    engine = ledger.engine()
    cluster = cluster_for(queue)
    # What bounds, on the database, an attempt whose declaration has no timeout.
    default_timeout = cluster_timeout(cluster)
    ran = 0
    # What the task may still run: a job, or a whole chunk, spends one.
    budget = settings.DISPATCH_BATCH
    limit = ledger.queue_limit(queue)
    stop_at = time.monotonic() + TASK_SECONDS
    check_at = time.monotonic() + STARVING_CHECK
    job: Job | None = None
    while job is not None or (budget > 0 and time.monotonic() < stop_at and not stopping()):
        if job is None:
            if time.monotonic() >= check_at:
                starved = run_starving(engine, queue, cluster)
                ran, budget = ran + starved, budget - starved
                check_at = time.monotonic() + STARVING_CHECK
            # One job at a time: a job claimed but still waiting behind another would hold
            # no row lock, and could look orphaned to the rescue if the one before it ran long.
            job = engine.claim_one(queue, max_running=limit)
            if job is None:
                return ran
        if chunks_of(job) is not None:
            # A chunked trigger's job gathers the rest of its chunk and runs with it.
            ran += len(perform_chunk(job))
            budget -= 1
            job = None
            continue
        # While the task goes on, each completion also claims the next job, in the same
        # statement (not for limited queues, whose claims count the running jobs first, nor
        # when starving queues are due a look: a claimed job is never held, unlocked, while
        # another runs or while anything else may fail).
        until = min(stop_at, check_at)
        more = limit is None and budget > 1 and time.monotonic() < until
        more = more and not stopping()  # a stopping cluster finishes its job, claims no more
        claim_from = queue if more else None
        job = perform_and_claim(job, claim_from, default_timeout=default_timeout).claimed
        ran, budget = ran + 1, budget - 1
    if ledger.runnable(queue).exists():
        wake({queue: 1})  # a fresh task, on a cluster that is not stopping
    return ran


def run_starving(engine: Backend, serving: str, cluster: str) -> int:
    """Run the oldest starving job of another queue of `cluster`, if there is one; returns
    how many jobs ran (0 or 1)."""
    waited = ledger.now() - timedelta(seconds=STARVING_AFTER)
    candidates = (
        ledger.runnable()
        .exclude(queue=serving)
        .filter(scheduled_at__lte=waited)
        .order_by("scheduled_at")
        .values_list("queue", flat=True)[:10]
    )
    for queue in dict.fromkeys(candidates):
        if cluster_for(queue) != cluster:
            continue
        job = engine.claim_one(queue, max_running=ledger.queue_limit(queue))
        if job is not None:
            perform(job, default_timeout=cluster_timeout(cluster))
            return 1
    return 0
