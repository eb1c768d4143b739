"""Django tasks run by real qcluster processes: on PostgreSQL, MariaDB or MySQL against the
test database, and on SQLite against a database file of the test's own."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from ash_oban_django.models import Job
from ash_oban_django.taskapi import TaskResultStatus
from tests.e2e.conftest import ROOT, Cluster, wait_until
from tests.e2eapp import tasks
from tests.e2eapp.models import Ticket

pytestmark = pytest.mark.slow

# On SQLite: a deferred task and one that fails once, enqueued before the cluster starts.
SQLITE_SETUP = """
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from tests.e2eapp import tasks
tasks.ping.using(run_after=timezone.now() + timedelta(seconds=6)).enqueue()
tasks.fails_once.enqueue()
"""


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite pass runs it")
def test_sqlite__deferred_task_on_time_and_failed_task_retried(tmp_path: Path) -> None:
    database = tmp_path / "ledger.sqlite3"  # a database of this test's own
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "Q_WORKERS": "2",
        "E2E_NO_CRON": "1",
    }
    run: dict[str, Any] = {"cwd": ROOT, "env": env, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "--run-syncdb", "-v0"], **run)
    subprocess.run([sys.executable, "manage.py", "createcachetable", "-v0"], **run)
    subprocess.run([sys.executable, "-c", SQLITE_SETUP], **run)
    log = tmp_path / "qcluster.log"
    with log.open("wb") as output:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    query = (
        "SELECT name, (julianday(attempted_at) - julianday(scheduled_at)) * 86400, attempt "
        "FROM ash_oban_django_job WHERE state = 'completed' AND kind = 'task' ORDER BY name"
    )
    done: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(done) < 2:
            time.sleep(0.5)
            with sqlite3.connect(database, timeout=30) as db:
                done = db.execute(query).fetchall()
    finally:
        cluster.terminate()
        cluster.wait(30)
    with sqlite3.connect(database, timeout=30) as db:
        jobs = db.execute("SELECT name, state, attempt, scheduled_at FROM ash_oban_django_job").fetchall()
    assert len(done) == 2, (jobs, log.read_text(errors="replace")[-3000:])
    (retried, _, attempts), (deferred, lag, _) = done
    assert (retried, attempts) == ("tests.e2eapp.tasks.fails_once", 2)
    assert deferred == "tests.e2eapp.tasks.ping"
    assert 0 <= lag <= 1.5, lag  # started within a second and a half of run_after


@pytest.mark.row_locks
def test_run_after__task_starts_within_a_second_and_a_half_of_it(
    start_cluster: Callable[..., Cluster],
) -> None:
    cluster = start_cluster(E2E_NO_CRON="1")
    warm = tasks.ping.enqueue()  # the cluster is up and has a leader once this ran
    wait_until(lambda: warm.refresh() or warm.is_finished, 30, "the cluster to start", [cluster])
    run_after = timezone.now() + timedelta(seconds=3)
    result = tasks.ping.using(run_after=run_after).enqueue()
    wait_until(lambda: result.refresh() or result.is_finished, 20, "the deferred task", [cluster])
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.started_at is not None
    late = (result.started_at - run_after).total_seconds()
    assert 0 <= late <= 1.5, late


@pytest.mark.row_locks
def test_killed_worker__task_runs_again_exactly_once(
    start_cluster: Callable[..., Cluster], tmp_path: Path, settings: Any
) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "RESCUE_AFTER": 1}
    pid_file = tmp_path / "pid"
    # E2E_NO_CRON: the ticket's own trigger stays off, so only the task writes to it.
    cluster = start_cluster(
        E2E_PID_FILE=str(pid_file), ASH_OBAN_RESCUE_AFTER="1", E2E_NO_CRON="1"
    )
    ticket = Ticket.objects.create()
    result = tasks.audited.enqueue(ticket.pk)
    wait_until(pid_file.exists, 30, "the first attempt to start", [cluster])
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    wait_until(lambda: result.refresh() or result.is_finished, 20, "the rescue", [cluster])
    time.sleep(1)  # nothing else runs it
    result.refresh()
    ticket.refresh_from_db()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 2
    assert len(result.worker_ids) == 2 and result.worker_ids[0] != result.worker_ids[1]
    assert result.errors[0].exception_class_path == "ash_oban_django.exceptions.JobOrphaned"
    assert ticket.calls == 1  # the killed attempt's write rolled back; the rescue ran once
    assert Job.objects.get(pk=int(result.id)).attempt == 2
