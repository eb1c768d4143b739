"""`checks.settings`: the `ASH_OBAN` setting (E011) and the apps it names (E015)."""

from __future__ import annotations

from typing import Any

import pytest

from ash_oban_django.checks import check_settings
from ash_oban_django.conf import SETTINGS
from tests.unit.checks.support import BASE, ids


@pytest.mark.parametrize(
    ("value", "msg"),
    [
        ({"APPS": "shop"}, "ASH_OBAN['APPS'] must be a list of app labels or None, got 'shop'."),
        ({"APPS": [1]}, "ASH_OBAN['APPS'] must be a list of app labels or None, got [1]."),
        ({"AUTHORIZE": "yes"}, "ASH_OBAN['AUTHORIZE'] must be True or False, got 'yes'."),
        ({"DEBUG_ALL_TRIGGERS": 1}, "ASH_OBAN['DEBUG_ALL_TRIGGERS'] must be True or False, got 1."),
        ({"REQUIRE_NAMES": None}, "ASH_OBAN['REQUIRE_NAMES'] must be True or False, got None."),
        (
            {"QUEUES": []},
            "ASH_OBAN['QUEUES'] must be a dict of {queue: {'cluster': ..., 'limit': ...}}, got [].",
        ),
        (
            {"QUEUES": {"q": "fast"}},
            "ASH_OBAN['QUEUES']['q'] must be a dict with 'cluster' and/or 'limit', got 'fast'.",
        ),
        (
            {"QUEUES": {"q": {"workers": 2}}},
            "ASH_OBAN['QUEUES']['q'] has an unknown key 'workers' (use 'cluster', 'limit').",
        ),
        (
            {"QUEUES": {"q": {"cluster": 1}}},
            "ASH_OBAN['QUEUES']['q']['cluster'] must be a django-q2 cluster name, got 1.",
        ),
        (
            {"QUEUES": {"q": {"limit": 0}}},
            "ASH_OBAN['QUEUES']['q']['limit'] must be an integer >= 1, got 0.",
        ),
        (
            {"QUEUES": {"q": {"limit": True}}},
            "ASH_OBAN['QUEUES']['q']['limit'] must be an integer >= 1, got True.",
        ),
        ({"QUEUES": {3: {}}}, "ASH_OBAN['QUEUES'] has a queue name that is not a string: 3."),
        ({"PRUNE_AFTER": -1}, "ASH_OBAN['PRUNE_AFTER'] must be a number of seconds >= 0, got -1."),
        (
            {"RESCUE_AFTER": "60"},
            "ASH_OBAN['RESCUE_AFTER'] must be a number of seconds >= 0, got '60'.",
        ),
        ({"DISPATCH_BATCH": 0}, "ASH_OBAN['DISPATCH_BATCH'] must be an integer >= 1, got 0."),
        (
            {"DATABASE": "other"},
            "ASH_OBAN['DATABASE'] must be an alias in DATABASES ('default'), got 'other'.",
        ),
        (
            {"ACTOR_PERSISTER": 3},
            "ASH_OBAN['ACTOR_PERSISTER'] must be a dotted import path or None, got 3.",
        ),
        (
            {"ACTOR_PERSISTER": "ash_oban_django.actors.Nope"},
            "ASH_OBAN['ACTOR_PERSISTER'] = 'ash_oban_django.actors.Nope' cannot be imported "
            '(ImportError: Module "ash_oban_django.actors" does not define a "Nope" '
            "attribute/class).",
        ),
        (
            {"TENANT_CONTEXT": "nope.context"},
            "ASH_OBAN['TENANT_CONTEXT'] = 'nope.context' cannot be imported "
            "(ModuleNotFoundError: No module named 'nope').",
        ),
    ],
)
def test_check__E011_bad_settings(settings: Any, value: dict[str, Any], msg: str) -> None:
    settings.ASH_OBAN = {**BASE, **value}
    messages = check_settings()
    assert ids(messages) == ["ash_oban_django.E011"]
    assert messages[0].msg == msg
    assert messages[0].hint
    assert messages[0].obj is None


def test_check__E011_unknown_keys_and_not_a_dict(settings: Any) -> None:
    settings.ASH_OBAN = {**BASE, "QUEUE": {}, "colour": 1}
    messages = check_settings()
    assert ids(messages) == ["ash_oban_django.E011", "ash_oban_django.E011"]
    assert [m.msg for m in messages] == [
        "ASH_OBAN has an unknown key 'QUEUE'.",
        "ASH_OBAN has an unknown key 'colour'.",
    ]
    valid = ", ".join(sorted(SETTINGS))
    assert messages[0].hint == f"Did you mean 'QUEUES'? Valid keys: {valid}."
    assert messages[1].hint == f"Valid keys: {valid}."

    settings.ASH_OBAN = ["APPS"]
    messages = check_settings()
    assert ids(messages) == ["ash_oban_django.E011"]
    assert messages[0].msg == "ASH_OBAN must be a dict, got ['APPS']."


def test_check__E011_several_problems_one_error_each(settings: Any) -> None:
    settings.ASH_OBAN = {"AUTHORIZE": 0, "QUEUES": {"q": {"cluster": 1, "limit": 0}}}
    assert [m.msg for m in check_settings()] == [
        "ASH_OBAN['AUTHORIZE'] must be True or False, got 0.",
        "ASH_OBAN['QUEUES']['q']['cluster'] must be a django-q2 cluster name, got 1.",
        "ASH_OBAN['QUEUES']['q']['limit'] must be an integer >= 1, got 0.",
    ]


