"""What `manage.py ash_oban_status` shows, as plain data: declarations, job counts, and the
stable names of waiting jobs that no declaration has any more (a rename without `worker_name`).

>>> [row.label for row in declarations_table()]
['shop.Order:import_orders', 'shop.Order:process']
>>> job_counts()
{'shop.Order:process': {'available': 3, 'completed': 12, 'completed (on_error)': 2}}
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from croniter import croniter
from django.core.management.base import OutputWrapper
from django.db.models import Case, Count, Q, Value, When
from django.utils import timezone
from rich.console import Console

from . import ledger
from .declarations import DeclarationState
from .models import Job
from .registry import RegisteredTrigger, registry
from .states import INCOMPLETE_STATES, ON_ERROR_HANDLED, Kind, State

# A job completed because its trigger's on_error handled the final failure: the worker
# writes `meta["on_error"] = "handled"`. Shown apart from a completion by the action.
ON_ERROR_COMPLETED = "completed (on_error)"
_COMPLETED_BY_ON_ERROR = Q(state=State.COMPLETED, meta__on_error=ON_ERROR_HANDLED)
# The states as shown to operators, in the order of `State`.
STATE_LABELS = tuple(
    label
    for state in State
    for label in ((state.value, ON_ERROR_COMPLETED) if state == State.COMPLETED else (state.value,))
)


def state_label(job: Job) -> str:
    """The job's state, or `ON_ERROR_COMPLETED` when on_error completed it."""
    if job.state == State.COMPLETED and job.meta.get("on_error") == ON_ERROR_HANDLED:
        return ON_ERROR_COMPLETED
    return job.state


@dataclass(frozen=True, slots=True)
class DeclarationRow:
    label: str  # "app_label.Model:name"
    kind: str  # "trigger" or "scheduled action"
    cron: str | None
    state: str
    queue: str
    scheduler_queue: str | None
    worker_name: str
    scheduler_name: str | None  # None: no scheduler (a trigger without cron, or an action)
    timezone: str | None = None  # the cron's own time zone; None: TIME_ZONE

    def next_run(self, at: datetime) -> datetime | None:
        """When the cron fires next after `at`, in its time zone (see `next_run`)."""
        return next_run(self.cron, self.state, at, self.timezone)


def next_run(
    cron: str | None, state: str, at: datetime, zone: str | None = None
) -> datetime | None:
    """When `cron`, read in time zone `zone` (an IANA name; None: `TIME_ZONE`), fires next
    after `at`; None without a cron or when not active."""
    if cron is None or state != DeclarationState.ACTIVE:
        return None
    local = timezone.localtime(at, zoneinfo.ZoneInfo(zone) if zone else None)
    found: datetime = croniter(cron, local).get_next(datetime)
    return found


@dataclass(frozen=True, slots=True)
class DanglingName:
    name: str
    kind: str  # the jobs' `Job.kind`: which option the renamed declaration needs
    count: int

    @property
    def option(self) -> str:
        return "scheduler_name" if self.kind == Kind.SCHEDULER else "worker_name"


def declarations_table() -> list[DeclarationRow]:
    """Every active trigger and scheduled action, sorted by label."""
    rows = []
    for entry in sorted(registry.entries(), key=lambda e: e.label):
        scheduler_name = scheduler_queue = None
        if isinstance(entry, RegisteredTrigger) and entry.cron is not None:
            scheduler_name, scheduler_queue = entry.scheduler_name, entry.scheduler_queue
        rows.append(
            DeclarationRow(
                label=entry.label,
                kind="trigger" if entry.is_trigger else "scheduled action",
                cron=entry.cron,
                state=entry.state,
                queue=entry.queue,
                scheduler_queue=scheduler_queue,
                worker_name=entry.worker_name,
                scheduler_name=scheduler_name,
                timezone=entry.declaration.timezone if entry.cron is not None else None,
            )
        )
    return rows


def job_counts() -> dict[str, dict[str, int]]:
    """`{stable name: {state label: jobs}}` over the whole ledger, from one GROUP BY query.
    The labels are those of `STATE_LABELS`: completions by on_error are counted apart."""
    counts: dict[str, dict[str, int]] = {}
    label = Case(When(_COMPLETED_BY_ON_ERROR, then=Value(ON_ERROR_COMPLETED)), default="state")
    rows = (
        ledger.jobs()
        .annotate(label=label)
        .values_list("name", "label")
        .annotate(n=Count("id"))
        .order_by("name")
    )
    for name, state, n in rows:
        counts.setdefault(name, {})[state] = n
    return counts


def dangling_names() -> list[DanglingName]:
    """Stable names of incomplete jobs that no registered declaration has: a worker would
    discard those jobs. Django tasks are named by their function, not by a declaration."""
    known = {name for entry in registry.entries() for name in entry.stable_names}
    rows = (
        ledger.jobs()
        .filter(state__in=INCOMPLETE_STATES)
        .exclude(kind=Kind.TASK)
        .exclude(name__in=known)
        .values_list("name", "kind")
        .annotate(n=Count("id"))
        .order_by("name", "kind")
    )
    return [DanglingName(name, kind, n) for name, kind, n in rows]


class _Stream:
    """`OutputWrapper.write` ends every write with a newline; rich writes partial lines."""

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return bool(self.out.isatty())


# Characters per line off a terminal: wide enough that the declarations table, next run
# included, keeps each cell on one line (logs and pipes read it line by line).
PLAIN_WIDTH = 240


def console(out: OutputWrapper, *, no_color: bool = False, force_color: bool = False) -> Console:
    """A rich console writing to a command's `self.stdout`, honouring `--no-color` and
    `--force-color`. Off a terminal it writes plain, unwrapped text."""
    tty = force_color or bool(out.isatty())
    return Console(
        file=_Stream(out),  # type: ignore[arg-type]
        force_terminal=tty,
        no_color=no_color or not tty,
        width=None if tty else PLAIN_WIDTH,
        highlight=False,
        markup=False,  # stable names are data, not rich markup
    )
