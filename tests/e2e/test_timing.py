"""Oban's sense of time with real clusters (docs/running.md, docs/operations.md): due jobs
start within about a second, crons fire on their minute, one leader among the clusters,
and a job on an idle queue is not held up by another queue's backlog."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import pytest
from django_q.brokers import get_broker
from django_q.models import OrmQ

from ash_oban_django import run_trigger, run_triggers
from ash_oban_django.dispatch.maintenance import LEASE
from ash_oban_django.dispatch.wake import TASKS_PER_WORKER
from ash_oban_django.models import Job, Peer
from tests.e2e.conftest import Cluster, wait_until
from tests.e2eapp.models import Ticket

pytestmark = [pytest.mark.row_locks, pytest.mark.slow]

SCHEDULER = "e2eapp.Ticket:handle:scheduler"
BUSY = "e2eapp.Ticket:busy"


def leader() -> Peer | None:
    return Peer.objects.filter(name=LEASE).first()


def wait_for_leader(clusters: list[Cluster]) -> Peer:
    wait_until(leader, 30, "a leader", clusters)
    found = leader()
    assert found is not None
    return found


def led_by(cluster: Cluster, peer: Peer) -> bool:
    """Whether the lease holder (`host:pid`) is a process of `cluster`'s process group."""
    pid = int(peer.node.rsplit(":", 1)[1])
    try:
        return os.getpgid(pid) == cluster.process.pid
    except ProcessLookupError:
        return False


def slot_offsets(after: datetime) -> list[float]:
    """Seconds from each cron slot after `after` to the insert of its scheduler job."""
    jobs = Job.objects.filter(name=SCHEDULER, args__has_key="cron_slot")
    return [
        (job.inserted_at - slot).total_seconds()
        for job in jobs
        if (slot := datetime.fromisoformat(job.args["cron_slot"])) > after
    ]


def test_timing__a_retry_starts_within_a_second_and_a_half_of_its_time(
    start_cluster: Callable[..., Cluster],
) -> None:
    cluster = start_cluster()
    wait_for_leader([cluster])
    tickets = [Ticket.objects.create(processed=True) for _ in range(3)]
    jobs = [run_trigger(ticket, "retry_once") for ticket in tickets]
    ids = [job.pk for job in jobs]
    wait_until(
        lambda: Job.objects.filter(pk__in=ids, state="completed").count() == 3,
        30,
        "the retries",
        [cluster],
    )
    for job in Job.objects.filter(pk__in=ids):
        # scheduled_at is when the retry was due; attempted_at when attempt 2 started.
        lag = (job.attempted_at - job.scheduled_at).total_seconds()
        assert job.attempt == 2 and 0 <= lag <= 1.5, (job.pk, lag)


def test_timing__a_cron_fires_within_two_seconds_of_its_minute(
    start_cluster: Callable[..., Cluster],
) -> None:
    cluster = start_cluster()
    started = wait_for_leader([cluster]).started_at
    wait_until(lambda: slot_offsets(started), 75, "the next cron slot", [cluster])
    (offset,) = slot_offsets(started)
    assert 0 <= offset <= 2, offset


def test_timing__the_leader_killed_another_cluster_takes_over_and_each_slot_runs_once(
    start_cluster: Callable[..., Cluster],
) -> None:
    clusters = [start_cluster(), start_cluster()]
    first = wait_for_leader(clusters)
    wait_until(lambda: any(led_by(c, first) for c in clusters), 10, "the leader's cluster")
    killed, survivor = clusters if led_by(clusters[0], first) else clusters[::-1]
    os.killpg(killed.process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    took = wait_until(
        lambda: (peer := leader()) is not None and led_by(survivor, peer),
        15,
        "the other cluster to take over",
        [survivor],
    )
    assert took <= 10, f"took over after {took:.1f}s"
    taken_over = leader()
    assert taken_over is not None
    # Every slot from before the kill to one after the takeover: one job each.
    wait_until(lambda: slot_offsets(taken_over.started_at), 75, "a slot after", [survivor])
    slots = Counter(Job.objects.filter(name=SCHEDULER).values_list("args__cron_slot", flat=True))
    assert slots and set(slots.values()) == {1}, slots
    assert time.monotonic() - killed_at < 90


def test_timing__a_job_on_an_idle_queue_starts_within_a_second_under_a_backlog(
    start_cluster: Callable[..., Cluster],
) -> None:
    Ticket.objects.bulk_create([Ticket(processed=True) for _ in range(10_000)])
    cluster = start_cluster()
    wait_for_leader([cluster])
    run_triggers(Ticket.objects.all(), "busy")  # a backlog on the busy queue
    wait_until(
        lambda: Job.objects.filter(name=BUSY, state="completed").exists(),
        20,
        "the backlog to start",
        [cluster],
    )
    pings = []
    for _ in range(3):
        ticket = Ticket.objects.create(processed=True)
        pings.append(run_trigger(ticket, "ping").pk)
        time.sleep(1.5)
    wait_until(
        lambda: Job.objects.filter(pk__in=pings, state="completed").count() == 3,
        20,
        "the idle queue's jobs",
        [cluster],
    )
    waits = [
        (job.attempted_at - job.inserted_at).total_seconds()
        for job in Job.objects.filter(pk__in=pings)
    ]
    backlog_left = Job.objects.filter(name=BUSY, state="available").count()
    assert backlog_left > 0, "the backlog ran out before the measurement"
    assert max(waits) <= 1.0, waits
    # Wake tasks stay bounded: a few per worker waiting, plus those the cluster holds.
    assert get_broker("default").queue_size() <= TASKS_PER_WORKER * 2
    assert OrmQ.objects.count() <= 6 * 2


def test_timing__whole_cluster_killed_and_restarted_resumes_within_seconds(
    start_cluster: Callable[..., Cluster],
) -> None:
    cluster = start_cluster()
    wait_for_leader([cluster])
    os.killpg(cluster.process.pid, signal.SIGKILL)
    tickets = [Ticket.objects.create() for _ in range(5)]
    for ticket in tickets:
        run_trigger(ticket, "mark")  # queued while no cluster runs
    restarted = start_cluster()
    took = wait_until(
        lambda: not Ticket.objects.filter(pk__in=[t.pk for t in tickets], processed=False).exists(),
        30,
        "the jobs queued while the cluster was down",
        [restarted],
    )
    assert took <= 5, took  # from the restart: the cluster's own start-up included
