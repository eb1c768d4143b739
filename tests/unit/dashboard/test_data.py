"""The dashboard's data (docs/dashboard.md) that needs no database: a cron's next run and the
throughput series. The queries are tested in tests/integration/dashboard/test_views.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import override_settings

from ash_oban_django.dashboard import Throughput, next_run
from ash_oban_django.dashboard.data import MINUTES

AT = datetime(2026, 1, 5, 9, 17, 30, tzinfo=UTC)


@override_settings(TIME_ZONE="UTC")
def test_next_run__of_an_active_cron() -> None:
    assert next_run("*/15 * * * *", "active", AT) == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    assert next_run("0 3 * * *", "active", AT) == datetime(2026, 1, 6, 3, 0, tzinfo=UTC)


@override_settings(TIME_ZONE="Europe/Paris")
def test_next_run__reads_the_cron_in_the_project_s_time_zone() -> None:
    found = next_run("0 3 * * *", "active", AT)
    assert found is not None
    assert found.astimezone(UTC) == datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "state"), [(None, "active"), ("* * * * *", "paused"), ("* * * * *", "deleted")]
)
def test_next_run__none_without_a_cron_or_when_not_active(cron: str | None, state: str) -> None:
    assert next_run(cron, state, AT) is None


def test_throughput__an_hour_of_minutes_with_totals() -> None:
    series = Throughput(AT)
    assert len(series.completed) == len(series.failed) == MINUTES
    series.completed[0] += 3
    series.failed[59] += 2
    assert (series.total_completed, series.total_failed) == (3, 2)
    assert Throughput(AT).total_completed == 0  # each series has its own lists
