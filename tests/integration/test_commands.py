"""`manage.py ash_oban_status` and `manage.py ash_oban_run` (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Q

from ash_oban_django import ScheduledAction, Trigger, ledger, register
from ash_oban_django.models import Job, Kind, State
from ash_oban_django.status import STATE_LABELS, dangling_names, job_counts
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _declarations(ash_oban: Any) -> Iterator[None]:
    """A small registry on Widget; jobs are not handed to django-q2."""
    with register(
        Widget,
        triggers=[
            Trigger(
                "finish", where=Q(done=False), scheduler_cron="*/5 * * * *", scheduler_queue="cron"
            ),
            Trigger("record", action="record_context", scheduler_cron=None, state="paused"),
        ],
        scheduled_actions=[
            ScheduledAction("nightly", "0 3 * * *", worker_name="testapp.Widget:nightly_v2")
        ],
    ):
        yield


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def line(output: str, start: str) -> str:
    """The output line whose text begins with `start`."""
    found = [text.strip() for text in output.splitlines() if text.strip().startswith(start)]
    assert len(found) == 1, f"expected one line starting with {start!r} in:\n{output}"
    return found[0]


def add_job(name: str, kind: str = Kind.TRIGGER, state: str = State.AVAILABLE, pk: int = 1) -> Job:
    job = ledger.new_job(
        kind=kind, name=name, queue="q", priority=2, max_attempts=1, object_pk=str(pk)
    )
    job.state = state
    (inserted,) = ledger.insert([job])
    return inserted


def test_status__lists_declarations_with_crons_states_queues_and_stable_names() -> None:
    output = run("ash_oban_status")
    finish = line(output, "testapp.Widget:finish")
    for cell in (
        "trigger",
        "*/5 * * * *",
        "active",
        "testapp_widget_finish (scheduler: cron)",
        "testapp.Widget:finish:scheduler",
    ):
        assert cell in finish
    record = line(output, "testapp.Widget:record")
    for cell in ("trigger", "—", "paused", "testapp_widget_record"):
        assert cell in record
    assert ":scheduler" not in record
    nightly = line(output, "testapp.Widget:nightly")
    for cell in ("scheduled action", "0 3 * * *", "testapp_widget_nightly", "nightly_v2"):
        assert cell in nightly
    assert "The ledger has no jobs." in output
    assert "No dangling names" in output
    assert "\x1b[" not in output


def test_status__force_color_styles_the_output() -> None:
    assert "\x1b[" in run("ash_oban_status", "--force-color")


def test_status__counts_jobs_per_state_and_stable_name() -> None:
    add_job("testapp.Widget:finish", pk=1)
    add_job("testapp.Widget:finish", pk=2)
    add_job("testapp.Widget:finish", state=State.COMPLETED, pk=3)
    add_job("testapp.Widget:finish:scheduler", kind=Kind.SCHEDULER, state=State.DISCARDED)

    assert job_counts() == {
        "testapp.Widget:finish": {"available": 2, "completed": 1},
        "testapp.Widget:finish:scheduler": {"discarded": 1},
    }
    output = run("ash_oban_status")
    output = output[output.index("Jobs per state") :]
    assert line(output, "stable name").split() == [
        "stable",
        "name",
        *" ".join(STATE_LABELS).split(),
    ]
    states = list(STATE_LABELS)

    def counts(name: str) -> dict[str, int]:
        return dict(zip(states, map(int, line(output, name + " ").split()[1:]), strict=True))

    assert counts("testapp.Widget:finish") == dict.fromkeys(states, 0) | {
        "available": 2,
        "completed": 1,
    }
    assert counts("testapp.Widget:finish:scheduler") == dict.fromkeys(states, 0) | {"discarded": 1}


def test_status__reports_dangling_names_with_the_fix() -> None:
    add_job("testapp.Widget:old_finish", pk=1)
    add_job("testapp.Widget:old_finish", pk=2)
    add_job("testapp.Widget:old:scheduler", kind=Kind.SCHEDULER)
    add_job("testapp.Widget:gone", state=State.COMPLETED)  # finished: nothing to fix
    add_job("testapp.Widget:finish")  # declared

    assert [(d.name, d.kind, d.count) for d in dangling_names()] == [
        ("testapp.Widget:old:scheduler", "scheduler", 1),
        ("testapp.Widget:old_finish", "trigger", 2),
    ]
    output = run("ash_oban_status", "--no-color")
    section = output[output.index("Dangling names") :]
    old_finish = line(section, "testapp.Widget:old_finish")
    assert "2" in old_finish.split()
    assert 'set worker_name="testapp.Widget:old_finish"' in old_finish
    assert 'set scheduler_name="testapp.Widget:old:scheduler"' in section
    assert "cancel the jobs" in section
    assert "testapp.Widget:gone" not in section


def test_run__drain_runs_the_scheduler_and_its_worker_jobs() -> None:
    todo = [Widget.objects.create(rank=n) for n in range(3)]
    Widget.objects.create(done=True)

    output = run("ash_oban_run", "testapp.Widget:finish", "--drain")

    assert all(w.done and w.calls == 1 for w in Widget.objects.filter(pk__in=[w.pk for w in todo]))
    assert set(Job.objects.values_list("state", flat=True)) == {State.COMPLETED}
    assert "4/4" in output  # the scheduler and three worker jobs
    assert "success 4, failure 0, discard 0, cancelled 0, snoozed 0" in output


def test_run__drain_leaves_a_paused_queue_and_says_how_to_resume_it() -> None:
    widget = Widget.objects.create()
    ledger.pause_queue("testapp_widget_finish")

    output = run("ash_oban_run", "testapp.Widget:finish", "--drain")

    assert "success 1, failure 0" in output  # the scheduler, on its own queue
    assert Job.objects.get(object_pk=str(widget.pk)).state == State.AVAILABLE
    assert (
        "Queue testapp_widget_finish is paused: its jobs wait "
        "(manage.py ash_oban_queue resume testapp_widget_finish)."
    ) in " ".join(output.split())


def test_run__drain_with_scheduled_actions_runs_them_too() -> None:
    output = run("ash_oban_run", "testapp", "--drain", "--scheduled-actions")
    assert Widget.objects.filter(name="nightly").count() == 1
    assert "success 2," in output  # the (empty) scheduler and the nightly action


def test_run__without_drain_leaves_jobs_to_the_clusters_and_names_the_queues() -> None:
    Widget.objects.create()
    output = run("ash_oban_run", "testapp.Widget")
    job = Job.objects.get()
    assert (job.name, job.state, job.queue) == (
        "testapp.Widget:finish:scheduler",
        State.AVAILABLE,
        "cron",
    )
    assert "queue cron (cluster default)" in output
    assert "queue testapp_widget_finish (cluster default)" in output
    assert not Widget.objects.filter(done=True).exists()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuchapp", "Unknown target 'nosuchapp'"),
        ("testapp.Gadget", "Unknown target 'testapp.Gadget'"),
        ("testapp.Widget:nope", "No trigger or scheduled action named 'nope'"),
        ("testapp.Widget:record", "nothing to run"),
        ("auth", "nothing to run"),
    ],
)
def test_run__unknown_or_empty_target_is_a_command_error(target: str, message: str) -> None:
    with pytest.raises(CommandError, match=message) as raised:
        run("ash_oban_run", target)
    if "Unknown" in message:
        assert "testapp.Widget:finish" in str(raised.value)  # says what exists
    assert not Job.objects.exists()
