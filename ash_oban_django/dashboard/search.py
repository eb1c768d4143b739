"""The dashboard's job search: find jobs by id, stable name, tag, or a word of their
arguments or errors, and the selection a bulk retry or cancel of the result acts on.

A search must stay fast on a ledger of millions of jobs, where no index covers the text of
the JSON columns. So it looks up what an index reaches in the whole ledger, and reads the
rest in a bounded window:

- an id (`123` or `#123`): the primary key;
- a stable name (the query is one, or part of a declared one): `ash_oban_job_name`;
- a tag or a word of the arguments or errors: only among the newest `TEXT_WINDOW` jobs (an
  id range of the primary key), newest first; the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, Q, QuerySet, TextField
from django.db.models.functions import Cast, Lower
from django.utils.text import Truncator

from .. import ledger
from ..models import Job
from ..registry import registry
from ..states import State

# Jobs listed for a search, newest first.
SEARCH_LIMIT = 50
# How many of the newest jobs a search by tag or text reads.
TEXT_WINDOW = 100_000
# Characters of a job's last error shown in the list.
ERROR_HEAD = 160
# The longest query taken (a word, a name or an id).
QUERY_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Found:
    """One job in a search's result."""

    job_id: int
    name: str
    queue: str
    state: str
    attempt: int
    max_attempts: int
    inserted_at: datetime
    error: str


@dataclass(frozen=True, slots=True)
class JobSearch:
    """A search: the text typed, and a state to narrow it to ("" for any)."""

    query: str
    state: str = ""

    def __post_init__(self) -> None:
        if self.state and self.state not in State.values:
            raise ValueError(
                f"`state` must be one of {', '.join(State.values)} or empty, got {self.state!r}"
            )
        if len(self.query) > QUERY_LIMIT:
            raise ValueError(f"a search is at most {QUERY_LIMIT} characters, got {len(self.query)}")

    @property
    def text(self) -> str:
        return self.query.strip()

    @property
    def is_id(self) -> bool:
        digits = self.text.removeprefix("#")
        return digits.isdigit()

    def jobs(self) -> QuerySet[Job]:
        """Every job the search matches (what a bulk action of its result acts on)."""
        text = self.text
        found = ledger.jobs()
        if self.state:
            found = found.filter(state=self.state)
        if not text:
            return found.none()
        if self.is_id:
            return found.filter(pk=int(text.removeprefix("#")))
        word = text.lower()
        names = {text} | {n for n in registry_names() if word in n.lower()}
        by_text = (
            ledger.engine().tagged(text)
            | Q(args_text__contains=word)
            | Q(errors_text__contains=word)
        )
        newest = ledger.jobs().aggregate(top=Max("id"))["top"] or 0
        recent = Q(pk__gt=newest - TEXT_WINDOW) & by_text
        return found.alias(
            args_text=Lower(Cast("args", TextField())),
            errors_text=Lower(Cast("errors", TextField())),
        ).filter(Q(name__in=sorted(names)) | recent)

    def results(self, limit: int = SEARCH_LIMIT) -> list[Found]:
        """The newest `limit` jobs the search matches."""
        fields = ("id", "name", "queue", "state", "attempt", "max_attempts", "inserted_at")
        rows = self.jobs().order_by("-id").only(*fields, "errors", "meta")[:limit]
        return [
            Found(
                job.pk,
                job.name,
                job.queue,
                job.state,
                job.attempt,
                job.max_attempts,
                job.inserted_at,
                error_head(job),
            )
            for job in rows
        ]

    def count(self, action: str) -> int:
        """How many of the matching jobs `action` (`retry`, `cancel`) would change."""
        return ledger.count_jobs(action, self.jobs())


def registry_names() -> list[str]:
    """Every stable name the declarations give their jobs."""
    return [name for entry in registry.entries() for name in entry.stable_names]


def error_head(job: Job) -> str:
    """The first line of the job's last error (or its cancel reason), shortened."""
    if not job.errors:
        return str(job.meta.get("cancel_reason", ""))
    lines = str(job.errors[-1].get("error", "")).strip().splitlines()
    return Truncator(lines[0] if lines else "").chars(ERROR_HEAD)
