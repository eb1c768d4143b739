"""System checks of the `TASKS` entries that use the ledger's backend (Django Tasks).

The app missing from `INSTALLED_APPS` is reported by the backend itself (E022, through
Django's task checks), since these checks only run with the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core import checks
from django.utils.module_loading import import_string

from ..dispatch import routing
from ..validators import Invalid
from .common import TAG, Messages, safely
from .ids import E023, E024

BACKEND = "ash_oban_django.tasks.LedgerBackend"


@checks.register(TAG)
def check_tasks(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """`TASKS` entries of the ledger's backend: their queues are served by a django-q2
    cluster (E023), and their `QUEUES` and `OPTIONS` are valid (E024)."""
    tasks = getattr(django_settings, "TASKS", None)
    messages: Messages = []
    for alias, entry in (tasks if isinstance(tasks, dict) else {}).items():
        if isinstance(entry, dict) and _is_ledger_backend(entry.get("BACKEND")):
            messages += safely(f"TASKS[{alias!r}]", None, _entry_messages, alias, entry)
    return messages


def _is_ledger_backend(path: Any) -> bool:
    if path == BACKEND:
        return True
    try:
        backend = import_string(path)
    except (ImportError, TypeError, ValueError):
        return False  # Django's own task checks report a backend that does not import
    names = (f"{cls.__module__}.{cls.__qualname__}" for cls in getattr(backend, "__mro__", ()))
    return BACKEND in names


def _entry_messages(alias: str, entry: dict[str, Any]) -> Messages:
    messages: Messages = []
    queues = entry.get("QUEUES", ["default"])
    if isinstance(queues, str) or not isinstance(queues, list | tuple | set | frozenset):
        return [
            E024.message(
                f"TASKS[{alias!r}]['QUEUES'] must be a list of queue names, got {queues!r}.",
                'List the queues its tasks may use, e.g. "QUEUES": ["default", "emails"].',
            )
        ]
    clusters = routing.clusters()
    for queue in queues:
        cluster = routing.cluster_for(queue)
        if cluster not in clusters:
            messages.append(
                E023.message(
                    f"TASKS[{alias!r}] queue {queue!r} is routed to the django-q2 cluster "
                    f"{cluster!r}, which Q_CLUSTER does not configure: its tasks would never run.",
                    f"Add {cluster!r} to Q_CLUSTER['ALT_CLUSTERS'], or map {queue!r} to a "
                    "configured cluster in ASH_OBAN['QUEUES'].",
                )
            )
    messages += _option_messages(alias, entry.get("OPTIONS", {}))
    return messages


def _option_messages(alias: str, options: Any) -> Messages:
    from ..taskapi import TASK_OPTIONS, check_value

    where = f"TASKS[{alias!r}]['OPTIONS']"
    if not isinstance(options, dict):
        return [
            E024.message(
                f"{where} must be a dict, got {options!r}.",
                'Give the tasks\' defaults by name, e.g. "OPTIONS": {"max_attempts": 3}.',
            )
        ]
    messages: Messages = []
    for name, value in options.items():
        if name not in TASK_OPTIONS:
            messages.append(
                E024.message(
                    f"{where} has the unknown option {name!r}.",
                    f"The options are {', '.join(sorted(TASK_OPTIONS))}.",
                )
            )
            continue
        try:
            check_value(name, value)
        except Invalid as invalid:
            messages.append(
                E024.message(
                    "; ".join(invalid.messages(f"{where}[{name!r}]")) + ".",
                    f"Fix the value, or remove it to use the default ({TASK_OPTIONS[name]!r}).",
                )
            )
    return messages
