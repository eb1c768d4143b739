"""`manage.py ash_oban_jobs {retry,cancel,delete} [--queue Q] [--state S] [--name N]
[--tag T] [--since 2h] [--older-than 7d] [--yes | --dry-run]`: act on every job a filter
selects (`retry_jobs`, `cancel_jobs`, `delete_jobs`).

It prints how many jobs would change and asks before acting (`--yes` skips the question,
`--dry-run` only counts); a large set shows a progress bar. Executing jobs are never touched.
"""

from __future__ import annotations

import re
import sys
from argparse import ArgumentParser, ArgumentTypeError
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ash_oban_django import ledger
from ash_oban_django.ledger.bulk import BATCH_SIZE
from ash_oban_django.states import State
from ash_oban_django.status import console

# What each action does to a job, for the messages.
DONE = {"retry": "retried", "cancel": "cancelled", "delete": "deleted"}
DOING = {"retry": "Retrying", "cancel": "Cancelling", "delete": "Deleting"}
# A duration: one or more of a number and a unit (`2h`, `1h30m`, `7d`).
_PART = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """`2h`, `30m`, `1h30m`, `7d`, `45s`, `2w` as a timedelta."""
    compact = text.strip().lower()
    if not compact or _PART.sub("", compact):
        raise ArgumentTypeError(
            f"{text!r} is not a duration: write a number and a unit, s m h d or w "
            "(2h, 30m, 1h30m, 7d)"
        )
    parts = (timedelta(**{_UNITS[unit]: int(n)}) for n, unit in _PART.findall(compact))
    return sum(parts, timedelta())


class Command(BaseCommand):
    help = (
        "Retry, cancel or delete every job a filter selects (executing jobs are never "
        "touched). Prints how many would change and asks before acting."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("action", choices=sorted(DONE), help="what to do with the jobs")
        parser.add_argument(
            "--queue", action="append", help="only jobs of this queue (repeat for more)"
        )
        parser.add_argument(
            "--state",
            action="append",
            choices=State.values,
            help="only jobs in this state (repeat for more)",
        )
        parser.add_argument(
            "--name", action="append", help="only jobs of this stable name (repeat for more)"
        )
        parser.add_argument("--tag", help="only jobs that carry this tag")
        parser.add_argument(
            "--since",
            type=duration,
            metavar="DURATION",
            help="only jobs inserted in the last DURATION (2h, 30m, 1d)",
        )
        parser.add_argument(
            "--older-than",
            type=duration,
            metavar="DURATION",
            help="only jobs inserted more than DURATION ago (7d)",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            help=f"jobs changed per transaction (default {BATCH_SIZE})",
        )
        confirm = parser.add_mutually_exclusive_group()
        confirm.add_argument("--yes", action="store_true", help="act without asking")
        confirm.add_argument(
            "--dry-run", action="store_true", help="only print how many jobs would change"
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        out = console(self.stdout, no_color=options["no_color"], force_color=options["force_color"])
        filters = {
            "queue": options["queue"],
            "state": options["state"],
            "name": options["name"],
            "tag": options["tag"],
            "after": options["since"],
            "before": options["older_than"],
        }
        try:
            count = ledger.count_jobs(action, **filters)
        except ValueError as error:
            raise CommandError(str(error)) from None
        what = f"{count} job{'' if count == 1 else 's'}"
        if options["dry_run"] or count == 0:
            out.print(f"{what} would be {DONE[action]} (nothing changed).")
            return
        out.print(f"{what} would be {DONE[action]}.")
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError("Not a terminal to ask on: pass --yes to act, or --dry-run.")
            if input(f"{action.capitalize()} {what}? [y/N] ").strip().lower() not in {"y", "yes"}:
                out.print("Nothing changed.")
                return
        bulk = {
            "retry": ledger.retry_jobs,
            "cancel": ledger.cancel_jobs,
            "delete": ledger.delete_jobs,
        }
        try:
            if count <= options["batch_size"]:
                changed = bulk[action](batch_size=options["batch_size"], **filters)
            else:
                progress = Progress(
                    TextColumn(DOING[action]),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=out,
                )
                with progress:
                    task = progress.add_task("jobs", total=count)
                    changed = bulk[action](
                        batch_size=options["batch_size"],
                        progress=lambda n: progress.advance(task, n),
                        **filters,
                    )
        except ValueError as error:
            raise CommandError(str(error)) from None
        out.print(f"{changed} job{'' if changed == 1 else 's'} {DONE[action]}.", style="green")
