"""A cron read in its declaration's own time zone: the leader's slots, django-q2's fallback
row, the dashboard's next run and `ash_oban_status` (docs/declarations.md)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from ash_oban_django import ScheduledAction, Trigger, register
from ash_oban_django.dashboard import declarations
from ash_oban_django.dispatch.cron import CronFiring, due_slot
from ash_oban_django.dispatch.tasks import cron_tick
from ash_oban_django.models import Job
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
# 2026-07-01 01:00:30 UTC is 03:00:30 in Paris (summer time, UTC+2).
AT = datetime(2026, 7, 1, 1, 0, 30, tzinfo=UTC)


@pytest.fixture
def zoned(ash_oban: Any) -> Iterator[None]:
    with register(
        Widget,
        triggers=[Trigger("finish", scheduler_cron="0 3 * * *", timezone="America/New_York")],
        scheduled_actions=[
            ScheduledAction("nightly", "0 3 * * *", timezone="Europe/Paris"),
            ScheduledAction("utc_nightly", "0 3 * * *"),
        ],
    ):
        yield


def test_due_slot__is_read_in_the_given_zone() -> None:
    assert due_slot("0 3 * * *", AT, PARIS) == datetime(2026, 7, 1, 3, 0, tzinfo=PARIS)
    assert due_slot("0 3 * * *", AT) == datetime(2026, 6, 30, 3, 0, tzinfo=UTC)  # TIME_ZONE


def zoned_jobs() -> list[str]:
    return sorted(Job.objects.filter(name__startswith="testapp.").values_list("name", flat=True))


def test_leader__fires_a_zoned_cron_at_its_local_time(zoned: None) -> None:
    CronFiring().fire_due(AT)
    assert zoned_jobs() == ["testapp.Widget:nightly"]
    job = Job.objects.get(name="testapp.Widget:nightly")
    assert datetime.fromisoformat(job.args["cron_slot"]) == datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
    # 03:00 UTC: the UTC cron's slot; the Paris one (05:00 there) is not due again.
    CronFiring().fire_due(datetime(2026, 7, 1, 3, 0, 5, tzinfo=UTC))
    assert zoned_jobs() == ["testapp.Widget:nightly", "testapp.Widget:utc_nightly"]
    # 03:00 in New York is 07:00 UTC.
    CronFiring().fire_due(datetime(2026, 7, 1, 7, 0, 5, tzinfo=UTC))
    assert zoned_jobs() == [
        "testapp.Widget:finish:scheduler",
        "testapp.Widget:nightly",
        "testapp.Widget:utc_nightly",
    ]


def test_cron_tick__the_fallback_row_fires_no_stale_slot_of_a_zoned_cron(zoned: None) -> None:
    # django-q2 runs the row when 03:00 comes in TIME_ZONE (UTC): in Paris the slot was due
    # two hours before, so the row's tick leaves it to the leader.
    cron_tick("testapp.Widget:nightly")
    assert not Job.objects.filter(name="testapp.Widget:nightly").exists()
    cron_tick("testapp.Widget:utc_nightly")  # a cron in TIME_ZONE fires its latest slot
    assert Job.objects.filter(name="testapp.Widget:utc_nightly").count() == 1


def test_dashboard__next_run_is_read_in_the_crons_zone(zoned: None) -> None:
    found = {d.row.label: (d.row.timezone, d.next_run) for d in declarations(AT)}
    assert found["testapp.Widget:nightly"] == (
        "Europe/Paris",
        datetime(2026, 7, 2, 3, 0, tzinfo=PARIS),
    )
    assert found["testapp.Widget:utc_nightly"] == (None, datetime(2026, 7, 1, 3, 0, tzinfo=UTC))
    assert found["testapp.Widget:finish"][1] == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


def test_status__shows_the_zone_and_the_next_run(zoned: None) -> None:
    out = StringIO()
    call_command("ash_oban_status", stdout=out)
    output = out.getvalue()
    (nightly,) = [line for line in output.splitlines() if "Widget:nightly " in line]
    assert " 03:00 +0100" in nightly or " 03:00 +0200" in nightly  # Paris, winter or summer
    (finish,) = [line for line in output.splitlines() if "Widget:finish " in line]
    assert " 03:00 -0400" in finish or " 03:00 -0500" in finish  # New York
    (utc,) = [line for line in output.splitlines() if "Widget:utc_nightly " in line]
    assert " 03:00 +0000" in utc
    flat = " ".join(output.split())  # long cells are folded over lines
    assert "(Europe/Paris)" in flat and "(America/New_York)" in flat