def test_check__settings_may_be_absent_or_none(settings: Any) -> None:
    settings.ASH_OBAN = None
    assert check_settings() == []
    del settings.ASH_OBAN
    assert check_settings() == []


def test_check__E015_unknown_app_label(settings: Any) -> None:
    settings.ASH_OBAN = {**BASE, "APPS": ["shop", "example_project.shop", "billing"]}
    messages = check_settings()
    assert ids(messages) == ["ash_oban_django.E015", "ash_oban_django.E015"]
    assert messages[0].msg == (
        "ASH_OBAN['APPS'] names 'example_project.shop', which is not an installed app label."
    )
    assert messages[0].hint == "Use the label 'shop' of the app 'example_project.shop'."
    assert messages[1].hint == "Use app labels (AppConfig.label) of apps in INSTALLED_APPS."
    assert messages[1].obj is None


def test_check__E011_hint_is_the_declared_one(settings: Any) -> None:
    settings.ASH_OBAN = {"DISPATCH_BATCH": 0, "QUEUES": {"q": {"limit": 0}}}
    assert [(m.msg, m.hint) for m in check_settings()] == [
        (
            "ASH_OBAN['DISPATCH_BATCH'] must be an integer >= 1, got 0.",
            SETTINGS["DISPATCH_BATCH"].hint,
        ),
        (
            "ASH_OBAN['QUEUES']['q']['limit'] must be an integer >= 1, got 0.",
            SETTINGS["QUEUES"].hint,
        ),
    ]


def test_check__valid_settings_report_nothing(settings: Any) -> None:
    settings.ASH_OBAN = {
        **BASE,
        "APPS": ("testapp",),
        "AUTHORIZE": False,
        "QUEUES": {"q": {"cluster": "fast", "limit": 3}, "r": {}},
        "TENANT_CONTEXT": "tests.testapp.tenancy.use_tenant",
        "DATABASE": "default",
        "PRUNE_AFTER": 0,
        "DISPATCH_BATCH": 1,
        "STAGE_INTERVAL": 0.5,
        "LEADER_TTL": 2,
    }
    assert check_settings() == []


def test_check__E011_leader_ttl_is_compared_only_when_both_are_valid(settings: Any) -> None:
    settings.ASH_OBAN = {"LEADER_TTL": 1}  # against the default STAGE_INTERVAL of 1.0
    assert [m.msg for m in check_settings()] == [
        "ASH_OBAN['LEADER_TTL'] (1) is not above STAGE_INTERVAL (1.0): the leader's lease "
        "would lapse between two of its passes."
    ]
    settings.ASH_OBAN = {"LEADER_TTL": 1, "STAGE_INTERVAL": "2"}
    assert [m.msg for m in check_settings()] == [
        "ASH_OBAN['STAGE_INTERVAL'] must be a number of seconds > 0, got '2'."
    ]


def test_check__E015_only_for_valid_app_labels(settings: Any) -> None:
    settings.ASH_OBAN = {"APPS": ["nope", 3]}
    assert ids(check_settings()) == ["ash_oban_django.E011"]


@pytest.mark.parametrize(
    ("value", "msg"),
    [
        (
            {"STAGE_INTERVAL": 0},
            "ASH_OBAN['STAGE_INTERVAL'] must be a number of seconds > 0, got 0.",
        ),
        (
            {"RESCUE_INTERVAL": "1"},
            "ASH_OBAN['RESCUE_INTERVAL'] must be a number of seconds > 0, got '1'.",
        ),
        (
            {"PRUNE_INTERVAL": -5},
            "ASH_OBAN['PRUNE_INTERVAL'] must be a number of seconds > 0, got -5.",
        ),
        ({"LEADER_TTL": None}, "ASH_OBAN['LEADER_TTL'] must be a number of seconds > 0, got None."),
        (
            {"LEADER_TTL": 2, "STAGE_INTERVAL": 2},
            "ASH_OBAN['LEADER_TTL'] (2) is not above STAGE_INTERVAL (2): the leader's lease "
            "would lapse between two of its passes.",
        ),
    ],
)
def test_check__E011_maintenance_intervals(settings: Any, value: dict[str, Any], msg: str) -> None:
    settings.ASH_OBAN = value
    (message,) = check_settings()
    assert (message.id, message.msg) == ("ash_oban_django.E011", msg)


@pytest.mark.parametrize(
    ("mode", "msg"),
    [
        (
            "inline",
            "ASH_OBAN['TESTING'] is 'inline': jobs are not handed to django-q2, and each runs "
            "in the process that inserts it.",
        ),
        ("manual", "ASH_OBAN['TESTING'] is 'manual': jobs are not handed to django-q2."),
    ],
)
def test_check__W007_a_testing_mode_is_reported_by_check_deploy(
    settings: Any, mode: str, msg: str
) -> None:
    from django.core.checks import run_checks

    settings.ASH_OBAN = {**BASE, "TESTING": mode}
    assert [m.id for m in run_checks() if m.id == "ash_oban_django.W007"] == []  # not deploy
    (message,) = [m for m in run_checks(include_deployment_checks=True) if m.id.endswith("W007")]
    assert (message.msg, message.hint) == (msg, "Set TESTING in your test settings only.")
    settings.ASH_OBAN = dict(BASE)
    assert [m for m in run_checks(include_deployment_checks=True) if m.id.endswith("W007")] == []
