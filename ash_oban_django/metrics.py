"""Prometheus metrics (the `metrics` extra: `pip install ash_oban_django[metrics]`).

Mount the view in your URLconf::

    path("metrics", ash_oban_django.metrics.view)

What it serves:

- `ash_oban_jobs_total{queue, name, outcome}`: attempts finished, by the state they left the
  job in (`completed`, `retryable`, `discarded`, `cancelled`, `scheduled` for a snooze), from
  the `job_finished` signal;
- `ash_oban_job_duration_seconds{queue, name}`: how long attempts ran (`job_finished`);
- `ash_oban_job_lag_seconds{queue}`: from a job's `scheduled_at` to its attempt's start
  (`job_started`);
- `ash_oban_job_inserts_total{queue, name}` and `ash_oban_job_conflicts_total{queue, name}`:
  jobs inserted, and inserts skipped because another job held the unique key
  (`job_inserted`, and a scheduler run's counts from `scheduler_finished`, once it commits);
- `ash_oban_job_rescues_total{queue, name}`: orphans made available again (`job_rescued`);
- `ash_oban_jobs_pruned_total`: finished jobs deleted by the pruner (`jobs_pruned`);
- `ash_oban_leader_changes_total{change}`: the lead `elected`, `resigned` or `lost`
  (`leader_elected`, `leader_resigned`);
- `ash_oban_queue_jobs{queue, state}`, `ash_oban_queue_lag_seconds{queue}`,
  `ash_oban_queue_paused{queue}` and `ash_oban_leader`: read from the ledger at scrape time,
  so whichever process answers the scrape tells the truth.

The counters and histograms are fed by the signals in the processes that run jobs (the
django-q2 workers), not in the web process that answers the scrape: run both with
`prometheus_client`'s multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, one directory shared by
every process of the host, emptied at deploy) and the view aggregates them. Ledger-derived
counters were the other choice, but the ledger forgets pruned jobs, so its counts go down:
not a counter. `apps.py` connects the receivers when `prometheus_client` is installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from . import dashboard, ledger
from .dispatch.maintenance import LEASE
from .ledger.peer import peers
from .signals import (
    job_finished,
    job_inserted,
    job_rescued,
    job_started,
    jobs_pruned,
    leader_elected,
    leader_resigned,
    scheduler_finished,
)
from .states import INCOMPLETE_STATES

try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Histogram,
        generate_latest,
    )
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.multiprocess import MultiProcessCollector
except ImportError as error:  # pragma: no cover - the extra is not installed
    raise ImportError(
        "ash_oban_django.metrics needs prometheus_client: pip install 'ash_oban_django[metrics]'"
    ) from error

# Buckets in seconds, from a quick action to a long batch.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# In no registry: the view collects them (or, in multiprocess mode, their files).
JOBS = Counter(
    "ash_oban_jobs",
    "Attempts finished, by the state they left the job in.",
    ["queue", "name", "outcome"],
    registry=None,
)
DURATION = Histogram(
    "ash_oban_job_duration_seconds",
    "Seconds an attempt ran.",
    ["queue", "name"],
    buckets=DURATION_BUCKETS,
    registry=None,
)
LAG = Histogram(
    "ash_oban_job_lag_seconds",
    "Seconds from a job's scheduled_at to its attempt's start.",
    ["queue"],
    buckets=LAG_BUCKETS,
    registry=None,
)

INSERTS = Counter("ash_oban_job_inserts", "Jobs inserted.", ["queue", "name"], registry=None)
CONFLICTS = Counter(
    "ash_oban_job_conflicts",
    "Inserts skipped because another job held the unique key.",
    ["queue", "name"],
    registry=None,
)
RESCUES = Counter(
    "ash_oban_job_rescues",
    "Jobs whose worker died, made available again.",
    ["queue", "name"],
    registry=None,
)
PRUNES = Counter("ash_oban_jobs_pruned", "Finished jobs deleted by the pruner.", registry=None)
LEADER_CHANGES = Counter(
    "ash_oban_leader_changes",
    "The lead taken (elected), given up (resigned) or lost by a node.",
    ["change"],
    registry=None,
)
COUNTERS = (JOBS, INSERTS, CONFLICTS, RESCUES, PRUNES, LEADER_CHANGES)


def on_job_started(sender: Any, *, job: Any, **kwargs: Any) -> None:
    started = job.attempted_at or ledger.now()
    LAG.labels(job.queue).observe(max((started - job.scheduled_at).total_seconds(), 0.0))


def on_job_finished(sender: Any, *, job: Any, state: str, duration: float, **kwargs: Any) -> None:
    JOBS.labels(job.queue, job.name, str(state)).inc()
    DURATION.labels(job.queue, job.name).observe(max(duration, 0.0))


def on_job_inserted(sender: Any, *, job: Any, conflict: bool, **kwargs: Any) -> None:
    (CONFLICTS if conflict else INSERTS).labels(job.queue, job.name).inc()


def on_scheduler_finished(
    sender: Any,
    *,
    worker_name: str,
    queue: str,
    inserted: int,
    duplicates: int,
    **kwargs: Any,
) -> None:
    def count() -> None:
        if inserted:
            INSERTS.labels(queue, worker_name).inc(inserted)
        if duplicates:
            CONFLICTS.labels(queue, worker_name).inc(duplicates)

    # Sent inside the scheduler's transaction: counted only once its inserts commit.
    transaction.on_commit(count, using=ledger.database())


def on_job_rescued(sender: Any, *, job: Any, **kwargs: Any) -> None:
    RESCUES.labels(job.queue, job.name).inc()


def on_jobs_pruned(sender: Any, *, count: int, **kwargs: Any) -> None:
    PRUNES.inc(count)


def on_leader_elected(sender: Any, **kwargs: Any) -> None:
    LEADER_CHANGES.labels("elected").inc()


def on_leader_resigned(sender: Any, *, lost: bool, **kwargs: Any) -> None:
    LEADER_CHANGES.labels("lost" if lost else "resigned").inc()


RECEIVERS = (
    (job_started, on_job_started),
    (job_finished, on_job_finished),
    (job_inserted, on_job_inserted),
    (scheduler_finished, on_scheduler_finished),
    (job_rescued, on_job_rescued),
    (jobs_pruned, on_jobs_pruned),
    (leader_elected, on_leader_elected),
    (leader_resigned, on_leader_resigned),
)


def connect() -> None:
    """Record the signals in this process's metrics (once, whatever the calls)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"ash_oban_django.metrics.{receiver.__name__}")


