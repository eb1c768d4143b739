"""Models the tests declare triggers on, mostly with `register()` inside a test.

The app has no migrations: the test runner creates its tables directly.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models import Q

from ash_oban_django import Trigger, current_job


class Widget(models.Model):
    """A plain model without `class Oban`; tests register triggers on it."""

    name = models.CharField(max_length=50, default="")
    done = models.BooleanField(default=False)
    errored = models.BooleanField(default=False)
    rank = models.IntegerField(default=0)
    tenant = models.CharField(max_length=20, default="", blank=True)
    calls = models.IntegerField(default=0)
    note = models.TextField(default="", blank=True)
    due_at = models.DateTimeField(null=True, blank=True)

    def finish(self, **inputs: Any) -> None:
        self.done = True
        self.calls += 1
        self.note = repr(sorted(inputs.items()))
        self.save()

    def mark_errored(self, *, error: BaseException) -> None:
        self.errored = True
        self.note = f"{type(error).__name__}: {error}"
        self.save()

    def record_context(self, **inputs: Any) -> None:
        """Write down who and for which tenant the job ran."""
        job = current_job()
        assert job is not None
        actor = getattr(job.actor, "username", job.actor)
        self.done = True
        self.note = f"actor={actor} tenant={job.tenant} attempt={job.attempt}"
        self.save()

    def finish_unless_bad(self, **inputs: Any) -> None:
        """Writes, then fails for a widget named "bad" (its write must roll back)."""
        self.finish(**inputs)
        if self.name == "bad":
            raise ValueError(f"widget {self.pk} is bad")

    @classmethod
    def finish_all(cls, records: list[Widget], **inputs: Any) -> dict[int, BaseException]:
        """A bulk action: one UPDATE finishes the chunk's rows, but those named "bad", which
        it reports failed. Each row notes the chunk it ran in."""
        failed: dict[int, BaseException] = {
            r.pk: ValueError(f"widget {r.pk} is bad") for r in records if r.name == "bad"
        }
        chunk = ",".join(str(r.pk) for r in records)
        cls.objects.filter(pk__in=[r.pk for r in records if r.pk not in failed]).update(
            done=True,
            calls=models.F("calls") + 1,
            note=f"chunk={chunk} inputs={sorted(inputs.items())}",
        )
        return failed

    @classmethod
    def nightly(cls, **inputs: Any) -> None:
        job = current_job()
        assert job is not None
        cls.objects.create(
            name="nightly",
            tenant=job.tenant or "",
            note=f"{sorted(inputs.items())} last_attempt={job.last_attempt}",
        )


class Token(models.Model):
    """A model with a UUID primary key (stored as text on SQLite)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    used = models.BooleanField(default=False)

    def use(self, **inputs: Any) -> None:
        self.used = True
        self.save()


class Shipment(models.Model):
    """An abstract parent whose `class Oban` its children share, with stable names per child
    from a name template. No scheduler: the tests that schedule every trigger of `testapp`
    count Widget's alone."""

    shipped = models.BooleanField(default=False)
    shipped_as = models.CharField(max_length=50, default="", blank=True)

    class Meta:
        abstract = True

    class Oban:
        triggers = [
            Trigger(
                "ship",
                where=Q(shipped=False),
                scheduler_cron=None,
                worker_name="{app_label}.{model}:ship",
            )
        ]

    def ship(self, **inputs: Any) -> None:
        self.shipped = True
        self.shipped_as = type(self).__name__
        self.save()


class Crate(Shipment):
    pass


class Envelope(Shipment):
    pass
