"""End to end: a database that ends the workers' sessions costs no attempt (docs/running.md),
on PostgreSQL and MariaDB with real clusters."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.contrib import admin
from django.db import DatabaseError, connection

from ash_oban_django import run_triggers
from ash_oban_django.admin import JobAdmin
from ash_oban_django.models import Job
from tests.e2e.conftest import Cluster, wait_until
from tests.e2eapp.models import Parcel, ParcelAudit

pytestmark = [pytest.mark.row_locks, pytest.mark.slow]


def end_other_sessions() -> int:
    """End every other session of the test database, as an administrator would; returns
    how many."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT id FROM information_schema.processlist "
            "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        )
        ended = 0
        for (session,) in cursor.fetchall():
            try:
                cursor.execute(f"KILL CONNECTION {int(session)}")
                ended += 1
            except DatabaseError:  # gone meanwhile
                pass
        return ended


def test_ended_sessions__cost_no_attempt_and_run_no_job_twice(
    start_cluster: Callable[..., Cluster],
) -> None:
    parcels = Parcel.objects.bulk_create([Parcel() for _ in range(80)])
    cluster = start_cluster(Q_WORKERS="4")
    wait_until(lambda: Job.objects.filter(state="completed").exists(), 30, "a first job", [cluster])
    run_triggers(parcels, "ship")
    ended = 0
    storm_until = time.monotonic() + 5
    while time.monotonic() < storm_until:
        ended += end_other_sessions()
        time.sleep(0.25)
    connection.close()  # whatever the storm did to it, the checks below use a fresh one
    wait_until(
        lambda: not Parcel.objects.filter(shipped=False, errored=False).exists(),
        90,
        "every parcel to be shipped",
        [cluster],
    )
    jobs = Job.objects.filter(name="e2eapp.Parcel:ship")
    states = Counter(jobs.values_list("state", flat=True))
    audits = Counter(ParcelAudit.objects.values_list("parcel_id", flat=True))
    interrupted = [job for job in jobs if job.interruptions]
    assert ended > 0
    assert states == {"completed": 80}, states
    errored = [job.errors for job in jobs if job.meta.get("on_error")]
    assert not errored, errored  # on_error never ran
    assert set(audits.values()) == {1} and len(audits) == 80  # each ran exactly once
    assert interrupted, "no attempt was interrupted: the storm missed every job"
    assert all(job.attempt == 1 for job in jobs)
    for job in interrupted:
        # The admin says how many attempts were given back, and shows the server's error.
        shown = JobAdmin(Job, admin.site).attempts(job)
        assert shown == f"1/1 ({job.interruptions} interrupted)", shown
        assert len(job.errors) == job.interruptions
