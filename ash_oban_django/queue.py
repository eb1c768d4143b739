"""The bridge to django-q2: dispatch tasks that run a queue's jobs.

The ledger is the source of truth. A dispatch task only says "queue Q has work": it claims
runnable jobs of Q and runs them, so a lost task loses nothing (the maintenance schedule
wakes every queue with waiting jobs) and a duplicated task runs nothing twice (claims are
exclusive).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.apps import apps
from django.db import connections, transaction
from django.db.models import Count

from . import ledger
from .conf import settings
from .dispatch.routing import cluster_for, cluster_workers, default_cluster
from .exceptions import JobOrphaned
from .models import Job, State
from .registry import RegisteredTrigger, registry

logger = logging.getLogger("ash_oban_django")

RUN_QUEUE = "ash_oban_django.queue.run_queue"
# A task claims one job at a time: a job claimed but still waiting behind another would
# hold no row lock, and could look orphaned to the rescue if the one before it ran long.
CLAIM_BATCH = 1
# Seconds a task keeps claiming before it hands the queue to a fresh task: well inside
# django-q2's own task timeout, and fair to the other queues.
TASK_SECONDS = 30.0
# Tasks one wake hands a cluster, per worker: enough to keep every worker of several
# clusters busy; a surplus task finds nothing to claim and ends at once.
TASKS_PER_WORKER = 4
# A task whose queue is empty waits this long for a job due soon (a short retry backoff or
# snooze) rather than leave it to the next maintenance pass.
LINGER = 5.0

_dispatch_enabled = True


def set_dispatch(enabled: bool) -> bool:
    """Turn handing work to django-q2 on or off (in-process tests); returns the old value."""
    global _dispatch_enabled
    previous, _dispatch_enabled = _dispatch_enabled, enabled
    return previous


def wake(queues: dict[str, int] | Iterable[str]) -> None:
    """Hand each queue's cluster enough tasks to run its new jobs in parallel."""
    if not _dispatch_enabled:
        return
    from django_q.tasks import async_task

    counts = queues if isinstance(queues, dict) else dict.fromkeys(queues, 1)
    for queue, jobs in sorted(counts.items()):
        cluster = cluster_for(queue)
        tasks = min(
            jobs,
            cluster_workers(cluster) * TASKS_PER_WORKER,
            settings.queue_limit(queue) or jobs,
        )
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
    from .worker import perform_and_claim

    ran = 0
    budget = settings.DISPATCH_BATCH
    limit = settings.queue_limit(queue)
    stop_at = time.monotonic() + TASK_SECONDS
    job: Job | None = None
    while job is not None or (ran < budget and time.monotonic() < stop_at):
        if job is None:
            claimed = ledger.claim(queue, CLAIM_BATCH, max_running=limit)
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
    if ledger.runnable(queue).exists():
        wake({queue: 1})
    return ran


def wait_for_due(queue: str) -> bool:
    """Sleep until the queue's next job is due, if that is within `LINGER` seconds."""
    soonest = (
        ledger.jobs()
        .filter(queue=queue, state__in=(State.SCHEDULED, State.RETRYABLE))
        .order_by("scheduled_at")
        .values_list("scheduled_at", flat=True)
        .first()
    )
    if soonest is None:
        return False
    delay = (soonest - ledger.now()).total_seconds()
    if delay > LINGER:
        return False
    time.sleep(max(delay, 0))
    return True


# -- maintenance ------------------------------------------------------------------------------

# Without row locks (SQLite) a running job cannot be told from an orphan, so an executing
# job is only rescued once it is older than this.
RESCUE_WITHOUT_LOCKS_AFTER = 3600.0


def stage_due() -> dict[str, int]:
    """Make due `scheduled`/`retryable` jobs `available`; returns every queue with runnable
    jobs and their count, to be woken (so a lost dispatch task delays a job, never loses it)."""
    ledger.jobs().filter(
        state__in=(State.SCHEDULED, State.RETRYABLE), scheduled_at__lte=ledger.now()
    ).update(state=State.AVAILABLE)
    waiting = ledger.jobs().filter(state=State.AVAILABLE)
    return dict(waiting.values_list("queue").annotate(n=Count("id")).order_by())


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
    return {"waiting": sum(woken.values()), "rescued": rescued, "pruned": pruned}


