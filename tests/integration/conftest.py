"""Declarations shared by the tests of the testing helpers (`test_testing.py`) and of the
inline mode (`worker/test_inline.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import Q

from ash_oban_django import ScheduledAction, Trigger, register
from tests.integration.worker.test_inline import Spawning
from tests.testapp.models import Widget


@pytest.fixture
def declared(ash_oban: Any) -> Iterator[Trigger]:
    """Widget's `finish` trigger (with a cron) and its `nightly` scheduled action."""
    trigger = Trigger("finish", where=Q(done=False), worker_name="testapp.Widget:finish")
    with register(
        Widget,
        triggers=[trigger],
        scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")],
    ):
        yield trigger


@pytest.fixture
def spawning(ash_oban: Any) -> Iterator[None]:
    with register(
        Spawning,
        triggers=[
            Trigger("spawn", scheduler_cron=None),
            Trigger("finish", where=Q(done=False), scheduler_cron=None),
        ],
    ):
        yield
