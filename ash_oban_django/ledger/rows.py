"""What the ledger writes, independent of the database: a new job's column values, pages of
jobs as columns for one insert, and how an error is stored on its job (and JSON checked)."""

from __future__ import annotations

import math
import os
import re
import socket
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from ..models import ALL_TENANTS, UNIQUE_KEY, Job, args_key, tenant_key
from ..states import State

# Every column but the primary key, in field order: the columns an insert writes.
FIELDS = {f.attname: f for f in Job._meta.concrete_fields if not f.primary_key}
ATTNAMES = list(FIELDS)


def now() -> datetime:
    return timezone.now()


def schedule_in(seconds: float) -> datetime:
    return now() + timedelta(seconds=seconds)


def node_name() -> str:
    """Who attempted a job: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def job_values(
    *,
    kind: str,
    name: str,
    queue: str,
    priority: int,
    max_attempts: int,
    object_pk: str = "",
    tenant: Any = None,
    bound: bool = True,
    args: dict[str, Any] | None = None,
    tags: Iterable[str] = (),
    once: bool = False,
    scheduled_at: datetime | None = None,
    at: datetime | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The column values of a new job, inserted `at` (now). `bound=False` marks a
    scheduler/action job that covers all tenants; `meta` is the caller's metadata."""
    at = at or now()
    due = scheduled_at or at
    args = args or {}
    return {
        "kind": kind,
        "name": name,
        "queue": queue,
        "priority": priority,
        "max_attempts": max_attempts,
        "object_pk": object_pk,
        "tenant": tenant if bound else None,
        "tenant_key": tenant_key(tenant) if bound else ALL_TENANTS,
        "args_key": args_key(args),
        "once": once,
        "args": args,
        "meta": dict(meta or {}),
        "tags": list(tags),
        "attempt": 0,
        "errors": [],
        "inserted_at": at,
        "scheduled_at": due,
        "attempted_at": None,
        "completed_at": None,
        "cancelled_at": None,
        "discarded_at": None,
        "attempted_by": "",
        "state": State.SCHEDULED if due > at else State.AVAILABLE,
    }


def new_job(**values: Any) -> Job:
    """An unsaved job (arguments as for `job_values`)."""
    return Job(**job_values(**values))


@dataclass
class Rows:
    """Jobs to insert, as columns: `common` values shared by every row, `varying` lists."""

    common: dict[str, Any]
    varying: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(next(iter(self.varying.values()))) if self.varying else 1

    @classmethod
    def of(cls, rows: Sequence[dict[str, Any]]) -> Rows:
        common: dict[str, Any] = {}
        varying: dict[str, list[Any]] = {}
        for name in ATTNAMES:
            values = [row[name] for row in rows]
            if all(value == values[0] for value in values):
                common[name] = values[0]
            else:
                varying[name] = values
        if not varying:  # keep the row count in the columns
            varying["object_pk"] = [common.pop("object_pk")] * len(rows)
        return cls(common, varying)

    @classmethod
    def of_jobs(cls, jobs: Sequence[Job]) -> Rows:
        return cls.of([{name: getattr(job, name) for name in ATTNAMES} for job in jobs])

    def prepared(self, connection: BaseDatabaseWrapper) -> Rows:
        """The same rows, each value as the database's driver takes it (as the ORM saves it)."""

        def prepare(name: str, value: Any) -> Any:
            return FIELDS[name].get_db_prep_save(value, connection)

        return Rows(
            {name: prepare(name, value) for name, value in self.common.items()},
            {name: [prepare(name, v) for v in values] for name, values in self.varying.items()},
        )


# What an insert returns of each inserted row: id, its unique key (name, object_pk,
# tenant_key, args_key), queue, state.
Inserted = tuple[int, str, str, str, str, str, str]


def unique_key(job: Job) -> tuple[str, ...]:
    """The values of a job's unique key, as an insert returns them."""
    return tuple(getattr(job, name) for name in UNIQUE_KEY)


def available_by_queue(inserted: Sequence[Inserted]) -> dict[str, int]:
    """How many of the `inserted` rows are available now, per queue."""
    counts: dict[str, int] = {}
    for *_, queue, state in inserted:
        if state == State.AVAILABLE:
            counts[queue] = counts.get(queue, 0) + 1
    return counts


