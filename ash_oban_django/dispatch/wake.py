"""Waking queues: handing django-q2 the tasks that will run a queue's jobs.

A wake task only says "queue Q has work": it claims runnable jobs of Q and runs them (see
`consume`), so a lost task loses nothing (maintenance wakes every queue with waiting jobs)
and a duplicated one runs nothing twice (claims are exclusive). Wakes follow the ledger's
`jobs_available` announcements, which `apps.py` connects to `on_jobs_available`.
"""

from __future__ import annotations

import logging
from typing import Any

from .routing import cluster_for, cluster_workers

logger = logging.getLogger("ash_oban_django")

# The dotted path django-q2 stores for every wake task (see `tasks.py`).
RUN_QUEUE = "ash_oban_django.dispatch.tasks.run_queue"
# Wake tasks a cluster's broker may hold waiting, per worker of the cluster: enough to keep
# every worker busy, few enough that wakes never pile up behind a backlog (a busy task takes
# over a starving queue's jobs instead; see `consume`).
TASKS_PER_WORKER = 2

_dispatch_enabled = True


def set_dispatch(enabled: bool) -> bool:
    """Turn handing work to django-q2 on or off (in-process tests); returns the old value."""
    global _dispatch_enabled
    previous, _dispatch_enabled = _dispatch_enabled, enabled
    return previous


def wake(queues: dict[str, int]) -> None:
    """Hand each queue's cluster tasks to run its new jobs in parallel, as many as the jobs,
    while the cluster's broker holds fewer than `TASKS_PER_WORKER` waiting tasks per worker.
    A paused queue is not woken; a limited one gets at most its limit's tasks."""
    if not _dispatch_enabled:
        return
    # These need the app registry (the test helpers import this module before it is ready):
    # imported on first use.
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    from .. import ledger
    from ..worker.inline import mode as testing_mode

    if testing_mode() is not None:
        return  # the test helpers run the jobs (see worker/inline.py)

    controls = ledger.queue_controls(queues)
    by_cluster: dict[str, list[tuple[str, int]]] = {}
    for queue, jobs in sorted(queues.items()):
        if controls[queue].paused:
            continue
        by_cluster.setdefault(cluster_for(queue), []).append((queue, jobs))
    for cluster, wanted in by_cluster.items():
        broker = get_broker(cluster)
        room = cluster_workers(cluster) * TASKS_PER_WORKER - broker.queue_size()
        for queue, jobs in wanted:
            tasks = min(jobs, room, controls[queue].limit or jobs)
            for _ in range(tasks):
                async_task(
                    RUN_QUEUE,
                    queue,
                    q_options={
                        "broker": broker,
                        "cluster": cluster,
                        "task_name": f"ash_oban:{queue}"[:100],
                        "save": False,
                        "ack_failure": True,
                    },
                )
            room -= max(tasks, 0)


def on_jobs_available(sender: Any, *, queues: dict[str, int], **kwargs: Any) -> None:
    """`ledger.jobs_available` receiver. The jobs are committed by now: a broker that cannot
    take the tasks only delays them (maintenance wakes every queue with waiting jobs), so
    the failure is logged, never raised into the code that inserted the jobs."""
    try:
        wake(queues)
    except Exception:
        logger.warning(
            "Could not hand %s to django-q2; the jobs are in the ledger and the next "
            "maintenance pass wakes their queues.",
            ", ".join(f"queue {queue!r}" for queue in sorted(queues)),
            exc_info=True,
        )
