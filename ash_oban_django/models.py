"""The job ledger: one row per unit of work (worker, scheduler and scheduled-action jobs)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.checks import CheckMessage
from django.db import models
from django.db.models import Q

from .states import INCOMPLETE_STATES, RUNNABLE_STATES, WAITING_STATES, Kind, State

__all__ = [
    "ALL_TENANTS",
    "CLAIM_ORDER",
    "UNIQUE_KEY",
    "UNIQUE_WHILE",
    "UNKEYED_ARGS",
    "Job",
    "Kind",
    "Queue",
    "State",
    "args_key",
    "tenant_key",
]


# Django's warnings that a database without partial indexes ignores a condition.
PARTIAL_INDEX_WARNINGS = frozenset({"models.W036", "models.W037"})

# The columns of a job's unique key: its declaration, row, tenant and arguments.
UNIQUE_KEY = ("name", "object_pk", "tenant_key", "args_key")

# A job takes part in uniqueness while incomplete; a completed `trigger_once` job keeps
# blocking for good (the pruner leaves those rows).
UNIQUE_WHILE = Q(state__in=INCOMPLETE_STATES) | Q(state=State.COMPLETED, once=True)

# The order claims take runnable jobs in: priority (0 first), then the longest due, then the
# oldest. The claim index leads with it, and every claim, ORM or SQL, sorts by it.
CLAIM_ORDER = ("priority", "scheduled_at", "id")

# The `tenant_key` of a job not bound to one tenant: a scheduler or scheduled-action job
# that runs over every tenant of `list_tenants`.
ALL_TENANTS = ""


# The parts of a job's args left out of its unique key: `metadata` is read from the row and
# may change while the job waits, and the actor says who asked, not what to do.
UNKEYED_ARGS = frozenset({"metadata", "actor"})


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def tenant_key(tenant: Any) -> str:
    """Canonical JSON of a tenant, so equal tenants compare equal in the unique index."""
    return _canonical_json(tenant)


def args_key(args: dict[str, Any]) -> str:
    """The digest of a job's args in its unique key: sha256 (hex) of the canonical JSON of
    `action_arguments`, `extra_args` and the extra args, so equal arguments compare equal
    in the unique index; "" when there are none."""
    keyed = {k: v for k, v in args.items() if k not in UNKEYED_ARGS}
    if not keyed:
        return ""
    return hashlib.sha256(_canonical_json(keyed).encode()).hexdigest()


class Job(models.Model):
    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=255, help_text="Stable name of the declaration.")
    queue = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField(default=2)
    state = models.CharField(max_length=16, choices=State.choices, default=State.AVAILABLE)
    object_pk = models.TextField(blank=True, default="", help_text="Primary key of the row.")
    tenant = models.JSONField(null=True, blank=True)
    tenant_key = models.TextField(blank=True, default=ALL_TENANTS, editable=False)
    args_key = models.CharField(
        max_length=64,
        blank=True,
        default="",
        editable=False,
        help_text="Digest of the arguments in the unique key.",
    )
    once = models.BooleanField(default=False, help_text="Blocks new jobs after completion.")
    args = models.JSONField(default=dict, blank=True)
    meta = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=1)
    errors = models.JSONField(default=list, blank=True)
    inserted_at = models.DateTimeField()
    scheduled_at = models.DateTimeField()
    attempted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    discarded_at = models.DateTimeField(null=True, blank=True)
    attempted_by = models.CharField(max_length=255, blank=True, default="")

    # Set on instances returned by an insert: True when the database kept an existing job.
    conflict: bool = False

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=UNIQUE_KEY,
                condition=UNIQUE_WHILE,
                name="ash_oban_job_unique_incomplete",
            ),
        ]
        indexes = [
            models.Index(
                fields=["queue", *CLAIM_ORDER],
                condition=Q(state__in=RUNNABLE_STATES),
                name="ash_oban_job_claim",
            ),
            models.Index(
                fields=["attempted_at"],
                condition=Q(state=State.EXECUTING),
                name="ash_oban_job_executing",
            ),
            models.Index(fields=["name", "state"], name="ash_oban_job_name"),
            # The stager's scan, every second: jobs waiting for their time.
            models.Index(
                fields=["scheduled_at"],
                condition=Q(state__in=WAITING_STATES),
                name="ash_oban_job_waiting",
            ),
            # The pruner's three deletes, one per finished state.
            models.Index(
                fields=["completed_at"],
                condition=Q(state=State.COMPLETED),
                name="ash_oban_job_completed",
            ),
            models.Index(
                fields=["cancelled_at"],
                condition=Q(state=State.CANCELLED),
                name="ash_oban_job_cancelled",
            ),
            models.Index(
                fields=["discarded_at"],
                condition=Q(state=State.DISCARDED),
                name="ash_oban_job_discarded",
            ),
            # The dashboard: incomplete jobs counted per queue and state, and each queue's
            # oldest available job (its lag), read from the index alone.
            models.Index(
                fields=["state", "queue", "scheduled_at"],
                condition=Q(state__in=INCOMPLETE_STATES),
                name="ash_oban_job_incomplete",
            ),
        ]

    def __str__(self) -> str:
        target = f" pk={self.object_pk}" if self.object_pk else ""
        return f"{self.name}{target} #{self.pk} ({self.state})"

    @property
    def interruptions(self) -> int:
        """How many of the job's attempts lost their database connection and were given
        back (`Backend.interrupt`)."""
        return int(self.meta.get("interrupted", 0))

    @classmethod
    def check(cls, **kwargs: Any) -> list[CheckMessage]:
        # On MariaDB and MySQL, Django warns that it leaves out the conditional constraint
        # and indexes (models.W036/W037): the initial migration adds what stands for them there.
        return [e for e in super().check(**kwargs) if e.id not in PARTIAL_INDEX_WARNINGS]


class Peer(models.Model):
    """A lease: the node that holds `name` until `expires_at` leads (Oban's `oban_peers`).

    One row, `"maintenance"`, elects the cluster process that stages due jobs, fires crons,
    rescues orphans and prunes (see `dispatch.leader`).
    """

    name = models.CharField(max_length=100, primary_key=True)
    node = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.node} until {self.expires_at:%H:%M:%S}"


class Queue(models.Model):
    """A queue's runtime control (Oban's `pause_queue` / `scale_queue`), read by every
    cluster at its next claim. A queue without a row runs, with `ASH_OBAN["QUEUES"]`'s limit.
    """

    name = models.CharField(max_length=100, primary_key=True)
    paused = models.BooleanField(default=False, help_text="Claims skip the queue's jobs.")
    # `limit` is an SQL keyword: the column has a name the claim statements need not quote.
    limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        db_column="concurrency_limit",
        help_text='Most jobs running at once; empty: ASH_OBAN["QUEUES"]\'s limit, if any.',
    )
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        limit = "" if self.limit is None else f", limit {self.limit}"
        return f"{self.name} ({'paused' if self.paused else 'running'}{limit})"
