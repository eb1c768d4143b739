"""The admin dashboard's page time with a big ledger (PostgreSQL, or the MariaDB/MySQL server
of `DATABASE_URL=mysql://...`).

Seeds 1,000,000 jobs with one `INSERT ... SELECT` over a number series: mostly completed
over the last day (a busy installation before pruning), some discarded, and a few thousand
incomplete (available, scheduled, executing, retryable) over 8 queues. Then loads the
dashboard page through Django's test client a few times, and times each of its queries
alone, and prints p50/p95/max of each.

Usage: python bench/dashboard.py [--jobs 1000000] [--loads 15]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _setup  # noqa: E402

QUEUES = 8


def seed(jobs: int) -> None:
    """`jobs` rows: 1 in 500 incomplete (spread over the four states), 1 in 50 discarded,
    the rest completed; finished over the last 24 hours, the newest in the last hour."""
    from django.db import connection

    _setup.truncate("ash_oban_django_job")
    if _setup.MYSQL:
        at = "NOW(6) - INTERVAL (i MOD 86400) SECOND"
        text, json_open, json_close = "CONCAT", "", ""
    else:
        at = "now() - make_interval(secs => i % 86400)"
        text, json_open, json_close = "concat", "CAST(", " AS jsonb)"
    state = (
        "CASE WHEN i % 500 = 0 THEN 'available' WHEN i % 500 = 1 THEN 'scheduled' "
        "WHEN i % 500 = 2 THEN 'executing' WHEN i % 500 = 3 THEN 'retryable' "
        "WHEN i % 50 = 4 THEN 'discarded' ELSE 'completed' END"
    )
    if _setup.MYSQL:
        state = state.replace("%", "MOD")
    state = state.replace("%", "%%")
    at = at.replace("%", "%%")
    sql = f"""
        INSERT INTO ash_oban_django_job (kind, name, queue, priority, state, object_pk,
            tenant, tenant_key, args_key, once, args, meta, tags, attempt, max_attempts,
            errors, inserted_at, scheduled_at, attempted_at, completed_at, cancelled_at,
            discarded_at, attempted_by)
        SELECT 'trigger', {text}('bench.Job:q', i %% {QUEUES}), {text}('q', i %% {QUEUES}), 2,
            st, {text}(i, ''), NULL, '', '', false, '{{}}', '{{}}', '[]', 1, 3,
            {json_open}CASE WHEN st IN ('discarded', 'retryable')
                THEN '[{{"attempt": 1, "error": "ValueError: bench"}}]' ELSE '[]' END{json_close},
            t, t, t,
            CASE WHEN st = 'completed' THEN t END, NULL,
            CASE WHEN st = 'discarded' THEN t END, 'bench:1'
        FROM (SELECT i, {state} AS st, {at} AS t FROM {_setup.numbers()}) s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [jobs])
    _setup.analyze("ash_oban_django_job")


def timed(fn: Callable[[], Any], times: int) -> list[float]:
    took = []
    for _ in range(times):
        started = time.perf_counter()
        fn()
        took.append((time.perf_counter() - started) * 1000)
    return took


def line(label: str, millis: list[float]) -> str:
    p50, p95, most = _setup.percentiles(millis)
    return f"{label:<28} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   max {most:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--loads", type=int, default=15)
    args = parser.parse_args()
    _setup.create_database()
    _setup.setup_django(migrate=True)

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from ash_oban_django import dashboard
    from ash_oban_django.models import Job

    started = time.perf_counter()
    seed(args.jobs)
    print(f"seeded {Job.objects.count():,} jobs in {time.perf_counter() - started:.0f} s")
    print(f"database: {connection.display_name}")

    client = Client()
    client.force_login(User.objects.create_superuser("bench", "bench@example.com", "pw"))
    url = reverse("admin:ash_oban_django_dashboard")
    assert client.get(url).status_code == 200  # warm: templates, plans
    page = timed(lambda: client.get(url), args.loads)
    print(line("page (full render)", page))
    print(line("page (refresh fragment)", timed(lambda: client.get(url, {"fragment": "1"}), args.loads)))
    parts: dict[str, Callable[[], Any]] = {
        "queue counts and lag": dashboard.queue_rows,
        "throughput (3 queries)": dashboard.throughput,
        "latest failures": dashboard.latest_failures,
        "declarations": dashboard.declarations,
        "nodes and leader": dashboard.nodes,
    }
    for label, part in parts.items():
        print(line(label, timed(part, args.loads)))

    search_url = reverse("admin:ash_oban_django_dashboard_search")
    newest = Job.objects.order_by("-id").values_list("id", flat=True).first()
    searches = {
        "search: a word of an error": "bench",
        "search: a word none holds": "nowhere-to-be-found",
        "search: an id": str(newest),
        "search: a stable name": "bench.Job:q3",
    }
    assert client.get(search_url, {"q": "bench"}).status_code == 200  # warm
    found = {}
    for label, query in searches.items():
        found[label] = timed(lambda q=query: client.get(search_url, {"q": q}), args.loads)
        print(line(label, found[label]))
    worst = max(found.values(), key=lambda millis: _setup.percentiles(millis)[1])
    print(
        f"p95: page {_setup.percentiles(page)[1]:.1f} ms, "
        f"search page {_setup.percentiles(worst)[1]:.1f} ms (its slowest kind)"
    )


if __name__ == "__main__":
    main()
