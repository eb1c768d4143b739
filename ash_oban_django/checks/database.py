"""System checks of the ledger's database: E021 (a MariaDB or MySQL server too old).

Tagged `database` as well, so Django runs it where it may connect: `migrate`, and
`manage.py check --database <alias>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.db import connections

from ..conf import settings
from ..exceptions import InvalidSetting
from ..ledger.mysql import MINIMUM_MARIADB, MINIMUM_MYSQL
from .common import TAG, Messages, safely
from .ids import E021


@checks.register(TAG, checks.Tags.database)
def check_database(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> Messages:
    """The ledger's database server against the versions the ledger needs (E021)."""
    try:
        alias = settings.DATABASE
    except InvalidSetting:
        return []  # E011 reports it
    if not databases or alias not in databases:
        return []
    connection = connections[alias]
    if connection.vendor != "mysql":
        return []
    return safely(f"the database {alias!r}", None, _mysql_messages, alias, connection)


def _mysql_messages(alias: str, connection: Any) -> Messages:
    return mysql_version_messages(alias, connection.mysql_is_mariadb, connection.mysql_version)


def mysql_version_messages(alias: str, mariadb: bool, version: tuple[int, ...]) -> Messages:
    """E021 when a MariaDB or MySQL server `version` is older than the ledger needs."""
    server, needed = ("MariaDB", MINIMUM_MARIADB) if mariadb else ("MySQL", MINIMUM_MYSQL)
    if tuple(version) >= needed:
        return []
    found = ".".join(map(str, version))
    return [
        E021.message(
            f"The ledger database {alias!r} is {server} {found}; ash_oban_django needs "
            f"{server} {'.'.join(map(str, needed))} or later (SELECT ... FOR UPDATE SKIP LOCKED).",
            f"Upgrade the server to {server} {'.'.join(map(str, needed))} or later, or point "
            "ASH_OBAN['DATABASE'] at a PostgreSQL database.",
        )
    ]
