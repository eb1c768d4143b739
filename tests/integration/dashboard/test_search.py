"""The dashboard's job search (dashboard/search.py): by id, stable name, tag, a word of the arguments
or of the errors; narrowed by state; the selection its bulk actions act on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Q

from ash_oban_django import Trigger, ledger, register, run_trigger
from ash_oban_django.dashboard.search import JobSearch
from ash_oban_django.models import Job
from ash_oban_django.testing import drain_queues
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

QUEUE = "search_widgets"


@pytest.fixture
def jobs(ash_oban: Any) -> Iterator[dict[str, Job]]:
    with register(
        Widget,
        triggers=[
            Trigger("finish", where=Q(done=False), scheduler_cron=None, queue=QUEUE),
            Trigger(
                "fail", action="mark_errored", scheduler_cron=None, queue=QUEUE, tags=("billing",)
            ),
        ],
    ):
        failed = run_trigger(Widget.objects.create(), "fail")
        drain_queues()
        waiting = run_trigger(
            Widget.objects.create(), "finish", action_arguments={"sku": "Zanzibar-42"}
        )
        yield {"failed": Job.objects.get(pk=failed.pk), "waiting": waiting}


def ids(search: JobSearch) -> list[int]:
    return [found.job_id for found in search.results()]


def test_search__by_id_name_tag_argument_and_error(jobs: dict[str, Job]) -> None:
    failed, waiting = jobs["failed"], jobs["waiting"]
    assert ids(JobSearch(str(waiting.pk))) == [waiting.pk]
    assert ids(JobSearch(f"#{failed.pk}")) == [failed.pk]
    assert ids(JobSearch("testapp.Widget:finish")) == [waiting.pk]
    assert ids(JobSearch("widget:")) == [waiting.pk, failed.pk]  # part of declared names
    assert ids(JobSearch("billing")) == [failed.pk]
    assert ids(JobSearch("zanzibar")) == [waiting.pk]  # a word of its arguments, any case
    assert ids(JobSearch("TypeError")) == [failed.pk]  # a word of its error
    assert ids(JobSearch("nothing-like-it")) == []
    assert ids(JobSearch("   ")) == []


def test_search__narrowed_by_state_and_listed_with_state_and_error(jobs: dict[str, Job]) -> None:
    (found,) = JobSearch("widget:", state="discarded").results()
    assert (found.job_id, found.state, found.queue) == (jobs["failed"].pk, "discarded", QUEUE)
    assert found.error.startswith("TypeError: ")
    assert JobSearch("widget:").count("retry") == 1  # the available job is not retried
    assert JobSearch("widget:").count("cancel") == 1  # the discarded one is not cancelled


def test_search__its_result_is_what_a_bulk_retry_acts_on(jobs: dict[str, Job]) -> None:
    assert ledger.retry_jobs(JobSearch("TypeError").jobs()) == 1
    assert Job.objects.get(pk=jobs["failed"].pk).state == "available"
    assert Job.objects.get(pk=jobs["waiting"].pk).state == "available"


def test_search__bad_input_says_how_to_fix_it() -> None:
    with pytest.raises(ValueError, match="`state` must be one of available, "):
        JobSearch("x", state="lost")
    with pytest.raises(ValueError, match="a search is at most 200 characters"):
        JobSearch("x" * 201)
