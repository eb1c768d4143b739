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

from django.http import HttpRequest, HttpResponse

from . import dashboard, ledger
from .dispatch.maintenance import LEASE
from .ledger.peer import peers
from .signals import job_finished, job_started
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


def on_job_started(sender: Any, *, job: Any, **kwargs: Any) -> None:
    started = job.attempted_at or ledger.now()
    LAG.labels(job.queue).observe(max((started - job.scheduled_at).total_seconds(), 0.0))


def on_job_finished(sender: Any, *, job: Any, state: str, duration: float, **kwargs: Any) -> None:
    JOBS.labels(job.queue, job.name, str(state)).inc()
    DURATION.labels(job.queue, job.name).observe(max(duration, 0.0))


def connect() -> None:
    """Record the signals in this process's metrics (once, whatever the calls)."""
    job_started.connect(on_job_started, dispatch_uid="ash_oban_django.metrics.started")
    job_finished.connect(on_job_finished, dispatch_uid="ash_oban_django.metrics.finished")


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
        for metric in (JOBS, DURATION, LAG):
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
