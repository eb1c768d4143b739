"""End-to-end throughput of trigger jobs in a real django-q2 cluster (PostgreSQL, or the
MariaDB/MySQL server of `DATABASE_URL=mysql://...`).

10,000 jobs whose action updates its row, run by `manage.py qcluster` with 2 workers, from
the commit that inserts them to the last row updated; against the floor measured in the same
run: two processes (psycopg, or mysqlclient) taking the same rows one transaction each
(`SELECT ... FOR UPDATE SKIP LOCKED`, `UPDATE`, commit). The same work written with Django's
ORM and no job system at all (`orm_floor_worker`) is printed too: it is the ceiling of any
job system whose action is ORM code. Targets: the single-job path at
least 65 % of the floor; the same jobs of a chunked trigger (chunks of 100 rows, one
transaction each) whose bulk action updates the chunk's rows in one statement, at least 3
times the floor on PostgreSQL, 2 times on MariaDB/MySQL. The chunked trigger that runs the
action on each row in its own savepoint is printed too.

Usage: python bench/dispatch.py [--jobs 10000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _setup  # noqa: E402

TABLE = "e2eapp_ticket"


# The floor's statements: take the next unprocessed row, skipping locked ones; mark it.
PICK = f"SELECT id FROM {TABLE} WHERE NOT processed ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
MARK = f"UPDATE {TABLE} SET processed = true WHERE id = %s"


def floor_worker(url: str) -> int:
    done = 0
    conn = _setup.connect()
    try:
        while True:
            cursor = conn.cursor()
            cursor.execute(PICK)
            row = cursor.fetchone()
            if row is None:
                conn.commit()
                return done
            cursor.execute(MARK, row)
            conn.commit()
            done += 1
    finally:
        conn.close()


def orm_floor_worker(url: str) -> int:
    """The floor's work as an action's code does it, through Django's ORM and no ledger:
    in `transaction.atomic()`, the next unprocessed row locked by `select_for_update`, then
    the action (`Ticket.mark`, a `save`). What any job system running this action pays."""
    from django.db import connection, transaction

    from tests.e2eapp.models import Ticket

    of = ("self",) if connection.features.has_select_for_update_of else ()
    pending = Ticket.objects.filter(processed=False).order_by("id")
    done = 0
    while True:
        with transaction.atomic():
            ticket = pending.select_for_update(skip_locked=True, of=of).first()
            if ticket is None:
                return done
            ticket.mark()
        done += 1


def seed(rows: int) -> None:
    from django.db import connection

    _setup.truncate(TABLE, "ash_oban_django_job", "django_q_ormq")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (processed, calls, hang_first_attempt, handled_by) "
            f"SELECT false, 0, false, '' FROM {_setup.numbers()}",
            [rows],
        )
    _setup.analyze(TABLE)


def measure_floor(rows: int, orm: bool = False) -> float:
    """Seconds two processes take to process `rows` rows, by the raw floor's statements or
    (`orm`) through Django's ORM."""
    seed(rows)
    worker, set_up = (orm_floor_worker, _setup.setup_django) if orm else (floor_worker, None)
    with multiprocessing.get_context("spawn").Pool(2, initializer=set_up) as pool:
        pool.map(time.sleep, [0.5, 0.5])  # the processes are up (and Django set up) first
        started = time.perf_counter()
        counts = pool.map(worker, [_setup.database_url()] * 2)
    seconds = time.perf_counter() - started
    assert sum(counts) == rows, counts
    return seconds


def measure_ours(rows: int, trigger: str = "mark") -> float:
    from django.db import transaction

    from ash_oban_django import run_triggers
    from ash_oban_django.models import Job
    from tests.e2eapp.models import Ticket

    seed(rows)
    log = Path("/tmp/ash_oban_bench_qcluster.log")
    log.write_bytes(b"")
    cluster = _setup.start_cluster(log, E2E_NO_CRON="1")
    try:
        time.sleep(4)  # the cluster's workers are up and polling
        with transaction.atomic():
            run_triggers(list(Ticket.objects.all()), trigger)
        started = time.perf_counter()  # the commit above handed the queue to the cluster
        while Ticket.objects.filter(processed=False).exists():
            if time.perf_counter() - started > 300:
                raise SystemExit("the cluster did not finish within 300 s")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        cluster.send_signal(signal.SIGTERM)
        cluster.wait(60)
    # Only the benchmark's jobs: the example project's crons may fire meanwhile.
    assert Job.objects.filter(name=f"e2eapp.Ticket:{trigger}", state="completed").count() == rows
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    _setup.create_database()
    _setup.setup_django(migrate=True)
    rows = args.jobs
    # Interleaved, best of two each: the machine's disk makes single runs noisy.
    floor = orm_floor = ours = chunked = bulk = float("inf")
    for _ in range(2):
        floor = min(floor, measure_floor(rows))
        orm_floor = min(orm_floor, measure_floor(rows, orm=True))
        ours = min(ours, measure_ours(rows))
        chunked = min(chunked, measure_ours(rows, "mark_chunked"))
        bulk = min(bulk, measure_ours(rows, "mark_bulk"))
    print(f"jobs: {rows:,} (action: one UPDATE of its locked row), 2 worker processes")
    from django.db import connection

    print(f"database: {connection.display_name}")
    print(f"raw floor (2 processes):         {floor:6.2f} s  {rows / floor:8,.0f} rows/s")
    print(f"ORM floor (Django, no ledger):   {orm_floor:6.2f} s  {rows / orm_floor:8,.0f} rows/s")
    print(f"qcluster end to end:             {ours:6.2f} s  {rows / ours:8,.0f} jobs/s")
    print(f"chunks of 100, row by row:       {chunked:6.2f} s  {rows / chunked:8,.0f} jobs/s")
    print(f"chunks of 100, bulk action:      {bulk:6.2f} s  {rows / bulk:8,.0f} jobs/s")
    share = floor / ours
    print(
        f"single jobs vs floor: {share:.0%}  (target >= 65%: {'met' if share >= 0.65 else 'NOT met'})"
    )
    print(
        f"ORM floor vs floor: {floor / orm_floor:.0%}; single jobs vs ORM floor: "
        f"{orm_floor / ours:.0%}"
    )
    speedup = floor / bulk
    target = 2.0 if _setup.MYSQL else 3.0
    print(f"chunks row by row vs floor: {floor / chunked:.1f}x")
    print(
        f"chunks with a bulk action vs floor: {speedup:.1f}x  "
        f"(target >= {target:g}x: {'met' if speedup >= target else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
