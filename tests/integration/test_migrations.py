"""The ledger's migration: `0001_initial` builds the schema the five migrations it replaced
built, matches the models, and unapplies to nothing, on the database the suite runs on.

Each migration set runs in a subprocess (`migration_schema`) on a scratch database of this
test's own, created next to the test database and dropped when the runs are done."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from tests.processes import environ_without, run_python

ROOT = Path(__file__).resolve().parents[2]
UNSQUASHED = "tests.integration.unsquashed.migrations"
LEDGER_TABLES = {"ash_oban_django_job", "ash_oban_django_peer", "ash_oban_django_queue"}
# What the migration adds on MariaDB and MySQL only, for the partial indexes they lack.
MYSQL_TABLES = {"ash_oban_django_lock"}
MYSQL_COLUMNS = {"unique_key_hash", "runnable_queue"}


def scratch_settings(name: str) -> dict[str, Any]:
    keys = ("ENGINE", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    return {**{key: connection.settings_dict[key] for key in keys}, "NAME": name}


def migrated(database: dict[str, Any], migrations: str | None) -> dict[str, Any]:
    """What `migration_schema` reports for `database` migrated with the ledger's migrations,
    or with those of the package `migrations`."""
    env = environ_without("DATABASE_URL", "LEDGER_MIGRATIONS")
    env["DJANGO_SETTINGS_MODULE"] = "tests.integration.migration_settings"
    env["SCRATCH_DATABASE"] = json.dumps(database)
    if migrations:
        env["LEDGER_MIGRATIONS"] = migrations
    run = run_python("-m", "tests.integration.migration_schema", cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


@pytest.fixture(scope="module")
def reports(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, Any]]]:
    """Both migration sets' reports, each from a fresh scratch database."""
    if connection.vendor == "sqlite":
        folder = tmp_path_factory.mktemp("migrations")
        yield {
            "unsquashed": migrated(
                scratch_settings(str(folder / "unsquashed.sqlite3")), UNSQUASHED
            ),
            "squashed": migrated(scratch_settings(str(folder / "squashed.sqlite3")), None),
        }
        return
    # Named after this run's test database, so no other run's database is ever touched.
    prefix = f"{connection.settings_dict['NAME']}_migrations_{uuid.uuid4().hex[:8]}"
    names = {"unsquashed": f"{prefix}_unsquashed", "squashed": f"{prefix}_squashed"}
    quote = connection.ops.quote_name
    with django_db_blocker.unblock():
        try:
            with connection.cursor() as cursor:
                for name in names.values():
                    suffix = connection.creation.sql_table_creation_suffix()
                    cursor.execute(f"CREATE DATABASE {quote(name)} {suffix}")
            yield {
                "unsquashed": migrated(scratch_settings(names["unsquashed"]), UNSQUASHED),
                "squashed": migrated(scratch_settings(names["squashed"]), None),
            }
        finally:
            with connection.cursor() as cursor:
                for name in names.values():
                    cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")


def test_0001_initial__builds_the_schema_of_the_five_migrations_it_replaced(
    reports: dict[str, dict[str, Any]],
) -> None:
    unsquashed, squashed = reports["unsquashed"], reports["squashed"]
    assert unsquashed["applied"] == [
        "0001_initial",
        "0002_job_args_key",
        "0003_mysql_keys",
        "0004_leader_and_maintenance_indexes",
        "0005_queue_control_and_dashboard_index",
    ]
    assert squashed["applied"] == ["0001_initial"]
    mysql = connection.vendor == "mysql"
    assert set(squashed["schema"]) == LEDGER_TABLES | (MYSQL_TABLES if mysql else set())
    job_columns = set(squashed["schema"]["ash_oban_django_job"]["columns"])
    assert (job_columns >= MYSQL_COLUMNS) is mysql
    assert squashed["schema"] == unsquashed["schema"]


def test_0001_initial__unapplies_to_an_empty_database(
    reports: dict[str, dict[str, Any]],
) -> None:
    assert reports["squashed"]["left"] == []


@pytest.mark.django_db
def test_migrations__match_the_models() -> None:
    call_command("makemigrations", "ash_oban_django", "--check", "--dry-run", verbosity=0)
