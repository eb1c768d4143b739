"""The lifecycle signals (ash_oban_django.signals): each sent once per change, only once the
change commits, with the documented arguments."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.models import Q
from django.dispatch import Signal

from ash_oban_django import (
    Trigger,
    cancel_jobs,
    ledger,
    pause_all_queues,
    pause_queue,
    register,
    resume_queue,
    run_trigger,
    scale_queue,
    signals,
)
from ash_oban_django.dispatch.leader import Leader
from ash_oban_django.dispatch.maintenance import LEASE, prune, rescue, stage_due
from ash_oban_django.ledger.peer import peers
from ash_oban_django.models import Job, Peer, Queue
from ash_oban_django.testing import drain_queues
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

QUEUE = "signals_widgets"
LIFECYCLE = (
    "job_inserted",
    "job_cancelled",
    "job_rescued",
    "job_discarded",
    "jobs_staged",
    "jobs_pruned",
    "leader_elected",
    "leader_resigned",
    "queue_changed",
)


@dataclass
class Heard:
    """Every lifecycle signal received: (signal name, sender, arguments)."""

    sent: list[tuple[str, Any, dict[str, Any]]] = field(default_factory=list)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [arguments for sent, _, arguments in self.sent if sent == name]

    def names(self) -> list[str]:
        return [name for name, _, _ in self.sent]

    def clear(self) -> None:
        self.sent.clear()


@pytest.fixture
def heard() -> Iterator[Heard]:
    found = Heard()
    receivers: list[tuple[Signal, Callable[..., None]]] = []
    for name in LIFECYCLE:

        def receive(sender: Any, signal: Signal, _name: str = name, **arguments: Any) -> None:
            found.sent.append((_name, sender, arguments))

        signal = getattr(signals, name)
        signal.connect(receive, weak=False)
        receivers.append((signal, receive))
    yield found
    for signal, receive in receivers:
        signal.disconnect(receive)


@pytest.fixture
def declared(ash_oban: Any) -> Iterator[None]:
    with register(
        Widget,
        triggers=[
            Trigger("finish", where=Q(done=False), scheduler_cron=None, queue=QUEUE),
            # mark_errored needs `error=`: called as an action it raises, and with one
            # attempt the job is discarded.
            Trigger("fail", action="mark_errored", scheduler_cron=None, queue=QUEUE),
            Trigger("twice", action="finish", scheduler_cron=None, queue=QUEUE, max_attempts=2),
        ],
    ):
        yield


@contextmanager
def committing(capture: Any, heard: Heard) -> Iterator[None]:
    """Run the block as a transaction that commits at its end; nothing is heard before."""
    with capture(execute=True):
        yield
        assert heard.sent == [], "a signal was sent before the commit"


def test_job_inserted__once_per_job_after_commit_with_conflict(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    widget = Widget.objects.create()
    with committing(django_capture_on_commit_callbacks, heard):
        first = run_trigger(widget, "finish")
        again = run_trigger(widget, "finish")
    assert again.conflict and again.pk == first.pk
    inserted, conflict = heard.of("job_inserted")
    assert heard.names() == ["job_inserted", "job_inserted"]
    assert (inserted["job"].pk, inserted["conflict"]) == (first.pk, False)
    assert (conflict["job"].pk, conflict["job"].name, conflict["conflict"]) == (
        None,
        "testapp.Widget:finish",
        True,
    )


def test_job_inserted__nothing_when_the_insert_rolls_back(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        run_trigger(Widget.objects.create(), "finish")
        raise RuntimeError("rolled back")
    assert callbacks == [] and heard.sent == []
    assert not Job.objects.exists()


def test_job_cancelled__by_the_worker_when_the_trigger_no_longer_applies(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    widget = Widget.objects.create()
    job = run_trigger(widget, "finish")
    Widget.objects.filter(pk=widget.pk).update(done=True)
    heard.clear()
    with committing(django_capture_on_commit_callbacks, heard):
        assert drain_queues().cancelled == 1
    (cancelled,) = heard.of("job_cancelled")
    assert heard.names() == ["job_cancelled"]
    assert (cancelled["job"].pk, cancelled["job"].state) == (job.pk, "cancelled")
    assert "no longer" in cancelled["reason"]


def test_job_cancelled__once_per_job_of_a_bulk_cancel(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    jobs = [run_trigger(Widget.objects.create(), "finish") for _ in range(5)]
    heard.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert cancel_jobs(queue=QUEUE, batch_size=2) == 5
    assert heard.names() == ["job_cancelled"] * 5
    assert sorted(a["job"].pk for a in heard.of("job_cancelled")) == sorted(j.pk for j in jobs)
    assert {a["reason"] for a in heard.of("job_cancelled")} == {"cancelled by an operator"}
    assert {a["job"].state for a in heard.of("job_cancelled")} == {"cancelled"}


def test_job_discarded__once_when_the_last_attempt_fails(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    job = run_trigger(Widget.objects.create(), "fail")
    heard.clear()
    with committing(django_capture_on_commit_callbacks, heard):
        assert drain_queues().discard == 1
    (discarded,) = heard.of("job_discarded")
    assert heard.names() == ["job_discarded"]
    assert (discarded["job"].pk, discarded["job"].state) == (job.pk, "discarded")
    assert discarded["job"].errors[-1]["error"].startswith("TypeError: ")


def test_job_rescued__once_when_an_orphan_is_available_again(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    run_trigger(Widget.objects.create(), "twice")
    (claimed,) = ledger.engine().claim(QUEUE, 1)
    # Long enough ago for every database (without row locks the rule is an hour).
    Job.objects.filter(pk=claimed.pk).update(attempted_at=ledger.now() - timedelta(hours=2))
    heard.clear()
    with committing(django_capture_on_commit_callbacks, heard):
        assert rescue() == 1
    (rescued,) = heard.of("job_rescued")
    assert heard.names() == ["job_rescued"]
    assert (rescued["job"].pk, rescued["job"].state) == (claimed.pk, "available")
    assert rescued["job"].errors[-1]["error"].startswith("JobOrphaned: ")


def test_jobs_staged__with_the_count_and_the_queues(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    due = [run_trigger(Widget.objects.create(), "finish", schedule_in=60) for _ in range(2)]
    run_trigger(Widget.objects.create(), "finish", schedule_in=600)
    Job.objects.filter(pk__in=[j.pk for j in due]).update(
        scheduled_at=ledger.now() - timedelta(seconds=1)
    )
    heard.clear()
    with committing(django_capture_on_commit_callbacks, heard), transaction.atomic():
        stage_due()
    assert heard.of("jobs_staged") == [{"count": 2, "queues": {QUEUE: 2}}]
    with django_capture_on_commit_callbacks(execute=True):
        stage_due()  # nothing due: nothing sent
    assert heard.names() == ["jobs_staged"]


def test_jobs_pruned__with_the_count(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    for _ in range(3):
        run_trigger(Widget.objects.create(), "finish")
    drain_queues()
    Job.objects.update(completed_at=ledger.now() - timedelta(days=2))
    heard.clear()
    with committing(django_capture_on_commit_callbacks, heard), transaction.atomic():
        assert prune() == 3
    assert heard.of("jobs_pruned") == [{"count": 3}]
    assert heard.names() == ["jobs_pruned"]


def test_queue_changed__paused_resumed_scaled_with_who_did_it(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        pause_queue(QUEUE, by="ops@example.com")
        scale_queue(QUEUE, 3)
        resume_queue(QUEUE, by="ops@example.com")
    assert heard.of("queue_changed") == [
        {
            "queue": QUEUE,
            "change": "paused",
            "paused": True,
            "limit": None,
            "by": "ops@example.com",
        },
        {"queue": QUEUE, "change": "scaled", "paused": True, "limit": 3, "by": None},
        {"queue": QUEUE, "change": "resumed", "paused": False, "limit": 3, "by": "ops@example.com"},
    ]
    assert {sender for name, sender, _ in heard.sent} == {Queue}


def test_queue_changed__once_per_queue_of_pause_all_queues(
    declared: None, heard: Heard, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        paused = pause_all_queues(by="deploy")
    names = {row.name for row in paused}
    assert QUEUE in names and all(row.paused for row in paused)
    assert sorted(a["queue"] for a in heard.of("queue_changed")) == sorted(names)
    assert {(a["change"], a["by"]) for a in heard.of("queue_changed")} == {("paused", "deploy")}


@pytest.mark.django_db(transaction=True)
def test_leader_elected_and_resigned__taken_lost_and_given_up(heard: Heard) -> None:
    here = Leader("here:1")
    try:
        assert here.tick() is True
        assert heard.of("leader_elected") == [{"name": LEASE, "node": "here:1"}]
        here.tick()  # renewing the lead is no change
        assert len(heard.of("leader_elected")) == 1 and heard.of("leader_resigned") == []
        # This node's session ends (its lock goes with it) and its lease lapses: another
        # node, in its own session, takes the lead.
        connections["default"].close()
        Peer.objects.update(expires_at=ledger.now() - timedelta(seconds=1))
        taken, release = threading.Event(), threading.Event()

        def elsewhere() -> None:
            other = Leader("elsewhere:2")
            try:
                assert other.tick() is True
                taken.set()
                release.wait(30)
                other.resign()
            finally:
                connections.close_all()

        thread = threading.Thread(target=elsewhere)
        thread.start()
        try:
            assert taken.wait(30)
            assert here.tick() is False
        finally:
            release.set()
            thread.join(30)
        lost = [a for a in heard.of("leader_resigned") if a["node"] == "here:1"]
        assert lost == [{"name": LEASE, "node": "here:1", "lost": True}]
        gave_up = [a for a in heard.of("leader_resigned") if a["node"] == "elsewhere:2"]
        assert gave_up == [{"name": LEASE, "node": "elsewhere:2", "lost": False}]
        assert [a["node"] for a in heard.of("leader_elected")] == ["here:1", "elsewhere:2"]
        leading = [s for n, s, _ in heard.sent if n.startswith("leader_")]
        assert set(leading) == {Peer}
    finally:
        peers().resign(LEASE, "here:1")
        connections["default"].close()
