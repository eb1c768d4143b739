"""`ASH_OBAN` settings, read lazily on every access so `override_settings` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

DEFAULTS: dict[str, Any] = {
    "APPS": None,
    "ACTOR_PERSISTER": None,
    "AUTHORIZE": True,
    "DEBUG_ALL_TRIGGERS": False,
    "QUEUES": {},
    "TENANT_CONTEXT": None,
    "DATABASE": "default",
    "PRUNE_AFTER": 86400,
    "RESCUE_AFTER": 60,
    "REQUIRE_NAMES": False,
    # Jobs one dispatch task runs before it hands the queue on to a fresh task.
    "DISPATCH_BATCH": 200,
    # Seconds between the leader's passes that stage due jobs and fire due crons.
    "STAGE_INTERVAL": 1.0,
    # Seconds between the leader's rescues of orphaned jobs.
    "RESCUE_INTERVAL": 1.0,
    # Seconds between the leader's prunes of finished jobs.
    "PRUNE_INTERVAL": 60.0,
    # Seconds the leader's lease lasts: another node takes over this long after it dies.
    "LEADER_TTL": 5.0,
}


class Settings:
    """Typed view of `settings.ASH_OBAN`; every key falls back to `DEFAULTS`."""

    @staticmethod
    def raw() -> dict[str, Any]:
        value = getattr(django_settings, "ASH_OBAN", None) or {}
        return value if isinstance(value, dict) else {}

    def _get(self, key: str) -> Any:
        return self.raw().get(key, DEFAULTS[key])

    def _optional_str(self, key: str) -> str | None:
        value = self._get(key)
        return None if value is None else str(value)

    @property
    def APPS(self) -> frozenset[str] | None:  # noqa: N802 - mirrors the settings key
        apps = self._get("APPS")
        return None if apps is None else frozenset(apps)

    @property
    def ACTOR_PERSISTER(self) -> str | None:  # noqa: N802
        return self._optional_str("ACTOR_PERSISTER")

    @property
    def AUTHORIZE(self) -> bool:  # noqa: N802
        return bool(self._get("AUTHORIZE"))

    @property
    def DEBUG_ALL_TRIGGERS(self) -> bool:  # noqa: N802
        return bool(self._get("DEBUG_ALL_TRIGGERS"))

    @property
    def QUEUES(self) -> dict[str, dict[str, Any]]:  # noqa: N802
        return dict(self._get("QUEUES") or {})

    @property
    def TENANT_CONTEXT(self) -> str | None:  # noqa: N802
        return self._optional_str("TENANT_CONTEXT")

    @property
    def DATABASE(self) -> str:  # noqa: N802
        return str(self._get("DATABASE"))

    @property
    def PRUNE_AFTER(self) -> float:  # noqa: N802
        return float(self._get("PRUNE_AFTER"))

    @property
    def RESCUE_AFTER(self) -> float:  # noqa: N802
        return float(self._get("RESCUE_AFTER"))

    @property
    def REQUIRE_NAMES(self) -> bool:  # noqa: N802
        return bool(self._get("REQUIRE_NAMES"))

    @property
    def DISPATCH_BATCH(self) -> int:  # noqa: N802
        return int(self._get("DISPATCH_BATCH"))

    @property
    def STAGE_INTERVAL(self) -> float:  # noqa: N802
        return float(self._get("STAGE_INTERVAL"))

    @property
    def RESCUE_INTERVAL(self) -> float:  # noqa: N802
        return float(self._get("RESCUE_INTERVAL"))

    @property
    def PRUNE_INTERVAL(self) -> float:  # noqa: N802
        return float(self._get("PRUNE_INTERVAL"))

    @property
    def LEADER_TTL(self) -> float:  # noqa: N802
        return float(self._get("LEADER_TTL"))

    def queue_cluster(self, queue: str) -> str | None:
        """The django-q2 cluster that serves `queue` (None: the default cluster)."""
        return (self.QUEUES.get(queue) or {}).get("cluster")

    def queue_limit(self, queue: str) -> int | None:
        """Most jobs of `queue` that may run at once (None: no limit)."""
        return (self.QUEUES.get(queue) or {}).get("limit")


settings = Settings()
