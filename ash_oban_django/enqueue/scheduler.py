"""A trigger's scheduler: scan the matching rows and insert one worker job per row.

The scan is a keyset walk over `queryset.filter(where).order_by(*sort, "pk")` in pages of
`stream_batch_size`; each page is inserted with one statement, and rows are fetched as plain
values unless `read_metadata`/`extra_args` need the model instance. Memory stays that of one
page whatever the number of rows. The new jobs are announced once, when the run commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import F, Model, QuerySet

from .. import ledger
from ..actors import store_actor
from ..conf import settings
from ..declarations import DeclarationState
from ..ledger.rows import available_by_queue
from ..registry import RegisteredTrigger
from ..signals import scheduler_finished
from ..tenants import filter_tenant, list_tenants, tenant_context
from .jobs import page_rows

logger = logging.getLogger("ash_oban_django")


@dataclass(frozen=True, slots=True)
class SchedulerReport:
    """What a scheduler run did: rows matched, jobs inserted, rows refused (their
    `read_metadata`/`extra_args` raised or gave a value that cannot be stored); the other
    matched rows are duplicates."""

    matched: int = 0
    inserted: int = 0
    refused: int = 0
    # Jobs inserted available now, per queue: announced when the run commits.
    available: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def duplicates(self) -> int:
        return self.matched - self.inserted - self.refused

    def __add__(self, other: SchedulerReport) -> SchedulerReport:
        available = dict(self.available)
        for queue, count in other.available.items():
            available[queue] = available.get(queue, 0) + count
        return SchedulerReport(
            self.matched + other.matched,
            self.inserted + other.inserted,
            self.refused + other.refused,
            available,
        )


def run_scheduler(
    entry: RegisteredTrigger, *, actor: Any = None, stored_actor: Any = None
) -> SchedulerReport:
    """Enqueue a worker job for every matching row, once per tenant of `list_tenants`. The
    jobs carry `stored_actor` (or `actor`, stored with the actor persister)."""
    total = SchedulerReport()
    if entry.state != DeclarationState.ACTIVE:
        return total
    if actor is not None and stored_actor is None:
        stored_actor = store_actor(actor, entry.declaration)
    for tenant in list_tenants(entry):
        with tenant_context(tenant):
            report = enqueue_matching(entry, tenant, stored_actor)
        scheduler_finished.send_robust(
            entry.model,
            name=entry.scheduler_name,
            worker_name=entry.worker_name,
            queue=entry.queue,
            tenant=tenant,
            matched=report.matched,
            inserted=report.inserted,
            duplicates=report.duplicates,
            refused=report.refused,
        )
        if entry.trigger.debug or settings.DEBUG_ALL_TRIGGERS:
            logger.debug(
                "Scheduler of %s (tenant %r): %s rows matched, %s jobs inserted, "
                "%s duplicates skipped, %s rows refused",
                entry.label,
                tenant,
                report.matched,
                report.inserted,
                report.duplicates,
                report.refused,
            )
        total += report
    ledger.announce(total.available)
    return total


def enqueue_matching(entry: RegisteredTrigger, tenant: Any, stored_actor: Any) -> SchedulerReport:
    report = SchedulerReport()
    for page in scan(entry, tenant):
        rows, refused = page_rows(entry, page, tenant, stored_actor)
        inserted = [] if rows is None else ledger.insert_rows(rows, announce_available=False)
        report += SchedulerReport(len(page), len(inserted), refused, available_by_queue(inserted))
    return report


def matching(entry: RegisteredTrigger, tenant: Any) -> QuerySet[Any]:
    """The rows the trigger's scheduler would enqueue for `tenant`: its queryset, narrowed
    to the tenant's rows and to `where`."""
    queryset = filter_tenant(entry.queryset(), entry, tenant)
    where = entry.trigger.where
    return queryset if where is None else queryset.filter(where)


