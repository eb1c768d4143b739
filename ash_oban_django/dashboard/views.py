"""The dashboard's pages, served under the job admin: the live overview and the job search
(`view_job`), and the queue controls, a job's cancel and the bulk retry or cancel of a
search's result (`change_job`, POST only, the bulk count confirmed first). `urls(model_admin)`
gives their URL patterns; the job admin lists them before its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from .. import ledger
from ..states import State
from .chart import throughput_chart
from .data import declarations, latest_failures, nodes, queue_rows, throughput
from .search import SEARCH_LIMIT, TEXT_WINDOW, JobSearch

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    from ..models import Job

    JobAdmin = ModelAdmin[Job]

# Seconds between the dashboard's refreshes of its figures.
REFRESH_SECONDS = 5
TEMPLATE = "admin/ash_oban_django/dashboard.html"
FRAGMENT_TEMPLATE = "admin/ash_oban_django/dashboard_fragment.html"
SEARCH_TEMPLATE = "admin/ash_oban_django/dashboard_search.html"
CONFIRM_TEMPLATE = "admin/ash_oban_django/dashboard_bulk_confirm.html"
# What each bulk action of a search's result does, for the pages.
BULK = {"retry": "retried", "cancel": "cancelled"}


def urls(model_admin: JobAdmin) -> list[URLPattern]:
    """The dashboard's URL patterns, each behind the admin site's login and CSRF checks."""

    def view(page: Callable[[JobAdmin, HttpRequest], HttpResponse]) -> Callable[..., Any]:
        def serve(request: HttpRequest) -> HttpResponse:
            return page(model_admin, request)

        return model_admin.admin_site.admin_view(serve)

    return [
        path("dashboard/", view(dashboard_view), name="ash_oban_django_dashboard"),
        path("dashboard/queue/", view(queue_action_view), name="ash_oban_django_dashboard_queue"),
        path("dashboard/cancel/", view(cancel_job_view), name="ash_oban_django_dashboard_cancel"),
        path("dashboard/search/", view(search_view), name="ash_oban_django_dashboard_search"),
        path("dashboard/search/bulk/", view(bulk_view), name="ash_oban_django_dashboard_bulk"),
    ]


def dashboard_context() -> dict[str, Any]:
    """Everything the page shows, read now."""
    at = ledger.now()
    overall, per_queue = throughput(at)
    return {
        "now": at,
        "queues": queue_rows(at),
        "overall": overall,
        "overall_chart": throughput_chart(overall, width=720, height=160),
        "queue_charts": [
            # Each queue's strip keeps its time axis and scale, smaller.
            (queue, series, throughput_chart(series, width=280, height=84))
            for queue, series in per_queue.items()
        ],
        "failures": latest_failures(),
        "declarations": declarations(at),
        "nodes": nodes(at),
    }


def dashboard_view(model_admin: JobAdmin, request: HttpRequest) -> HttpResponse:
    """The live overview (`view_job`); `?fragment=1` gives the part the page refreshes."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    context = {
        **model_admin.admin_site.each_context(request),
        **dashboard_context(),
        "title": "Background jobs dashboard",
        "opts": model_admin.model._meta,
        "can_change": model_admin.has_change_permission(request),
        "refresh_seconds": REFRESH_SECONDS,
        "is_nav_sidebar_enabled": False,  # the tables need the width
    }
    fragment = request.GET.get("fragment") == "1"
    return TemplateResponse(request, FRAGMENT_TEMPLATE if fragment else TEMPLATE, context)


def queue_action_view(model_admin: JobAdmin, request: HttpRequest) -> HttpResponse:
    """Pause, resume or scale a queue (`change_job`, POST)."""
    _check_change_post(model_admin, request)
    action, name = request.POST.get("action", ""), request.POST.get("queue", "").strip()
    try:
        if action == "pause":
            ledger.pause_queue(name, by=request.user)
            done = f"Queue {name} paused."
        elif action == "resume":
            ledger.resume_queue(name, by=request.user)
            done = f"Queue {name} resumed."
        elif action == "scale":
            raw = request.POST.get("limit", "").strip()
            limit = int(raw) if raw else None
            ledger.scale_queue(name, limit, by=request.user)
            done = f"Queue {name}: limit {'from the settings' if limit is None else limit}."
        else:
            raise ValueError(f"`action` must be pause, resume or scale, got {action!r}")
    except ValueError as error:
        model_admin.message_user(request, str(error), messages.ERROR)
    else:
        model_admin.message_user(request, done, messages.SUCCESS)
    return _back(model_admin)


