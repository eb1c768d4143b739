"""`checks.tasks`: the `TASKS` entries of the ledger's Django Tasks backend."""

from __future__ import annotations

from typing import Any

from django.core import checks

from ash_oban_django.checks import check_tasks
from ash_oban_django.checks.ids import BY_ID
from ash_oban_django.taskapi import task_backends
from ash_oban_django.tasks import APP_MISSING
from tests.unit.checks.support import ids

BACKEND = "ash_oban_django.tasks.LedgerBackend"


def tasks_setting(**entry: Any) -> dict[str, Any]:
    return {"default": {"BACKEND": BACKEND, "QUEUES": ["default"], **entry}}


def test_check__tasks_of_the_test_settings_are_clean() -> None:
    assert ids(check_tasks()) == []


def test_check__E022_backend_named_without_the_app(settings: Any) -> None:
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "ash_oban_django"]
    [message] = task_backends["default"].check()
    assert (message.id, message.level) == (APP_MISSING, checks.ERROR)
    assert BY_ID[APP_MISSING].level is checks.Error
    assert "INSTALLED_APPS" in message.msg


def test_check__E023_queue_no_cluster_serves(settings: Any) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "QUEUES": {"emails": {"cluster": "mail"}}}
    settings.TASKS = tasks_setting(QUEUES=["default", "emails"])
    [message] = check_tasks()
    assert message.id == "ash_oban_django.E023"
    assert "'emails'" in message.msg and "'mail'" in message.msg


def test_check__E024_options_of_the_wrong_type(settings: Any) -> None:
    settings.TASKS = tasks_setting(OPTIONS={"max_attempts": "3", "retries": 2, "unique": 1})
    messages = check_tasks()
    assert ids(messages) == ["ash_oban_django.E024"] * 3
    text = " ".join(m.msg for m in messages)
    assert "['max_attempts'] must be an integer >= 1, got '3'" in text
    assert "unknown option 'retries'" in text
    assert "['unique'] must be True or False, got 1" in text


def test_check__E024_options_and_queues_not_collections(settings: Any) -> None:
    settings.TASKS = tasks_setting(OPTIONS=[("max_attempts", 3)])
    assert ids(check_tasks()) == ["ash_oban_django.E024"]
    settings.TASKS = tasks_setting(QUEUES="default")
    assert ids(check_tasks()) == ["ash_oban_django.E024"]


def test_check__other_backends_left_alone(settings: Any) -> None:
    settings.TASKS = {
        **tasks_setting(),
        "other": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "OPTIONS": 1},
    }
    assert ids(check_tasks()) == []
