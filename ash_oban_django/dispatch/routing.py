"""Cluster routing: which django-q2 cluster serves a queue, and how big it is.

This is the only module that reads django-q2's `Q_CLUSTER` setting. Everything else (wake,
cron sync, the system checks) asks here, so a cluster's effective settings are worked out one
way: an `ALT_CLUSTERS` entry overrides the base `Q_CLUSTER` keys for that cluster.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings as django_settings

from ..conf import settings

DEFAULT_CLUSTER = "default"
# The `Q_CLUSTER` keys that each configure a django-q2 broker.
BROKER_KEYS = ("orm", "redis", "django_redis", "iron_mq", "sqs", "mongo", "broker_class")


def q_cluster() -> dict[str, Any]:
    """`settings.Q_CLUSTER` as a dict (an absent or malformed setting reads as `{}`)."""
    value = getattr(django_settings, "Q_CLUSTER", None)
    return value if isinstance(value, dict) else {}


def broker() -> str | None:
    """The first `BROKER_KEYS` key `Q_CLUSTER` sets, or None (django-q2 then uses Redis on
    localhost)."""
    return next((key for key in BROKER_KEYS if q_cluster().get(key)), None)


def default_cluster() -> str:
    """The name of the base cluster, which serves every queue not mapped elsewhere."""
    return str(q_cluster().get("name", DEFAULT_CLUSTER))


def clusters() -> dict[str, dict[str, Any]]:
    """Each configured cluster's effective settings, by name (`ALT_CLUSTERS` override the
    base keys; a malformed `ALT_CLUSTERS` entry reads as no override)."""
    base = q_cluster()
    alt = base.get("ALT_CLUSTERS")
    found = {default_cluster(): base}
    for name, overrides in (alt if isinstance(alt, dict) else {}).items():
        found[name] = {**base, **(overrides if isinstance(overrides, dict) else {})}
    return found


def cluster_for(queue: str) -> str:
    """The django-q2 cluster serving `queue`: `ASH_OBAN["QUEUES"]`, else the default one."""
    return settings.queue_cluster(queue) or default_cluster()


def cluster_workers(cluster: str) -> int:
    """Worker processes of `cluster` (django-q2 defaults to the CPU count)."""
    config = clusters().get(cluster, q_cluster())
    return int(config.get("workers") or os.cpu_count() or 1)


def cluster_timeout(cluster: str) -> float | None:
    """Seconds django-q2 lets one task of `cluster` run before it ends the worker (its
    `timeout`); None when it sets none."""
    timeout = clusters().get(cluster, q_cluster()).get("timeout")
    return None if timeout is None else float(timeout)
