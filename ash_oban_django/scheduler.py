"""A trigger's scheduler: scan the matching rows and insert one worker job per row.

The scan is a keyset walk over `queryset.filter(where).order_by(*sort, "pk")` in pages of
`stream_batch_size`; each page is inserted with one statement, and rows are fetched as plain
values unless `read_metadata`/`extra_args` need the model instance. Memory stays that of one
page whatever the number of rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.models import F, Model, QuerySet

from . import ledger
from .actors import store_actor
from .conf import settings
from .models import Job, Kind
from .registry import RegisteredTrigger
from .signals import scheduler_finished
from .tenants import filter_tenant, list_tenants, tenant_context

logger = logging.getLogger("ash_oban_django")


@dataclass(frozen=True, slots=True)
class SchedulerReport:
    matched: int = 0
    inserted: int = 0

    @property
    def duplicates(self) -> int:
        return self.matched - self.inserted

    def __add__(self, other: SchedulerReport) -> SchedulerReport:
        return SchedulerReport(self.matched + other.matched, self.inserted + other.inserted)


def run_scheduler(
    entry: RegisteredTrigger, *, actor: Any = None, stored_actor: Any = None
) -> SchedulerReport:
    """Enqueue a worker job for every matching row, once per tenant of `list_tenants`."""
    total = SchedulerReport()
    if entry.state != "active":
        return total
    if actor is not None and stored_actor is None:
        stored_actor = store_actor(actor)
    for tenant in list_tenants(entry):
        with tenant_context(tenant):
            report = enqueue_matching(entry, tenant, stored_actor)
        scheduler_finished.send_robust(
            entry.model,
            name=entry.scheduler_name,
            tenant=tenant,
            matched=report.matched,
            inserted=report.inserted,
            duplicates=report.duplicates,
        )
        if entry.trigger.debug or settings.DEBUG_ALL_TRIGGERS:
            logger.debug(
                "Scheduler of %s (tenant %r): %s rows matched, %s jobs inserted, "
                "%s duplicates skipped",
                entry.label,
                tenant,
                report.matched,
                report.inserted,
                report.duplicates,
            )
        total += report
    return total


def enqueue_matching(entry: RegisteredTrigger, tenant: Any, stored_actor: Any) -> SchedulerReport:
    report = SchedulerReport()
    for page in scan(entry, tenant):
        inserted = ledger.insert_rows(page_rows(entry, page, tenant, stored_actor))
        report += SchedulerReport(len(page), len(inserted))
    return report


def scan(entry: RegisteredTrigger, tenant: Any) -> Iterator[Sequence[Any]]:
    """Pages of matching rows: model instances, or `(sort values..., pk)` tuples."""
    trigger = entry.trigger
    queryset = filter_tenant(entry.queryset(), entry, tenant)
    if trigger.where is not None:
        queryset = queryset.filter(trigger.where)
    want_rows = needs_instances(entry)
    pages = KeysetPages(queryset, [*trigger.sort, "pk"])
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


def job_row(
    entry: RegisteredTrigger,
    row: Any,
    tenant: Any,
    stored_actor: Any,
    *,
    action_arguments: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    at: datetime | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The worker job's values for one row (a model instance or a values tuple ending with
    the pk). In the args, our keys win over `extra_args`, which win over `extra`."""
    trigger = entry.trigger
    record = row if isinstance(row, Model) else None
    pk = record.pk if record is not None else row[-1]
    if tenant is None and trigger.use_tenant_from_record and record is not None:
        field = entry.options.tenant_field
        tenant = getattr(record, field) if field else None
    args: dict[str, Any] = dict(extra or {})
    extra_args = trigger.extra_args
    if callable(extra_args):
        extra_args = extra_args(record) if record is not None else None
    if extra_args:
        args["extra_args"] = dict(extra_args)
    if action_arguments:
        args["action_arguments"] = action_arguments
    if trigger.read_metadata is not None and record is not None:
        args["metadata"] = trigger.read_metadata(record)
    if stored_actor is not None:
        args["actor"] = stored_actor
    return ledger.job_values(
        kind=Kind.TRIGGER,
        name=entry.worker_name,
        queue=options.get("queue") or entry.queue,
        priority=options.get("priority", trigger.worker_priority),
        max_attempts=options.get("max_attempts", trigger.max_attempts),
        object_pk=str(pk),
        tenant=tenant,
        args=args,
        tags=[*trigger.tags, *options.get("tags", ())],
        once=trigger.trigger_once,
        scheduled_at=options.get("scheduled_at"),
        at=at,
    )


def build_job(
    entry: RegisteredTrigger, row: Any, tenant: Any, stored_actor: Any, **options: Any
) -> Job:
    """The unsaved worker job for one row (options as for `job_row`)."""
    return Job(**job_row(entry, row, tenant, stored_actor, **options))


def page_rows(
    entry: RegisteredTrigger, page: Sequence[Any], tenant: Any, stored_actor: Any
) -> ledger.Rows:
    """The worker jobs of one scanned page, as columns for one insert."""
    at = ledger.now()
    if isinstance(page[0], Model):
        return ledger.Rows.of([job_row(entry, row, tenant, stored_actor, at=at) for row in page])
    # Plain values: every job is the same but for its row's pk.
    common = job_row(entry, page[0], tenant, stored_actor, at=at)
    del common["object_pk"]
    return ledger.Rows(common, {"object_pk": [str(row[-1]) for row in page]})
