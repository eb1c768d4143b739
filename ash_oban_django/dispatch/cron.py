"""Cron: firing each declaration's cron once per slot, and one django-q2 `Schedule` row
(type CRON) per scheduler and scheduled action, kept in step with the declarations, plus
the maintenance row.

The leader fires due crons every `STAGE_INTERVAL` (`CronFiring.fire_due`), so a cron fires
within about a second of its time. The `Schedule` rows are the registration django-q2's admin
shows, and a fallback: their function, `tasks.cron_tick`, fires the same slot. A slot's job
is unique (see `enqueue.jobs.cron_job`), so however many paths fire a slot, it runs once.
Crons read the project's `TIME_ZONE`, as django-q2 does, unless the declaration names its
own `timezone`. django-q2 reads every row's cron in `TIME_ZONE`, so the row of a cron with a
time zone of its own fires at other times than its slots: its tick fires only a slot due
within `SLOT_GRACE`, and the leader fires the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from croniter import croniter
from django.apps import apps
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from .. import ledger
from ..declarations import DeclarationState
from ..enqueue import schedule_declaration
from ..models import Job
from ..registry import Registered, registry
from .routing import cluster_for, default_cluster

logger = logging.getLogger("ash_oban_django")

CRON_TICK = "ash_oban_django.dispatch.tasks.cron_tick"
MAINTAIN = "ash_oban_django.dispatch.tasks.maintain"
MAINTENANCE_NAME = "ash_oban_django:maintenance"
# The functions of the rows the sync owns: any other row is the project's own.
OUR_FUNCTIONS = (CRON_TICK, MAINTAIN)


# How late the leader may still fire a slot: one that takes over fires the slot it finds due
# within this many seconds, never an older one. (A django-q2 row fires the slot that is due
# when django-q2 runs it: django-q2 only runs a row whose time has come.)
SLOT_GRACE = 60.0


def due_slot(cron: str, at: datetime, zone: tzinfo | None = None) -> datetime:
    """The latest time at or before `at` that `cron`, read in time zone `zone` (default:
    `TIME_ZONE`), fires at."""
    local = timezone.localtime(at, zone)
    # croniter's get_prev is strictly before its start: start just after `at`.
    slot: datetime = croniter(cron, local + timedelta(microseconds=1)).get_prev(datetime)
    return slot


def fire(entry: Registered, at: datetime, *, grace: float | None = None) -> Job | None:
    """Insert the job of the slot due at `at` for `entry`, unless that slot is older than
    `grace` seconds; returns the job (with `conflict` set when the slot was already fired)."""
    if entry.cron is None or entry.state != DeclarationState.ACTIVE:
        return None
    slot = due_slot(entry.cron, at, entry.cron_timezone)
    if grace is not None and (at - slot).total_seconds() > grace:
        return None
    return schedule_declaration(entry, slot=slot)


class CronFiring:
    """Fires the due slot of every active cron, once per slot in this process (the insert
    is unique anyway: this only saves a statement per cron per pass)."""

    def __init__(self) -> None:
        self.fired: dict[str, datetime] = {}

    def fire_due(self, at: datetime | None = None) -> int:
        """Fire every due slot not fired yet; returns how many jobs were inserted."""
        at = at or ledger.now()
        inserted = 0
        for entry in registry.entries():
            if entry.cron is None or entry.state != DeclarationState.ACTIVE:
                continue
            slot = due_slot(entry.cron, at, entry.cron_timezone)
            if self.fired.get(entry.cron_name) == slot:
                continue
            try:
                job = fire(entry, at, grace=SLOT_GRACE)
            except Exception as error:
                if ledger.engine().connection_lost(error):
                    raise  # the database is away, not this cron's failure
                logger.exception("Firing the cron of %s failed", entry.label)
                continue
            self.fired[entry.cron_name] = slot
            inserted += int(job is not None and not job.conflict)
        return inserted


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

    Idempotent, and safe from several processes at once: it holds the ledger's `hold_lock`
    lock until it commits (a lock on PostgreSQL and MariaDB/MySQL; SQLite runs one writing
    transaction at a time), and deletes any duplicate rows it finds.
    """
    engine = ledger.engine()
    using = engine.alias
    desired = desired_schedules()
    created, updated, deleted = [], [], []
    with transaction.atomic(using=using):
        if not dry_run:
            engine.hold_lock("ash_oban_django:sync")
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
