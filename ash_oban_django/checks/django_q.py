"""System checks of the django-q2 settings that would break the ledger's guarantees.

`Q_CLUSTER` is read through `dispatch.routing`, its only reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.util import find_spec
from typing import Any

from django.apps import AppConfig, apps
from django.core import checks

from ..conf import settings
from ..dispatch import routing
from ..registry import registry
from ..validators import is_number
from .common import TAG, Messages, safely
from .ids import E018, E020, W002, W003, W004, W005, W006


@checks.register(TAG)
def check_django_q(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """django-q2 settings that would break the guarantees of the ledger (E018, E020, W002-W006)."""
    return safely("Q_CLUSTER", None, _django_q_messages)


def _django_q_messages() -> Messages:
    if not apps.is_installed("django_q"):
        return [
            E018.message(
                "django_q is not in INSTALLED_APPS: no cluster can run the jobs and the cron "
                "schedules cannot be written.",
                "Add 'django_q' to INSTALLED_APPS and run `manage.py migrate`.",
            )
        ]
    messages: Messages = []
    q_cluster = routing.q_cluster()
    if routing.broker() in ("redis", "django_redis") and find_spec("redis") is None:
        messages.append(
            E020.message(
                f"Q_CLUSTER[{routing.broker()!r}] names the Redis broker, but the `redis` "
                "package is not installed: no job could be handed to a cluster.",
                'Install it: pip install "ash_oban_django[redis]" (or pip install redis).',
            )
        )
    if routing.broker() is None:
        messages.append(
            W005.message(
                "Q_CLUSTER configures no broker, so django-q2 falls back to Redis on localhost.",
                f"Set Q_CLUSTER['orm'] = {settings.DATABASE!r}: the ORM broker on the ledger's "
                "database commits dispatch tasks together with the jobs.",
            )
        )
    orm = q_cluster.get("orm")
    if orm and orm != settings.DATABASE:
        messages.append(
            W004.message(
                f"Q_CLUSTER['orm'] is {orm!r} but the ledger is on {settings.DATABASE!r}: "
                "django-q2 then closes the ledger's connection inside its scheduler pass.",
                f"Use Q_CLUSTER['orm'] = {settings.DATABASE!r}.",
            )
        )
    if q_cluster.get("sync"):
        messages.append(
            W006.message(
                "Q_CLUSTER['sync'] is on: every job would run inside the process and "
                "transaction that inserted it.",
                "Turn sync off; tests run jobs with ash_oban_django.testing.drain_queues().",
            )
        )
    for name, cluster in routing.clusters().items():
        timeout, retry = cluster.get("timeout"), cluster.get("retry", 60)
        if is_number(timeout) and is_number(retry) and retry <= timeout:
            messages.append(
                W002.message(
                    f"django-q2 cluster {name!r}: retry ({retry}) is not above timeout "
                    f"({timeout}), so django-q2 hands a task still running to a second worker.",
                    "Set retry to timeout plus the longest time a task waits in the cluster, "
                    "e.g. timeout + 60.",
                )
            )
    messages += _declaration_timeouts()
    return messages


def _declaration_timeouts() -> Messages:
    clusters = routing.clusters()
    messages: Messages = []
    for entry in registry.entries():
        timeout = entry.declaration.timeout
        limit = clusters.get(routing.cluster_for(entry.queue), {}).get("timeout")
        if timeout is not None and is_number(limit) and timeout >= limit:
            messages.append(
                W003.message(
                    f"{entry.label}: timeout {timeout:g}s is not below its django-q2 cluster's "
                    f"timeout ({limit}s), so django-q2 kills the worker before the attempt "
                    "fails with JobTimeout; the job then waits to be rescued.",
                    "Lower the declaration's timeout or raise Q_CLUSTER['timeout'].",
                    entry.model,
                )
            )
    return messages
