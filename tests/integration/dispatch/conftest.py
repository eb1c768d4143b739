"""Fixtures of the dispatch tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections


@pytest.fixture
def database_away() -> Iterator[Any]:
    """Yields a switch: on, the server refuses the test database and ends its sessions, as
    during a restart; off, it answers again (also after the test)."""
    import psycopg  # PostgreSQL only: the driver of the tests that use this

    settings = connection.settings_dict
    admin = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )

    def away(on: bool) -> None:
        admin.execute(f'ALTER DATABASE "{settings["NAME"]}" WITH ALLOW_CONNECTIONS {not on}')
        if on:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [settings["NAME"]],
            )

    try:
        yield away
    finally:
        away(False)
        admin.close()
        connections["default"].close()