# -- cron: one django-q2 Schedule per scheduler and scheduled action -----------------------------

CRON_TICK = "ash_oban_django.queue.cron_tick"
MAINTAIN = "ash_oban_django.queue.maintain"
MAINTENANCE_NAME = "ash_oban_django:maintenance"


def cron_tick(stable_name: str) -> None:
    """The function of every cron row: insert the scheduler or scheduled-action job.

    It never raises: a failing schedule function would only add noise to django-q2, and
    the job it inserts is unique, so a tick fired twice adds nothing.
    """
    try:
        found = registry.by_stable_name(stable_name)
        if found is None:
            logger.warning(
                "Cron tick for %r, which no declaration has; run "
                "`manage.py ash_oban_sync` to remove its schedule.",
                stable_name,
            )
            return
        entry, _ = found
        if entry.state != "active":
            return
        from .api import schedule_entry

        schedule_entry(entry)
    except Exception:
        logger.exception("Cron tick for %r failed", stable_name)


@dataclass(frozen=True, slots=True)
class SyncReport:
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def desired_schedules() -> dict[str, dict[str, Any]]:
    """The cron rows the declarations call for, by stable name (the row's `name`)."""
    from django_q.models import Schedule

    rows: dict[str, dict[str, Any]] = {}
    for entry in registry.entries():
        if entry.state == "deleted" or entry.cron is None:
            continue
        if isinstance(entry, RegisteredTrigger):
            name, queue = entry.scheduler_name, entry.scheduler_queue
        else:
            name, queue = entry.worker_name, entry.queue
        rows[name] = {
            "func": CRON_TICK,
            "args": repr(name),
            "cron": entry.cron,
            "schedule_type": Schedule.CRON,
            "cluster": cluster_for(queue),
            "repeats": -1 if entry.state == "active" else 0,
        }
    default = default_cluster()
    rows[MAINTENANCE_NAME] = {
        "func": MAINTAIN,
        "args": None,
        "cron": "* * * * *",
        "schedule_type": Schedule.CRON,
        "cluster": default,
        "repeats": -1,
    }
    return rows


def sync_schedules(*, dry_run: bool = False) -> SyncReport:
    """Make the django-q2 cron rows match the declarations: create, update, delete.

    Idempotent, and safe from several processes at once: on PostgreSQL the sync holds an
    advisory lock; elsewhere duplicate rows left by a race are removed by the next sync.
    """
    from django_q.models import Schedule

    using = ledger.database()
    connection = connections[using]
    desired = desired_schedules()
    created, updated, deleted = [], [], []
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql" and not dry_run:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('ash_oban_django:sync'))")
        ours = Schedule.objects.using(using).filter(func__in=(CRON_TICK, MAINTAIN)).order_by("id")
        seen: set[str] = set()
        for row in ours:
            wanted = desired.get(row.name or "")
            if wanted is None or row.name in seen:
                deleted.append(row.name or f"#{row.pk}")
                if not dry_run:
                    row.delete()
                continue
            seen.add(row.name or "")
            changes = {k: v for k, v in wanted.items() if getattr(row, k) != v}
            if changes:
                updated.append(row.name or "")
                if not dry_run:
                    for key, value in changes.items():
                        setattr(row, key, value)
                    # A new cron (or an un-paused row) counts from now, not from the old tick.
                    row.next_run = row.calculate_next_run()
                    row.save(using=using)
        for name, wanted in desired.items():
            if name not in seen:
                created.append(name)
                if not dry_run:
                    Schedule(name=name, **wanted).save(using=using)
    return SyncReport(tuple(created), tuple(updated), tuple(deleted))


def sync_on_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """`post_migrate` receiver: keep the cron rows in step with the code after a migrate."""
    if using != ledger.database() or not apps.is_installed("django_q"):
        return
    report = sync_schedules()
    if report.changed:
        logger.info(
            "Cron schedules synced: %s created, %s updated, %s deleted",
            len(report.created),
            len(report.updated),
            len(report.deleted),
        )
