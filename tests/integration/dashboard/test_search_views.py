"""The dashboard's search pages (dashboard/views.py): results with state and links for
`view_job`; a bulk retry or cancel of the result for `change_job` only, POST with CSRF, the
count confirmed first."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from ash_oban_django import ledger
from ash_oban_django.models import Job

pytestmark = pytest.mark.django_db

SEARCH = "admin:ash_oban_django_dashboard_search"
BULK = "admin:ash_oban_django_dashboard_bulk"


def make(state: str, error: str = "", **fields: Any) -> Job:
    at = ledger.now()
    return Job.objects.create(
        kind="trigger",
        name="shop.Order:process",
        queue="orders",
        state=state,
        object_pk=str(Job.objects.count()),
        inserted_at=at,
        scheduled_at=at,
        attempt=1,
        errors=[{"attempt": 1, "error": error}] if error else [],
        discarded_at=at if state == "discarded" else None,
        **fields,
    )


def client_for(*codenames: str, csrf: bool = False) -> Client:
    made = User.objects.create_user(f"u{User.objects.count()}", password="pw", is_staff=True)
    made.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(made)
    return client


def test_search_view__lists_matches_with_state_and_link(db: None) -> None:
    found = make("discarded", "KeyError: 'warehouse-7' missing")
    make("discarded", "ValueError: other")
    page = client_for("view_job").get(reverse(SEARCH), {"q": "warehouse-7"})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-job="{found.pk}"' in html and html.count("data-job=") == 1
    assert reverse("admin:ash_oban_django_job_change", args=[found.pk]) in html
    assert '<td class="state">discarded</td>' in html
    assert 'id="bulk"' not in html  # no bulk action without change_job


def test_search_view__the_dashboard_offers_the_search(db: None) -> None:
    page = client_for("view_job").get(reverse("admin:ash_oban_django_dashboard"))
    assert reverse(SEARCH) in page.content.decode()


def test_bulk_view__confirms_the_count_then_retries_the_result(db: None) -> None:
    failed = [make("discarded", "TimeoutError: upstream") for _ in range(3)]
    running = make("executing", "TimeoutError: upstream", attempted_at=ledger.now())
    client = client_for("view_job", "change_job")
    page = client.get(reverse(SEARCH), {"q": "upstream"})
    assert 'id="bulk"' in page.content.decode()
    confirm = client.post(reverse(BULK), {"q": "upstream", "state": "", "action": "retry"})
    assert confirm.status_code == 200
    assert '<strong id="bulk-count">3</strong>' in confirm.content.decode()
    assert set(Job.objects.values_list("state", flat=True)) == {"discarded", "executing"}
    done = client.post(
        reverse(BULK), {"q": "upstream", "state": "", "action": "retry", "confirm": "1"}
    )
    assert done.status_code == 302 and "q=upstream" in done["Location"]
    assert {Job.objects.get(pk=j.pk).state for j in failed} == {"available"}
    assert Job.objects.get(pk=running.pk).state == "executing"
    followed = client.get(done["Location"])
    assert "3 jobs retried." in followed.content.decode()


def test_bulk_view__cancel_narrowed_by_state(db: None) -> None:
    waiting = make("available", "", args={"order": "Q-991"})
    make("discarded", "x", args={"order": "Q-991"})
    client = client_for("view_job", "change_job")
    data = {"q": "q-991", "state": "available", "action": "cancel", "confirm": "1"}
    assert client.post(reverse(BULK), data).status_code == 302
    assert Job.objects.get(pk=waiting.pk).state == "cancelled"
    assert Job.objects.filter(state="discarded").count() == 1


def test_bulk_view__needs_change_job_post_and_csrf(db: None) -> None:
    job = make("discarded", "TimeoutError: upstream")
    data = {"q": "upstream", "state": "", "action": "retry", "confirm": "1"}
    assert client_for("view_job").post(reverse(BULK), data).status_code == 403
    assert client_for("view_job", "change_job").get(reverse(BULK), data).status_code == 403
    no_token = client_for("view_job", "change_job", csrf=True)
    assert no_token.post(reverse(BULK), data).status_code == 403
    assert Job.objects.get(pk=job.pk).state == "discarded"


def test_bulk_view__a_bad_state_or_action_says_so(db: None) -> None:
    client = client_for("view_job", "change_job")
    page = client.post(reverse(BULK), {"q": "x", "state": "lost", "action": "retry"}, follow=True)
    assert "`state` must be one of available" in page.content.decode()
    page = client.post(reverse(BULK), {"q": "x", "state": "", "action": "drop"}, follow=True)
    assert "`action` must be retry or cancel, got &#x27;drop&#x27;" in page.content.decode()


def test_dashboard__each_queue_strip_has_its_time_axis_and_scale(db: None) -> None:
    at = ledger.now()
    for _ in range(3):
        make("completed", completed_at=at)
    page = client_for("view_job").get(reverse("admin:ash_oban_django_dashboard"))
    html = page.content.decode()
    strip = html[html.index('<figure data-queue="orders">') :]
    strip = strip[: strip.index("</figure>")]
    assert '<text class="scale" x="2" y="16">3 per minute</text>' in strip
    assert ">now</text>" in strip
    assert re.search(r'<text x="24" y="78">\d\d:\d\d</text>', strip)  # where the hour starts
    assert "orders: 3 completed, 0 failed" in strip
