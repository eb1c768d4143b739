"""The public insert functions refuse what is not a saved row (docs/running.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ash_oban_django import (
    ScheduledAction,
    Trigger,
    build_trigger,
    register,
    run_trigger,
    run_triggers,
    schedule,
)
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


# What JSON cannot carry exactly on every database: refused at the call, naming the key.
UNSTORABLE = [
    (float("nan"), ValueError, "is nan, which JSON has no form for"),
    (float("inf"), ValueError, "is inf, which JSON has no form for"),
    ("a\x00b", ValueError, "holds a NUL character or a lone surrogate"),
    ("a\ud800b", ValueError, "holds a NUL character or a lone surrogate"),
]


@pytest.mark.parametrize(("value", "error", "message"), UNSTORABLE)
def test_run_trigger__refuses_arguments_json_cannot_carry(
    finish: None, value: Any, error: type[Exception], message: str
) -> None:
    widget = Widget.objects.create()
    with pytest.raises(error, match=rf"^action_arguments\['note'\] {message}"):
        run_trigger(widget, "finish", action_arguments={"note": value})
    with pytest.raises(error, match=rf"^args\['extra'\]\[0\] {message}"):
        run_triggers([widget], "finish", args={"extra": [value]})
    with pytest.raises(error, match=rf"^tenant\['shard'\] {message}"):
        run_trigger(widget, "finish", tenant={"shard": value})
    assert Job.objects.count() == 0


@pytest.mark.parametrize(("value", "error", "message"), UNSTORABLE)
def test_schedule__refuses_arguments_json_cannot_carry(
    ash_oban: Any, value: Any, error: type[Exception], message: str
) -> None:
    action = ScheduledAction("nightly", "0 3 * * *")
    with (
        register(Widget, scheduled_actions=[action]),
        pytest.raises(error, match=rf"^action_arguments\['note'\] {message}"),
    ):
        schedule(Widget, "nightly", action_arguments={"note": value})
    assert Job.objects.count() == 0
