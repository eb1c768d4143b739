"""Scheduler throughput and memory (PostgreSQL, or the MariaDB/MySQL server of
`DATABASE_URL=mysql://...`).

1. A scheduler run over 100,000 matching rows against the floor: one raw
   `INSERT ... SELECT ... ON CONFLICT DO NOTHING` of the same jobs (on MariaDB/MySQL
   `ON DUPLICATE KEY UPDATE id = id`), measured side by side
   (best of 3 each, the ledger emptied between runs). Target: within 2x of the floor.
2. Peak Python memory (tracemalloc, above what the process held before the run) of a
   scheduler run over 10,000 and over 1,000,000 rows, each in a fresh process that first ran
   the scheduler once over the whole 1,000,000-row table (as a long-lived worker has).
   Target: no higher at 1,000,000 than at 10,000.

Usage: python bench/scheduler.py [--rows 100000] [--memory-rows 10000 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _setup  # noqa: E402

FLOOR_SQL = """
INSERT INTO ash_oban_django_job (kind, name, queue, priority, state, object_pk, tenant,
    tenant_key, args_key, once, args, meta, tags, attempt, max_attempts, errors, inserted_at,
    scheduled_at, attempted_by)
SELECT 'trigger', 'testapp.Widget:finish', 'testapp_widget_finish', 2, 'available',
    w.id::text, NULL, 'null', '', false, '{}', '{}', '[]', 0, 1, '[]', now(), now(), ''
FROM testapp_widget w WHERE NOT w.done AND NOT w.errored
ON CONFLICT DO NOTHING
"""
# The same floor on MariaDB/MySQL.
MYSQL_FLOOR_SQL = """
INSERT INTO ash_oban_django_job (kind, name, queue, priority, state, object_pk, tenant,
    tenant_key, args_key, once, args, meta, tags, attempt, max_attempts, errors, inserted_at,
    scheduled_at, attempted_by)
SELECT 'trigger', 'testapp.Widget:finish', 'testapp_widget_finish', 2, 'available',
    CAST(w.id AS CHAR), NULL, 'null', '', false, '{}', '{}', '[]', 0, 1, '[]', NOW(6), NOW(6), ''
