"""Real `qcluster` processes against the test database (PostgreSQL, MariaDB or MySQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


class Cluster:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


# The URL scheme of each database vendor whose test database subprocesses can share.
SCHEMES = {"postgresql": "postgres", "mysql": "mysql"}


def run_database_url() -> str:
    """`DATABASE_URL` of the database pytest-django created for this run (PostgreSQL, MariaDB
    or MySQL), for subprocesses: they must never run on the database the user's
    `DATABASE_URL` names."""
    settings = connection.settings_dict
    password = f":{quote(settings['PASSWORD'], safe='')}" if settings["PASSWORD"] else ""
    return (
        f"{SCHEMES[connection.vendor]}://{settings['USER']}{password}@{settings['HOST']}:"
        f"{settings['PORT']}/{settings['NAME']}"
    )


@pytest.fixture
def start_cluster(transactional_db: None, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Start `manage.py qcluster` on the test database (or the `DATABASE_URL` given); every
    cluster is stopped after."""
    started: list[Cluster] = []

    def start(**env: str) -> Cluster:
        log = tmp_path / f"qcluster-{len(started)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env={
                    **os.environ,
                    "DJANGO_SETTINGS_MODULE": "tests.settings",
                    "DATABASE_URL": env.get("DATABASE_URL") or run_database_url(),
                    "Q_WORKERS": "2",
                    **env,
                },
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        cluster = Cluster(process, log)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, clusters: list[Cluster] | None = None
) -> float:
    """Poll `condition` until it is true; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    logs = "\n".join(c.output()[-3000:] for c in clusters or [])
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
