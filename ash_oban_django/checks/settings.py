"""System checks of the `ASH_OBAN` setting: E011 (a bad value or key), E015 (unknown app)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings as django_settings
from django.core import checks
from django.utils.module_loading import import_string

from ..conf import DEFAULTS
from .common import TAG, Messages, is_number, safely
from .ids import E011, E015

# Each validator returns what is wrong, as "<path> must be ..., got ..." tails after
# `ASH_OBAN['KEY']`.
Validator = Callable[[Any], list[str]]


def _must(what: str, value: Any, path: str = "") -> list[str]:
    return [f"{path} must be {what}, got {value!r}"]


def _app_labels(value: Any) -> list[str]:
    if value is None or (
        isinstance(value, list | tuple | set | frozenset)
        and all(isinstance(label, str) for label in value)
    ):
        return []
    return _must("a list of app labels or None", value)


def _boolean(value: Any) -> list[str]:
    return [] if isinstance(value, bool) else _must("True or False", value)


def _seconds(value: Any) -> list[str]:
    return [] if is_number(value) and value >= 0 else _must("a number of seconds >= 0", value)


def _interval(value: Any) -> list[str]:
    return [] if is_number(value) and value > 0 else _must("a number of seconds > 0", value)


def _positive_int(value: Any) -> list[str]:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return [] if ok else _must("an integer >= 1", value)


def _dotted_path(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        return _must("a dotted import path or None", value)
    try:
        import_string(value)
    except Exception as exc:
        return [f" = {value!r} cannot be imported ({type(exc).__name__}: {exc})"]
    return []


def _database(value: Any) -> list[str]:
    aliases = list(getattr(django_settings, "DATABASES", {}))
    if isinstance(value, str) and value in aliases:
        return []
    return _must(f"an alias in DATABASES ({', '.join(map(repr, aliases))})", value)


def _queues(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return _must("a dict of {queue: {'cluster': ..., 'limit': ...}}", value)
    problems: list[str] = []
    for queue, spec in value.items():
        path = f"[{queue!r}]"
        if not isinstance(queue, str):
            problems += [f" has a queue name that is not a string: {queue!r}"]
        elif not isinstance(spec, dict):
            problems += _must("a dict with 'cluster' and/or 'limit'", spec, path)
        else:
            for key in spec:
                if key not in ("cluster", "limit"):
                    problems += [f"{path} has an unknown key {key!r} (use 'cluster', 'limit')"]
            if "cluster" in spec and not isinstance(spec["cluster"], str):
                problems += _must("a django-q2 cluster name", spec["cluster"], f"{path}['cluster']")
            if "limit" in spec:
                problems += [path + "['limit']" + p for p in _positive_int(spec["limit"])]
    return problems


_SETTINGS: dict[str, tuple[Validator, str]] = {
    "APPS": (_app_labels, "Use a list of installed app labels, e.g. ['shop'], or None for all."),
    "ACTOR_PERSISTER": (
        _dotted_path,
        "Use the dotted path of an ActorPersister, e.g. "
        "'ash_oban_django.actors.UserPersister', or None.",
    ),
    "AUTHORIZE": (_boolean, "Use True or False."),
    "DEBUG_ALL_TRIGGERS": (_boolean, "Use True or False."),
    "QUEUES": (
        _queues,
        "Use {'queue name': {'cluster': 'django-q2 cluster name', 'limit': 5}};"
        " both keys are optional.",
    ),
    "TENANT_CONTEXT": (
        _dotted_path,
        "Use the dotted path of a callable(tenant) -> context manager, or None.",
    ),
    "DATABASE": (_database, "Use the alias of the database that holds the triggered models."),
    "PRUNE_AFTER": (_seconds, "Use a number of seconds >= 0."),
    "RESCUE_AFTER": (_seconds, "Use a number of seconds >= 0."),
    "REQUIRE_NAMES": (_boolean, "Use True or False."),
    "DISPATCH_BATCH": (_positive_int, "Use an integer >= 1."),
    "STAGE_INTERVAL": (_interval, "Use a number of seconds > 0; 1 stages due jobs every second."),
    "RESCUE_INTERVAL": (_interval, "Use a number of seconds > 0."),
    "PRUNE_INTERVAL": (_interval, "Use a number of seconds > 0."),
    "LEADER_TTL": (_interval, "Use a number of seconds > 0, above STAGE_INTERVAL."),
}


@checks.register(TAG)
def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """`ASH_OBAN` itself (E011) and the apps it names (E015)."""
    return safely("ASH_OBAN", None, _settings_messages)


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
    valid = sorted(DEFAULTS)
    for key, value in raw.items():
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), valid, n=1)
            messages.append(
                E011.message(
                    f"ASH_OBAN has an unknown key {key!r}.",
                    (f"Did you mean {close[0]!r}? " if close else "")
                    + f"Valid keys: {', '.join(valid)}.",
                )
            )
            continue
        # A key added to DEFAULTS without a validator yet is accepted as it is.
        validate, hint = _SETTINGS.get(key, (lambda value: [], ""))
        messages += [
            E011.message(f"ASH_OBAN[{key!r}]{problem}.", hint) for problem in validate(value)
        ]
    labels = raw.get("APPS")
    if labels is not None and not _app_labels(labels):
        messages += _unknown_apps(labels)
    ttl = raw.get("LEADER_TTL", DEFAULTS["LEADER_TTL"])
    interval = raw.get("STAGE_INTERVAL", DEFAULTS["STAGE_INTERVAL"])
    if not _interval(ttl) and not _interval(interval) and ttl <= interval:
        messages.append(
            E011.message(
                f"ASH_OBAN['LEADER_TTL'] ({ttl}) is not above STAGE_INTERVAL ({interval}): "
                "the leader's lease would lapse between two of its passes.",
                "Set LEADER_TTL to a few STAGE_INTERVALs, e.g. 5 for 1.",
            )
        )
    return messages


def _unknown_apps(labels: Any) -> Messages:
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
