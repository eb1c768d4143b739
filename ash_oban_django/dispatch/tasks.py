"""The functions django-q2 calls, by the dotted paths it stores in its tables.

`run_queue` is the wake task in the broker; `cron_tick` and `maintain` are the functions of
the cron rows in django-q2's `Schedule` table. Rows and tasks outlive deploys, so these
names and this module's path never change once released. Each is a thin entry point into
the module that does the work.
"""

from __future__ import annotations

import logging

from .. import ledger
from ..ledger.outage import Outage
from ..registry import registry
from ..worker import release_claimed
from . import cron, maintenance
from .consume import consume

logger = logging.getLogger("ash_oban_django")
# This worker process's view of the ledger's database, for quiet logs in an outage.
worker_outage = Outage("worker", logger)


def run_queue(queue: str) -> int:
    """The wake task: run the queue's runnable jobs (see `consume`).

    A lost database connection ends the task quietly (logged once per outage): the jobs it
    leaves are claimed again once the leader wakes the queue, and the jobs a claim took as
    the session ended are given back (`give_back_claims`)."""
    engine = ledger.engine()
    try:
        ran = consume(queue)
    except Exception as error:
        if not engine.connection_lost(error):
            raise
        worker_outage.failed(error)
        engine.connection.close()
        give_back_claims(engine, error)
        return 0
    worker_outage.answered()
    return ran


def give_back_claims(engine: ledger.Backend, error: BaseException) -> None:
    """After a lost connection, on a new one: the jobs a claim may have taken as the session
    ended are given back (`worker.release_claimed`); if the database is still away they are
    left for the rescue."""
    try:
        release_claimed(engine, error)
    except Exception as failure:  # noqa: BLE001 - the database is away: the rescue will do
        worker_outage.failed(failure)
        engine.connection.close()


def cron_tick(stable_name: str) -> None:
    """The function of every cron row: fire the due slot of the declaration's cron (insert
    its scheduler or scheduled-action job), unless the leader already has.

    It never raises: a failing schedule function would only add noise to django-q2, and
    the slot's job is unique, so a slot fired twice adds nothing.
    """
    try:
        found = registry.by_stable_name(stable_name)
        if found is None:
            logger.warning(
                "Cron tick for %r, which no declaration has; run "
                "`manage.py ash_oban_sync` to remove its schedule.",
                stable_name,
            )
            return
        entry, _ = found
        # django-q2 fires the row in TIME_ZONE: a cron read in another zone takes only the
        # slot due now, never one that was due hours ago (see `cron`).
        own_zone = entry.declaration.timezone is not None
        cron.fire(entry, ledger.now(), grace=cron.SLOT_GRACE if own_zone else None)
    except Exception:
        logger.exception("Cron tick for %r failed", stable_name)


def maintain() -> dict[str, int]:
    """The maintenance cron row's function (see `maintenance.maintain`)."""
    return maintenance.maintain()
