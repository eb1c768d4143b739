"""`ReconnectingORM`: django-q2's ORM broker, which waits out a database that is away (a
restart in progress) instead of raising, so the task puller resumes as soon as the database
answers, not 10 seconds later."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django_q.brokers.orm import ORM

from ash_oban_django.dispatch.broker import RETRY_EVERY, ReconnectingORM

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


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
