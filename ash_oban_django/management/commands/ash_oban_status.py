"""`manage.py ash_oban_status`: declarations, job counts per state, dangling names."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from rich import box
from rich.table import Table
from rich.text import Text

from ash_oban_django.declarations import DeclarationState
from ash_oban_django.status import (
    STATE_LABELS,
    console,
    dangling_names,
    declarations_table,
    job_counts,
)

NONE = "—"


class Command(BaseCommand):
    help = (
        "Show the triggers and scheduled actions, the ledger's job counts per state and stable "
        "name, and the stable names of waiting jobs that no declaration has."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        out = console(self.stdout, no_color=options["no_color"], force_color=options["force_color"])

        declarations = Table(title="Triggers and scheduled actions", box=box.SIMPLE_HEAD)
        # On a narrow terminal, fold long names rather than cut them short with an ellipsis.
        for header in (
            "declaration",
            "kind",
            "cron",
            "next run",
            "state",
            "queue",
            "worker name",
            "scheduler name",
        ):
            declarations.add_column(header, overflow="fold")
        at = timezone.now()
        for row in declarations_table():
            queue = row.queue
            if row.scheduler_queue not in (None, row.queue):
                queue = f"{row.queue} (scheduler: {row.scheduler_queue})"
            state = Text(row.state, style="" if row.state == DeclarationState.ACTIVE else "yellow")
            cron = f"{row.cron} ({row.timezone})" if row.cron and row.timezone else row.cron
            next_run = row.next_run(at)
            declarations.add_row(
                row.label,
                row.kind,
                cron or NONE,
                # In the cron's own time zone, with its offset: when it fires there.
                next_run.strftime("%Y-%m-%d %H:%M %z") if next_run else NONE,
                state,
                queue,
                row.worker_name,
                row.scheduler_name or NONE,
            )
        out.print(declarations if declarations.row_count else "No triggers or scheduled actions.")

        counts = job_counts()
        jobs = Table(title="Jobs per state", box=box.SIMPLE_HEAD)
        jobs.add_column("stable name", overflow="fold")
        for column in STATE_LABELS:
            jobs.add_column(column, justify="right")
        for name, by_state in counts.items():
            jobs.add_row(name, *(str(by_state.get(column, 0)) for column in STATE_LABELS))
        out.print(jobs if counts else "The ledger has no jobs.")

        dangling = dangling_names()
        if not dangling:
            out.print("No dangling names: every waiting job has a declaration.")
            return
        table = Table(title="Dangling names", title_style="bold red", box=box.SIMPLE_HEAD)
        table.add_column("stable name", overflow="fold")
        table.add_column("kind")
        table.add_column("waiting jobs", justify="right")
        table.add_column("fix")
        for item in dangling:
            table.add_row(
                item.name,
                item.kind,
                str(item.count),
                f'set {item.option}="{item.name}"',
            )
        out.print(table)
        out.print(
            "A worker discards a job whose stable name no declaration has: set that name on the "
            "renamed trigger or scheduled action (the fix column), or cancel the jobs."
        )
