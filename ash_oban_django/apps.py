from __future__ import annotations

from django.apps import AppConfig


class AshObanConfig(AppConfig):
    name = "ash_oban_django"
    label = "ash_oban_django"
    verbose_name = "Background triggers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401  (registers the system checks)
        from .queue import sync_on_migrate
        from .registry import registry

        registry.collect()
        post_migrate.connect(sync_on_migrate, sender=self)
