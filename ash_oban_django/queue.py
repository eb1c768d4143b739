"""The bridge to django-q2: dispatch tasks that run a queue's jobs.

The ledger is the source of truth. A dispatch task only says "queue Q has work": it claims
runnable jobs of Q and runs them, so a lost task loses nothing (the maintenance schedule
wakes queues with due jobs) and a duplicated task runs nothing twice (claims are exclusive).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import timedelta
from functools import partial

from django.conf import settings as django_settings
from django.db import connections, transaction
from django.db.models import Count

from . import ledger
from .conf import settings
from .exceptions import JobOrphaned
from .models import State
from .registry import registry

logger = logging.getLogger("ash_oban_django")

RUN_QUEUE = "ash_oban_django.queue.run_queue"
# Jobs claimed by one statement: amortises the claim without holding many jobs idle.
CLAIM_BATCH = 10

_dispatch_enabled = True


def set_dispatch(enabled: bool) -> bool:
    """Turn handing work to django-q2 on or off (in-process tests); returns the old value."""
    global _dispatch_enabled
    previous, _dispatch_enabled = _dispatch_enabled, enabled
    return previous


def cluster_for(queue: str) -> str:
    """The django-q2 cluster serving `queue`: `ASH_OBAN["QUEUES"]`, else the default one."""
    default = (getattr(django_settings, "Q_CLUSTER", None) or {}).get("name", "default")
    return settings.queue_cluster(queue) or default


def cluster_workers(cluster: str) -> int:
    q_cluster = getattr(django_settings, "Q_CLUSTER", None) or {}
    config = (
        q_cluster
        if cluster == q_cluster.get("name", "default")
        else (q_cluster.get("ALT_CLUSTERS", {}).get(cluster, {}))
    )
    return int(config.get("workers") or q_cluster.get("workers") or os.cpu_count() or 1)


def wake(queues: dict[str, int] | Iterable[str]) -> None:
    """Hand each queue's cluster enough tasks to run its new jobs in parallel."""
    if not _dispatch_enabled:
        return
    from django_q.tasks import async_task

    counts = queues if isinstance(queues, dict) else dict.fromkeys(queues, 1)
    for queue, jobs in sorted(counts.items()):
        cluster = cluster_for(queue)
        tasks = min(jobs, cluster_workers(cluster), settings.queue_limit(queue) or jobs)
        for _ in range(max(tasks, 1)):
            async_task(
                RUN_QUEUE,
                queue,
                q_options={
                    "cluster": cluster,
                    "task_name": f"ash_oban:{queue}"[:100],
                    "save": False,
                    "ack_failure": True,
                },
            )


def run_queue(queue: str) -> int:
    """The django-q2 task: run runnable jobs of `queue` until it is empty or the batch is
    done, then hand the rest to a fresh task so other queues get their turn."""
    from .worker import perform

    ran = 0
    budget = settings.DISPATCH_BATCH
    while ran < budget:
        claimed = ledger.claim(
            queue, min(CLAIM_BATCH, budget - ran), max_running=settings.queue_limit(queue)
        )
        if not claimed:
            return ran
        for job in claimed:
            perform(job)
            ran += 1
    if ledger.runnable(queue).exists():
        wake({queue: 1})
    return ran


# -- maintenance ------------------------------------------------------------------------------

# Without row locks (SQLite) a running job cannot be told from an orphan, so an executing
# job is only rescued once it is older than this.
RESCUE_WITHOUT_LOCKS_AFTER = 3600.0


def stage_due() -> dict[str, int]:
    """Make due `scheduled`/`retryable` jobs `available`; returns the queues woken."""
    due = ledger.jobs().filter(
        state__in=(State.SCHEDULED, State.RETRYABLE), scheduled_at__lte=ledger.now()
    )
    queues: dict[str, int] = {}
    for queue, count in due.values_list("queue").annotate(n=Count("id")).order_by():
        queues[queue] = count
    due.update(state=State.AVAILABLE)
    return queues


def rescue() -> int:
    """Rescue `executing` jobs whose worker is gone.

    On PostgreSQL a live attempt holds its job row's lock (see `worker.perform`), so a row
    that `SKIP LOCKED` can take, older than `RESCUE_AFTER`, is an orphan. It goes back to
    `available`, or through the final-failure path (on_error) when no attempts are left.
    """
    from .worker import Attempt

    using = ledger.database()
    locks = connections[using].features.has_select_for_update_skip_locked
    age = settings.RESCUE_AFTER if locks else max(settings.RESCUE_AFTER, RESCUE_WITHOUT_LOCKS_AFTER)
    cutoff = ledger.now() - timedelta(seconds=age)
    rescued = 0
    while True:
        with transaction.atomic(using=using):
            orphans = ledger.jobs().filter(state=State.EXECUTING, attempted_at__lt=cutoff)
            if locks:
                orphans = orphans.select_for_update(skip_locked=True)
            job = orphans.order_by("id").first()
            if job is None:
                return rescued
            error = JobOrphaned(
                f"the worker running attempt {job.attempt} "
                f"({job.attempted_by or 'unknown'}) died; the job was rescued"
            )
            logger.warning("Rescuing job %s (%s): %s", job.pk, job.name, error)
            found = registry.by_stable_name(job.name)
            if job.attempt < job.max_attempts:
                ledger.record(job, State.AVAILABLE, errors=[error])
            elif found is None:
                ledger.record(job, State.DISCARDED, errors=[error])
            else:
                Attempt(job, *found).fail_finally(error)
            transaction.on_commit(partial(wake, {job.queue: 1}), using=using)
            rescued += 1


def prune(older_than: float | None = None) -> int:
    """Delete jobs finished more than `PRUNE_AFTER` seconds ago.

    Completed `trigger_once` jobs stay: they are what keeps their row from being triggered
    again.
    """
    seconds = settings.PRUNE_AFTER if older_than is None else older_than
    cutoff = ledger.now() + timedelta(seconds=-seconds)
    finished = (
        ledger.jobs()
        .filter(ledger.q_finished_before(cutoff))
        .exclude(state=State.COMPLETED, once=True)
    )
    deleted, _ = finished.delete()
    return deleted


def maintain() -> dict[str, int]:
    """The maintenance task (every minute): stage due jobs, rescue orphans, prune."""
    woken = stage_due()
    rescued = rescue()
    pruned = prune()
    if woken:
        wake(woken)
    return {"staged": sum(woken.values()), "rescued": rescued, "pruned": pruned}
