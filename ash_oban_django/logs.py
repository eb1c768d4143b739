"""Log lines of the lifecycle, one per event, fed by the signals (`signals.py`).

One logger per concern, so each can be routed and levelled on its own:

- `ash_oban_django.jobs`: a job inserted or not (conflict), started, finished, cancelled,
  rescued, discarded;
- `ash_oban_django.maintenance`: jobs staged, jobs pruned;
- `ash_oban_django.leader`: the lead taken, given up or lost;
- `ash_oban_django.queues`: a queue paused, resumed or scaled.

Every line carries its facts as `extra` fields, so a JSON formatter gets them as keys:
`event` (the signal's name) always; for a job `job_id`, `job_name`, `queue`, `attempt` and
`state`; for the others what the signal says (`count`, `node`, `change`, `by`, ...). Text that
comes from users' code (a cancel's reason, an error) is bounded like a stored error.

`apps.py` connects the receivers in every process, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

from .ledger.rows import ERROR_MESSAGE_LIMIT, describe, storable
from .models import Job
from .signals import (
    job_cancelled,
    job_discarded,
    job_finished,
    job_inserted,
    job_rescued,
    job_started,
    jobs_pruned,
    jobs_staged,
    leader_elected,
    leader_resigned,
    queue_changed,
)

jobs_logger = logging.getLogger("ash_oban_django.jobs")
maintenance_logger = logging.getLogger("ash_oban_django.maintenance")
leader_logger = logging.getLogger("ash_oban_django.leader")
queues_logger = logging.getLogger("ash_oban_django.queues")


def bounded(text: Any) -> str:
    """`text` as a log line may carry it: storable, and no longer than a stored error."""
    return storable(str(text), ERROR_MESSAGE_LIMIT)


def job_fields(event: str, job: Job) -> dict[str, Any]:
    """The `extra` fields of a job's log line."""
    return {
        "event": event,
        "job_id": job.pk,
        "job_name": job.name,
        "queue": job.queue,
        "attempt": job.attempt,
        "state": str(job.state),
    }


def last_error(job: Job) -> str:
    """The message of the job's last recorded error, bounded; "" when there is none."""
    errors = job.errors or []
    return bounded(errors[-1].get("error", "")) if errors else ""


def on_job_inserted(sender: Any, *, job: Job, conflict: bool, **kwargs: Any) -> None:
    if conflict:
        jobs_logger.debug(
            "Job %s not inserted: another job holds its unique key",
            job.name,
            extra={**job_fields("job_inserted", job), "conflict": True},
        )
    else:
        jobs_logger.debug(
            "Job %s (%s) inserted in queue %s",
            job.pk,
            job.name,
            job.queue,
            extra={**job_fields("job_inserted", job), "conflict": False},
        )


def on_job_started(sender: Any, *, job: Job, **kwargs: Any) -> None:
    # Sent for every attempt: its fields are built only when the line is logged.
    if not jobs_logger.isEnabledFor(logging.DEBUG):
        return
    jobs_logger.debug(
        "Job %s (%s) attempt %s started",
        job.pk,
        job.name,
        job.attempt,
        extra=job_fields("job_started", job),
    )


def on_job_finished(
    sender: Any, *, job: Job, state: str, duration: float, error: Any = None, **kwargs: Any
) -> None:
    if not jobs_logger.isEnabledFor(logging.DEBUG):
        return
    jobs_logger.debug(
        "Job %s (%s) attempt %s left it %s after %.3f s",
        job.pk,
        job.name,
        job.attempt,
        state,
        duration,
        extra={
            **job_fields("job_finished", job),
            "duration": duration,
            "error": None if error is None else bounded(describe(error)),
        },
    )


def on_job_cancelled(sender: Any, *, job: Job, reason: str, **kwargs: Any) -> None:
    why = bounded(reason)
    jobs_logger.info(
        "Job %s (%s) cancelled: %s",
        job.pk,
        job.name,
        why,
        extra={**job_fields("job_cancelled", job), "reason": why},
    )


def on_job_rescued(sender: Any, *, job: Job, **kwargs: Any) -> None:
    error = last_error(job)
    jobs_logger.warning(
        "Job %s (%s) rescued: %s",
        job.pk,
        job.name,
        error,
        extra={**job_fields("job_rescued", job), "error": error},
    )


def on_job_discarded(sender: Any, *, job: Job, **kwargs: Any) -> None:
    error = last_error(job)
    jobs_logger.warning(
        "Job %s (%s) discarded after attempt %s: %s",
        job.pk,
        job.name,
        job.attempt,
        error,
        extra={**job_fields("job_discarded", job), "error": error},
    )


def on_jobs_staged(sender: Any, *, count: int, queues: dict[str, int], **kwargs: Any) -> None:
    maintenance_logger.debug(
        "%s due jobs made available", count, extra={"event": "jobs_staged", "count": count}
    )


def on_jobs_pruned(sender: Any, *, count: int, **kwargs: Any) -> None:
    maintenance_logger.info(
        "%s finished jobs pruned", count, extra={"event": "jobs_pruned", "count": count}
    )


def on_leader_elected(sender: Any, *, name: str, node: str, **kwargs: Any) -> None:
    leader_logger.info(
        "%s takes the lead %s",
        node,
        name,
        extra={"event": "leader_elected", "lead": name, "node": node},
    )


def on_leader_resigned(sender: Any, *, name: str, node: str, lost: bool, **kwargs: Any) -> None:
    # Info even when lost: an outage is logged once by the leader itself (`ledger.outage`).
    leader_logger.info(
        "%s %s the lead %s",
        node,
        "loses" if lost else "resigns",
        name,
        extra={"event": "leader_resigned", "lead": name, "node": node, "lost": lost},
    )


def on_queue_changed(
    sender: Any,
    *,
    queue: str,
    change: str,
    paused: bool,
    limit: int | None,
    by: Any = None,
    **kwargs: Any,
) -> None:
    who = None if by is None else bounded(by)
    queues_logger.info(
        "Queue %s %s%s",
        queue,
        change,
        "" if who is None else f" by {who}",
        extra={
            "event": "queue_changed",
            "queue": queue,
            "change": change,
            "paused": paused,
            "limit": limit,
            "by": who,
        },
    )


RECEIVERS: dict[Signal, Callable[..., None]] = {
    job_inserted: on_job_inserted,
    job_started: on_job_started,
    job_finished: on_job_finished,
    job_cancelled: on_job_cancelled,
    job_rescued: on_job_rescued,
    job_discarded: on_job_discarded,
    jobs_staged: on_jobs_staged,
    jobs_pruned: on_jobs_pruned,
    leader_elected: on_leader_elected,
    leader_resigned: on_leader_resigned,
    queue_changed: on_queue_changed,
}


def connect() -> None:
    """Log the lifecycle's signals in this process (once, whatever the calls)."""
    for signal, receiver in RECEIVERS.items():
        signal.connect(receiver, dispatch_uid=f"ash_oban_django.logs.{receiver.__name__}")
