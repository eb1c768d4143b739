"""`checks.database`: the ledger's database server (E021)."""

from __future__ import annotations

import pytest
from django.db import connection

from ash_oban_django.checks import check_database
from ash_oban_django.checks.database import mysql_version_messages


@pytest.mark.parametrize(
    ("mariadb", "version"), [(True, (10, 6, 0)), (True, (11, 4, 2)), (False, (8, 0, 1))]
)
def test_check__supported_mariadb_and_mysql_versions_pass(
    mariadb: bool, version: tuple[int, ...]
) -> None:
    assert mysql_version_messages("default", mariadb, version) == []


def test_check__E021_mariadb_too_old_says_what_it_found_and_needs() -> None:
    (message,) = mysql_version_messages("default", True, (10, 5, 22))
    assert message.id == "ash_oban_django.E021"
    assert message.msg == (
        "The ledger database 'default' is MariaDB 10.5.22; ash_oban_django needs MariaDB 10.6 "
        "or later (SELECT ... FOR UPDATE SKIP LOCKED)."
    )
    assert message.hint is not None and message.hint.startswith(
        "Upgrade the server to MariaDB 10.6"
    )


def test_check__E021_mysql_too_old() -> None:
    (message,) = mysql_version_messages("ledger", False, (5, 7, 44))
    assert message.id == "ash_oban_django.E021"
    assert "'ledger' is MySQL 5.7.44; ash_oban_django needs MySQL 8.0.1 or later" in message.msg


@pytest.mark.django_db
def test_check__the_test_database_passes_when_databases_are_checked() -> None:
    assert check_database(databases=["default"]) == []
    assert check_database() == []  # without databases, it does not connect


@pytest.mark.django_db
def test_check__the_test_database_is_whats_found() -> None:
    """On MariaDB/MySQL, the version check reads the server's real version."""
    if connection.vendor != "mysql":
        pytest.skip("MariaDB/MySQL only")
    needed = (10, 6) if connection.mysql_is_mariadb else (8, 0, 1)
    assert connection.mysql_version >= needed
    assert mysql_version_messages("default", connection.mysql_is_mariadb, needed) == []
