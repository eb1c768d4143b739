"""The recipes of docs/recipes.md, run through the scheduler with the test helpers."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from ash_oban_django import Trigger, register
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

DUE_IN = 0.5  # seconds


def run_until_due(ash_oban: Any, where: Q) -> tuple[int, int]:
    """Declare `where`, then let a row become due after the declaration was made: how many
    worker jobs the scheduler ran before and after it became due."""
    with register(Widget, triggers=[Trigger("finish", where=where)]):
        widget = Widget.objects.create(due_at=timezone.now() + timedelta(seconds=DUE_IN))
        before = ash_oban.schedule_and_run_triggers(Widget).success - 1  # minus the scheduler
        time.sleep(DUE_IN + 0.2)
        after = ash_oban.schedule_and_run_triggers(Widget).success - 1
    widget.refresh_from_db()
    assert widget.done == (after == 1)
    return before, after


def test_now__a_where_with_now_picks_up_a_row_that_becomes_due_later(ash_oban: Any) -> None:
    assert run_until_due(ash_oban, Q(due_at__lte=Now(), done=False)) == (0, 1)


def test_now__timezone_now_in_the_where_is_frozen_when_the_q_is_built(ash_oban: Any) -> None:
    # What the recipe warns against: the cutoff is the moment the module was imported.
    assert run_until_due(ash_oban, Q(due_at__lte=timezone.now(), done=False)) == (0, 0)
