"""The Prometheus view (docs/operations.md): valid text exposition; counters that match the
ledger after a run; gauges read from the ledger at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Count, Q
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from ash_oban_django import Trigger, ledger, pause_queue, register, run_trigger
from ash_oban_django.models import Job, Peer
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


def scrape() -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def counted(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


@pytest.fixture
def declared(ash_oban: Any) -> Iterator[None]:
    with register(
        Widget,
        triggers=[
            Trigger("finish", where=Q(done=False), scheduler_cron=None, queue="metrics_ok"),
            # mark_errored needs `error=`: called as an action, it raises.
            Trigger("fail", action="mark_errored", scheduler_cron=None, queue="metrics_bad"),
        ],
    ):
        yield


def test_metrics__counters_and_histograms_match_the_ledger_after_a_run(
    declared: None, ash_oban: Any
) -> None:
    before = scrape()
    widgets = [Widget.objects.create() for _ in range(3)]
    for widget in widgets:
        run_trigger(widget, "finish")
    for widget in widgets[:2]:
        run_trigger(widget, "fail")
    ash_oban.drain_queues()
    after = scrape()

    ledger_counts = {
        (("name", name), ("outcome", state), ("queue", queue)): float(n)
        for queue, name, state, n in Job.objects.values_list("queue", "name", "state")
        .annotate(n=Count("id"))
        .order_by()
    }
    jobs = counted(before.get("ash_oban_jobs_total", {}), after["ash_oban_jobs_total"])
    assert jobs == ledger_counts
    assert ledger_counts == {
        (("name", "testapp.Widget:finish"), ("outcome", "completed"), ("queue", "metrics_ok")): 3.0,
        (("name", "testapp.Widget:fail"), ("outcome", "discarded"), ("queue", "metrics_bad")): 2.0,
    }
    durations = counted(
        before.get("ash_oban_job_duration_seconds_count", {}),
        after["ash_oban_job_duration_seconds_count"],
    )
    assert sum(durations.values()) == 5
    lags = counted(
        before.get("ash_oban_job_lag_seconds_count", {}), after["ash_oban_job_lag_seconds_count"]
    )
    assert lags == {(("queue", "metrics_ok"),): 3.0, (("queue", "metrics_bad"),): 2.0}


def test_metrics__gauges_are_read_from_the_ledger(declared: None) -> None:
    widget = Widget.objects.create()
    job = run_trigger(widget, "finish")
    Job.objects.filter(pk=job.pk).update(scheduled_at=ledger.now() - timedelta(seconds=30))
    pause_queue("metrics_ok")
    samples = scrape()
    jobs = samples["ash_oban_queue_jobs"]
    assert jobs[(("queue", "metrics_ok"), ("state", "available"))] == 1
    assert jobs[(("queue", "metrics_ok"), ("state", "executing"))] == 0
    assert 29 < samples["ash_oban_queue_lag_seconds"][(("queue", "metrics_ok"),)] < 60
    assert samples["ash_oban_queue_paused"][(("queue", "metrics_ok"),)] == 1
    assert samples["ash_oban_queue_paused"][(("queue", "metrics_bad"),)] == 0
    assert samples["ash_oban_leader"] == {(): 0.0}
    at = ledger.now()
    Peer.objects.create(
        name="maintenance", node="n:1", started_at=at, expires_at=at + timedelta(seconds=9)
    )
    assert scrape()["ash_oban_leader"] == {(): 1.0}


def test_metrics__multiprocess_mode_aggregates_the_files(
    declared: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In multiprocess mode the view reads what every process wrote to the directory; this
    # process wrote nothing there, so only the ledger's gauges are served.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = scrape()
    assert "ash_oban_jobs_total" not in samples
    assert "ash_oban_queue_jobs" in samples
