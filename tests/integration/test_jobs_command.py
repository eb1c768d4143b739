"""`manage.py ash_oban_jobs {retry,cancel,delete}` (docs/operations.md): counts first, asks
before acting, a dry run changes nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Q

from ash_oban_django import Trigger, ledger, register, run_trigger
from ash_oban_django.management.commands.ash_oban_jobs import duration
from ash_oban_django.models import Job
from ash_oban_django.testing import drain_queues
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

QUEUE = "command_widgets"


@pytest.fixture
def failed(ash_oban: Any) -> Iterator[list[Job]]:
    """Four discarded jobs (one inserted three days ago) and one waiting."""
    with register(
        Widget,
        triggers=[
            Trigger("fail", action="mark_errored", scheduler_cron=None, queue=QUEUE, tags=("x",)),
            Trigger("finish", where=Q(done=False), scheduler_cron=None, queue="command_other"),
        ],
    ):
        jobs = [run_trigger(Widget.objects.create(), "fail") for _ in range(4)]
        drain_queues(queues=[QUEUE])
        Job.objects.filter(pk=jobs[0].pk).update(inserted_at=ledger.now() - timedelta(days=3))
        run_trigger(Widget.objects.create(), "finish")
        yield jobs


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("ash_oban_jobs", *args, stdout=out)
    return out.getvalue()


def snapshot() -> list[tuple[Any, ...]]:
    return list(Job.objects.order_by("pk").values_list("pk", "state", "scheduled_at", "meta"))


def test_ash_oban_jobs__dry_run_counts_and_changes_nothing(failed: list[Job]) -> None:
    before = snapshot()
    assert "4 jobs would be retried (nothing changed)." in run(
        "retry", "--queue", QUEUE, "--state", "discarded", "--dry-run"
    )
    assert "3 jobs would be deleted" in run("delete", "--tag", "x", "--since", "2h", "--dry-run")
    assert "1 job would be cancelled" in run("cancel", "--dry-run")
    assert snapshot() == before


def test_ash_oban_jobs__yes_acts_and_prints_the_count(failed: list[Job]) -> None:
    output = run("retry", "--state", "discarded", "--older-than", "1d", "--yes")
    assert "1 job would be retried." in output and "1 job retried." in output
    assert Job.objects.get(pk=failed[0].pk).state == "available"
    output = run("delete", "--queue", QUEUE, "--state", "discarded", "--yes", "--batch-size", "2")
    assert "3 jobs deleted." in output
    assert Job.objects.filter(queue=QUEUE).count() == 1


def test_ash_oban_jobs__asks_and_does_nothing_unless_answered_yes(
    failed: list[Job], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot()
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    output = run("cancel", "--queue", "command_other")
    assert "1 job would be cancelled." in output and "Nothing changed." in output
    assert snapshot() == before
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    assert "1 job cancelled." in run("cancel", "--queue", "command_other")


def test_ash_oban_jobs__without_a_terminal_it_needs_yes(failed: list[Job]) -> None:
    before = snapshot()
    with pytest.raises(CommandError, match="pass --yes to act, or --dry-run"):
        run("retry", "--queue", QUEUE)
    assert snapshot() == before


def test_ash_oban_jobs__a_large_set_shows_a_progress_bar(failed: list[Job]) -> None:
    output = run("retry", "--queue", QUEUE, "--yes", "--batch-size", "1")
    assert "Retrying" in output and "4/4" in output and "4 jobs retried." in output


@pytest.mark.parametrize("text", ["2", "h", "2x", "2h-1m", ""])
def test_duration__bad_text_says_how_to_write_it(text: str) -> None:
    with pytest.raises(Exception, match="write a number and a unit"):
        duration(text)


def test_duration__units_add_up() -> None:
    assert duration("1h30m") == timedelta(minutes=90)
    assert duration("7d") == timedelta(days=7)
    assert duration("2w 45s".replace(" ", "")) == timedelta(weeks=2, seconds=45)


class _Terminal(io.StringIO):
    """Standard input that says it is a terminal, with the answers given."""

    def isatty(self) -> bool:
        return True
