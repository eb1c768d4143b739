"""`manage.py ash_oban_run TARGET [TARGET ...] [--drain]`: run schedulers now.

Inserts the scheduler jobs of the targets (`schedule_and_run_triggers`); with `--drain`, runs
every job they lead to in this process with a progress bar, else leaves them to the clusters.
"""

from __future__ import annotations

from argparse import ArgumentParser
from dataclasses import fields
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ash_oban_django.dispatch.routing import cluster_for
from ash_oban_django.dispatch.wake import set_dispatch
from ash_oban_django.enqueue import Target, resolve_target
from ash_oban_django.exceptions import UnknownDeclaration
from ash_oban_django.models import Job
from ash_oban_django.registry import registry
from ash_oban_django.status import console
from ash_oban_django.worker import Result, drain, schedule_and_run_triggers
from ash_oban_django.worker.drain import drainable


def parse_target(text: str) -> Target:
    """`app_label`, `app_label.Model` or `app_label.Model:name` -> what `resolve_target` takes."""
    label, _, name = text.partition(":")
    try:
        if "." not in label:
            if name:
                raise LookupError
            return apps.get_app_config(label).label
        model = apps.get_model(label)
    except (LookupError, ValueError):
        declared = ", ".join(sorted(e.label for e in registry.entries())) or "none"
        raise CommandError(
            f"Unknown target {text!r}: give an app label, app_label.Model or "
            f"app_label.Model:name. Declared: {declared}."
        ) from None
    return (model, name) if name else model


class Command(BaseCommand):
    help = (
        "Insert the scheduler jobs of the targets now; with --drain, run every job they lead "
        "to in this process."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "targets",
            nargs="+",
            metavar="TARGET",
            help="An app label, app_label.Model, or app_label.Model:name.",
        )
        parser.add_argument(
            "--drain", action="store_true", help="Run the jobs here instead of on the clusters."
        )
        parser.add_argument(
            "--scheduled-actions",
            action="store_true",
            help="Also run the scheduled actions of the targets' models.",
        )
        parser.add_argument(
            "--with-scheduled",
            action="store_true",
            help="With --drain, also run jobs scheduled for later (retries, snoozes).",
        )

    def handle(
        self,
        *args: Any,
        targets: list[str],
        drain: bool,
        scheduled_actions: bool,
        with_scheduled: bool,
        **options: Any,
    ) -> None:
        if with_scheduled and not drain:
            raise CommandError("--with-scheduled only applies with --drain.")
        resolved = []
        for text in targets:
            target = parse_target(text)
            try:
                entries = resolve_target(target, scheduled_actions=scheduled_actions)
            except UnknownDeclaration as exc:
                raise CommandError(str(exc)) from None
            if not entries:
                raise CommandError(
                    f"{text} has nothing to run: no trigger with a scheduler"
                    f"{'' if scheduled_actions else ' (scheduled actions need --scheduled-actions)'}."
                )
            resolved.append(target)

        out = console(self.stdout, no_color=options["no_color"], force_color=options["force_color"])
        if not drain:
            result = schedule_and_run_triggers(
                resolved, scheduled_actions=scheduled_actions, drain_queues=False
            )
            out.print("Scheduler jobs inserted; the django-q2 clusters run them:")
            for queue in result.queues_not_drained:
                out.print(f"  queue {queue} (cluster {cluster_for(queue)})")
            return

        previous = set_dispatch(False)  # the jobs run here, not on a cluster
        try:
            result = self.run_here(out, resolved, scheduled_actions, with_scheduled)
        finally:
            set_dispatch(previous)
        counts = ", ".join(
            f"{f.name} {getattr(result, f.name)}"
            for f in fields(Result)
            if f.name != "queues_not_drained"
        )
        style = "green" if result.failure + result.discard == 0 else "yellow"
        out.print(f"Jobs run: {counts}.", style=style)
        for queue in result.queues_not_drained:
            out.print(
                f"Queue {queue} is paused: its jobs wait "
                f"(manage.py ash_oban_queue resume {queue}).",
                style="yellow",
            )

    def run_here(
        self, out: Console, targets: list[Target], scheduled_actions: bool, with_scheduled: bool
    ) -> Result:
        """Insert the scheduler jobs, then drain their queues with a progress bar."""
        queues = schedule_and_run_triggers(
            targets, scheduled_actions=scheduled_actions, drain_queues=False
        ).queues_not_drained
        waiting = drainable(queues, with_scheduled=with_scheduled)
        progress = Progress(
            TextColumn("Running jobs"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
        )
        with progress:
            task = progress.add_task("jobs", total=waiting.count())
            done = 0

            def on_job(job: Job) -> None:
                nonlocal done
                done += 1
                # Schedulers insert jobs as they run, so the total grows.
                progress.update(task, completed=done, total=done + waiting.count())

            return drain(queues, with_scheduled=with_scheduled, on_job=on_job)
