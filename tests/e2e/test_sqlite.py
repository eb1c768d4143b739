"""End to end on SQLite (docs/operations.md): one cluster on a database file stages due jobs
and fires crons, with no PostgreSQL anywhere."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.slow

SETUP = """
import django
django.setup()
from ash_oban_django import run_trigger
from tests.e2eapp.models import Ticket
Ticket.objects.bulk_create([Ticket() for _ in range(3)])  # for the cron's scheduler
run_trigger(Ticket.objects.create(processed=True), "retry_once")
"""


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite pass runs it")
def test_sqlite__one_cluster_stages_a_retry_and_fires_the_cron(tmp_path: Path) -> None:
    database = tmp_path / "ledger.sqlite3"  # a database of this test's own
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "Q_WORKERS": "2",
    }
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "--run-syncdb", "-v0"], **run)
    subprocess.run([sys.executable, "-c", SETUP], **run)
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
    try:
        retry, slots = wait_for_work(database, log)
    finally:
        cluster.terminate()
        cluster.wait(30)
    lag, *row = retry
    assert 0 <= lag <= 3, row  # the retry started within seconds of its time
    assert len(slots) >= 1 and len(set(slots)) == len(slots)  # one scheduler job a slot


def wait_for_work(database: Path, log: Path) -> tuple[tuple[Any, ...], list[str]]:
    """Poll the database file until the retry ran again and the cron's scheduler ran."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sqlite3.connect(database, timeout=30) as db:
            retry = db.execute(
                "SELECT (julianday(attempted_at) - julianday(scheduled_at)) * 86400, inserted_at, "
                "scheduled_at, attempted_at, completed_at, errors, attempted_by "
                "FROM ash_oban_django_job WHERE name = 'e2eapp.Ticket:retry_once' "
                "AND state = 'completed' AND attempt = 2"
            ).fetchone()
            args = db.execute(
                "SELECT args FROM ash_oban_django_job WHERE name = "
                "'e2eapp.Ticket:handle:scheduler' AND state = 'completed'"
            ).fetchall()
            unprocessed = db.execute(
                "SELECT count(*) FROM e2eapp_ticket WHERE processed = 0"
            ).fetchone()[0]
        if retry and args and not unprocessed:
            return retry, [json.loads(a)["cron_slot"] for (a,) in args]
        time.sleep(0.5)
    raise AssertionError(f"timed out; the cluster said:\n{log.read_text()[-3000:]}")
