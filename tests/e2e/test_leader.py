"""A stopping leader hands over (docs/operations.md): the leader's cluster stopped with
SIGTERM gives up the lead on its way out, and another cluster leads within two seconds, on
every database (on SQLite, a database file of the test's own)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from django.db import connection

from ash_oban_django.dispatch.maintenance import LEASE
from ash_oban_django.ledger.peer import peers
from tests.e2e.conftest import ROOT, Cluster, wait_until

pytestmark = pytest.mark.slow

# How soon another cluster leads once the leader's cluster is told to stop.
HANDOVER = 2.0
# A cluster's processes with Q_WORKERS=2: qcluster, its sentinel, two workers, the monitor
# and the pusher.
CLUSTER_PROCESSES = 6

# Who leads, read from outside the clusters: the node (`host:pid`) of the live lease row.
Leader = Callable[[], str | None]


@pytest.fixture
def ledger_database(tmp_path: Path) -> tuple[dict[str, str], Leader]:
    """The environment that points clusters at the ledger, and who leads there: the test
    database, or on SQLite a migrated database file (clusters cannot share pytest's)."""
    if connection.vendor != "sqlite":

        def live_lease() -> str | None:
            lead = peers().leader(LEASE)
            return None if lead is None else lead.node

        return {}, live_lease
    database = tmp_path / "ledger.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{database}"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--run-syncdb", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        check=True,
        capture_output=True,
    )

    def file_lease() -> str | None:
        with closing(sqlite3.connect(database, timeout=30)) as db:
            row = db.execute(
                "SELECT node FROM ash_oban_django_peer WHERE name = ? "
                "AND julianday(expires_at) >= julianday('now')",
                [LEASE],
            ).fetchone()
        return None if row is None else str(row[0])

    return env, file_lease


def led_by(cluster: Cluster, node: str | None) -> bool:
    """Whether `node` (`host:pid`) is a process of `cluster`'s process group."""
    if node is None:
        return False
    try:
        return os.getpgid(int(node.rsplit(":", 1)[1])) == cluster.process.pid
    except ProcessLookupError:
        return False


def processes(cluster: Cluster) -> int:
    """How many processes `cluster`'s process group has."""
    count = 0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(entry)) == cluster.process.pid:
                count += 1
        except ProcessLookupError:  # ended meanwhile
            continue
    return count


def test_leader__stopped_with_sigterm_another_cluster_leads_within_two_seconds(
    start_cluster: Callable[..., Cluster], ledger_database: tuple[dict[str, str], Leader]
) -> None:
    env, leader = ledger_database
    first = start_cluster(**env)
    wait_until(lambda: led_by(first, leader()), 30, "the first cluster to lead", [first])
    second = start_cluster(**env)
    wait_until(lambda: processes(second) >= CLUSTER_PROCESSES, 30, "the second cluster's workers")
    time.sleep(2)  # its workers' leader threads bid, and lose
    assert led_by(first, leader())

    first.process.send_signal(signal.SIGTERM)
    took = wait_until(
        lambda: led_by(second, leader()), 15, "the second cluster to lead", [first, second]
    )
    assert took <= HANDOVER, f"the second cluster led {took:.2f}s after the stop"
    # The first cluster stopped on its own, its resign bounded, and left its lead to no one.
    assert first.process.wait(30) == 0, first.output()[-3000:]
    assert not led_by(first, leader())
