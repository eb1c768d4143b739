"""The public insert functions refuse what is not a saved row (docs/running.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ash_oban_django import Trigger, build_trigger, register, run_trigger, run_triggers
from ash_oban_django.models import Job
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


@pytest.fixture
def finish(ash_oban: Any) -> Iterator[None]:
    with register(Widget, triggers=[Trigger("finish", scheduler_cron=None)]):
        yield


@pytest.mark.parametrize("insert", [run_trigger, build_trigger])
def test_run_trigger__an_unsaved_row_is_refused(finish: None, insert: Any) -> None:
    with pytest.raises(ValueError, match=r"Widget instance has no primary key: save\(\) it"):
        insert(Widget(), "finish")
    assert Job.objects.count() == 0


@pytest.mark.parametrize("insert", [run_trigger, build_trigger])
def test_run_trigger__a_model_class_is_refused(finish: None, insert: Any) -> None:
    with pytest.raises(TypeError, match="got the model class Widget: pass an instance"):
        insert(Widget, "finish")
    assert Job.objects.count() == 0


def test_run_triggers__one_bad_record_inserts_nothing(finish: None) -> None:
    with pytest.raises(ValueError, match="no primary key"):
        run_triggers([Widget.objects.create(), Widget()], "finish")
    with pytest.raises(TypeError, match="Expected a model instance, got 'widget'"):
        run_triggers([Widget.objects.create(), "widget"], "finish")
    assert Job.objects.count() == 0
