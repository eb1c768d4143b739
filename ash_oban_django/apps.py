from __future__ import annotations

from importlib.util import find_spec

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AshObanConfig(AppConfig):
    name = "ash_oban_django"
    label = "ash_oban_django"
    verbose_name = "Background triggers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, once the models are loaded: these modules need the ORM.
        from django_q.signals import post_spawn

        from . import checks  # noqa: F401  (registers the system checks)
        from . import logs as lifecycle_logs
        from .dispatch import leader, stopping
        from .dispatch.cron import sync_on_migrate
        from .dispatch.wake import on_jobs_available
        from .ledger import jobs_available, jobs_inserted
        from .registry import registry
        from .worker import inline

        registry.collect()
        post_migrate.connect(sync_on_migrate, sender=self)
        # The ledger announces committed work; dispatch hands it to django-q2.
        jobs_available.connect(on_jobs_available, dispatch_uid="ash_oban_django.wake")
        # Inline testing runs jobs as their insert commits (see worker/inline.py).
        jobs_inserted.connect(inline.on_jobs_inserted, dispatch_uid="ash_oban_django.inline")
        # Every django-q2 worker process bids for the lead, and resigns it when the process
        # exits (see dispatch/leader.py).
        post_spawn.connect(leader.start, dispatch_uid="ash_oban_django.leader")
        # A dispatch task stops claiming once its cluster stops (see dispatch/stopping.py).
        post_spawn.connect(stopping.watch, dispatch_uid="ash_oban_django.stopping")
        # One log line per lifecycle event, with its facts as `extra` fields (see logs.py).
        lifecycle_logs.connect()
        # With the `metrics` extra, every process records its jobs (see metrics.py).
        if find_spec("prometheus_client") is not None:
            from .metrics import connect

            connect()
