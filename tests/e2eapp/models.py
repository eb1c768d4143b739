"""A model with a static `class Oban`, run by real qcluster processes in tests/e2e."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.db import models
from django.db.models import F, Q

from ash_oban_django import Chunks, Snooze, Trigger, current_job


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
            # The dispatch benchmark's chunked runs: the same action, 100 rows a transaction
            # (every job is queued before the run: no waiting for a chunk to fill).
            Trigger(
                "mark_chunked",
                action="mark",
                where=Q(processed=False),
                scheduler_cron=None,
                chunks=Chunks(size=100, timeout=0),
                worker_name="e2eapp.Ticket:mark_chunked",
            ),
            # The same action as a bulk action: one UPDATE for a chunk's rows.
            Trigger(
                "mark_bulk",
                action="mark",
                where=Q(processed=False),
                scheduler_cron=None,
                chunks=Chunks(size=100, timeout=0, bulk_action="mark_all"),
                worker_name="e2eapp.Ticket:mark_bulk",
            ),
            # A chunk killed mid-way: `handle` with an audit row, in chunks of ten.
            Trigger(
                "handle_chunked",
                action="handle_audited",
                where=Q(processed=False),
                scheduler_cron=None,
                max_attempts=2,
                chunks=Chunks(size=10, timeout=0.5),
                worker_name="e2eapp.Ticket:handle_chunked",
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
            # A cluster stopped under load: each run leaves an audit row in its transaction.
            Trigger(
                "audited",
                where=Q(processed=False),
                scheduler_cron=None,
                max_attempts=3,  # a rescued attempt runs again
                worker_name="e2eapp.Ticket:audited",
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

    def audited(self, **inputs: Any) -> None:
        job = current_job()
        assert job is not None
        time.sleep(0.05)
        Audit.objects.create(ticket=self.pk, job=job.id)
        self.processed = True
        self.save(update_fields=["processed"])

    def ping(self, **inputs: Any) -> None:
        """Nothing: the test reads when it started."""

    def mark(self, **inputs: Any) -> None:
        self.processed = True
        self.save(update_fields=["processed"])

    @classmethod
    def mark_all(cls, records: list[Ticket], **inputs: Any) -> None:
        cls.objects.filter(pk__in=[record.pk for record in records]).update(processed=True)

    def handle_audited(self, **inputs: Any) -> None:
        # The audit row commits with the job: one row per ticket means it ran once.
        TicketAudit.objects.create(ticket_id=self.pk)
        self.handle(**inputs)

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


class TicketAudit(models.Model):
    # A plain id, not a foreign key: the benchmarks truncate the tickets on their own.
    ticket_id = models.IntegerField()


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


class Audit(models.Model):
    """One row per run of `Ticket.audited`, written in the job's transaction: a run that
    did not complete leaves none."""

    ticket = models.IntegerField()
    job = models.BigIntegerField()


class Delivery(models.Model):
    """Delivered by a trigger with `timeout=5`, whose worker a test freezes mid-attempt."""

    delivered = models.BooleanField(default=False)
    # The first attempt tells the test its process id (to be frozen).
    report_pid = models.BooleanField(default=False)

    class Oban:
        triggers = [
            Trigger(
                "deliver",
                where=Q(delivered=False),
                scheduler_cron=None,
                timeout=5,
                max_attempts=2,
                worker_name="e2eapp.Delivery:deliver",
            ),
        ]

    def deliver(self, **inputs: Any) -> None:
        job = current_job()
        assert job is not None
        # The audit row commits with the job: one row per delivery means it ran once.
        DeliveryAudit.objects.create(delivery=self, attempt=job.attempt, pid=os.getpid())
        if self.report_pid and job.attempt == 1:
            Path(os.environ["E2E_PID_FILE"]).write_text(str(os.getpid()))
        time.sleep(2 if self.report_pid else 0.2)
        self.delivered = True
        self.save(update_fields=["delivered"])


class DeliveryAudit(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE)
    attempt = models.IntegerField()
    pid = models.IntegerField()
