"""Shared set-up of the benchmarks: a scratch PostgreSQL database with the test models."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DATABASE", "ash_oban_bench")
SERVER = os.environ.get("BENCH_SERVER", "postgres://postgres@127.0.0.1:5432")


def database_url() -> str:
    return f"{SERVER}/{BENCH_DB}"


def create_database() -> None:
    """Drop and create the scratch database (through the server's `postgres` database)."""
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


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
