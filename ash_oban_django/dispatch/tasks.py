"""The functions django-q2 calls, by the dotted paths it stores in its tables.

`run_queue` is the wake task in the broker; `cron_tick` and `maintain` are the functions of
the cron rows in django-q2's `Schedule` table. Rows and tasks outlive deploys, so these
names and this module's path never change once released. Each is a thin entry point into
the module that does the work.
"""

from __future__ import annotations

import logging

from ..declarations import DeclarationState
from ..enqueue import schedule_declaration
from ..registry import registry
from . import maintenance
from .consume import consume

logger = logging.getLogger("ash_oban_django")


def run_queue(queue: str) -> int:
    """The wake task: run the queue's runnable jobs (see `consume`)."""
    return consume(queue)


def cron_tick(stable_name: str) -> None:
    """The function of every cron row: insert the scheduler or scheduled-action job.

    It never raises: a failing schedule function would only add noise to django-q2, and
    the job it inserts is unique, so a tick fired twice adds nothing.
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
        if entry.state == DeclarationState.ACTIVE:
            schedule_declaration(entry)
    except Exception:
        logger.exception("Cron tick for %r failed", stable_name)


def maintain() -> dict[str, int]:
    """The maintenance cron row's function (see `maintenance.maintain`)."""
    return maintenance.maintain()
