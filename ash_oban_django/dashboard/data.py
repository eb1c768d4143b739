"""What the admin's dashboard shows, as plain data: each queue's depth, lag and control, the
last hour's throughput per minute, the latest failures, the declarations with their next run,
and the running clusters with the leader.

Every query reads an index and a bounded set of rows, so the page stays fast with millions of
finished jobs in the ledger (`bench/dashboard.py` measures it): the queue counts read
`ash_oban_job_incomplete` (incomplete jobs only), the throughput and the failures the partial
indexes of finished jobs by their time stamp (`ash_oban_job_completed`, `_discarded`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min
from django.db.models.functions import TruncMinute
from django.utils import timezone
from django.utils.text import Truncator

from .. import ledger
from ..dispatch.maintenance import LEASE
from ..ledger.peer import peers
from ..models import Job, Peer
from ..states import INCOMPLETE_STATES, State
from ..status import DeclarationRow, declarations_table

logger = logging.getLogger("ash_oban_django")

# The chart's window, in minutes, and how many failures are listed.
MINUTES = 60
FAILURES = 10
# A node that attempted a job this recently counts as running.
NODE_SEEN_WITHIN = timedelta(minutes=5)
ERROR_HEAD = 160


@dataclass(frozen=True, slots=True)
class QueueRow:
    name: str
    available: int = 0
    scheduled: int = 0
    executing: int = 0
    retryable: int = 0
    lag: float | None = None  # seconds the oldest available job has waited
    paused: bool = False
    limit: int | None = None
    stored_limit: bool = False


@dataclass(frozen=True, slots=True)
class Throughput:
    """Jobs finished per minute over the last `MINUTES`, oldest minute first."""

    start: datetime
    completed: list[int] = field(default_factory=lambda: [0] * MINUTES)
    failed: list[int] = field(default_factory=lambda: [0] * MINUTES)

    @property
    def total_completed(self) -> int:
        return sum(self.completed)

    @property
    def total_failed(self) -> int:
        return sum(self.failed)


@dataclass(frozen=True, slots=True)
class Failure:
    job_id: int
    name: str
    queue: str
    state: str
    attempt: int
    max_attempts: int
    at: datetime | None
    error: str


@dataclass(frozen=True, slots=True)
class DeclarationStatus:
    row: DeclarationRow
    next_run: datetime | None


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str
    host: str
    status: str
    workers: int
    uptime: float


@dataclass(frozen=True, slots=True)
class Nodes:
    leader: Peer | None
    clusters: list[Cluster]
    seen: list[str]  # nodes that attempted a job in the last NODE_SEEN_WITHIN


def known_queues() -> set[str]:
    """The queues the declarations, the settings and the `Queue` rows name."""
    return set(ledger.known_queues())


def queue_rows(at: datetime | None = None) -> list[QueueRow]:
    """Every known queue and every queue with incomplete jobs, by name."""
    at = at or ledger.now()
    counts: dict[str, dict[str, int]] = {}
    oldest: dict[str, datetime] = {}
    rows = (
        ledger.jobs()
        .filter(state__in=INCOMPLETE_STATES)
        .values_list("queue", "state")
        .annotate(n=Count("id"), oldest=Min("scheduled_at"))
        .order_by()
    )
    for queue, state, n, first in rows:
        counts.setdefault(queue, {})[state] = n
        if state == State.AVAILABLE:
            oldest[queue] = first
    names = sorted(known_queues() | set(counts))
    controls = ledger.queue_controls(names)
    found = []
    for name in names:
        by_state = counts.get(name, {})
        control = controls[name]
        first = oldest.get(name)
        found.append(
            QueueRow(
                name=name,
                available=by_state.get(State.AVAILABLE, 0),
                scheduled=by_state.get(State.SCHEDULED, 0),
                executing=by_state.get(State.EXECUTING, 0),
                retryable=by_state.get(State.RETRYABLE, 0),
                lag=max((at - first).total_seconds(), 0.0) if first else None,
                paused=control.paused,
                limit=control.limit,
                stored_limit=control.stored_limit,
            )
        )
    return found


def throughput(at: datetime | None = None) -> tuple[Throughput, dict[str, Throughput]]:
    """Completed and failed jobs per minute over the last hour, overall and per queue.
    Failed: discarded jobs by their discard time, and retryable ones by their failed
    attempt's time (the attempts of jobs that later ran again are not kept apart)."""
    at = (at or ledger.now()).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = at - timedelta(minutes=MINUTES)
    overall = Throughput(start)
    per_queue: dict[str, Throughput] = {}
    series = (
        ("completed", State.COMPLETED, "completed_at"),
        ("failed", State.DISCARDED, "discarded_at"),
        ("failed", State.RETRYABLE, "attempted_at"),
    )
    for kind, state, stamp in series:
        rows = (
            ledger.jobs()
            .filter(state=state, **{f"{stamp}__gte": start})
            .annotate(minute=TruncMinute(stamp))
            .values_list("queue", "minute")
            .annotate(n=Count("id"))
            .order_by()
        )
        for queue, minute, n in rows:
            index = int((minute - start).total_seconds() // 60)
            if not 0 <= index < MINUTES:
                continue
            target = per_queue.setdefault(queue, Throughput(start))
            getattr(target, kind)[index] += n
            getattr(overall, kind)[index] += n
    return overall, dict(sorted(per_queue.items()))


def _error_head(job: Job) -> str:
    if not job.errors:
        return str(job.meta.get("cancel_reason", ""))
    text = str(job.errors[-1].get("error", "")).strip().splitlines()
    return Truncator(text[0] if text else "").chars(ERROR_HEAD)


def latest_failures(limit: int = FAILURES) -> list[Failure]:
    """The last discarded and retryable jobs, newest first."""
    fields = ("id", "name", "queue", "state", "attempt", "max_attempts", "errors", "meta")
    discarded = (
        ledger.jobs()
        .filter(state=State.DISCARDED)
        .order_by("-discarded_at")
        .only(*fields, "discarded_at")[:limit]
    )
    retryable = (
        ledger.jobs()
        .filter(state=State.RETRYABLE)
        .order_by("-attempted_at")
        .only(*fields, "attempted_at")[:limit]
    )
    found = [
        Failure(
            job.pk,
            job.name,
            job.queue,
            job.state,
            job.attempt,
            job.max_attempts,
            job.discarded_at if job.state == State.DISCARDED else job.attempted_at,
            _error_head(job),
        )
        for job in [*discarded, *retryable]
    ]
    epoch = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    return sorted(found, key=lambda f: f.at or epoch, reverse=True)[:limit]


def declarations(at: datetime | None = None) -> list[DeclarationStatus]:
    at = at or ledger.now()
    return [DeclarationStatus(row, row.next_run(at)) for row in declarations_table()]


def nodes(at: datetime | None = None) -> Nodes:
    """The leader, the clusters django-q2 reports (with a shared cache), and the nodes the
    ledger saw attempt a job lately."""
    at = at or ledger.now()
    seen = set(
        ledger.jobs()
        .filter(state=State.EXECUTING)
        .values_list("attempted_by", flat=True)
        .distinct()
    )
    seen.update(
        ledger.jobs()
        .filter(state=State.COMPLETED, completed_at__gte=at - NODE_SEEN_WITHIN)
        .values_list("attempted_by", flat=True)
        .distinct()
    )
    return Nodes(peers().leader(LEASE), running_clusters(), sorted(n for n in seen if n))


def running_clusters() -> list[Cluster]:
    """django-q2's cluster stats (they need a cache every process shares); [] when it has
    none or cannot say."""
    try:
        from django_q.status import Stat  # needs the app registry

        stats: list[Any] = list(Stat.get_all())
    except Exception:
        logger.debug("django-q2 cluster stats unavailable", exc_info=True)
        return []
    return [
        Cluster(
            name=str(getattr(stat, "cluster_id", "")),
            host=str(getattr(stat, "host", "")),
            status=str(getattr(stat, "status", "")),
            workers=len(getattr(stat, "workers", ()) or ()),
            uptime=float(stat.uptime()) if getattr(stat, "tob", None) else 0.0,
        )
        for stat in stats
    ]
