"""django-q2's ORM broker, riding out a restart of its database.

A cluster's task puller (django-q2's "pusher" process) sleeps 10 seconds and then starts over
whenever its broker raises. With the stock ORM broker, a database that restarts (a fast
`pg_ctl restart`, a failover) thus stalls every cluster for about 10 seconds after it is back.
`ReconnectingORM` instead hands out no task while the database is away, and looks again every
`RETRY_EVERY` seconds on a fresh connection: work resumes within about that of the database
answering. Its outage is logged once (`ledger.outage`), not on every look.

    Q_CLUSTER = {
        "orm": "default",
        "broker_class": "ash_oban_django.dispatch.broker.ReconnectingORM",
        ...
    }
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import connections
from django_q.brokers.orm import ORM
from django_q.conf import Conf

from .. import ledger
from ..ledger.outage import Outage

logger = logging.getLogger("ash_oban_django")

# Seconds between two looks for tasks while the database is away.
RETRY_EVERY = 0.5


class ReconnectingORM(ORM):  # type: ignore[misc]  # django-q2 is untyped
    """The ORM broker (`"orm"`), but a lost database connection is waited out: no task,
    never an error, until the database answers again."""

    def __init__(self, list_key: str | None = None) -> None:
        super().__init__(list_key=list_key)
        self.outage = Outage("task puller", logger)

    def dequeue(self) -> Any:
        try:
            tasks = super().dequeue()
        except Exception as error:
            if not ledger.engine().connection_lost(error):
                raise
            self.waited_out(error)
            return None
        self.outage.answered()
        return tasks

    def acknowledge(self, task_id: Any) -> Any:
        try:
            return super().acknowledge(task_id)
        except Exception as error:
            if not ledger.engine().connection_lost(error):
                raise
            # The task is delivered again after `retry` and finds its jobs done: harmless.
            self.waited_out(error)
            return None

    def waited_out(self, error: BaseException) -> None:
        """Log the outage (once), drop the lost connection, and wait a little."""
        self.outage.failed(error)
        connections[Conf.ORM].close()
        time.sleep(RETRY_EVERY)
