"""Runtime queue control (Oban's `pause_queue`, `resume_queue`, `scale_queue`): one `Queue` row
per controlled queue, in the ledger's database, so every cluster obeys it at its next claim
without a deploy.

The claims read the row themselves (see `Backend.claim`): a paused queue's jobs are skipped
and stay where they are; a queue with a stored limit is claimed through the counting path,
with the stored limit over `ASH_OBAN["QUEUES"][queue]["limit"]`, which stays the default.
Dispatch reads a queue's limit through `queue_controls` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from ..conf import settings
from ..models import Queue
from .queries import queue_rows
from .rows import now


@dataclass(frozen=True, slots=True)
class QueueControl:
    """A queue as the claims see it now: paused or not, and its limit (stored, else the
    setting's; None: no limit)."""

    name: str
    paused: bool = False
    limit: int | None = None
    stored_limit: bool = False  # the limit comes from the `Queue` row, not the setting


def queue_controls(queues: Iterable[str]) -> dict[str, QueueControl]:
    """Each queue's control, from one query: the `Queue` row where there is one, the
    `ASH_OBAN["QUEUES"]` limit where it sets none."""
    names = sorted(set(queues))
    rows = {row.name: row for row in queue_rows().filter(name__in=names)} if names else {}
    controls = {}
    for name in names:
        row = rows.get(name)
        stored = row is not None and row.limit is not None
        controls[name] = QueueControl(
            name=name,
            paused=bool(row and row.paused),
            limit=row.limit if row is not None and stored else settings.queue_limit(name),
            stored_limit=stored,
        )
    return controls


def queue_limit(name: str) -> int | None:
    """Most jobs of queue `name` that may run at once now (None: no limit)."""
    return queue_controls([name])[name].limit


def _set(name: str, **changes: object) -> Queue:
    if not name or len(name) > Queue._meta.get_field("name").max_length:  # type: ignore[operator]
        raise ValueError(f"`name` must be a queue name of 1 to 100 characters, got {name!r}")
    with transaction.atomic(using=settings.DATABASE):
        row, _ = queue_rows().update_or_create(name=name, defaults={**changes, "updated_at": now()})
    return row


def pause(name: str) -> Queue:
    """Claims skip the queue's jobs from now on; jobs already running finish."""
    return _set(name, paused=True)


def resume(name: str) -> Queue:
    """Claims take the queue's jobs again."""
    return _set(name, paused=False)


def scale(name: str, limit: int | None) -> Queue:
    """Run at most `limit` of the queue's jobs at once; None goes back to the setting's."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"`limit` must be a positive int or None, got {limit!r}")
    return _set(name, limit=limit)
