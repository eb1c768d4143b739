"""`meta` given at insert (docs/running.md): stored on the job, JSON-checked, shown and
searchable in the admin, not part of the job's unique key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from ash_oban_django import (
    ScheduledAction,
    Trigger,
    register,
    run_trigger,
    run_triggers,
    schedule,
)
from ash_oban_django.models import Job
from ash_oban_django.testing import drain_queues
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


@pytest.fixture
def finish(ash_oban: Any) -> Iterator[None]:
    with register(
        Widget,
        triggers=[Trigger("finish")],
        scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")],
    ):
        yield


def test_meta__is_stored_by_every_insert_function(finish: None) -> None:
    one = run_trigger(Widget.objects.create(), "finish", meta={"request": "r-1"})
    many = run_triggers(
        [Widget.objects.create(), Widget.objects.create()], "finish", meta={"batch": [1, 2]}
    )
    scheduler = schedule(Widget, "finish", meta={"by": "ops"})
    action = schedule(Widget, "nightly", meta={"by": "cron"})
    stored = dict(Job.objects.values_list("id", "meta"))
    assert stored == {
        one.pk: {"request": "r-1"},
        many[0].pk: {"batch": [1, 2]},
        many[1].pk: {"batch": [1, 2]},
        scheduler.pk: {"by": "ops"},
        action.pk: {"by": "cron"},
    }


def test_meta__is_kept_as_the_job_runs_next_to_what_the_ledger_writes(finish: None) -> None:
    widget = Widget.objects.create(done=True)  # no longer matches: cancelled
    with register(Widget, triggers=[Trigger("gone", action="finish", where=~_done())]):
        job = run_trigger(widget, "gone", meta={"request": "r-2"})
        drain_queues()
    job.refresh_from_db()
    assert job.state == "cancelled"
    assert job.meta["request"] == "r-2" and "no longer" in job.meta["cancel_reason"]


def _done() -> Any:
    from django.db.models import Q

    return Q(done=True)


def test_meta__is_not_part_of_the_unique_key(finish: None) -> None:
    widget = Widget.objects.create()
    first = run_trigger(widget, "finish", meta={"try": 1})
    again = run_trigger(widget, "finish", meta={"try": 2})
    assert again.conflict and again.pk == first.pk and again.meta == {"try": 1}


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (["a"], r"`meta` must be a dict with string keys, got \['a'\]"),
        ({1: "a"}, r"`meta` must be a dict with string keys, got \{1: 'a'\}"),
        ({"n": float("nan")}, r"meta\['n'\] is nan, which JSON has no form for: use None"),
        (
            {"when": object()},
            r"meta\['when'\] is object <object object at .*>: job arguments are JSON",
        ),
        ({"s": "a\x00b"}, r"meta\['s'\] holds a NUL character or a lone surrogate"),
        ({"snoozed": 3}, r"may not use the key\(s\) \['snoozed'\]: the ledger writes them"),
    ],
)
def test_meta__a_value_the_job_cannot_hold_is_refused(
    finish: None, meta: Any, message: str
) -> None:
    widget = Widget.objects.create()
    with pytest.raises((ValueError, TypeError), match=message):
        run_trigger(widget, "finish", meta=meta)
    with pytest.raises((ValueError, TypeError), match=message):
        schedule(Widget, "nightly", meta=meta)
    assert Job.objects.count() == 0


def test_meta__is_shown_and_searchable_in_the_admin(finish: None, admin_client: Client) -> None:
    wanted = run_trigger(Widget.objects.create(), "finish", meta={"customer": "Customer-42"})
    run_trigger(Widget.objects.create(), "finish", meta={"customer": "customer-7"})
    response = admin_client.get(reverse("admin:ash_oban_django_job_changelist") + "?q=customer-42")
    assert [job.pk for job in response.context["cl"].result_list] == [wanted.pk]
    detail = admin_client.get(reverse("admin:ash_oban_django_job_change", args=[wanted.pk]))
    assert "&quot;customer&quot;: &quot;Customer-42&quot;" in detail.content.decode()
