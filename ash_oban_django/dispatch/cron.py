"""Cron: one django-q2 `Schedule` row (type CRON) per scheduler and scheduled action, kept
in step with the declarations, plus the maintenance row.

A row is named by the stable name of the jobs it inserts, and its function is
`tasks.cron_tick` with that name as argument.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import transaction
from django_q.models import Schedule

from .. import ledger
from ..declarations import DeclarationState
from ..registry import registry
from .routing import cluster_for, default_cluster

logger = logging.getLogger("ash_oban_django")

CRON_TICK = "ash_oban_django.dispatch.tasks.cron_tick"
MAINTAIN = "ash_oban_django.dispatch.tasks.maintain"
MAINTENANCE_NAME = "ash_oban_django:maintenance"
# Function paths rows were written with before the tasks moved to `dispatch.tasks`: still
# recognised as ours, and rewritten by the next sync.
LEGACY_FUNCTIONS = ("ash_oban_django.queue.cron_tick", "ash_oban_django.queue.maintain")
OUR_FUNCTIONS = (CRON_TICK, MAINTAIN, *LEGACY_FUNCTIONS)


@dataclass(frozen=True, slots=True)
class SyncReport:
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def desired_schedules() -> dict[str, dict[str, Any]]:
    """The cron rows the declarations call for, by stable name (the row's `name`)."""
    rows: dict[str, dict[str, Any]] = {}
    for entry in registry.entries():
        if entry.state == DeclarationState.DELETED or entry.cron is None:
            continue
        rows[entry.cron_name] = {
            "func": CRON_TICK,
            "args": repr(entry.cron_name),
            "cron": entry.cron,
            "schedule_type": Schedule.CRON,
            "cluster": cluster_for(entry.cron_queue),
            "repeats": -1 if entry.state == DeclarationState.ACTIVE else 0,
        }
    rows[MAINTENANCE_NAME] = {
        "func": MAINTAIN,
        "args": None,
        "cron": "* * * * *",
        "schedule_type": Schedule.CRON,
        "cluster": default_cluster(),
        "repeats": -1,
    }
    return rows


def sync_schedules(*, dry_run: bool = False) -> SyncReport:
    """Make the django-q2 cron rows match the declarations: create, update, delete.

    Idempotent, and safe from several processes at once: on PostgreSQL the sync holds an
    advisory lock; elsewhere duplicate rows left by a race are removed by the next sync.
    Rows written with an older function path are rewritten to the current one.
    """
    engine = ledger.engine()
    using = engine.alias
    desired = desired_schedules()
    created, updated, deleted = [], [], []
    with transaction.atomic(using=using):
        if not dry_run:
            engine.serialize("ash_oban_django:sync")
        ours = Schedule.objects.using(using).filter(func__in=OUR_FUNCTIONS).order_by("id")
        seen: set[str] = set()
        for row in ours:
            wanted = desired.get(row.name or "")
            if wanted is None or row.name in seen:
                deleted.append(row.name or f"#{row.pk}")
                if not dry_run:
                    row.delete()
                continue
            seen.add(row.name or "")
            changes = {k: v for k, v in wanted.items() if getattr(row, k) != v}
            if changes:
                updated.append(row.name or "")
                if not dry_run:
                    for key, value in changes.items():
                        setattr(row, key, value)
                    # A new cron (or an un-paused row) counts from now, not from the old tick.
                    row.next_run = row.calculate_next_run()
                    row.save(using=using)
        for name, wanted in desired.items():
            if name not in seen:
                created.append(name)
                if not dry_run:
                    Schedule(name=name, **wanted).save(using=using)
    return SyncReport(tuple(created), tuple(updated), tuple(deleted))


def sync_on_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """`post_migrate` receiver: keep the cron rows in step with the code after a migrate."""
    if using != ledger.database() or not apps.is_installed("django_q"):
        return
    report = sync_schedules()
    if report.changed:
        logger.info(
            "Cron schedules synced: %s created, %s updated, %s deleted",
            len(report.created),
            len(report.updated),
            len(report.deleted),
        )
