"""`ledger.mysql.version_problems`: the MariaDB/MySQL server versions the ledger needs
(check E021, reported through `MySQLBackend.check`)."""

from __future__ import annotations

import pytest

from ash_oban_django.ledger.mysql import version_problems


@pytest.mark.parametrize(
    ("mariadb", "version"), [(True, (10, 6, 0)), (True, (11, 4, 2)), (False, (8, 0, 1))]
)
def test_version_problems__supported_mariadb_and_mysql_versions_pass(
    mariadb: bool, version: tuple[int, ...]
) -> None:
    assert version_problems("default", mariadb, version) == []


def test_version_problems__E021_mariadb_too_old_says_what_it_found_and_needs() -> None:
    (message,) = version_problems("default", True, (10, 5, 22))
    assert message.id == "ash_oban_django.E021"
    assert message.msg == (
        "The ledger database 'default' is MariaDB 10.5.22; ash_oban_django needs MariaDB 10.6 "
        "or later (SELECT ... FOR UPDATE SKIP LOCKED)."
    )
    assert message.hint is not None and message.hint.startswith(
        "Upgrade the server to MariaDB 10.6"
    )


def test_version_problems__E021_mysql_too_old() -> None:
    (message,) = version_problems("ledger", False, (5, 7, 44))
    assert message.id == "ash_oban_django.E021"
    assert "'ledger' is MySQL 5.7.44; ash_oban_django needs MySQL 8.0.1 or later" in message.msg
