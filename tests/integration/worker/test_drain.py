"""Running jobs in-process (docs/testing.md)."""

from __future__ import annotations

from typing import Any

import pytest

from ash_oban_django import ScheduledAction, register
from ash_oban_django.testing import schedule_and_run_triggers
from ash_oban_django.worker import Result
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


def test_schedule_and_run_triggers__a_model_with_only_scheduled_actions(ash_oban: Any) -> None:
    """Its triggers are none, so there is nothing to drain: an empty result, on every
    database."""
    with register(Widget, scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")]):
        assert schedule_and_run_triggers(Widget) == Result()
        assert schedule_and_run_triggers(Widget, scheduled_actions=True).success == 1
