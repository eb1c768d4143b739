"""A model with a static `class Oban`, run by real qcluster processes in tests/e2e."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.db import models
from django.db.models import F, Q

from ash_oban_django import Snooze, Trigger, current_job


class Ticket(models.Model):
    processed = models.BooleanField(default=False)
    calls = models.IntegerField(default=0)
    # The first attempt writes, tells the test its process id and hangs (to be killed).
    hang_first_attempt = models.BooleanField(default=False)
    handled_by = models.CharField(max_length=100, default="", blank=True)

    class Oban:
        triggers = [
            Trigger(
                # E2E_RENAMED: the trigger renamed in code, its stable name kept.
                "process_ticket" if os.environ.get("E2E_RENAMED") else "handle",
                action="handle",
                where=Q(processed=False),
                # E2E_NO_CRON: the throughput benchmark runs its own jobs only.
                scheduler_cron=None if os.environ.get("E2E_NO_CRON") else "* * * * *",
                max_attempts=2,
                worker_name="e2eapp.Ticket:handle",
                scheduler_name="e2eapp.Ticket:handle:scheduler",
            ),
            # The dispatch benchmark's job: one UPDATE of the locked row.
            Trigger(
                "mark",
                where=Q(processed=False),
                scheduler_cron=None,
                worker_name="e2eapp.Ticket:mark",
            ),
            # Timing: the first attempt fails, the retry is due 3 seconds later.
            Trigger(
                "retry_once",
                scheduler_cron=None,
                max_attempts=2,
                backoff=3,
                log_errors=False,
                worker_name="e2eapp.Ticket:retry_once",
            ),
            # Timing: the first attempt snoozes for 2 seconds.
            Trigger("snooze_once", scheduler_cron=None, worker_name="e2eapp.Ticket:snooze_once"),
            # Timing: a job on a queue of its own, idle while "busy" has a backlog.
            Trigger("ping", scheduler_cron=None, queue="idle", worker_name="e2eapp.Ticket:ping"),
            Trigger(
                "busy",
                action="ping",
                scheduler_cron=None,
                queue="busy",
                worker_name="e2eapp.Ticket:busy",
            ),
        ]

    def retry_once(self, **inputs: Any) -> None:
        job = current_job()
        if job is not None and job.attempt == 1:
            raise RuntimeError("the first attempt fails")

    def snooze_once(self, **inputs: Any) -> None:
        from ash_oban_django.models import Job

        job = current_job()
        if job is not None and not Job.objects.get(pk=job.id).meta.get("snoozed"):
            raise Snooze(2)

    def ping(self, **inputs: Any) -> None:
        """Nothing: the test reads when it started."""

    def mark(self, **inputs: Any) -> None:
        self.processed = True
        self.save(update_fields=["processed"])

    def handle(self, **inputs: Any) -> None:
        job = current_job()
        assert job is not None
        Ticket.objects.filter(pk=self.pk).update(calls=F("calls") + 1)
        if self.hang_first_attempt and job.attempt == 1:
            Path(os.environ["E2E_PID_FILE"]).write_text(str(os.getpid()))
            time.sleep(120)
        self.processed = True
        self.handled_by = f"{os.getpid()}"
        self.save(update_fields=["processed", "handled_by"])


class Parcel(models.Model):
    """Shipped by a trigger with one attempt, while the server ends the workers' sessions
    (a lost connection must not spend that attempt)."""

    shipped = models.BooleanField(default=False)
    errored = models.BooleanField(default=False)

    class Oban:
        triggers = [
            Trigger(
                "ship",
                where=Q(shipped=False, errored=False),
                scheduler_cron=None,
                on_error="mark_errored",
                worker_name="e2eapp.Parcel:ship",
            ),
        ]

    def ship(self, **inputs: Any) -> None:
        # The audit row commits with the job: one row per parcel means it ran once.
        ParcelAudit.objects.create(parcel=self)
        time.sleep(0.2)  # idle in the job's transaction: where a session is likely ended
        self.shipped = True
        self.save(update_fields=["shipped"])

    def mark_errored(self, *, error: BaseException) -> None:
        self.errored = True
        self.save(update_fields=["errored"])


class ParcelAudit(models.Model):
    parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE)
