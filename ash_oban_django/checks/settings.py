"""System checks of the `ASH_OBAN` setting: E011 (a bad value or key), E015 (unknown app),
W007 (a testing mode in settings checked for deployment).

What each key must hold is declared with the key itself (`conf.Settings`): the check only
runs each key's validator and adds what no single key can say (unknown keys, LEADER_TTL
against STAGE_INTERVAL, app labels that are not installed).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings as django_settings
from django.core import checks

from ..conf import SETTINGS
from ..validators import Invalid
from .common import TAG, Messages, safely
from .ids import E011, E015, W007


@checks.register(TAG)
def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """`ASH_OBAN` itself (E011) and the apps it names (E015)."""
    return safely("ASH_OBAN", None, _settings_messages)


@checks.register(TAG, deploy=True)
def check_testing_mode(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """`manage.py check --deploy`: a testing mode left on (W007) would run every job in the
    process that inserts it, web requests included, and hand none to django-q2."""
    raw = getattr(django_settings, "ASH_OBAN", None)
    mode = raw.get("TESTING") if isinstance(raw, dict) else None
    if mode is None:
        return []
    return [
        W007.message(
            f"ASH_OBAN['TESTING'] is {mode!r}: jobs are not handed to django-q2"
            + (", and each runs in the process that inserts it." if mode == "inline" else "."),
            "Set TESTING in your test settings only.",
        )
    ]


def _settings_messages() -> Messages:
    raw = getattr(django_settings, "ASH_OBAN", None)
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [
            E011.message(
                f"ASH_OBAN must be a dict, got {raw!r}.",
                "Set ASH_OBAN = {...} with the keys of the settings reference.",
            )
        ]
    messages: Messages = []
    valid: dict[str, Any] = {}  # the keys whose values are valid, as the settings read them
    for key, value in raw.items():
        setting = SETTINGS.get(key)
        if setting is None:
            messages.append(_unknown_key(key))
            continue
        try:
            valid[key] = setting.check(value)
        except Invalid:
            messages += [E011.message(problem, setting.hint) for problem in setting.problems(value)]
    if valid.get("APPS") is not None:
        messages += _unknown_apps(raw["APPS"])  # in the order given
    messages += _leader_ttl(raw, valid)
    return messages


def _unknown_key(key: Any) -> checks.CheckMessage:
    keys = sorted(SETTINGS)
    close = difflib.get_close_matches(str(key), keys, n=1)
    return E011.message(
        f"ASH_OBAN has an unknown key {key!r}.",
        (f"Did you mean {close[0]!r}? " if close else "") + f"Valid keys: {', '.join(keys)}.",
    )


def _leader_ttl(raw: dict[Any, Any], valid: dict[str, Any]) -> Messages:
    # Compared only when both are valid (or unset): a bad one is already reported.
    if any(key in raw and key not in valid for key in ("LEADER_TTL", "STAGE_INTERVAL")):
        return []
    ttl = raw.get("LEADER_TTL", SETTINGS["LEADER_TTL"].default)
    interval = raw.get("STAGE_INTERVAL", SETTINGS["STAGE_INTERVAL"].default)
    if ttl > interval:
        return []
    return [
        E011.message(
            f"ASH_OBAN['LEADER_TTL'] ({ttl}) is not above STAGE_INTERVAL ({interval}): "
            "the leader's lease would lapse between two of its passes.",
            "Set LEADER_TTL to a few STAGE_INTERVALs, e.g. 5 for 1.",
        )
    ]


def _unknown_apps(labels: Iterable[str]) -> Messages:
    installed = {config.label for config in apps.get_app_configs()}
    by_name = {config.name: config.label for config in apps.get_app_configs()}
    return [
        E015.message(
            f"ASH_OBAN['APPS'] names {label!r}, which is not an installed app label.",
            f"Use the label {by_name[label]!r} of the app {label!r}."
            if label in by_name
            else "Use app labels (AppConfig.label) of apps in INSTALLED_APPS.",
        )
        for label in labels
        if label not in installed
    ]
