"""`ReconnectingORM`: django-q2's ORM broker, which waits out a database that is away (a
restart in progress) instead of raising, so the task puller resumes as soon as the database
answers, not 10 seconds later."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection, connections
from django_q.brokers.orm import ORM

from ash_oban_django.dispatch.broker import RETRY_EVERY, ReconnectingORM

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def database_away() -> Iterator[Any]:
    """Yields a switch: on, the server refuses the test database and ends its sessions, as
    during a restart; off, it answers again (also after the test)."""
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


def test_reconnecting_orm__waits_out_a_database_away_and_hands_out_tasks_once_back(
    database_away: Any,
) -> None:
    broker = ReconnectingORM(list_key="reconnecting")
    broker.enqueue("a task")
    database_away(True)
    with pytest.raises(Exception, match="connect|terminat|closed"):
        ORM(list_key="reconnecting").dequeue()  # the stock broker raises: django-q2 sleeps 10 s
    started = time.monotonic()
    assert broker.dequeue() is None  # no task, no error
    assert RETRY_EVERY <= time.monotonic() - started < RETRY_EVERY + 2
    database_away(False)
    (task,) = broker.dequeue()
    assert task[1] == "a task"
