"""The bridge to django-q2: dispatch tasks that run a queue's jobs.

The ledger is the source of truth. A dispatch task only says "queue Q has work": it claims
runnable jobs of Q and runs them, so a lost task loses nothing (the maintenance schedule
wakes queues with due jobs) and a duplicated task runs nothing twice (claims are exclusive).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from django.conf import settings as django_settings

from . import ledger
from .conf import settings

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
    config = q_cluster if cluster == q_cluster.get("name", "default") else (
        q_cluster.get("ALT_CLUSTERS", {}).get(cluster, {}))
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
            async_task(RUN_QUEUE, queue, q_options={
                "cluster": cluster, "task_name": f"ash_oban:{queue}"[:100], "save": False,
                "ack_failure": True,
            })


def run_queue(queue: str) -> int:
    """The django-q2 task: run runnable jobs of `queue` until it is empty or the batch is
    done, then hand the rest to a fresh task so other queues get their turn."""
    from .worker import perform

    ran = 0
    budget = settings.DISPATCH_BATCH
    while ran < budget:
        claimed = ledger.claim(queue, min(CLAIM_BATCH, budget - ran),
                               max_running=settings.queue_limit(queue))
        if not claimed:
            return ran
        for job in claimed:
            perform(job)
            ran += 1
    if ledger.runnable(queue).exists():
        wake({queue: 1})
    return ran
