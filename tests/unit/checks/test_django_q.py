"""`checks.django_q`: django-q2 settings that would break the ledger's guarantees."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from ash_oban_django.checks import check_django_q
from tests.unit.checks.support import ids, trigger


def django_q_ids() -> list[str | None]:
    return ids(check_django_q())


def test_check__django_q_settings_of_the_example_project_are_clean() -> None:
    assert django_q_ids() == []


def test_check__E018_django_q_not_installed(settings: Any) -> None:
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "django_q"]
    assert django_q_ids() == ["ash_oban_django.E018"]


def test_check__W002_retry_not_above_timeout(settings: Any) -> None:
    settings.Q_CLUSTER = {
        **settings.Q_CLUSTER,
        "timeout": 300,
        "retry": 300,
        "ALT_CLUSTERS": {"slow": {"timeout": 60, "retry": 120}},
    }
    (message,) = check_django_q()
    assert message.id == "ash_oban_django.W002"
    assert message.msg.startswith("django-q2 cluster 'default': retry (300) is not above timeout")


def test_check__W003_declaration_timeout_not_below_the_clusters(
    widget_checks: Any, settings: Any
) -> None:
    widget_checks(triggers=[trigger("finish", timeout=600)])
    assert django_q_ids() == ["ash_oban_django.W003"]
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 900, "retry": 960}
    assert django_q_ids() == []


def test_check__W004_orm_broker_on_another_database(settings: Any) -> None:
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "orm": "other"}
    assert django_q_ids() == ["ash_oban_django.W004"]


def test_check__W005_no_broker(settings: Any) -> None:
    settings.Q_CLUSTER = {
        k: v for k, v in settings.Q_CLUSTER.items() if k not in ("orm", "broker_class")
    }
    assert django_q_ids() == ["ash_oban_django.W005"]


def test_check__W006_sync_mode(settings: Any) -> None:
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    assert django_q_ids() == ["ash_oban_django.W006"]


def test_check__E020_redis_broker_without_the_redis_package(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.Q_CLUSTER = {"name": "default", "redis": "redis://127.0.0.1:6379/0"}
    assert django_q_ids() == []  # redis is installed here
    # A `None` entry in sys.modules is how Python marks a module that cannot be imported.
    monkeypatch.setitem(sys.modules, "redis", None)
    (message,) = check_django_q()
    assert message.id == "ash_oban_django.E020"
    assert "the `redis` package is not installed" in message.msg
    assert (
        message.hint == 'Install it: pip install "ash_oban_django[redis]" (or pip install redis).'
    )
