"""End to end: chunked triggers in a real django-q2 cluster, on databases with row locks."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ash_oban_django import run_triggers
from ash_oban_django.models import Job
from tests.e2e.conftest import Cluster, wait_until
from tests.e2eapp.models import Ticket, TicketAudit

pytestmark = [pytest.mark.row_locks, pytest.mark.slow]


def test_chunk_killed_mid_way_rolls_back_and_each_job_runs_once_after_the_rescue(
    start_cluster: Callable[..., Cluster], tmp_path: Path, settings: Any
) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "RESCUE_AFTER": 1}
    pid_file = tmp_path / "pid"
    tickets = Ticket.objects.bulk_create([Ticket() for _ in range(9)])
    tickets.append(Ticket.objects.create(hang_first_attempt=True))  # the chunk's last row
    cluster = start_cluster(E2E_PID_FILE=str(pid_file), ASH_OBAN_RESCUE_AFTER="1", E2E_NO_CRON="1")
    jobs = run_triggers(tickets, "handle_chunked")
    wait_until(pid_file.exists, 20, "the chunk to reach its last row", [cluster])
    hung = tickets[-1]
    assert not TicketAudit.objects.filter(ticket_id=hung.pk).exists()  # not committed
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    wait_until(
        lambda: not Ticket.objects.filter(processed=False).exists(), 30, "the rescue", [cluster]
    )
    wait_until(lambda: not Job.objects.filter(state="executing").exists(), 10, "jobs to finish")
    # Each job ran exactly once after the rescue: one audit row and one call per ticket.
    assert sorted(TicketAudit.objects.values_list("ticket_id", flat=True)) == sorted(
        t.pk for t in tickets
    )
    assert set(Ticket.objects.values_list("calls", flat=True)) == {1}
    killed = []
    for job in Job.objects.filter(pk__in=[j.pk for j in jobs]):
        assert job.state == "completed"
        if job.errors:  # in the killed chunk: rescued, then run once more
            assert job.attempt == 2
            assert job.errors[0]["error"].startswith("JobOrphaned: the worker running attempt 1")
            killed.append(int(job.object_pk))
        else:  # in a chunk another worker ran meanwhile
            assert job.attempt == 1
    assert hung.pk in killed
    assert len(killed) > 1, "the killed chunk held more than its hanging row"
