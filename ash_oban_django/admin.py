"""The job ledger in the Django admin: read-only rows, filters, errors, retry and cancel, and
deletion (with the delete permission) of any job that is not executing; and the dashboard
(`view_job`): queues, throughput, failures, declarations and clusters, with the queue
controls and a job's cancel (`change_job`)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from . import dashboard, ledger
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
    search_fields = ["=object_pk", "name"]
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

    # -- the dashboard -----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("dashboard/", wrap(self.dashboard_view), name="ash_oban_django_dashboard"),
            path(
                "dashboard/queue/",
                wrap(self.queue_action_view),
                name="ash_oban_django_dashboard_queue",
            ),
            path(
                "dashboard/cancel/",
                wrap(self.cancel_job_view),
                name="ash_oban_django_dashboard_cancel",
            ),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """The live overview (`view_job`); `?fragment=1` gives the part the page refreshes."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **dashboard_context(),
            "title": "Background jobs dashboard",
            "opts": self.model._meta,
            "can_change": self.has_change_permission(request),
            "refresh_seconds": REFRESH_SECONDS,
            "is_nav_sidebar_enabled": False,  # the tables need the width
        }
        fragment = request.GET.get("fragment") == "1"
        template = "admin/ash_oban_django/dashboard_fragment.html" if fragment else None
        return TemplateResponse(
            request, template or "admin/ash_oban_django/dashboard.html", context
        )

    def queue_action_view(self, request: HttpRequest) -> HttpResponse:
        """Pause, resume or scale a queue (`change_job`, POST)."""
        self._check_change_post(request)
        action, name = request.POST.get("action", ""), request.POST.get("queue", "").strip()
        try:
            if action == "pause":
                ledger.pause_queue(name)
                done = f"Queue {name} paused."
            elif action == "resume":
                ledger.resume_queue(name)
                done = f"Queue {name} resumed."
            elif action == "scale":
                raw = request.POST.get("limit", "").strip()
                limit = int(raw) if raw else None
                ledger.scale_queue(name, limit)
                done = f"Queue {name}: limit {'from the settings' if limit is None else limit}."
            else:
                raise ValueError(f"`action` must be pause, resume or scale, got {action!r}")
        except ValueError as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return redirect(f"{self.admin_site.name}:ash_oban_django_dashboard")

    def cancel_job_view(self, request: HttpRequest) -> HttpResponse:
        """Cancel one waiting or scheduled job (`change_job`, POST)."""
        self._check_change_post(request)
        raw = request.POST.get("job", "").strip()
        if not raw.isdigit():
            self.message_user(request, f"`job` must be a job id, got {raw!r}", messages.ERROR)
        elif ledger.cancel_job(int(raw), f"cancelled in the dashboard by {request.user}"):
            self.message_user(request, f"Job {raw} cancelled.", messages.SUCCESS)
        else:
            self.message_user(
                request, f"Job {raw} not cancelled: executing, finished or gone.", messages.WARNING
            )
        return redirect(f"{self.admin_site.name}:ash_oban_django_dashboard")

    def _check_change_post(self, request: HttpRequest) -> None:
        # CSRF is checked by admin_view's csrf_protect; a GET changes nothing.
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            raise PermissionDenied("POST only")


# Seconds between the dashboard's refreshes of its figures.
REFRESH_SECONDS = 5


def dashboard_context() -> dict[str, Any]:
    at = ledger.now()
    overall, per_queue = dashboard.throughput(at)
    return {
        "now": at,
        "queues": dashboard.queue_rows(at),
        "overall": overall,
        "overall_chart": throughput_chart(overall, width=720, height=160),
        "queue_charts": [
            (queue, series, throughput_chart(series, width=240, height=48, axes=False))
            for queue, series in per_queue.items()
        ],
        "failures": dashboard.latest_failures(),
        "declarations": dashboard.declarations(at),
        "nodes": dashboard.nodes(at),
    }


def throughput_chart(
    series: dashboard.Throughput, *, width: int, height: int, axes: bool = True
) -> SafeString:
    """An inline SVG bar chart of a `Throughput`: completed (green) under failed (red) jobs
    per minute, oldest minute on the left."""
    pad = 24 if axes else 2
    top = max([c + f for c, f in zip(series.completed, series.failed, strict=True)] + [1])
    slot = (width - 2 * pad) / len(series.completed)
    scale = (height - 2 * pad) / top
    bars = []
    for i, (done, failed) in enumerate(zip(series.completed, series.failed, strict=True)):
        x = pad + i * slot
        base = float(height - pad)
        for count, css in ((done, "completed"), (failed, "failed")):
            if count:
                h = count * scale
                base -= h
                bars.append(
                    format_html(
                        '<rect class="{}" x="{}" y="{}" width="{}" height="{}">'
                        "<title>{}: {} {}</title></rect>",
                        css,
                        f"{x:.1f}",
                        f"{base:.1f}",
                        f"{max(slot - 1, 1):.1f}",
                        f"{h:.1f}",
                        (series.start + timedelta(minutes=i)).strftime("%H:%M"),
                        count,
                        css,
                    )
                )
    labels = SafeString("")
    if axes:
        labels = format_html(
            '<text x="{}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">now</text>'
            '<text x="2" y="{}">{}</text>'
            '<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"></line>',
            pad,
            height - 6,
            series.start.strftime("%H:%M"),
            width - pad,
            height - 6,
            pad - 8,
            top,
            pad,
            height - pad,
            width - pad,
            height - pad,
        )
    return format_html(
        '<svg class="ash-oban-chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{label}">{labels}{bars}</svg>',
        w=width,
        h=height,
        label=f"{series.total_completed} completed, {series.total_failed} failed in the last hour",
        labels=labels,
        bars=SafeString("".join(bars)),
    )
