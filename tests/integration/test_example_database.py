"""`example_project.database.ensure_database`: what `make demo` runs before migrating."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from example_project.database import DatabaseUnavailable, ensure_database


def exists(settings: dict[str, Any]) -> bool:
    import psycopg

    params = {"host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"]}
    with psycopg.connect(dbname="postgres", password=settings["PASSWORD"] or None, **params) as db:
        found = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [settings["NAME"]])
        return found.fetchone() is not None


@pytest.fixture
def missing_database() -> Iterator[dict[str, Any]]:
    """Settings naming a database of our own that does not exist yet; dropped after."""
    import psycopg
    from psycopg import sql

    settings = {**connection.settings_dict, "NAME": f"wt_edges_ensure_{uuid.uuid4().hex[:12]}"}
    assert not exists(settings)
    yield settings
    params = {"host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(settings["NAME"])))


@pytest.mark.postgres
def test_ensure_database__creates_a_missing_postgresql_database_once(
    missing_database: dict[str, Any],
) -> None:
    assert ensure_database(missing_database) is True
    assert exists(missing_database)
    assert ensure_database(missing_database) is False


def test_ensure_database__leaves_sqlite_to_its_first_connection(tmp_path: Any) -> None:
    path = tmp_path / "db.sqlite3"
    assert ensure_database({"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}) is False
    assert not path.exists()


@pytest.mark.parametrize(
    ("engine", "how"),
    [
        ("postgresql", "createdb -h 127.0.0.1 -p 1 -U nobody shop"),
        (
            "mysql",
            "mariadb -h127.0.0.1 -P1 -unobody -e "
            "'CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_bin'",
        ),
    ],
)
def test_ensure_database__unreachable_server_is_one_line_that_says_how(
    engine: str, how: str
) -> None:
    settings = {
        "ENGINE": f"django.db.backends.{engine}",
        "NAME": "shop",
        "HOST": "127.0.0.1",
        "PORT": "1",
        "USER": "nobody",
        "PASSWORD": "",
    }
    with pytest.raises(DatabaseUnavailable) as failed:
        ensure_database(settings)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("Database 'shop' is missing and could not be created (")
    assert message.endswith(f"create it with `{how}` or fix DATABASE_URL.")


def mysql_exists(settings: dict[str, Any]) -> bool:
    with _mysql_server(settings) as db, db.cursor() as cursor:
        cursor.execute(
            "SELECT default_collation_name FROM information_schema.schemata WHERE schema_name = %s",
            [settings["NAME"]],
        )
        found = cursor.fetchone()
    return found is not None and found[0] == "utf8mb4_bin"


def _mysql_server(settings: dict[str, Any]) -> Any:
    import MySQLdb

    params = {"host": settings["HOST"], "user": settings["USER"], "port": int(settings["PORT"])}
    return MySQLdb.connect(password=settings["PASSWORD"] or "", **params)


@pytest.fixture
def missing_mysql_database() -> Iterator[dict[str, Any]]:
    """Settings naming a MariaDB/MySQL database of our own that does not exist yet; dropped
    after."""
    if connection.vendor != "mysql":
        pytest.skip("MariaDB/MySQL only")
    settings = {**connection.settings_dict, "NAME": f"wt_ensure_{uuid.uuid4().hex[:12]}"}
    assert not mysql_exists(settings)
    yield settings
    with _mysql_server(settings) as db, db.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{settings['NAME']}`")


@pytest.mark.row_locks
def test_ensure_database__creates_a_missing_mysql_database_once(
    missing_mysql_database: dict[str, Any],
) -> None:
    assert ensure_database(missing_mysql_database) is True
    assert mysql_exists(missing_mysql_database)  # utf8mb4, compared byte for byte
    assert ensure_database(missing_mysql_database) is False
