"""Operator actions on every job a filter selects: retry, cancel, delete (Oban's
`retry_all_jobs`, `cancel_all_jobs`), for the API, the command and the dashboard.

However many jobs match, each action works in batches of `BATCH_SIZE` jobs by ascending id,
one short transaction per batch, so no transaction holds thousands of row locks or blocks
the clusters for long. An `executing` job is never touched: it is not selected, and where
rows lock (PostgreSQL, MariaDB, MySQL) a batch locks its rows with `SKIP LOCKED`, so a job a
worker claimed meanwhile is skipped rather than waited for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet

from ..models import Job
from ..states import INCOMPLETE_STATES, State
from .backend import Backend
from .rows import now

# Jobs changed per transaction.
BATCH_SIZE = 1000
# The states each action takes jobs from: never `executing` (a running job cannot be stopped
# or retried from outside), nor `available` for a retry (it is about to run anyway).
ELIGIBLE: dict[str, tuple[State, ...]] = {
    "retry": tuple(s for s in State if s not in (State.EXECUTING, State.AVAILABLE)),
    "cancel": tuple(s for s in INCOMPLETE_STATES if s != State.EXECUTING),
    "delete": tuple(s for s in State if s != State.EXECUTING),
}
# Called after each batch with how many jobs it looked at (a progress bar's advance).
Progress = Callable[[int], None]
# What a batch does to its locked jobs; returns how many it changed.
Change = Callable[[QuerySet[Job]], int]


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs a bulk action selects; every criterion given must hold.

    `queue`, `state` and `name` take one value or several; `tag` selects jobs that carry the
    tag; `before`/`after` bound when a job was inserted (`inserted_at`), as a datetime or as
    a `timedelta` back from now (`after=timedelta(hours=2)`: inserted in the last two hours).
    """

    queue: str | Iterable[str] | None = None
    state: str | Iterable[str] | None = None
    name: str | Iterable[str] | None = None
    tag: str | None = None
    before: datetime | timedelta | None = None
    after: datetime | timedelta | None = None

    def apply(self, jobs: QuerySet[Job], engine: Backend) -> QuerySet[Job]:
        """`jobs` narrowed to this filter's (tags as `engine` finds them); raises
        `ValueError` on a value it cannot use."""
        for field in ("queue", "name"):
            values = _values(field, getattr(self, field))
            if values is not None:
                jobs = jobs.filter(**{f"{field}__in": values})
        states = _values("state", self.state)
        if states is not None:
            unknown = sorted(set(states) - set(State.values))
            if unknown:
                raise ValueError(
                    f"`state` must be one of {', '.join(State.values)}, got {', '.join(unknown)}"
                )
            jobs = jobs.filter(state__in=states)
        if self.tag is not None:
            if not isinstance(self.tag, str) or not self.tag:
                raise ValueError(f"`tag` must be a non-empty string, got {self.tag!r}")
            jobs = jobs.filter(engine.tagged(self.tag))
        if self.before is not None:
            jobs = jobs.filter(inserted_at__lt=_moment("before", self.before))
        if self.after is not None:
            jobs = jobs.filter(inserted_at__gte=_moment("after", self.after))
        return jobs


def _values(field: str, value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value) if _iterable(value) else []
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"`{field}` must be a non-empty string or a list of them, got {value!r}")
    return values


def _iterable(value: object) -> bool:
    return isinstance(value, list | tuple | set | frozenset)


def _moment(field: str, value: datetime | timedelta) -> datetime:
    if isinstance(value, timedelta):
        return now() - value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"`{field}` must be an aware datetime (with a tzinfo), got {value!r}")
        return value
    raise ValueError(f"`{field}` must be a datetime or a timedelta, got {value!r}")


def eligible(action: str, jobs: QuerySet[Job]) -> QuerySet[Job]:
    """The jobs of `jobs` that `action` (`retry`, `cancel`, `delete`) would change."""
    try:
        states = ELIGIBLE[action]
    except KeyError:
        raise ValueError(f"`action` must be one of {', '.join(ELIGIBLE)}, got {action!r}") from None
    return jobs.filter(state__in=states)


def in_batches(
    action: str,
    jobs: QuerySet[Job],
    change: Change,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> int:
    """Apply `change` to the jobs of `jobs` that `action` may change, a batch at a time, each
    in its own transaction with its rows locked (`SKIP LOCKED`); returns how many changed."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}")
    alias = jobs.db
    selected = eligible(action, jobs).order_by("pk").values_list("pk", flat=True)
    states = ELIGIBLE[action]
    last = 0
    changed = 0
    while True:
        ids = list(selected.filter(pk__gt=last)[:batch_size])
        if not ids:
            return changed
        last = ids[-1]
        with transaction.atomic(using=alias):
            # Still eligible (a claim may have taken one since), and not locked by anyone.
            mine = (
                Job.objects.using(alias)
                .filter(pk__in=ids, state__in=states)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)
            )
            locked = list(mine)
            if locked:
                changed += change(Job.objects.using(alias).filter(pk__in=locked))
        if progress is not None:
            progress(len(ids))
