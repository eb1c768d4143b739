"""The admin's dashboard (docs/dashboard.md): what it shows, who may see it, and its queue and
job controls."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from ash_oban_django import dashboard, ledger
from ash_oban_django.models import Job, Peer, Queue

pytestmark = pytest.mark.django_db

DASHBOARD = "admin:ash_oban_django_dashboard"
QUEUE_ACTION = "admin:ash_oban_django_dashboard_queue"
CANCEL = "admin:ash_oban_django_dashboard_cancel"


def make(state: str, queue: str = "mail", *, minutes_ago: float = 0, **fields: Any) -> Job:
    at = ledger.now() - timedelta(minutes=minutes_ago)
    return Job.objects.create(
        kind="trigger",
        name=f"shop.Order:{state}",
        queue=queue,
        state=state,
        inserted_at=at,
        scheduled_at=at,
        **fields,
    )


@pytest.fixture
def ledger_rows() -> dict[str, Job]:
    now = ledger.now()
    return {
        "available": make("available", minutes_ago=2),
        "available2": make("available", object_pk="2"),
        "scheduled": make("scheduled", minutes_ago=-10),
        "executing": make("executing", attempted_at=now, attempted_by="web-1:42"),
        "retryable": make(
            "retryable",
            attempted_at=now - timedelta(minutes=3),
            errors=[{"attempt": 1, "error": "ValueError: no stock\nmore lines"}],
        ),
        "discarded": make(
            "discarded",
            queue="billing",
            discarded_at=now - timedelta(minutes=1),
            errors=[{"attempt": 3, "error": "KeyError: 'sku' <b>"}],
        ),
        "completed": make("completed", completed_at=now - timedelta(minutes=1)),
        "old": make("completed", object_pk="old", completed_at=now - timedelta(hours=2)),
    }


def user(*codenames: str, staff: bool = True) -> User:
    made = User.objects.create_user(f"u{User.objects.count()}", password="pw", is_staff=staff)
    made.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return made


def client_for(*codenames: str, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user(*codenames))
    return client


def test_dashboard__data_counts_lag_throughput_and_failures(ledger_rows: dict[str, Job]) -> None:
    mail = {row.name: row for row in dashboard.queue_rows()}["mail"]
    assert (mail.available, mail.scheduled, mail.executing, mail.retryable) == (2, 1, 1, 1)
    assert mail.lag is not None and 110 < mail.lag < 130
    overall, per_queue = dashboard.throughput()
    assert (overall.total_completed, overall.total_failed) == (1, 2)  # the 2 h old one is out
    assert (per_queue["billing"].total_completed, per_queue["billing"].total_failed) == (0, 1)
    failures = dashboard.latest_failures()
    assert [f.state for f in failures] == ["discarded", "retryable"]
    assert [f.error for f in failures] == ["KeyError: 'sku' <b>", "ValueError: no stock"]


def test_dashboard__the_page_shows_queues_chart_failures_declarations_and_leader(
    ledger_rows: dict[str, Job], ash_oban: Any
) -> None:
    Peer.objects.create(
        name="maintenance",
        node="host:7",
        started_at=ledger.now(),
        expires_at=ledger.now() + timedelta(seconds=30),
    )
    response = client_for("view_job").get(reverse(DASHBOARD))
    assert response.status_code == 200
    page = response.content.decode()
    row = re.search(r'<tr data-queue="mail">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = dict(re.findall(r'<td class="num (\w+)">(\d+)</td>', row.group(1)))
    assert cells == {"available": "2", "scheduled": "1", "executing": "1", "retryable": "1"}
    assert '<svg class="ash-oban-chart"' in page and 'class="completed"' in page
    assert "1 completed, 2 failed in the last hour" in page
    assert reverse("admin:ash_oban_django_job_change", args=[ledger_rows["discarded"].pk]) in page
    assert "KeyError: &#x27;sku&#x27; &lt;b&gt;" in page  # escaped
    assert "shop.Order:process" in page  # a declaration, with its next run
    assert "<strong>host:7</strong>" in page and "web-1:42" in page
    assert "Pause" not in page  # no change permission: no buttons
    fragment = client_for("view_job").get(reverse(DASHBOARD), {"fragment": "1"})
    assert b"<html" not in fragment.content and b'data-queue="mail"' in fragment.content


def test_dashboard__linked_from_the_app_index_and_the_changelist() -> None:
    client = client_for("view_job")
    url = reverse(DASHBOARD)
    assert url in client.get(reverse("admin:app_list", args=["ash_oban_django"])).content.decode()
    assert url in client.get(reverse("admin:ash_oban_django_job_changelist")).content.decode()


def test_dashboard__without_view_job_every_page_and_action_is_403(
    ledger_rows: dict[str, Job],
) -> None:
    client = client_for()
    job = ledger_rows["available"].pk
    assert client.get(reverse(DASHBOARD)).status_code == 403
    assert client.get(reverse(DASHBOARD), {"fragment": "1"}).status_code == 403
    assert (
        client.post(reverse(QUEUE_ACTION), {"action": "pause", "queue": "mail"}).status_code == 403
    )
    assert client.post(reverse(CANCEL), {"job": job}).status_code == 403
    viewer = client_for("view_job")
    assert (
        viewer.post(reverse(QUEUE_ACTION), {"action": "pause", "queue": "mail"}).status_code == 403
    )
    assert (
        viewer.post(
            reverse(QUEUE_ACTION), {"action": "scale", "queue": "mail", "limit": "2"}
        ).status_code
        == 403
    )
    assert viewer.post(reverse(CANCEL), {"job": job}).status_code == 403
    assert not Queue.objects.exists()
    assert Job.objects.get(pk=job).state == "available"


def test_dashboard__actions_need_post_and_csrf() -> None:
    client = client_for("view_job", "change_job", csrf=True)
    assert (
        client.get(reverse(QUEUE_ACTION), {"action": "pause", "queue": "mail"}).status_code == 403
    )
    assert (
        client.post(reverse(QUEUE_ACTION), {"action": "pause", "queue": "mail"}).status_code == 403
    )
    assert not Queue.objects.exists()


def test_dashboard__pause_scale_resume_and_cancel_with_change_job(
    ledger_rows: dict[str, Job],
) -> None:
    client = client_for("view_job", "change_job")
    page = client.get(reverse(DASHBOARD)).content.decode()
    assert 'value="pause"' in page and 'name="limit"' in page
    post = client.post(reverse(QUEUE_ACTION), {"action": "pause", "queue": "mail"}, follow=True)
    assert "Queue mail paused." in post.content.decode()
    assert '<span class="paused">paused</span>' in post.content.decode()
    client.post(reverse(QUEUE_ACTION), {"action": "scale", "queue": "mail", "limit": "4"})
    assert Queue.objects.values_list("name", "paused", "limit").get() == ("mail", True, 4)
    bad = client.post(
        reverse(QUEUE_ACTION), {"action": "scale", "queue": "mail", "limit": "0"}, follow=True
    )
    assert "`limit` must be a positive int or None, got 0" in bad.content.decode()
    client.post(reverse(QUEUE_ACTION), {"action": "resume", "queue": "mail"})
    assert Queue.objects.values_list("paused", flat=True).get() is False
    waiting, running = ledger_rows["scheduled"], ledger_rows["executing"]
    done = client.post(reverse(CANCEL), {"job": waiting.pk}, follow=True).content.decode()
    assert f"Job {waiting.pk} cancelled." in done
    refused = client.post(reverse(CANCEL), {"job": running.pk}, follow=True).content.decode()
    assert f"Job {running.pk} not cancelled" in refused
    assert Job.objects.get(pk=waiting.pk).state == "cancelled"
    assert Job.objects.get(pk=running.pk).state == "executing"


def test_command__pauses_scales_resumes_and_cancels(
    ledger_rows: dict[str, Job], capsys: Any
) -> None:
    call_command("ash_oban_queue", "pause", "mail")
    call_command("ash_oban_queue", "scale", "mail", "3")
    assert Queue.objects.values_list("paused", "limit").get() == (True, 3)
    call_command("ash_oban_queue", "resume", "mail")
    call_command("ash_oban_queue", "scale", "mail")
    assert Queue.objects.values_list("paused", "limit").get() == (False, None)
    out = capsys.readouterr().out
    assert "Queue mail: paused, limit 3." in out and "Queue mail: running, limit none." in out
    with pytest.raises(CommandError, match="`limit` must be a positive int or None, got 0"):
        call_command("ash_oban_queue", "scale", "mail", "0")
    waiting, running = ledger_rows["available"], ledger_rows["executing"]
    with pytest.raises(CommandError, match=rf"Not cancelled .*: {running.pk}\."):
        call_command("ash_oban_queue", "cancel", str(waiting.pk), str(running.pk))
    assert Job.objects.get(pk=waiting.pk).state == "cancelled"