def scan(entry: RegisteredTrigger, tenant: Any) -> Iterator[Sequence[Any]]:
    """Pages of matching rows: model instances, or `(sort values..., pk)` tuples."""
    trigger = entry.trigger
    want_rows = needs_instances(entry)
    pages = KeysetPages(matching(entry, tenant), [*trigger.sort, "pk"])
    remaining = trigger.record_limit
    while remaining is None or remaining > 0:
        size = trigger.stream_batch_size
        size = size if remaining is None else min(remaining, size)
        page = pages.next(size)
        if not page:
            return
        yield pages.instances(page) if want_rows else page
        if remaining is not None:
            remaining -= len(page)
        if len(page) < size:
            return


class KeysetPages:
    """Keyset pages of `queryset` in `order` (field paths, '-' for descending; pk last).

    The queryset is compiled once; each page wraps it in
    `SELECT ... WHERE (keys) > (last keys) ORDER BY keys LIMIT n`, so a long scan costs one
    small statement a page and no ORM work that grows with it.
    """

    def __init__(self, queryset: QuerySet[Any], order: Sequence[str]) -> None:
        self.queryset = queryset
        self.descending = [name.startswith("-") for name in order]
        self.keys = [f"ash_oban_k{i}" for i in range(len(order))]
        keyed = (
            queryset.annotate(
                **{k: F(n.lstrip("-")) for k, n in zip(self.keys, order, strict=True)}
            )
            .order_by()
            .values_list(*self.keys)
        )
        self.connection = connections[keyed.db]
        sql, params = keyed.query.get_compiler(connection=self.connection).as_sql()
        self.params = list(params)
        self.pk_field = queryset.model._meta.pk
        self.last: tuple[Any, ...] | None = None
        # Both statements are built once: a long scan only changes their parameters.
        quote = self.connection.ops.quote_name
        columns = [quote(k) for k in self.keys]
        order_by = ", ".join(
            f"{c} {'DESC' if desc else 'ASC'}"
            for c, desc in zip(columns, self.descending, strict=True)
        )
        # (k0 > v0) OR (k0 = v0 AND k1 > v1) OR ... with < for descending keys.
        after = " OR ".join(
            "("
            + " AND ".join(
                [*(f"{c} = %s" for c in columns[:i]), f"{column} {'<' if desc else '>'} %s"]
            )
            + ")"
            for i, (column, desc) in enumerate(zip(columns, self.descending, strict=True))
        )
        select = f"SELECT {', '.join(columns)} FROM ({sql}) AS ash_oban_scan"
        self.first_sql = f"{select} ORDER BY {order_by} LIMIT %s"
        self.after_sql = f"{select} WHERE {after} ORDER BY {order_by} LIMIT %s"

    def next(self, size: int) -> list[tuple[Any, ...]]:
        if self.last is None:
            sql, params = self.first_sql, [*self.params, size]
        else:
            # For key i: the values of keys 0..i-1 (equal), then the value of key i.
            keyset = [v for i in range(len(self.keys)) for v in self.last[: i + 1]]
            sql, params = self.after_sql, [*self.params, *keyset, size]
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if rows:
            self.last = tuple(rows[-1])
        # The pk as the model's field reads it (a UUID stored as text on SQLite, say), so the
        # job's object_pk is the same whoever inserts it.
        to_python = self.pk_field.to_python
        return [(*row[:-1], to_python(row[-1])) for row in rows]

    def instances(self, page: Sequence[tuple[Any, ...]]) -> list[Model]:
        """The page's rows as model instances, in page order (for `read_metadata` and
        callable `extra_args`, which see the whole row)."""
        pks = [row[-1] for row in page]
        by_pk = {obj.pk: obj for obj in self.queryset.filter(pk__in=pks)}
        return [by_pk[pk] for pk in pks if pk in by_pk]


def needs_instances(entry: RegisteredTrigger) -> bool:
    trigger = entry.trigger
    return (
        trigger.read_metadata is not None
        or callable(trigger.extra_args)
        or (trigger.use_tenant_from_record and entry.options.tenant_field is not None)
    )
