"""A worker or a leader that hangs (docs/operations.md), with real clusters on PostgreSQL and
MariaDB: the database ends its session, another process takes over, and nothing runs twice;
and a live leader keeps the lead."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from ash_oban_django import run_trigger
from ash_oban_django.dispatch.maintenance import LEASE
from ash_oban_django.models import Job, Peer
from tests.e2e.conftest import Cluster, wait_until
from tests.e2eapp.models import Delivery, DeliveryAudit, Ticket

pytestmark = [pytest.mark.row_locks, pytest.mark.slow]

SCHEDULER = "e2eapp.Ticket:handle:scheduler"
# The trigger's timeout (tests/e2eapp/models.py: Delivery), and how soon after a freeze
# another worker must have completed its job.
TIMEOUT = 5
RECOVERY = TIMEOUT + 15


def leader() -> Peer | None:
    return Peer.objects.filter(name=LEASE).first()


def pid_of(node: str) -> int:
    return int(node.rsplit(":", 1)[1])


@contextmanager
def frozen(pid: int, *, whole_cluster: bool = False) -> Iterator[float]:
    """The process (or, `whole_cluster`, every process of its cluster) stopped (SIGSTOP) for
    the block, as a paused VM or a debugger would; yields when it was frozen, and lets it go
    on (SIGCONT) after, whatever happens."""
    group = os.getpgid(pid)

    def send(signum: int) -> None:
        if whole_cluster:
            os.killpg(group, signum)
        else:
            os.kill(pid, signum)

    send(signal.SIGSTOP)
    try:
        yield time.monotonic()
    finally:
        send(signal.SIGCONT)


def test_hangs__a_frozen_workers_job_runs_again_once_and_the_thawed_worker_goes_on(
    start_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    cluster = start_cluster(E2E_PID_FILE=str(pid_file), ASH_OBAN_RESCUE_AFTER="5")
    delivery = Delivery.objects.create(report_pid=True)
    job = run_trigger(delivery, "deliver")
    wait_until(pid_file.exists, 30, "the first attempt to start", [cluster])
    time.sleep(0.35)  # into the attempt: its audit row written, its job row locked
    pid = int(pid_file.read_text())
    with frozen(pid) as frozen_at:
        took = wait_until(
            lambda: Job.objects.get(pk=job.pk).state == "completed",
            RECOVERY + 10,
            "another worker to complete the frozen worker's job",
            [cluster],
        )
        assert took <= RECOVERY, f"completed {took:.1f}s after the freeze"
        assert time.monotonic() - frozen_at <= RECOVERY + 10
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("completed", 2)
    assert pid_of(job.attempted_by or "") != pid
    # The thawed process goes on running jobs; its stale attempt wrote nothing.
    ran_after: list[int] = []

    def thawed_worker_ran_a_job() -> bool:
        ran_after.extend(run_trigger(Delivery.objects.create(), "deliver").pk for _ in range(4))
        nodes = Job.objects.filter(pk__in=ran_after, state="completed")
        return any(pid_of(node) == pid for node in nodes.values_list("attempted_by", flat=True))

    wait_until(thawed_worker_ran_a_job, 60, "the thawed worker to run a job", [cluster])
    audits = list(DeliveryAudit.objects.filter(delivery=delivery).values_list("attempt", "pid"))
    assert len(audits) == 1 and audits[0][0] == 2 and audits[0][1] != pid, audits
    job.refresh_from_db()
    assert (job.state, job.attempt) == ("completed", 2)
    os.kill(pid, 0)  # still alive: a worker of the cluster


def slots_since(since: datetime) -> Counter[str]:
    """How many scheduler jobs each cron slot after `since` has."""
    slots = Job.objects.filter(name=SCHEDULER).values_list("args__cron_slot", flat=True)
    return Counter(s for s in slots if s and datetime.fromisoformat(s) > since)


def test_hangs__a_frozen_leader_is_replaced_within_15_seconds_and_steps_down_when_thawed(
    start_cluster: Callable[..., Cluster],
) -> None:
    # Two clusters, and the leader's whole cluster frozen (its machine paused): the other
    # runs the jobs. (Were the leader's process alone frozen, idle, it would hold its
    # cluster's django-q2 task queue, its read lock, and the wake tasks its cluster's pusher
    # kept taking would wait there: the retry's start would depend on which pusher polled
    # first.)
    clusters = [start_cluster(ASH_OBAN_LOG="INFO"), start_cluster(ASH_OBAN_LOG="INFO")]
    wait_until(leader, 30, "a leader", clusters)
    started = timezone.now()
    # Freeze a few seconds before a minute, so that a cron slot falls due while frozen.
    time.sleep((52 - timezone.now().second) % 60)
    old = leader()
    assert old is not None
    with frozen(pid_of(old.node), whole_cluster=True) as frozen_at:
        retry = run_trigger(Ticket.objects.create(processed=True), "retry_once")  # backoff 3 s
        wait_until(
            lambda: (lead := leader()) is not None and lead.node != old.node,
            30,
            "another process to lead",
            clusters,
        )
        took = time.monotonic() - frozen_at
        assert took <= 15, f"another process led {took:.1f}s after the freeze"
        new = leader()
        assert new is not None
        wait_until(
            lambda: Job.objects.get(pk=retry.pk).state == "completed",
            15,
            "the retry",
            clusters,
        )
        retry.refresh_from_db()
        assert retry.attempt == 2 and retry.attempted_at is not None
        due = max(retry.scheduled_at, new.started_at)
        lag = (retry.attempted_at - due).total_seconds()
        assert lag <= 1.5, f"the retry started {lag:.2f}s after the takeover or its time"
        # The slot that fell due while the leader was frozen fires once the other leads.
        wait_until(lambda: slots_since(started), 30, "the slot due during the freeze")
    # Thawed: it steps down at once, and does not lead again.
    wait_until(
        lambda: any(f"{old.node} loses the lead" in c.output() for c in clusters),
        10,
        "the old leader to step down",
        clusters,
    )
    for _ in range(15):
        lead = leader()
        assert lead is not None and (lead.node, lead.started_at) == (new.node, new.started_at)
        time.sleep(0.2)
    slots = slots_since(started)
    assert slots and set(slots.values()) == {1}, slots


@pytest.mark.soak
def test_hangs__a_busy_cluster_keeps_one_leader_for_five_minutes(
    start_cluster: Callable[..., Cluster],
) -> None:
    """With `CONN_MAX_AGE=60` and health checks (the test settings'), while the leader wakes
    queues through django-q2's ORM broker every second: no change of leader. (django-q2
    replaces a worker process after `recycle` tasks, 500 by default, which this cluster
    would reach: its leader would resign on the way out. Not here.)"""
    assert connection.settings_dict["CONN_MAX_AGE"] == 60
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    cluster = start_cluster(ASH_OBAN_LOG="INFO", Q_RECYCLE="100000")
    wait_until(leader, 30, "a leader", [cluster])
    first = leader()
    assert first is not None
    ends_at = time.monotonic() + 300
    while time.monotonic() < ends_at:
        # Busy: jobs to run now, and a retry for the leader to stage and wake every second.
        for ticket in Ticket.objects.bulk_create([Ticket(processed=True) for _ in range(4)]):
            run_trigger(ticket, "retry_once" if ticket.pk % 4 == 0 else "ping")
        lead = leader()
        assert lead is not None
        assert (lead.node, lead.started_at) == (first.node, first.started_at), (
            f"the lead went from {first.node} to {lead.node}\n{cluster.output()[-3000:]}"
        )
        time.sleep(1)
    output = cluster.output()
    assert output.count("takes the lead") == 1 and "resigns" not in output, output[-3000:]
    assert Job.objects.filter(state="completed").count() > 600  # it was busy
