"""`conf`: each `ASH_OBAN` key declared once, read lazily, typed, validated when read."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from ash_oban_django.conf import SETTINGS, Setting, Settings, settings
from ash_oban_django.exceptions import InvalidSetting

DEFAULTS = {
    "APPS": None,
    "ACTOR_PERSISTER": None,
    "AUTHORIZE": True,
    "DEBUG_ALL_TRIGGERS": False,
    "QUEUES": {},
    "TENANT_CONTEXT": None,
    "DATABASE": "default",
    "PRUNE_AFTER": 86400.0,
    "RESCUE_AFTER": 60.0,
    "REQUIRE_NAMES": False,
    "DISPATCH_BATCH": 200,
    "STAGE_INTERVAL": 1.0,
    "RESCUE_INTERVAL": 1.0,
    "PRUNE_INTERVAL": 60.0,
    "LEADER_TTL": 5.0,
    "ATTEMPT_MARGIN": 5.0,
    "TESTING": None,
}


def test_settings__every_key_is_declared_once_with_hint_and_help() -> None:
    assert list(SETTINGS) == list(DEFAULTS)
    assert all(isinstance(vars(Settings)[name], Setting) for name in SETTINGS)
    assert [name for name, s in SETTINGS.items() if not (s.hint.strip() and s.help.strip())] == []
    assert [s.name for s in SETTINGS.values()] == list(SETTINGS)


@pytest.mark.parametrize("absent", [None, {}, ["not", "a", "dict"]])
def test_settings__defaults_when_absent(settings: Any, absent: Any) -> None:
    from ash_oban_django.conf import settings as conf

    settings.ASH_OBAN = absent
    assert {name: getattr(conf, name) for name in SETTINGS} == DEFAULTS
    del settings.ASH_OBAN
    assert {name: getattr(conf, name) for name in SETTINGS} == DEFAULTS
    assert isinstance(conf.PRUNE_AFTER, float)


def test_settings__every_default_passes_its_own_validator() -> None:
    assert {name: s.check(s.default) for name, s in SETTINGS.items()} == DEFAULTS


def test_settings__values_are_read_normalised(settings: Any) -> None:
    settings.ASH_OBAN = {
        "APPS": ["shop", "shop", "testapp"],
        "QUEUES": {"q": {"limit": 2}},
        "RESCUE_AFTER": 5,
        "AUTHORIZE": False,
    }
    from ash_oban_django.conf import settings as conf

    apps = conf.APPS
    assert apps == frozenset({"shop", "testapp"})
    assert conf.RESCUE_AFTER == 5.0 and isinstance(conf.RESCUE_AFTER, float)
    assert conf.AUTHORIZE is False
    assert conf.QUEUES == {"q": {"limit": 2}}
    assert (conf.queue_limit("q"), conf.queue_cluster("q")) == (2, None)
    assert (conf.queue_limit("other"), conf.queue_cluster("other")) == (None, None)


def test_settings__read_on_every_access_so_override_settings_works() -> None:
    assert settings.DISPATCH_BATCH == 200
    with override_settings(ASH_OBAN={"DISPATCH_BATCH": 7, "QUEUES": {"q": {"cluster": "x"}}}):
        assert settings.DISPATCH_BATCH == 7
        assert settings.queue_cluster("q") == "x"
        with override_settings(ASH_OBAN={}):
            assert settings.DISPATCH_BATCH == 200
        assert settings.DISPATCH_BATCH == 7
    assert settings.DISPATCH_BATCH == 200


def test_settings__a_bad_value_raises_what_the_check_says(settings: Any) -> None:
    from ash_oban_django.conf import settings as conf

    settings.ASH_OBAN = {"AUTHORIZE": "no", "QUEUES": {"q": {"cluster": 1, "limit": 0}}}
    with pytest.raises(InvalidSetting) as info:
        conf.AUTHORIZE  # noqa: B018
    assert (
        str(info.value)
        == "ASH_OBAN['AUTHORIZE'] must be True or False, got 'no'. Use True or False."
    )
    assert isinstance(info.value, ImproperlyConfigured)
    with pytest.raises(InvalidSetting) as info:
        conf.queue_limit("q")
    assert str(info.value) == (
        "ASH_OBAN['QUEUES']['q']['cluster'] must be a django-q2 cluster name, got 1. "
        "ASH_OBAN['QUEUES']['q']['limit'] must be an integer >= 1, got 0. "
        f"{SETTINGS['QUEUES'].hint}"
    )
    assert conf.DISPATCH_BATCH == 200  # the other keys still read


def test_settings__an_undeclared_key_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        settings.QUEUE  # type: ignore[attr-defined]  # noqa: B018


def test_setting__on_the_class_is_the_declaration() -> None:
    declared = Settings.LEADER_TTL
    assert isinstance(declared, Setting)
    assert (declared.name, declared.default, declared.subject) == (
        "LEADER_TTL",
        5.0,
        "ASH_OBAN['LEADER_TTL']",
    )
    assert declared.problems(0) == [
        "ASH_OBAN['LEADER_TTL'] must be a number of seconds > 0, got 0."
    ]
    assert declared.problems(2) == []
