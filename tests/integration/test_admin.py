"""The job ledger in the admin (docs/operations.md, Monitoring): list, filters, search, detail, actions, permissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from ash_oban_django import ledger
from ash_oban_django.admin import TagFilter
from ash_oban_django.models import Job

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:ash_oban_django_job_changelist"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "shop/models.py", line 3, in ship\n'
    "    raise ValueError('<script>alert(1)</script>')\n"
    "ValueError: <b>no stock</b>\n"
)


def make(name: str, state: str, *, minutes: int, **fields: Any) -> Job:
    at = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    defaults: dict[str, Any] = {"kind": "trigger", "queue": "default", "max_attempts": 3}
    return Job.objects.create(
        name=name, state=state, inserted_at=at, scheduled_at=at, **{**defaults, **fields}
    )


@pytest.fixture
def jobs(ash_oban: Any) -> dict[str, Job]:
    error = {
        "attempt": 3,
        "at": "2024-05-01T00:05:00+00:00",
        "error": "ValueError: <b>no stock</b>",
    }
    made = [
        make(
            "shop.Order:ship",
            "available",
            minutes=1,
            object_pk="42",
            tenant={"org": 1},
            tags=["billing", "urgent"],
        ),
        make(
            "shop.Order:cron",
            "scheduled",
            minutes=2,
            kind="scheduler",
            queue="mail",
            tags=["billing"],
        ),
        make("shop.Order:sweep", "executing", minutes=3, kind="action", attempt=1, tags=["Urgent"]),
        make(
            "shop.Order:refund",
            "discarded",
            minutes=4,
            queue="mail",
            object_pk="142",
            attempt=3,
            tags=["urgently"],
            errors=[{**error, "traceback": TRACEBACK}],
            args={"action_arguments": {"speed": 3}},
            meta={"snoozed": 1},
        ),
        make("shop.Order:audit", "completed", minutes=-60 * 24 * 400, object_pk="7"),
    ]
    return {job.name.split(":")[1]: job for job in made}


def listed(client: Client, query: str = "") -> list[str]:
    response = client.get(reverse(CHANGELIST) + query)
    assert response.status_code == 200
    return [job.name.split(":")[1] for job in response.context["cl"].result_list]


def login(client: Client, *codenames: str) -> User:
    user = User.objects.create_user("operator", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="ash_oban_django", codename__in=codenames)
    )
    client.force_login(user)
    return user


def run_action(client: Client, action: str, jobs: list[Job], query: str = "") -> Any:
    data = {"action": action, "_selected_action": [job.pk for job in jobs]}
    return client.post(reverse(CHANGELIST) + query, data, follow=True)


def states(jobs: dict[str, Job]) -> dict[str, str]:
    return {name: Job.objects.get(pk=job.pk).state for name, job in jobs.items()}


def test_admin__list_shows_jobs_newest_first(admin_client: Client, jobs: dict[str, Job]) -> None:
    response = admin_client.get(reverse(CHANGELIST))
    assert listed(admin_client) == ["refund", "sweep", "cron", "ship", "audit"]
    assert b"ValueError: &lt;b&gt;no stock&lt;/b&gt;" in response.content  # the last error
    assert b"3/3" in response.content  # attempt/max_attempts
    assert b"{&quot;org&quot;: 1}" in response.content  # the tenant


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?state__exact=discarded", ["refund"]),
        ("?queue=mail", ["refund", "cron"]),
        ("?name=shop.Order:ship", ["ship"]),
        ("?kind__exact=scheduler", ["cron"]),
        ("?tag=urgent", ["ship"]),
        ("?tag=billing", ["cron", "ship"]),
        ("?tag=Urgent", ["sweep"]),
        ("?inserted_at__year=2023", ["audit"]),
        ("?q=42", ["ship"]),
        ("?q=142", ["refund"]),
        ("?q=refund", ["refund"]),
    ],
)
def test_admin__filters_and_search_narrow_the_list(
    admin_client: Client, jobs: dict[str, Job], query: str, expected: list[str]
) -> None:
    assert listed(admin_client, query) == expected


def test_admin__tag_filter_offers_each_distinct_tag(
    admin_client: Client, jobs: dict[str, Job]
) -> None:
    response = admin_client.get(reverse(CHANGELIST))
    (spec,) = [f for f in response.context["cl"].filter_specs if isinstance(f, TagFilter)]
    assert [value for value, _ in spec.lookup_choices] == [
        "Urgent",
        "billing",
        "urgent",
        "urgently",
    ]


def test_admin__detail_shows_errors_tracebacks_and_json_escaped(
    admin_client: Client, jobs: dict[str, Job]
) -> None:
    url = reverse("admin:ash_oban_django_job_change", args=[jobs["refund"].pk])
    content = admin_client.get(url).content.decode()
    assert (
        "attempt 3 at 2024-05-01T00:05:00+00:00: ValueError: &lt;b&gt;no stock&lt;/b&gt;" in content
    )
    assert "raise ValueError(&#x27;&lt;script&gt;alert(1)&lt;/script&gt;&#x27;)" in content
    assert "<script>alert" not in content and "<b>no stock" not in content
    assert "&quot;speed&quot;: 3" in content and "&quot;snoozed&quot;: 1" in content
    assert 'name="_save"' not in content  # read-only, even for a superuser


def test_admin__jobs_cannot_be_added_or_edited(admin_client: Client, jobs: dict[str, Job]) -> None:
    url = reverse("admin:ash_oban_django_job_change", args=[jobs["ship"].pk])
    assert admin_client.post(url, {"state": "completed", "_save": "Save"}).status_code == 403
    assert admin_client.get(reverse("admin:ash_oban_django_job_add")).status_code == 403
    assert Job.objects.get(pk=jobs["ship"].pk).state == "available"


def test_admin__retry_makes_jobs_available_and_wakes_their_queues(
    admin_client: Client,
    jobs: dict[str, Job],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    woken: list[Any] = []
    monkeypatch.setattr("ash_oban_django.queue.wake", woken.append)
    with django_capture_on_commit_callbacks(execute=True):
        # The list's filter narrows the action's queryset: the retried job is no longer in it.
        response = run_action(
            admin_client, "retry_jobs", [jobs["refund"]], "?state__exact=discarded"
        )
    refund = Job.objects.get(pk=jobs["refund"].pk)
    assert (refund.state, refund.max_attempts, refund.discarded_at) == ("available", 4, None)
    assert refund.errors == jobs["refund"].errors
    assert woken == [{"mail": 1}]
    assert [str(m) for m in response.context["messages"]] == ["1 of 1 job(s) retried."]


def test_admin__retry_reports_skipped_jobs(admin_client: Client, jobs: dict[str, Job]) -> None:
    copy = make("shop.Order:ship", "cancelled", minutes=5, object_pk="42")
    selected = [jobs["refund"], jobs["sweep"], jobs["audit"], copy]
    response = run_action(admin_client, "retry_jobs", selected)
    assert states(jobs) | {"copy": Job.objects.get(pk=copy.pk).state} == {
        "ship": "available",
        "cron": "scheduled",
        "sweep": "executing",
        "refund": "available",
        "audit": "available",
        "copy": "cancelled",
    }
    assert [str(m) for m in response.context["messages"]] == [
        "2 of 4 job(s) retried; 2 skipped (executing, already available or another "
        "incomplete job holds its key)."
    ]


def test_admin__cancel_stops_waiting_jobs_but_not_running_ones(
    admin_client: Client, jobs: dict[str, Job]
) -> None:
    Job.objects.filter(pk=jobs["cron"].pk).update(meta={"snoozed": 2})
    response = run_action(admin_client, "cancel_jobs", [jobs["ship"], jobs["cron"], jobs["sweep"]])
    assert states(jobs) == {
        "ship": "cancelled",
        "cron": "cancelled",
        "sweep": "executing",
        "refund": "discarded",
        "audit": "completed",
    }
    cron = Job.objects.get(pk=jobs["cron"].pk)
    assert cron.meta == {"snoozed": 2, "cancel_reason": "cancelled in the admin by admin"}
    assert cron.cancelled_at is not None
    assert [str(m) for m in response.context["messages"]] == [
        "2 of 3 job(s) cancelled; 1 skipped (executing or already finished)."
    ]


def test_admin__staff_without_permissions_is_forbidden(
    client: Client, jobs: dict[str, Job]
) -> None:
    login(client)
    detail = reverse("admin:ash_oban_django_job_change", args=[jobs["ship"].pk])
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(detail).status_code == 403


def test_admin__view_permission_shows_jobs_without_actions(
    client: Client, jobs: dict[str, Job]
) -> None:
    login(client, "view_job")
    response = client.get(reverse(CHANGELIST))
    assert response.context["action_form"] is None
    detail = reverse("admin:ash_oban_django_job_change", args=[jobs["refund"].pk])
    assert b"ValueError: &lt;b&gt;no stock&lt;/b&gt;" in client.get(detail).content
    run_action(client, "cancel_jobs", [jobs["ship"]])
    run_action(client, "retry_jobs", [jobs["refund"]])
    assert states(jobs)["ship"] == "available" and states(jobs)["refund"] == "discarded"


def test_admin__change_permission_runs_actions_on_a_read_only_detail(
    client: Client, jobs: dict[str, Job]
) -> None:
    login(client, "change_job")
    response = client.get(reverse(CHANGELIST))
    choices = [name for name, _ in response.context["action_form"].fields["action"].choices]
    assert choices == ["", "retry_jobs", "cancel_jobs"]  # no delete without delete_job
    detail = reverse("admin:ash_oban_django_job_change", args=[jobs["ship"].pk])
    assert 'name="_save"' not in client.get(detail).content.decode()
    run_action(client, "cancel_jobs", [jobs["ship"]])
    assert ledger.jobs().get(pk=jobs["ship"].pk).state == "cancelled"
