"""`manage.py ash_oban_set_default_names [--check] [--diff]` over `codemod.set_default_names`."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

# `--check` exits 1 when names are missing; this tells "cannot check at all" apart.
MISSING_LIBCST = 3


class Command(BaseCommand):
    help = (
        "Write the default worker_name / scheduler_name into the source of every trigger and "
        "scheduled action that lacks them, so renaming one later does not orphan its jobs. "
        "A declaration shared by several models gets templates ({app_label}.{model}:<name>)."
    )
    # The command reports the missing names itself (the W001 warnings), and an unrelated
    # check error (say, a bad queue setting) should not stop it from writing them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        # Django adds --skip-checks only to commands that run checks; accept it like the
        # other commands do, so scripts can pass it to every command alike.
        parser.add_argument(
            "--skip-checks", action="store_true", help="Accepted for symmetry; no checks run."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Write nothing; exit with status 1 if any name is missing.",
        )
        parser.add_argument(
            "--diff", action="store_true", help="Print a unified diff instead of writing the files."
        )

    def handle(self, *args: Any, check: bool, diff: bool, **options: Any) -> None:
        try:
            from ash_oban_django.codemod import display_path, set_default_names
        except ModuleNotFoundError as exc:
            if exc.name != "libcst":
                raise
            raise CommandError(
                'This command needs libcst: pip install "libcst>=1.1" '
                "(or install ash_oban_django with its codemod extra).",
                returncode=MISSING_LIBCST,
            ) from exc

        report = set_default_names(write=not (check or diff))
        if not report.missing:
            self.stdout.write(
                self.style.SUCCESS("Every trigger and scheduled action has its stable names.")
            )
            return

        if diff:
            for rewrite in report.files:
                self.stdout.write(rewrite.diff(), ending="")
        if check:
            for missing in report.missing:
                where = (
                    f"needs names by hand: {missing.manual}"
                    if missing.manual
                    else display_path(missing.path)
                    if missing.path
                    else missing.origin
                )
                self.stdout.write(
                    f"{missing.label} is missing {', '.join(missing.options)} ({where})"
                )
            raise CommandError(
                f"{len(report.missing)} declaration(s) without stable names; run "
                "`manage.py ash_oban_set_default_names` to write the defaults.",
                returncode=1,
            )

        if not diff:
            for rewrite in report.files:
                self.stdout.write(self.style.SUCCESS(f"Wrote {display_path(rewrite.path)}:"))
                for added in rewrite.added:
                    self.stdout.write(f'  {added.label}: {added.option}="{added.value}"')
        for missing in report.manual:
            self.stdout.write(
                self.style.WARNING(
                    f"{missing.label} needs {', '.join(missing.options)} by hand: {missing.manual}"
                )
            )
