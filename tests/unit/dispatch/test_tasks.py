"""The functions django-q2 calls (docs/operations.md): their dotted paths are stored in
django-q2's tables and broker, so they resolve to the same functions release after release."""

from __future__ import annotations

import pytest
from django.utils.module_loading import import_string

from ash_oban_django.dispatch import tasks
from ash_oban_django.dispatch.cron import CRON_TICK, MAINTAIN
from ash_oban_django.dispatch.wake import RUN_QUEUE


@pytest.mark.parametrize(
    ("stored", "function"),
    [
        (RUN_QUEUE, tasks.run_queue),
        (CRON_TICK, tasks.cron_tick),
        (MAINTAIN, tasks.maintain),
    ],
)
def test_tasks__the_stored_paths_name_these_functions(stored: str, function: object) -> None:
    assert import_string(stored) is function


def test_tasks__the_paths_are_those_of_earlier_rows() -> None:
    assert (RUN_QUEUE, CRON_TICK, MAINTAIN) == (
        "ash_oban_django.dispatch.tasks.run_queue",
        "ash_oban_django.dispatch.tasks.cron_tick",
        "ash_oban_django.dispatch.tasks.maintain",
    )
