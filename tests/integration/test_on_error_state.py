"""A job whose final failure `on_error` handled is told apart from a plain completion: in the
ledger (`meta`), the admin list and detail, and `manage.py ash_oban_status`."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Q
from django.test import Client
from django.urls import reverse

from ash_oban_django import Trigger, register, run_trigger
from ash_oban_django.models import Job
from ash_oban_django.status import job_counts
from ash_oban_django.testing import drain_queues
from tests.integration.worker.test_executor import Failing
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

NAME = "testapp.Failing:finish"


@pytest.fixture
def outcomes(ash_oban: Any) -> dict[str, Job]:
    """One job completed by its action, one completed by on_error."""
    triggers = [
        Trigger("finish", where=Q(errored=False), scheduler_cron=None, on_error="mark_errored"),
    ]
    with register(Failing, triggers=triggers):
        handled = run_trigger(Failing.objects.create(), "finish")
        assert drain_queues().success == 1
    with register(Widget, triggers=[Trigger("finish", scheduler_cron=None)]):
        plain = run_trigger(Widget.objects.create(), "finish")
        assert drain_queues().success == 1
    return {"handled": Job.objects.get(pk=handled.pk), "plain": Job.objects.get(pk=plain.pk)}


def test_worker__records_that_on_error_handled_the_job(outcomes: dict[str, Job]) -> None:
    assert outcomes["handled"].meta == {"on_error": "handled"}
    assert "on_error" not in outcomes["plain"].meta


def test_admin__list_and_detail_say_on_error_completed_the_job(
    admin_client: Client, outcomes: dict[str, Job]
) -> None:
    response = admin_client.get(reverse("admin:ash_oban_django_job_changelist"))
    rows = {job.pk: job for job in response.context["cl"].result_list}
    model_admin = response.context["cl"].model_admin
    assert model_admin.state_label(rows[outcomes["handled"].pk]) == "completed (on_error)"
    assert model_admin.state_label(rows[outcomes["plain"].pk]) == "completed"
    assert response.content.decode().count("completed (on_error)") == 1

    for key, shown in (("handled", "completed (on_error)"), ("plain", "completed")):
        url = reverse("admin:ash_oban_django_job_change", args=[outcomes[key].pk])
        content = admin_client.get(url).content.decode()
        assert f'<div class="readonly">{shown}</div>' in content


def test_status__counts_on_error_completions_apart(outcomes: dict[str, Job]) -> None:
    assert job_counts()[NAME] == {"completed (on_error)": 1}
    assert job_counts()["testapp.Widget:finish"] == {"completed": 1}
    out = StringIO()
    call_command("ash_oban_status", stdout=out)
    table = out.getvalue()[out.getvalue().index("Jobs per state") :]
    header = next(line for line in table.splitlines() if "stable name" in line)
    assert header.split()[2:] == [
        "available",
        "scheduled",
        "executing",
        "retryable",
        "completed",
        "completed",
        "(on_error)",
        "discarded",
        "cancelled",
    ]
    (row,) = [line.split() for line in table.splitlines() if NAME in line]
    assert row == [NAME, "0", "0", "0", "0", "0", "1", "0", "0"]
