"""End to end: jobs run in real django-q2 clusters (docs/operations.md), on databases with
row locks (PostgreSQL, MariaDB, MySQL)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from ash_oban_django import run_trigger, run_triggers, schedule
from ash_oban_django.dispatch.cron import sync_schedules
from ash_oban_django.dispatch.maintenance import rescue
from ash_oban_django.models import Job
from tests.e2e.conftest import Cluster, wait_until
from tests.e2eapp.models import Audit, Ticket

pytestmark = [pytest.mark.row_locks, pytest.mark.slow]

SCHEDULER = "e2eapp.Ticket:handle:scheduler"


def all_processed() -> bool:
    return not Ticket.objects.filter(processed=False).exists()


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_cron_processes_every_matching_row_then_run_trigger_within_seconds(
    start_cluster: Callable[..., Cluster], broker: str
) -> None:
    Ticket.objects.bulk_create([Ticket() for _ in range(25)])
    sync_schedules()
    # On Redis, a cluster name of its own is a key prefix of its own: another suite's cluster
    # on the same Redis never takes this one's tasks.
    isolated = {"Q_CLUSTER_NAME": f"e2e-{uuid.uuid4().hex}"} if broker == "redis" else {}
    cluster = start_cluster(Q_BROKER=broker, **isolated)
    # The leader fires the minute's slot as it takes the lead.
    wait_until(all_processed, 30, "the cron to process every ticket", [cluster])
    assert set(Ticket.objects.values_list("calls", flat=True)) == {1}
    slots = Counter(Job.objects.filter(name=SCHEDULER).values_list("args__cron_slot", flat=True))
    assert slots and set(slots.values()) == {1}, slots  # one scheduler job per cron slot
    if broker == "redis":
        return  # this process hands tasks to the ORM broker; the cluster above used Redis
    ticket = Ticket.objects.create()
    run_trigger(ticket, "handle")
    took = wait_until(
        lambda: Ticket.objects.get(pk=ticket.pk).processed, 10, "run_trigger's job", [cluster]
    )
    assert took < 5


def test_two_clusters_process_thousands_of_rows_exactly_once(
    start_cluster: Callable[..., Cluster],
) -> None:
    Ticket.objects.bulk_create([Ticket() for _ in range(3000)])
    clusters = [start_cluster(), start_cluster()]
    time.sleep(3)  # both clusters up; their leader fires the cron's slot too
    schedule(Ticket, "handle")
    wait_until(all_processed, 90, "3000 tickets", clusters)
    wait_until(lambda: not Job.objects.filter(state="executing").exists(), 10, "jobs to finish")
    assert set(Ticket.objects.values_list("calls", flat=True)) == {1}
    worker_jobs = Job.objects.filter(kind="trigger")
    assert worker_jobs.filter(state="completed").count() == 3000
    # A second scheduler run (the cron's) may queue a row again once its first job is done;
    # that job finds the row no longer matching, and is cancelled without running.
    assert set(worker_jobs.exclude(state="completed").values_list("state", flat=True)) <= {
        "cancelled"
    }
    nodes = set(Job.objects.values_list("attempted_by", flat=True))
    assert len(nodes) >= 3, nodes  # work spread over several worker processes


def test_worker_killed_mid_action_is_rolled_back_and_rescued(
    start_cluster: Callable[..., Cluster], tmp_path: Path, settings: Any
) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "RESCUE_AFTER": 1}
    pid_file = tmp_path / "pid"
    cluster = start_cluster(E2E_PID_FILE=str(pid_file), ASH_OBAN_RESCUE_AFTER="1")
    ticket = Ticket.objects.create(hang_first_attempt=True)
    job = run_trigger(ticket, "handle")
    wait_until(pid_file.exists, 20, "the first attempt to start", [cluster])
    started = time.monotonic()
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    killed_at = timezone.now()
    # The leader rescues it (RESCUE_AFTER=1), and a worker runs it again.
    wait_until(lambda: Ticket.objects.get(pk=ticket.pk).processed, 20, "the retry", [cluster])
    job.refresh_from_db()
    ticket.refresh_from_db()
    assert time.monotonic() - started < 10
    assert job.attempted_at is not None
    assert (job.attempted_at - killed_at).total_seconds() <= 1 + 2  # RESCUE_AFTER + 2 s
    assert (job.state, job.attempt) == ("completed", 2)
    assert job.errors[0]["error"].startswith("JobOrphaned: the worker running attempt 1")
    assert ticket.calls == 1  # the killed attempt's write was rolled back


def test_renamed_trigger_with_its_worker_name_kept_runs_the_queued_jobs(
    start_cluster: Callable[..., Cluster],
) -> None:
    tickets = [Ticket.objects.create() for _ in range(5)]
    jobs = [run_trigger(ticket, "handle") for ticket in tickets]  # queued under the old name
    Job.objects.update(state="scheduled", scheduled_at=timezone.now())  # no task hands them
    cluster = start_cluster(E2E_RENAMED="1")  # this deployment calls it "process_ticket"
    # No wake task hands them: the leader's stager wakes the queue.
    wait_until(all_processed, 30, "the renamed trigger's jobs", [cluster])
    queued = Job.objects.filter(pk__in=[j.pk for j in jobs])
    assert {job.name for job in queued} == {"e2eapp.Ticket:handle"}
    assert set(queued.values_list("state", flat=True)) == {"completed"}


def test_sigterm_under_load_stops_in_time_and_runs_no_job_twice(
    start_cluster: Callable[..., Cluster], settings: Any
) -> None:
    tickets = Ticket.objects.bulk_create([Ticket() for _ in range(400)])
    jobs = run_triggers(tickets, "audited")
    cluster = start_cluster(E2E_NO_CRON="1")
    wait_until(lambda: Audit.objects.count() >= 40, 60, "the cluster to get going", [cluster])

    stopped_at = timezone.now()
    started = time.monotonic()
    cluster.process.send_signal(signal.SIGTERM)
    cluster.process.wait(settings.Q_CLUSTER["timeout"])
    took = time.monotonic() - started
    assert took < 15, f"qcluster took {took:.1f}s to stop\n{cluster.output()[-3000:]}"

    ledger_jobs = Job.objects.filter(pk__in=[job.pk for job in jobs])
    ran = ledger_jobs.exclude(attempted_at=None)
    assert 40 <= ran.count() < 400  # stopped part-way
    # Its dispatch tasks stopped claiming within 2 s of the signal.
    last_claim = max(ran.values_list("attempted_at", flat=True))
    assert (last_claim - stopped_at).total_seconds() < 2, last_claim - stopped_at
    # What it had claimed is finished, or an orphan the rescue takes back.
    settings.ASH_OBAN = {**settings.ASH_OBAN, "RESCUE_AFTER": 0}
    executing = ledger_jobs.filter(state="executing").count()
    assert rescue() == executing
    assert set(ran.values_list("state", flat=True)) <= {"completed", "available"}

    # Another cluster runs the rest; no job ran twice.
    second = start_cluster(E2E_NO_CRON="1")
    wait_until(all_processed, 90, "the rest of the tickets", [second])
    wait_until(lambda: not ledger_jobs.exclude(state="completed").exists(), 10, "the jobs")
    per_ticket = Counter(Audit.objects.values_list("ticket", flat=True))
    assert len(per_ticket) == 400 and set(per_ticket.values()) == {1}
    assert sorted(Audit.objects.values_list("job", flat=True)) == sorted(j.pk for j in jobs)
