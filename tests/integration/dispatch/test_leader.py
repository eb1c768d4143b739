"""The leader (docs/architecture.md, docs/operations.md): one lease among all processes, and
the steps its holder runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models import Q

from ash_oban_django import ScheduledAction, Trigger, ledger, register, run_trigger
from ash_oban_django.dispatch.leader import Leader
from ash_oban_django.dispatch.maintenance import LEASE, maintain
from ash_oban_django.dispatch.tasks import cron_tick
from ash_oban_django.models import Job, Peer
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

SCHEDULER = "testapp.Widget:finish:scheduler"


def test_lease__one_holder_until_it_lapses() -> None:
    engine = ledger.engine()
    assert engine.lease(LEASE, "a:1", 5, take_over=False)
    assert not engine.lease(LEASE, "b:2", 5, take_over=False)
    assert engine.lease(LEASE, "a:1", 5, take_over=False)  # renewed
    Peer.objects.filter(name=LEASE).update(expires_at=ledger.now() - timedelta(seconds=1))
    assert engine.lease(LEASE, "b:2", 5, take_over=False)  # a's lease lapsed: b takes over
    assert not engine.lease(LEASE, "a:1", 5, take_over=False)
    peer = Peer.objects.get(name=LEASE)
    assert peer.node == "b:2" and peer.expires_at > ledger.now()
    engine.resign(LEASE, "b:2")
    assert engine.leader(LEASE) is None


def elect_in_a_thread(node: str, hold: threading.Event | None = None) -> tuple[bool, Any]:
    """Elect from a thread of its own (its own connection, as another process would); with
    `hold`, the thread keeps its connection open until `hold` is set."""
    result: list[bool] = []
    elected = threading.Event()

    def run() -> None:
        try:
            result.append(ledger.engine().elect(LEASE, node, 5))
            elected.set()
            if hold is not None:
                hold.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    assert elected.wait(10)
    return result[0], thread


@pytest.mark.django_db(transaction=True)
def test_elect__one_leader_among_processes_and_another_takes_over_when_it_dies() -> None:
    hold = threading.Event()
    first, holder = elect_in_a_thread("first:1", hold)
    second, _ = elect_in_a_thread("second:2")
    assert (first, second) == (True, False)
    hold.set()  # the first leader's process ends...
    holder.join(10)
    if connection.vendor in ("postgresql", "mysql"):
        # ...and its session lock with it: the next bid wins at once.
        assert elect_in_a_thread("second:2")[0] is True
    else:
        # ...its lease lapses after its time-to-live.
        assert elect_in_a_thread("second:2")[0] is False
        Peer.objects.update(expires_at=ledger.now() - timedelta(seconds=1))
        assert elect_in_a_thread("second:2")[0] is True
    assert Peer.objects.get(name=LEASE).node == "second:2"


@pytest.fixture
def declared(ash_oban: Any) -> Iterator[None]:
    """Declarations with crons; the leaders the test makes in this thread resign after."""
    with register(
        Widget,
        triggers=[
            Trigger("finish", where=Q(done=False), scheduler_cron="* * * * *", max_attempts=2)
        ],
        scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")],
    ):
        yield
    for node in ("here:1", "elsewhere:2", "later:3", "leader:1"):
        ledger.engine().resign(LEASE, node)


def test_leader__its_pass_stages_due_jobs_and_fires_the_due_slot_once(declared: None) -> None:
    due = run_trigger(Widget.objects.create(), "finish", schedule_in=60)
    Job.objects.filter(pk=due.pk).update(scheduled_at=ledger.now() - timedelta(seconds=1))
    leader = Leader("here:1")
    assert leader.tick() is True
    assert Job.objects.get(pk=due.pk).state == "available"
    (fired,) = Job.objects.filter(name=SCHEDULER)
    assert fired.once
    slot = datetime.fromisoformat(fired.args["cron_slot"])
    assert slot.second == 0 and ledger.now() - timedelta(seconds=60) <= slot <= ledger.now()
    leader.tick()
    Leader("elsewhere:2").crons.fire_due()  # another path firing the same slot
    cron_tick(SCHEDULER)  # and django-q2's row
    assert Job.objects.filter(name=SCHEDULER).count() == 1
    Job.objects.filter(name=SCHEDULER).update(state="completed", completed_at=ledger.now())
    cron_tick(SCHEDULER)  # a completed slot keeps blocking
    assert Job.objects.filter(name=SCHEDULER).count() == 1
    # The nightly action's slot (03:00) is more than a minute old: not fired on taking over.
    assert not Job.objects.filter(name="testapp.Widget:nightly").exists()
    # The next minute's slot is another job.
    Leader("later:3").crons.fire_due(ledger.now() + timedelta(seconds=60))
    assert Job.objects.filter(name=SCHEDULER).count() == 2


def test_maintain__the_fallback_does_nothing_while_a_leader_lives(declared: None) -> None:
    due = run_trigger(Widget.objects.create(), "finish", schedule_in=60)
    Job.objects.filter(pk=due.pk).update(scheduled_at=ledger.now() - timedelta(seconds=1))
    ledger.engine().elect(LEASE, "leader:1", 5)
    assert maintain()["waiting"] == 0
    assert Job.objects.get(pk=due.pk).state == "scheduled"
    Peer.objects.update(expires_at=ledger.now() - timedelta(seconds=1))
    assert maintain()["waiting"] == 1  # no live leader: the fallback does the work
