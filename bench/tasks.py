"""End-to-end throughput of Django tasks (`tasks.LedgerBackend`) in a real django-q2 cluster,
on PostgreSQL, MariaDB and SQLite.

10,000 tasks whose body is one `UPDATE` of a row (`tests.e2eapp.tasks.mark_ticket`), run by
`manage.py qcluster` with 2 workers, from the commit that enqueues them to the last row
updated; against the floor measured in the same run: two processes taking the same rows one
transaction each (`SELECT ... FOR UPDATE SKIP LOCKED`, `UPDATE`, commit; on SQLite, which
has no row locks, `BEGIN IMMEDIATE` serialises them). Target: at least 50 % of the floor on
PostgreSQL.

Usage: python bench/tasks.py [--jobs 10000] [--database postgresql|mariadb|sqlite ...]
(each database runs in a process of its own; MariaDB at MARIADB_URL, by default
mysql://root@127.0.0.1:3306/, PostgreSQL at BENCH_SERVER, as bench/_setup.py says.)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQLITE_FILE = Path("/tmp/ash_oban_bench_tasks.sqlite3")
MARIADB_URL = os.environ.get("MARIADB_URL", "mysql://root@127.0.0.1:3306/ash_oban_bench")
TABLE = "e2eapp_ticket"
TASK = "tests.e2eapp.tasks.mark_ticket"

# The floor's statements: take the next unprocessed row, skipping locked ones; mark it.
PICK = f"SELECT id FROM {TABLE} WHERE NOT processed ORDER BY id LIMIT 1"
MARK = f"UPDATE {TABLE} SET processed = true WHERE id = %s"


def floor_worker(sqlite: bool) -> int:
    if sqlite:
        conn = sqlite3.connect(SQLITE_FILE, timeout=30, isolation_level=None)
        pick, mark, begin = PICK, MARK.replace("%s", "?"), "BEGIN IMMEDIATE"
    else:
        sys.path.insert(0, str(HERE))
        import _setup

        conn = _setup.connect()
        pick, mark, begin = f"{PICK} FOR UPDATE SKIP LOCKED", MARK, None
    done = 0
    try:
        while True:
            cursor = conn.cursor()
            if begin:
                cursor.execute(begin)
            cursor.execute(pick)
            row = cursor.fetchone()
            if row is None:
                conn.commit()
                return done
            cursor.execute(mark, row)
            conn.commit()
            done += 1
    finally:
        conn.close()


def seed(rows: int, sqlite: bool) -> None:
    from django.db import connection

    if sqlite:
        source = "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) SELECT i FROM n)"
        with connection.cursor() as cursor:
            for table in (TABLE, "ash_oban_django_job", "django_q_ormq"):
                cursor.execute(f"DELETE FROM {table}")
    else:
        import _setup

        _setup.truncate(TABLE, "ash_oban_django_job", "django_q_ormq")
        source = _setup.numbers()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (processed, calls, hang_first_attempt, handled_by) "
            f"SELECT false, 0, false, '' FROM {source}",
            [rows],
        )
    if not sqlite:
        _setup.analyze(TABLE)


def measure_floor(rows: int, sqlite: bool) -> float:
    seed(rows, sqlite)
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        counts = pool.map(floor_worker, [sqlite] * 2)
    seconds = time.perf_counter() - started
    assert sum(counts) == rows, counts
    return seconds


def measure_ours(rows: int, sqlite: bool) -> float:
    import _setup
    from django.db import transaction

    from ash_oban_django.models import Job
    from tests.e2eapp.models import Ticket
    from tests.e2eapp.tasks import mark_ticket

    seed(rows, sqlite)
    log = Path("/tmp/ash_oban_bench_tasks_qcluster.log")
    log.write_bytes(b"")
    cluster = _setup.start_cluster(log, E2E_NO_CRON="1")
    try:
        time.sleep(4)  # the cluster's workers are up and polling
        committed: list[float] = []
        with transaction.atomic():
            # The clock starts at the commit, before the callbacks that wake the cluster (one
            # per enqueue): the workers may start while they run.
            transaction.on_commit(lambda: committed.append(time.perf_counter()))
            for pk in Ticket.objects.values_list("pk", flat=True):
                mark_ticket.enqueue(pk)
        started = committed[0]
        while Ticket.objects.filter(processed=False).exists():
            if time.perf_counter() - started > 600:
                raise SystemExit(f"the cluster did not finish within 600 s (log: {log})")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        cluster.send_signal(signal.SIGTERM)
        cluster.wait(60)
    assert Job.objects.filter(name=TASK, state="completed").count() == rows
    return seconds


def setup(database: str) -> bool:
    """Django on a scratch database of `database`; True for SQLite."""
    sys.path.insert(0, str(HERE))
    if database == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)
        os.environ.pop("DATABASE_URL", None)
        os.environ.update(
            SQLITE_PATH=str(SQLITE_FILE),
            DJANGO_SETTINGS_MODULE="tests.settings",
            DJANGO_DEBUG="0",
        )
        sys.path.insert(0, str(HERE.parent))
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", run_syncdb=True, verbosity=0)
        call_command("createcachetable", verbosity=0)
        return True
    import _setup

    _setup.create_database()
    _setup.setup_django(migrate=True)
    return False


def run_one(database: str, rows: int) -> None:
    sqlite = setup(database)
    # Interleaved, best of two each: the machine's disk makes single runs noisy.
    floor = ours = float("inf")
    for _ in range(2):
        floor = min(floor, measure_floor(rows, sqlite))
        ours = min(ours, measure_ours(rows, sqlite))
    from django.db import connection

    share = floor / ours
    target = f"  (target >= 50%: {'met' if share >= 0.5 else 'NOT met'})" if not sqlite else ""
    print(f"== {connection.display_name}: {rows:,} tasks (one UPDATE each), 2 worker processes")
    print(f"raw floor (2 processes):         {floor:6.2f} s  {rows / floor:8,.0f} rows/s")
    print(f"qcluster end to end:             {ours:6.2f} s  {rows / ours:8,.0f} tasks/s")
    print(f"throughput vs floor: {share:.0%}{target}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument(
        "--database",
        action="append",
        choices=["postgresql", "mariadb", "sqlite"],
        help="run only these (default: all three, one process each)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process's database
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.jobs)
        return
    for database in args.database or ["postgresql", "mariadb", "sqlite"]:
        env = dict(os.environ)
        if database == "mariadb":
            env["DATABASE_URL"] = MARIADB_URL
        elif database == "postgresql":
            env.pop("DATABASE_URL", None)
        command = [sys.executable, __file__, "--jobs", str(args.jobs), "--one", database]
        if subprocess.run(command, env=env).returncode:
            print(f"== {database}: failed", flush=True)


if __name__ == "__main__":
    main()