def cancel_job_view(model_admin: JobAdmin, request: HttpRequest) -> HttpResponse:
    """Cancel one waiting or scheduled job (`change_job`, POST)."""
    _check_change_post(model_admin, request)
    raw = request.POST.get("job", "").strip()
    if not raw.isdigit():
        model_admin.message_user(request, f"`job` must be a job id, got {raw!r}", messages.ERROR)
    elif ledger.cancel_job(int(raw), f"cancelled in the dashboard by {request.user}"):
        model_admin.message_user(request, f"Job {raw} cancelled.", messages.SUCCESS)
    else:
        model_admin.message_user(
            request, f"Job {raw} not cancelled: executing, finished or gone.", messages.WARNING
        )
    return _back(model_admin)


def _check_change_post(model_admin: JobAdmin, request: HttpRequest) -> None:
    # CSRF is checked by admin_view's csrf_protect; a GET changes nothing.
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    if request.method != "POST":
        raise PermissionDenied("POST only")


def _back(model_admin: JobAdmin) -> HttpResponse:
    return redirect(f"{model_admin.admin_site.name}:ash_oban_django_dashboard")


# -- the job search -----------------------------------------------------------------------


def _search(model_admin: JobAdmin, request: HttpRequest, data: Any) -> JobSearch | None:
    try:
        return JobSearch(str(data.get("q", "")), str(data.get("state", "")))
    except ValueError as error:
        model_admin.message_user(request, str(error), messages.ERROR)
        return None


def _context(model_admin: JobAdmin, request: HttpRequest, **more: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "states": State.values,
        "is_nav_sidebar_enabled": False,
        **more,
    }


def search_view(model_admin: JobAdmin, request: HttpRequest) -> HttpResponse:
    """The jobs a search finds, newest first, with their state and a link to each."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    search = _search(model_admin, request, request.GET) or JobSearch("")
    results = search.results() if search.text else []
    context = _context(
        model_admin,
        request,
        title="Search jobs",
        search=search,
        results=results,
        limit=SEARCH_LIMIT,
        window=TEXT_WINDOW,
        can_change=model_admin.has_change_permission(request),
    )
    return TemplateResponse(request, SEARCH_TEMPLATE, context)


def bulk_view(model_admin: JobAdmin, request: HttpRequest) -> HttpResponse:
    """Retry or cancel every job a search finds (`change_job`, POST): first the count to
    confirm, then, posted again with `confirm`, the action."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    if request.method != "POST":
        raise PermissionDenied("POST only")
    search = _search(model_admin, request, request.POST)
    action = request.POST.get("action", "")
    back = redirect(_search_url(model_admin, search))
    if search is None:
        return back
    if action not in BULK:
        model_admin.message_user(
            request, f"`action` must be retry or cancel, got {action!r}", messages.ERROR
        )
        return back
    if not search.text:
        model_admin.message_user(request, "Search for jobs first.", messages.ERROR)
        return back
    if request.POST.get("confirm") != "1":
        context = _context(
            model_admin,
            request,
            title=f"{action.capitalize()} the jobs found?",
            search=search,
            action=action,
            done=BULK[action],
            count=search.count(action),
            back=_search_url(model_admin, search),
        )
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)
    if action == "retry":
        changed = ledger.retry_jobs(search.jobs())
    else:
        reason = f"cancelled in the dashboard by {request.user}"
        changed = ledger.cancel_jobs(search.jobs(), reason)
    model_admin.message_user(
        request, f"{changed} job{'' if changed == 1 else 's'} {BULK[action]}.", messages.SUCCESS
    )
    return back


def _search_url(model_admin: JobAdmin, search: JobSearch | None) -> str:
    url = reverse(f"{model_admin.admin_site.name}:ash_oban_django_dashboard_search")
    if search is None:
        return url
    return f"{url}?{urlencode({'q': search.query, 'state': search.state})}"
