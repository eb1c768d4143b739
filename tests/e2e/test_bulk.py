"""End to end: a bulk retry by filter of 10,000 jobs while a real cluster runs (docs/operations.md),
on databases with row locks (PostgreSQL, MariaDB, MySQL)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.utils import timezone

from ash_oban_django import retry_jobs, run_trigger, run_triggers
from ash_oban_django.models import Job
from tests.e2e.conftest import Cluster, wait_until
from tests.e2eapp.models import Ticket

pytestmark = [pytest.mark.row_locks, pytest.mark.slow]

MARK = "e2eapp.Ticket:mark"
HANDLE = "e2eapp.Ticket:handle"
FAILED = 10_000


def test_retry_jobs__ten_thousand_failed_jobs_in_batches_while_a_cluster_runs(
    start_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    tickets = Ticket.objects.bulk_create([Ticket() for _ in range(FAILED)])
    run_triggers(tickets, "mark")
    # As if they failed during an outage: discarded, their wake tasks long gone.
    Job.objects.filter(name=MARK).update(
        state="discarded", attempt=1, discarded_at=timezone.now(), attempted_at=timezone.now()
    )
    pid_file = tmp_path / "pid"
    cluster = start_cluster(E2E_PID_FILE=str(pid_file), E2E_NO_CRON="1", Q_WORKERS="3")
    # One job that the cluster is running (and holds the row lock of) through the retry.
    hanging = run_trigger(Ticket.objects.create(hang_first_attempt=True), "handle")
    wait_until(pid_file.exists, 30, "the hanging attempt to start", [cluster])
    try:
        batches: list[int] = []
        started = time.monotonic()
        retried = retry_jobs(name=[MARK, HANDLE], progress=batches.append)
        took = time.monotonic() - started
        assert retried == FAILED
        assert batches == [1000] * 10  # the executing job is not even looked at
        hanging.refresh_from_db()
        assert (hanging.state, hanging.attempt, hanging.errors) == ("executing", 1, [])
        # The cluster runs the retried jobs, each once.
        wait_until(
            lambda: not Ticket.objects.filter(processed=False, hang_first_attempt=False).exists(),
            600,
            "the cluster to run every retried job",
            [cluster],
        )
        completed = Job.objects.filter(name=MARK, state="completed")
        assert completed.count() == FAILED
        assert set(completed.values_list("attempt", flat=True)) == {2}
        assert took < 120, f"the retry of {FAILED} jobs took {took:.1f} s"
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
