"""The ledger's queries: its job and queue rows, and the jobs a claim may take now.

Every claim reads a queue's runtime control (`queues.py`) through `HELD`: the hand-written
claim statements compile it (`_sql.Statements`), the ORM claims filter with it here.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from ..conf import settings
from ..models import Job, Queue
from ..states import RUNNABLE_STATES
from .rows import now

# A `Queue` row whose jobs no claim takes.
PAUSED = Q(paused=True)
# A `Queue` row whose jobs the claims that do not count running jobs leave alone: paused, or
# given a limit at runtime (the counting claim, `Backend.claim` with `max_running`, takes those).
HELD = PAUSED | Q(limit__isnull=False)


def jobs(using: str | None = None) -> QuerySet[Job]:
    """The jobs of the ledger's database (or of `using`)."""
    return Job.objects.using(using or settings.DATABASE)


def queue_rows(using: str | None = None) -> QuerySet[Queue]:
    """The queues' runtime controls (`ledger.queues`)."""
    return Queue.objects.using(using or settings.DATABASE)


def runnable(
    queue: str | None = None, *, unlimited: bool = False, using: str | None = None
) -> QuerySet[Job]:
    """Jobs a claim may take now: available, or scheduled/retryable and due, of a queue that
    is not paused. With `unlimited`, not of a queue given a limit at runtime either (`HELD`)."""
    held = queue_rows(using).filter(HELD if unlimited else PAUSED).values("name")
    found = jobs(using).filter(state__in=RUNNABLE_STATES, scheduled_at__lte=now())
    found = found.exclude(queue__in=held)
    return found if queue is None else found.filter(queue=queue)