class LedgerCollector:
    """Queue depth, lag, pause and the leader, read from the ledger when scraped."""

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "ash_oban_queue_jobs", "Incomplete jobs by queue and state.", labels=["queue", "state"]
        )
        lag = GaugeMetricFamily(
            "ash_oban_queue_lag_seconds",
            "Seconds the oldest available job of the queue has waited (0: none waits).",
            labels=["queue"],
        )
        paused = GaugeMetricFamily(
            "ash_oban_queue_paused", "1 while the queue is paused.", labels=["queue"]
        )
        for row in dashboard.queue_rows():
            for state in INCOMPLETE_STATES:
                jobs.add_metric([row.name, state.value], getattr(row, state.value))
            lag.add_metric([row.name], row.lag or 0.0)
            paused.add_metric([row.name], 1.0 if row.paused else 0.0)
        leader = GaugeMetricFamily(
            "ash_oban_leader", "1 while a cluster process holds the maintenance lease."
        )
        leader.add_metric([], 1.0 if peers().leader(LEASE) is not None else 0.0)
        yield from (jobs, lag, paused, leader)


class _ProcessMetrics:
    """This process's counters and histograms (outside multiprocess mode)."""

    def collect(self) -> Iterator[Metric]:
        for metric in (*COUNTERS, DURATION, LAG):
            yield from metric.collect()


def registry() -> CollectorRegistry:
    """A registry of everything the view serves, built for one scrape."""
    found = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(found)  # type: ignore[no-untyped-call]
    else:
        found.register(_ProcessMetrics())
    found.register(LedgerCollector())
    return found


def view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition of the metrics above. Mount it where your scraper can
    reach it and your users cannot (it is not behind a login)."""
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