# The most characters of an error's message and of its traceback an `errors` entry keeps
# (docs/running.md): beyond it, the head and the tail are kept around a note that says how
# many characters were cut (`_CUT`).
ERROR_MESSAGE_LIMIT = 2_000
ERROR_TRACEBACK_LIMIT = 20_000
_CUT = "\n[... {cut} characters cut of {size} ...]\n"
# What PostgreSQL's text and jsonb refuse: NUL, and surrogates without their pair.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_json(name: str, value: Any) -> None:
    """Refuse, before anything is sent, a value that JSON cannot carry exactly on every
    database: a type JSON has no form for (`TypeError`), or NaN, an infinity, a NUL
    character or a lone surrogate (`ValueError`, which PostgreSQL's `jsonb` and MariaDB's
    JSON functions refuse or change). The message names where the value sits, under `name`.
    """
    stack: list[tuple[str, Any]] = [(name, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                raise ValueError(
                    f"{path} holds a NUL character or a lone surrogate ({item[:40]!r}), "
                    "which JSON columns cannot store: remove or encode it"
                )
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{path} is {item!r}, which JSON has no form for: use None")
        elif isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"{path} has a key {key!r}: JSON object keys are strings")
                stack.append((path, key))
                stack.append((f"{path}[{key!r}]", inner))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{i}]", inner) for i, inner in enumerate(item))
        elif item is not None and not isinstance(item, bool | int):
            raise TypeError(
                f"{path} is {type(item).__name__} {item!r}: job arguments are JSON (str, "
                "int, float, bool, None, lists and dicts of them); pass e.g. its pk or text"
            )


def error_entry(
    attempt: int, error: BaseException, *, worker: str = "", started_at: datetime | None = None
) -> dict[str, Any]:
    """One `errors` entry of a job: `{attempt, at, error, traceback, exception, worker,
    started_at}`, whatever the error holds: every text is storable and bounded
    (`ERROR_MESSAGE_LIMIT`, `ERROR_TRACEBACK_LIMIT`). `exception` is the error's class path;
    `worker` and `started_at` tell who ran the attempt and when it began (a task's result
    reports both per attempt)."""
    kind = type(error)
    return {
        "attempt": attempt,
        "at": now().isoformat(),
        "error": storable(describe(error), ERROR_MESSAGE_LIMIT),
        "traceback": storable(format_traceback(error), ERROR_TRACEBACK_LIMIT),
        "exception": f"{kind.__module__}.{kind.__qualname__}",
        "worker": worker,
        "started_at": started_at.isoformat() if started_at else None,
    }


def describe(error: BaseException) -> str:
    """`Type: message`, even when the error's `__str__` raises."""
    return f"{type(error).__name__}: {message(error)}"


def message(error: BaseException) -> str:
    """`str(error)`, or what stands for it when its `__str__` raises."""
    try:
        return str(error)
    except Exception as failure:  # noqa: BLE001 - the message is all that is lost
        try:
            why = str(failure)
        except Exception:  # noqa: BLE001
            why = "?"
        return (
            f"<unprintable {type(error).__name__}: __str__ raised {type(failure).__name__}: {why}>"
        )


def format_traceback(error: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(error))
    except Exception as failure:  # noqa: BLE001 - the traceback is all that is lost
        return f"<no traceback: formatting it raised {type(failure).__name__}>"


def storable(text: str, limit: int) -> str:
    """`text` as a job row can store it: characters the database refuses replaced with
    U+FFFD, and at most about `limit` characters, the head and the tail of a longer text kept
    around a note that gives the characters cut and the original size."""
    size = len(text)
    if size > limit:
        # The note's longest form, so that head + note + tail stays within `limit`.
        keep = max((limit - len(_CUT.format(cut=size, size=size))) // 2, 0)
        cut = _CUT.format(cut=size - 2 * keep, size=size)
        text = f"{text[:keep]}{cut}{text[size - keep :]}"
    return _UNSTORABLE.sub("\ufffd", text)
