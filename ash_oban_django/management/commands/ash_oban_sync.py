"""`manage.py ash_oban_sync [--check]`: make django-q2's cron rows match the declarations."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ash_oban_django.dispatch.cron import sync_schedules


class Command(BaseCommand):
    help = (
        "Create, update and delete the django-q2 cron schedules of triggers and scheduled actions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; exit with status 1 when the schedules are out of date.",
        )

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        report = sync_schedules(dry_run=check)
        verb = "would be " if check else ""
        for label, names in (
            ("created", report.created),
            ("updated", report.updated),
            ("deleted", report.deleted),
        ):
            for name in names:
                self.stdout.write(f"{name}: {verb}{label}")
        if not report.changed:
            self.stdout.write(self.style.SUCCESS("Cron schedules are up to date."))
        elif check:
            raise CommandError(
                "Cron schedules are out of date; run `manage.py ash_oban_sync`.", returncode=1
            )
        else:
            self.stdout.write(self.style.SUCCESS("Cron schedules synced."))
