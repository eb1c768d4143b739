"""`manage.py ash_oban_queue pause|resume|scale NAME [LIMIT]`, `... cancel JOB_ID [...]`:
steer queues while the clusters run (`pause_queue`, `resume_queue`, `scale_queue`) and cancel
jobs that have not started (`cancel_job`). `scale NAME` without a limit goes back to
`ASH_OBAN["QUEUES"]`'s.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ash_oban_django import ledger


class Command(BaseCommand):
    help = (
        "Pause, resume or scale a queue in every running cluster, or cancel jobs that have "
        "not started."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        for verb, what in (("pause", "stop claiming"), ("resume", "claim again")):
            verbs.add_parser(verb, help=f"{what} the queue's jobs").add_argument("queue")
        scale = verbs.add_parser("scale", help="set the most jobs of the queue run at once")
        scale.add_argument("queue")
        scale.add_argument("limit", nargs="?", type=int, help="omit: the setting's limit")
        cancel = verbs.add_parser("cancel", help="cancel waiting or scheduled jobs")
        cancel.add_argument("jobs", nargs="+", type=int, metavar="JOB_ID")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        if verb == "cancel":
            self._cancel(options["jobs"])
            return
        queue = options["queue"]
        try:
            by = f"manage.py ash_oban_queue {verb}"
            if verb == "pause":
                row = ledger.pause_queue(queue, by=by)
            elif verb == "resume":
                row = ledger.resume_queue(queue, by=by)
            else:
                row = ledger.scale_queue(queue, options["limit"], by=by)
        except ValueError as error:
            raise CommandError(str(error)) from None
        limit = ledger.queue_limit(queue)
        self.stdout.write(
            self.style.SUCCESS(
                f"Queue {row.name}: {'paused' if row.paused else 'running'}, "
                f"limit {'none' if limit is None else limit}"
                f"{'' if row.limit is not None or limit is None else ' (from the settings)'}."
            )
        )

    def _cancel(self, job_ids: list[int]) -> None:
        reason = "cancelled by manage.py ash_oban_queue cancel"
        skipped = [pk for pk in job_ids if not ledger.cancel_job(pk, reason)]
        for pk in job_ids:
            if pk not in skipped:
                self.stdout.write(self.style.SUCCESS(f"Job {pk} cancelled."))
        if skipped:
            raise CommandError(
                f"Not cancelled (executing, finished or gone): {', '.join(map(str, skipped))}."
            )
