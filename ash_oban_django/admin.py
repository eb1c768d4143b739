"""The job ledger in the Django admin: read-only rows, filters, errors, retry and cancel, and
deletion (with the delete permission) of any job that is not executing. The job admin also
serves the dashboard's pages (`dashboard.views`) under its URLs and permissions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from . import ledger
from .dashboard.views import urls as dashboard_urls
from .models import Job, State
from .status import state_label


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        lists = model_admin.get_queryset(request).order_by().values_list("tags", flat=True)
        tags = {str(tag) for job_tags in lists.distinct() for tag in job_tags or ()}
        return [(tag, tag) for tag in sorted(tags)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        tag = self.value()
        return queryset.filter(ledger.engine().tagged(tag)) if tag else queryset


# ModelAdmin is generic to the type checker only.
if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Job]
else:
    _ModelAdmin = admin.ModelAdmin


def _pre_json(value: Any) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


@admin.register(Job)
class JobAdmin(_ModelAdmin):
    list_display = [
        "id",
        "name",
        "kind",
        "queue",
        "state_label",
        "object_pk",
        "tenant",
        "attempts",
        "scheduled_at",
        "attempted_at",
        "last_error",
    ]
    list_filter = ["state", "queue", "name", "kind", TagFilter]
    # `meta` is searched as JSON text: `customer-42` finds {"request": "customer-42"}.
    search_fields = ["=object_pk", "name", "meta"]
    date_hierarchy = "inserted_at"
    ordering = ["-inserted_at", "-id"]
    actions = ["retry_jobs", "cancel_jobs", "delete_selected"]
    change_list_template = "admin/ash_oban_django/job/change_list.html"
    fieldsets = [
        (None, {"fields": ["id", "name", "kind", "queue", "priority", "state_label", "once"]}),
        ("Target", {"fields": ["object_pk", "tenant", "arguments", "metadata", "tags"]}),
        ("Attempts", {"fields": ["attempt", "max_attempts", "attempted_by", "error_list"]}),
        (
            "Timeline",
            {
                "fields": [
                    "inserted_at",
                    "scheduled_at",
                    "attempted_at",
                    "completed_at",
                    "cancelled_at",
                    "discarded_at",
                ]
            },
        ),
    ]
    readonly_fields = flatten_fieldsets(fieldsets)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return super().get_queryset(request).using(ledger.database())

    # Jobs are written by the engine only: a saved form could overwrite a running job's
    # state. Operators act through the actions below, which `change_job` still unlocks.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return obj is None and super().has_change_permission(request)

    # Deleting an executing job would let its worker record an outcome for a row that is
    # gone; everything else may be deleted by whoever holds `delete_job`.
    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        if obj is not None and obj.state == State.EXECUTING:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Job) -> None:
        # Conditional: a claim may have taken the job since the page was shown.
        self.get_queryset(request).filter(pk=obj.pk).exclude(state=State.EXECUTING).delete()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        queryset.exclude(state=State.EXECUTING).delete()

    @admin.action(description="Delete selected jobs (not executing)", permissions=["delete"])
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> HttpResponse | None:
        """Django's delete action (confirmation page included) over the jobs not executing."""
        executing = queryset.filter(state=State.EXECUTING).count()
        if executing:
            self.message_user(
                request,
                f"{executing} executing job{'s' if executing > 1 else ''} skipped: "
                "a running job cannot be deleted.",
                messages.WARNING,
            )
        deletable = queryset.exclude(state=State.EXECUTING)
        if not deletable.exists():
            return None
        return delete_selected(self, request, deletable)

    @admin.display(description="state", ordering="state")
    def state_label(self, job: Job) -> str:
        return state_label(job)

    @admin.display(description="attempts")
    def attempts(self, job: Job) -> str:
        # Attempts that lost their database connection were given back: say how many.
        interrupted = job.interruptions
        suffix = f" ({interrupted} interrupted)" if interrupted else ""
        return f"{job.attempt}/{job.max_attempts}{suffix}"

    @admin.display(description="last error")
    def last_error(self, job: Job) -> str | None:
        return Truncator(job.errors[-1].get("error", "")).chars(80) if job.errors else None

    @admin.display(description="args")
    def arguments(self, job: Job) -> SafeString:
        return _pre_json(job.args)

    @admin.display(description="meta")
    def metadata(self, job: Job) -> SafeString:
        return _pre_json(job.meta)

    @admin.display(description="errors")
    def error_list(self, job: Job) -> SafeString | str:
        if not job.errors:
            return "-"
        rows = (
            (e.get("attempt"), e.get("at"), e.get("error"), e.get("traceback", ""))
            for e in job.errors
        )
        items = format_html_join("", "<li>attempt {} at {}: {}<pre>{}</pre></li>", rows)
        return format_html("<ul>{}</ul>", items)

    @admin.action(description="Retry now", permissions=["change"])
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        selected = queryset.count()
        retried = ledger.retry_jobs(queryset)
        self._report(
            request,
            f"{retried} of {selected} job(s) retried",
            selected - retried,
            "executing, already available or another incomplete job holds its key",
        )

    @admin.action(description="Cancel", permissions=["change"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        selected = queryset.count()
        cancelled = ledger.cancel_jobs(queryset, f"cancelled in the admin by {request.user}")
        self._report(
            request,
            f"{cancelled} of {selected} job(s) cancelled",
            selected - cancelled,
            "executing or already finished",
        )

    def _report(self, request: HttpRequest, done: str, skipped: int, why: str) -> None:
        if skipped:
            self.message_user(request, f"{done}; {skipped} skipped ({why}).", messages.WARNING)
        else:
            self.message_user(request, f"{done}.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        # The dashboard's pages live under the job admin, behind its permissions.
        return [*dashboard_urls(self), *super().get_urls()]
