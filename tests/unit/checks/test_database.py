"""`checks.database`: the ledger's database server, as its backend checks it (E021)."""

from __future__ import annotations

import pytest
from django.db import connection

from ash_oban_django import ledger
from ash_oban_django.checks import check_database


@pytest.mark.django_db
def test_check__the_test_database_passes_when_databases_are_checked() -> None:
    assert check_database(databases=["default"]) == []
    assert check_database() == []  # without databases, it does not connect


@pytest.mark.django_db
def test_check__yields_the_backends_check() -> None:
    """The check is the ledger backend's: on MariaDB/MySQL it reads the server's real version
    (the versions refused are in `tests/unit/ledger/test_mysql.py`)."""
    assert check_database(databases=["default"]) == ledger.engine().check() == []
    if connection.vendor == "mysql":
        needed = (10, 6) if connection.mysql_is_mariadb else (8, 0, 1)
        assert connection.mysql_version >= needed
