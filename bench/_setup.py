"""Shared set-up of the benchmarks: a scratch database with the test models.

PostgreSQL by default (`BENCH_SERVER`); with `DATABASE_URL=mysql://user@host:port/...` the
scratch database is made on that MariaDB/MySQL server instead (the URL's database name is
not used). Either way the scratch database is `BENCH_DATABASE` (ash_oban_bench).
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DATABASE", "ash_oban_bench")
_URL = os.environ.get("DATABASE_URL", "")
MYSQL = _URL.startswith("mysql://")
SERVER = (
    _URL.rsplit("/", 1)[0]
    if MYSQL
    else os.environ.get("BENCH_SERVER", "postgres://postgres@127.0.0.1:5432")
)


def database_url() -> str:
    return f"{SERVER}/{BENCH_DB}"


def connect(database: str | None = BENCH_DB) -> Any:
    """A raw DB-API connection to the scratch database (or, with None, to the server)."""
    if MYSQL:
        from urllib.parse import urlsplit

        import MySQLdb

        url = urlsplit(SERVER)
        params: dict[str, Any] = {"host": url.hostname, "user": url.username or "root"}
        params.update({"port": url.port} if url.port else {})
        params.update({"password": url.password} if url.password else {})
        params.update({"database": database} if database else {})
        return MySQLdb.connect(charset="utf8mb4", **params)
    import psycopg

    return psycopg.connect(f"{SERVER}/{database or 'postgres'}", autocommit=database is None)


def create_database() -> None:
    """Drop and create the scratch database."""
    with connect(None) as conn:
        if MYSQL:
            cursor = conn.cursor()
            cursor.execute(f"DROP DATABASE IF EXISTS `{BENCH_DB}`")
            cursor.execute(
                f"CREATE DATABASE `{BENCH_DB}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        else:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def numbers() -> str:
    """A row source of `i` from 1 to the statement's parameter (at most 10,000,000)."""
    if not MYSQL:
        return "generate_series(1, %s) i"
    digits = "(SELECT 0 d UNION ALL " + " UNION ALL ".join(f"SELECT {d}" for d in range(1, 10))
    places = [f"{digits}) p{n}" for n in range(7)]
    value = " + ".join(f"p{n}.d * {10**n}" for n in range(7))
    return f"(SELECT {value} + 1 AS i FROM {', '.join(places)} HAVING i <= %s) i"


def truncate(*tables: str) -> None:
    """Empty tables and restart their ids."""
    from django.db import connection

    with connection.cursor() as cursor:
        if MYSQL:
            for table in tables:
                cursor.execute(f"TRUNCATE {table}")
        else:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")


def analyze(table: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE TABLE {table}" if MYSQL else f"VACUUM ANALYZE {table}")


def setup_django(migrate: bool = False) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DJANGO_DEBUG"] = "0"  # no query log: it would time and hold every statement
    os.environ["DATABASE_URL"] = database_url()
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", run_syncdb=True, verbosity=0)
        call_command("createcachetable", verbosity=0)


def start_cluster(log: Any, **env: str) -> Any:
    """`manage.py qcluster` with 2 workers on the scratch database, its output to `log`
    (appended); `env` adds to the environment."""
    import subprocess

    environment = {**os.environ, "Q_WORKERS": "2", "ASH_OBAN_LOG": "ERROR", **env}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95 and max of the values (p95: the nearest rank)."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]