FROM testapp_widget w WHERE NOT w.done AND NOT w.errored
ON DUPLICATE KEY UPDATE ash_oban_django_job.id = ash_oban_django_job.id
"""
# Widgets with keys of one width (7 digits) whatever the row count.
SEED = (
    "INSERT INTO testapp_widget (id, name, done, errored, {rank}, tenant, calls, note) "
    "SELECT 1000000 + i, {name}, false, false, i %% 97, '', 0, '' FROM {numbers}"
)


def seed(rows: int) -> None:
    from django.db import connection

    _setup.truncate("testapp_widget", "ash_oban_django_job")
    name = "CONCAT('w', i)" if _setup.MYSQL else "'w' || i"
    with connection.cursor() as cursor:
        # Keys of one width whatever the row count, so runs over 10,000 and over 1,000,000
        # rows handle pages of the same size.
        rank = "`rank`" if _setup.MYSQL else "rank"  # a reserved word in MySQL 8
        cursor.execute(SEED.format(name=name, rank=rank, numbers=_setup.numbers()), [rows])
    _setup.analyze("testapp_widget")


def empty_ledger() -> None:
    _setup.truncate("ash_oban_django_job")
    _setup.analyze("ash_oban_django_job")


def trigger():  # type: ignore[no-untyped-def]
    from django.db.models import Q

    from ash_oban_django import Trigger

    return Trigger("finish", where=Q(done=False, errored=False))


def run_scheduler_once() -> tuple[float, int]:
    from django.db import transaction

    from ash_oban_django.dispatch.wake import set_dispatch
    from ash_oban_django.enqueue.scheduler import run_scheduler
    from ash_oban_django.registry import registry
    from tests.testapp.models import Widget

    set_dispatch(False)
    entry = registry.get_trigger(Widget, "finish")
    started = time.perf_counter()
    with transaction.atomic():  # as a scheduler job runs: one transaction
        report = run_scheduler(entry)
    return time.perf_counter() - started, report.inserted


def run_floor_once() -> tuple[float, int]:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(MYSQL_FLOOR_SQL if _setup.MYSQL else FLOOR_SQL)
        inserted = cursor.rowcount
    return time.perf_counter() - started, inserted


def throughput(rows: int) -> None:
    from ash_oban_django import register
    from tests.testapp.models import Widget

    seed(rows)
    with register(Widget, triggers=[trigger()]):
        floor, ours = [], []
        for _ in range(3):
            empty_ledger()
            seconds, inserted = run_floor_once()
            assert inserted == rows, inserted
            floor.append(seconds)
            empty_ledger()
            seconds, inserted = run_scheduler_once()
            assert inserted == rows, inserted
            ours.append(seconds)
    best_floor, best_ours = min(floor), min(ours)
    from django.db import connection

    print(f"database: {connection.display_name}, rows: {rows:,}")
    print(f"raw INSERT ... SELECT floor: {best_floor:.3f} s ({rows / best_floor:,.0f} rows/s)")
    print(f"scheduler run:               {best_ours:.3f} s ({rows / best_ours:,.0f} rows/s)")
    ratio = best_ours / best_floor
    print(
        f"ratio scheduler / floor:     {ratio:.2f}x  (target <= 2.00x: "
        f"{'met' if ratio <= 2 else 'NOT met'})"
    )


def memory_child(rows: int, table_rows: int) -> None:
    """In a fresh process: a table of `table_rows` rows, one untraced warm-up run over all of
    them, then the traced run over `rows` of them (`record_limit`)."""
    import tracemalloc

    from django.db import transaction
    from django.db.models import Q

    from ash_oban_django import Trigger, register
    from ash_oban_django.enqueue.scheduler import run_scheduler
    from ash_oban_django.registry import registry
    from tests.testapp.models import Widget

    seed(table_rows)
    # Traced from before the warm-up, so that interpreter caches refilled during the measured
    # run (CPython's method cache keeps up to 4096 names) count what they free as well.
    tracemalloc.start()
    # A long-lived worker has run before: imports and caches are warm, whatever the rows.
    # Small pages, so the warm-up compiles many statements: CPython's method cache holds
    # name strings in up to 4096 slots and fills by a few slots per page.
    warm = Trigger("finish", where=Q(done=False, errored=False), stream_batch_size=50)
    with register(Widget, triggers=[warm]):
        run_scheduler_once()
    empty_ledger()
    measured = Trigger("finish", where=Q(done=False, errored=False), record_limit=rows)
    with register(Widget, triggers=[measured]):
        entry = registry.get_trigger(Widget, "finish")
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with transaction.atomic():
            report = run_scheduler(entry)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert report.inserted == rows, report
    # What the run itself needed at most, above what the process held before it.
    print(json.dumps({"rows": rows, "peak_bytes": peak - baseline}))


def memory(sizes: list[int]) -> None:
    peaks = {}
    for rows in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(rows), str(max(sizes))],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        peaks[rows] = result["peak_bytes"]
        print(f"peak memory at {rows:>9,} rows: {result['peak_bytes']:>10,} bytes")
    small, large = peaks[min(sizes)], peaks[max(sizes)]
    print(
        f"peak at {max(sizes):,} / peak at {min(sizes):,}: {large / small:.4f} "
        f"({large - small:+,} bytes; target: no higher, {'met' if large <= small else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-rows", type=int, nargs="*", default=[10_000, 1_000_000])
    parser.add_argument("--memory-child", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _setup.setup_django()
        memory_child(*args.memory_child)
        return
    _setup.create_database()
    _setup.setup_django(migrate=True)
    throughput(args.rows)
    if args.memory_rows:
        memory(args.memory_rows)


if __name__ == "__main__":
    main()
