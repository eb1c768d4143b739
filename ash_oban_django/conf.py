"""`ASH_OBAN` settings, read lazily on every access so `override_settings` works.

Each key is declared once in `SETTINGS`: its default and how its value is read. `Settings`
gives them typed: `settings.RESCUE_AFTER` is a float, `settings.APPS` a frozenset or None.
What a key must hold is checked by the system checks (`checks/settings.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _app_labels(value: Any) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


def _queues(value: Any) -> dict[str, dict[str, Any]]:
    return dict(value or {})


@dataclass(frozen=True, slots=True)
class Setting:
    """One `ASH_OBAN` key: its default, and how a value of it is read."""

    default: Any
    read: Callable[[Any], Any]


SETTINGS: dict[str, Setting] = {
    # App labels whose declarations are active (None: all).
    "APPS": Setting(None, _app_labels),
    # Dotted path of the ActorPersister.
    "ACTOR_PERSISTER": Setting(None, _optional_str),
    # Enforce a trigger's `permission` when a job carries an actor.
    "AUTHORIZE": Setting(True, bool),
    "DEBUG_ALL_TRIGGERS": Setting(False, bool),
    # {queue: {"cluster": ..., "limit": ...}}
    "QUEUES": Setting({}, _queues),
    # Dotted path of a callable(tenant) -> context manager.
    "TENANT_CONTEXT": Setting(None, _optional_str),
    # Alias of the ledger's database.
    "DATABASE": Setting("default", str),
    # Seconds finished jobs are kept.
    "PRUNE_AFTER": Setting(86400, float),
    # Seconds an executing job whose worker is gone waits before it is rescued.
    "RESCUE_AFTER": Setting(60, float),
    "REQUIRE_NAMES": Setting(False, bool),
    # Jobs one dispatch task runs before it hands the queue on to a fresh task.
    "DISPATCH_BATCH": Setting(200, int),
    # Seconds between the leader's passes that stage due jobs and fire due crons.
    "STAGE_INTERVAL": Setting(1.0, float),
    # Seconds between the leader's rescues of orphaned jobs.
    "RESCUE_INTERVAL": Setting(1.0, float),
    # Seconds between the leader's prunes of finished jobs.
    "PRUNE_INTERVAL": Setting(60.0, float),
    # Seconds the leader's lease lasts (SQLite: another node takes over this long after it dies).
    "LEADER_TTL": Setting(5.0, float),
}
DEFAULTS: dict[str, Any] = {key: setting.default for key, setting in SETTINGS.items()}


class Settings:
    """Typed view of `settings.ASH_OBAN`; every key falls back to its default."""

    APPS: frozenset[str] | None
    ACTOR_PERSISTER: str | None
    AUTHORIZE: bool
    DEBUG_ALL_TRIGGERS: bool
    QUEUES: dict[str, dict[str, Any]]
    TENANT_CONTEXT: str | None
    DATABASE: str
    PRUNE_AFTER: float
    RESCUE_AFTER: float
    REQUIRE_NAMES: bool
    DISPATCH_BATCH: int
    STAGE_INTERVAL: float
    RESCUE_INTERVAL: float
    PRUNE_INTERVAL: float
    LEADER_TTL: float

    @staticmethod
    def raw() -> dict[str, Any]:
        value = getattr(django_settings, "ASH_OBAN", None) or {}
        return value if isinstance(value, dict) else {}

    def __getattr__(self, key: str) -> Any:
        # Called for the annotated keys above (they have no class value): read on each access.
        setting = SETTINGS.get(key)
        if setting is None:
            raise AttributeError(f"ASH_OBAN has no setting {key!r}")
        return setting.read(self.raw().get(key, setting.default))

    def queue_cluster(self, queue: str) -> str | None:
        """The django-q2 cluster that serves `queue` (None: the default cluster)."""
        cluster: str | None = (self.QUEUES.get(queue) or {}).get("cluster")
        return cluster

    def queue_limit(self, queue: str) -> int | None:
        """Most jobs of `queue` that may run at once (None: no limit)."""
        limit: int | None = (self.QUEUES.get(queue) or {}).get("limit")
        return limit


settings = Settings()
