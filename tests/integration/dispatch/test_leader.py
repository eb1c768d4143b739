"""The leader (docs/architecture.md, docs/operations.md): the steps the holder of the lead
runs, and a leader thread that resigns when it stops."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import close_old_connections, connections, transaction
from django.db.models import F, Q

from ash_oban_django import ScheduledAction, Trigger, ledger, register, run_trigger
from ash_oban_django.dispatch import leader
from ash_oban_django.dispatch.leader import Leader
from ash_oban_django.dispatch.maintenance import LEASE, maintain
from ash_oban_django.dispatch.tasks import cron_tick
from ash_oban_django.ledger.peer import peers
from ash_oban_django.models import Job, Peer
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db

SCHEDULER = "testapp.Widget:finish:scheduler"


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
        peers().resign(LEASE, node)


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
    peers().elect(LEASE, "leader:1", 5)
    assert maintain()["waiting"] == 0
    assert Job.objects.get(pk=due.pk).state == "scheduled"
    Peer.objects.update(expires_at=ledger.now() - timedelta(seconds=1))
    assert maintain()["waiting"] == 1  # no live leader: the fallback does the work


def holder() -> str | None:
    lead = peers().leader(LEASE)
    return None if lead is None else lead.node


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_leader__its_thread_resigns_when_stopped(declared: None) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=Leader("here:1").run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: holder() == "here:1", "the thread to lead")
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    assert not Peer.objects.filter(name=LEASE).exists()
    assert peers().elect(LEASE, "elsewhere:2", 5) is True  # at once, on every database


@pytest.mark.django_db(transaction=True)
def test_stop__ends_the_process_leader_which_resigns(declared: None) -> None:
    leader.start()
    try:
        wait_for(lambda: holder() == ledger.node_name(), "this process to lead")
    finally:
        assert leader.stop(timeout=15) is True
    assert holder() is None
    assert peers().elect(LEASE, "elsewhere:2", 5) is True


@pytest.mark.django_db(transaction=True)
def test_stop__is_bounded_when_a_pass_is_stuck_on_the_database(declared: None) -> None:
    leader.start()
    locked, release = threading.Event(), threading.Event()

    def hold_the_lease_row() -> None:
        # Another transaction holds the lease row (a write lock on SQLite): the leader's next
        # renewal waits for it.
        try:
            with transaction.atomic():
                Peer.objects.filter(name=LEASE).update(node=F("node"))
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    blocker = threading.Thread(target=hold_the_lease_row)
    try:
        wait_for(lambda: holder() == ledger.node_name(), "this process to lead")
        blocker.start()
        assert locked.wait(15)
        time.sleep(1.5)  # past STAGE_INTERVAL: the next pass is waiting
        started = time.monotonic()
        assert leader.stop(timeout=0.3) is False  # the stop does not wait for the pass...
        assert time.monotonic() - started < 1.5
    finally:
        release.set()
        blocker.join(15)
    assert leader.stop(timeout=15) is True  # ...which resigns once it gets through
    assert holder() is None


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_leader__logs_a_lost_database_once_per_outage(
    declared: None, caplog: pytest.LogCaptureFixture, database_away: Any
) -> None:
    """Over a 30 s outage (the server refusing the database and ending its sessions), the
    leader logs one warning with a traceback, then one line once it is back."""
    stop = threading.Event()
    thread = threading.Thread(target=Leader("here:1").run, args=(stop,))
    with caplog.at_level(logging.INFO, logger="ash_oban_django"):
        thread.start()
        try:
            time.sleep(2)  # leading
            database_away(True)
            time.sleep(30)
            database_away(False)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and "database is back" not in caplog.text:
                time.sleep(0.2)
        finally:
            database_away(False)
            stop.set()
            thread.join(10)
            connections["default"].close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    lost = [r for r in warnings if "lost the database" in r.getMessage()]
    back = [r for r in warnings if "the database is back" in r.getMessage()]
    assert len(lost) == 1 and lost[0].exc_info is not None, [r.getMessage() for r in warnings]
    assert len(back) == 1 and back[0].exc_info is None
    assert len(warnings) == 2, [r.getMessage() for r in warnings]  # nothing per pass


@pytest.mark.row_locks
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("own", [True, False])
def test_own_connection__keeps_the_lead_when_old_connections_are_closed(
    declared: None, own: bool
) -> None:
    """django-q2's ORM broker runs `close_old_connections()` in the thread that wakes a
    queue, the leader's: a connection past `CONN_MAX_AGE` (0 here) is closed, and a session
    lock with it. The leader's own connection is not."""
    alias = ledger.database()
    conn_max_age = connections.settings[alias]["CONN_MAX_AGE"]
    held: list[bool] = []

    def lead_then_close_old_connections() -> None:
        try:
            if own:
                leader.own_connection(alias)
            assert peers().elect(LEASE, "leader:1", 5)
            session = connections[alias].connection
            close_old_connections()
            held.append(connections[alias].connection is session)
            held.append(peers().holds(LEASE, "leader:1"))
        finally:
            connections.close_all()

    connections.settings[alias]["CONN_MAX_AGE"] = 0
    try:
        thread = threading.Thread(target=lead_then_close_old_connections)
        thread.start()
        thread.join(15)
    finally:
        connections.settings[alias]["CONN_MAX_AGE"] = conn_max_age
    assert held == [own, own]
