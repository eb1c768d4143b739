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

from ash_oban_django import (
    Trigger,
    ledger,
    pause_queue,
    register,
    run_trigger,
    schedule_and_run_triggers,
)
from ash_oban_django.dispatch.leader import Leader
from ash_oban_django.dispatch.maintenance import prune, rescue
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


@pytest.mark.django_db(transaction=True)
def test_metrics__insert_rescue_prune_and_leader_counters_match_the_ledger(ash_oban: Any) -> None:
    triggers = [
        Trigger("finish", where=Q(done=False), scheduler_cron="* * * * *", queue="metrics_ok"),
        Trigger("again", action="finish", scheduler_cron=None, queue="metrics_re", max_attempts=2),
    ]
    with register(Widget, triggers=triggers):
        before = scrape()
        widgets = [Widget.objects.create() for _ in range(5)]
        run_trigger(widgets[0], "finish")
        assert run_trigger(widgets[0], "finish").conflict  # a conflict of the API
        run_trigger(widgets[1], "finish")
        # The scheduler matches the five rows; two already have a job: two conflicts.
        schedule_and_run_triggers((Widget, "finish"), drain_queues=True)
        inserted_rows = {
            (("name", name), ("queue", queue)): float(n)
            for queue, name, n in Job.objects.values_list("queue", "name")
            .annotate(n=Count("id"))
            .order_by()
        }
        after = scrape()
        inserts = counted(
            before.get("ash_oban_job_inserts_total", {}), after["ash_oban_job_inserts_total"]
        )
        assert inserts == inserted_rows
        assert sum(inserts.values()) == 1 + 5  # the scheduler job and one job per row
        conflicts = counted(
            before.get("ash_oban_job_conflicts_total", {}), after["ash_oban_job_conflicts_total"]
        )
        assert conflicts == {(("name", "testapp.Widget:finish"), ("queue", "metrics_ok")): 3.0}

        # A rescue: an orphan with an attempt left is available again.
        orphan = run_trigger(widgets[2], "again")
        (claimed,) = ledger.engine().claim("metrics_re", 1)
        Job.objects.filter(pk=claimed.pk).update(attempted_at=ledger.now() - timedelta(hours=2))
        assert rescue() == 1
        rescued = Job.objects.filter(
            state="available", errors__0__error__startswith="JobOrphaned"
        ).values_list("pk", flat=True)
        assert list(rescued) == [orphan.pk]
        after_rescue = scrape()
        assert counted(
            after.get("ash_oban_job_rescues_total", {}), after_rescue["ash_oban_job_rescues_total"]
        ) == {(("name", "testapp.Widget:again"), ("queue", "metrics_re")): 1.0}

        # A prune: every finished job, finished long enough ago.
        Job.objects.filter(state="completed").update(completed_at=ledger.now() - timedelta(days=2))
        rows_before = Job.objects.count()
        assert prune() > 0
        pruned = rows_before - Job.objects.count()
        after_prune = scrape()
        assert pruned == 6
        assert counted(
            after_rescue.get("ash_oban_jobs_pruned_total", {}),
            after_prune["ash_oban_jobs_pruned_total"],
        ) == {(): float(pruned)}

        # The lead taken and given up.
        leader = Leader("metrics:1")
        assert leader.tick() is True
        leader.resign()
        changes = counted(
            after_prune.get("ash_oban_leader_changes_total", {}),
            scrape()["ash_oban_leader_changes_total"],
        )
        assert changes == {(("change", "elected"),): 1.0, (("change", "resigned"),): 1.0}
