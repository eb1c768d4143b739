"""Latency of a real idle cluster (PostgreSQL): how soon work starts after it is due.

With `manage.py qcluster` (2 workers) on a scratch database, prints p50 / p95 / max of:

- run_trigger to attempt start (a job on an idle queue);
- retry lag: a retry's start after its `scheduled_at` (backoff 3 s);
- snooze lag: a snoozed job's start after its `scheduled_at` (`Snooze(2)`);
- cron offset: a `* * * * *` scheduler job's insert after its minute;
- the start of a job on an idle queue while another queue has a 10,000-job backlog;
- hung-worker recovery (`--hangs 3`): a worker process stopped (SIGSTOP) 0.35 s into an
  attempt of a trigger with `timeout=5` (its action takes 2 s; the cluster runs with
  `RESCUE_AFTER=5`): from the freeze to another worker completing the job;
- frozen-leader takeover (`--hangs 3`): the leader's process stopped: from the freeze to
  another process leading;
- recovery after a fast restart (`--restarts 3`: `pg_ctlcluster ... restart -m fast`): from
  the database answering again to the first new job done;
- recovery after a database outage (`--outage 60`: PostgreSQL stopped that long, then
  started): from the database answering again to the first new job done.

Targets: retry and snooze p95 <= 1.5 s, cron offset <= 2 s, idle-queue start under backlog
p95 <= 1.5 s, hung-worker recovery <= timeout + 15 s, frozen-leader takeover <= 15 s,
recovery after a fast restart <= 5 s, after an outage <= 15 s. `--restarts 0` and
`--outage 0` skip those (they restart or stop the whole server); `--cron-slots 0`,
`--backlog 0` and `--hangs 0` skip theirs.

Usage: python bench/latency.py [--samples 10] [--cron-slots 3] [--backlog 10000] [--hangs 3]
       [--restarts 3] [--outage 60]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _setup  # noqa: E402

LOG = Path("/tmp/ash_oban_bench_latency.log")
# Where the frozen attempt's process writes its id (tests/e2eapp/models.py: Delivery).
PID_FILE = Path("/tmp/ash_oban_bench_latency.pid")
# The Delivery trigger's timeout, and RESCUE_AFTER in the cluster.
HUNG_TIMEOUT = 5
RESCUE_AFTER = 5


def wait(condition: Callable[[], Any], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if condition():
                return time.monotonic() - started
        except Exception:  # the database may be coming back
            from django.db import connection

            connection.close()
        time.sleep(0.05)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}; see {LOG}")


def done(ids: list[int]) -> bool:
    from ash_oban_django.models import Job

    return Job.objects.filter(pk__in=ids, state="completed").count() == len(ids)


def tickets(count: int) -> list[Any]:
    from tests.e2eapp.models import Ticket

    # processed=True: the Ticket cron's scheduler finds nothing to do with them.
    return Ticket.objects.bulk_create([Ticket(processed=True) for _ in range(count)])


def start_delays(name: str, samples: int, **options: Any) -> list[float]:
    """Insert `samples` jobs of trigger `name`, one every 0.3 s; for each, seconds from its
    `scheduled_at` (its due time, for a retry or a snooze) to the start of its last attempt."""
    from ash_oban_django import run_trigger
    from ash_oban_django.models import Job

    ids = []
    for ticket in tickets(samples):
        ids.append(run_trigger(ticket, name, **options).pk)
        time.sleep(0.3)
    wait(lambda: done(ids), 60, f"the {name} jobs")
    return [
        (job.attempted_at - job.scheduled_at).total_seconds()
        for job in Job.objects.filter(pk__in=ids)
    ]


def cron_offsets(slots: int, since: datetime) -> list[float]:
    from ash_oban_django.models import Job

    def found() -> list[Job]:
        return [
            job
            for job in Job.objects.filter(name="e2eapp.Ticket:handle:scheduler")
            if "cron_slot" in job.args and datetime.fromisoformat(job.args["cron_slot"]) > since
        ]

    wait(lambda: len(found()) >= slots, 60 * slots + 30, f"{slots} cron slots")
    return [
        (job.inserted_at - datetime.fromisoformat(job.args["cron_slot"])).total_seconds()
        for job in found()
    ]


def under_backlog(backlog: int, samples: int) -> tuple[list[float], int]:
    from ash_oban_django import run_trigger, run_triggers
    from ash_oban_django.models import Job

    run_triggers(tickets(backlog), "busy")
    wait(
        lambda: Job.objects.filter(name="e2eapp.Ticket:busy", state="completed").exists(),
        30,
        "the backlog",
    )
    ids = []
    for ticket in tickets(samples):
        ids.append(run_trigger(ticket, "ping").pk)
        time.sleep(0.5)
    wait(lambda: done(ids), 60, "the idle queue's jobs")
    left = Job.objects.filter(name="e2eapp.Ticket:busy").exclude(state="completed").count()
    waits = [
        (j.attempted_at - j.inserted_at).total_seconds() for j in Job.objects.filter(pk__in=ids)
    ]
    return waits, left


def hung_worker() -> float:
    """Freeze the worker running a job 0.35 s into its attempt; seconds from the freeze to
    another worker completing the job."""
    from ash_oban_django import run_trigger
    from ash_oban_django.models import Job
    from tests.e2eapp.models import Delivery

    PID_FILE.unlink(missing_ok=True)
    job = run_trigger(Delivery.objects.create(report_pid=True), "deliver")
    wait(PID_FILE.exists, 30, "the attempt to start")
    time.sleep(0.35)
    pid = int(PID_FILE.read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        return wait(lambda: Job.objects.get(pk=job.pk).state == "completed", 120, "the frozen job")
    finally:
        os.kill(pid, signal.SIGCONT)


def frozen_leader() -> float:
    """Freeze the leader's process; seconds from the freeze to another process leading."""
    from ash_oban_django.dispatch.maintenance import LEASE
    from ash_oban_django.models import Peer

    old = wait_for_leader()
    pid = int(old.rsplit(":", 1)[1])
    os.kill(pid, signal.SIGSTOP)
    try:
        return wait(
            lambda: Peer.objects.filter(name=LEASE).exclude(node=old).exists(),
            120,
            "another leader",
        )
    finally:
        os.kill(pid, signal.SIGCONT)
        time.sleep(2)  # the thawed process steps down, and its cluster takes tasks again


def wait_for_leader() -> str:
    from ash_oban_django.dispatch.maintenance import LEASE
    from ash_oban_django.models import Peer

    wait(lambda: Peer.objects.filter(name=LEASE).exists(), 60, "a leader")
    node: str = Peer.objects.get(name=LEASE).node
    return node


def fast_restart() -> float:
    """Restart PostgreSQL (`-m fast`: every session ended); seconds from the database
    answering again to a new job done."""
    from ash_oban_django import run_trigger

    version = sorted(os.listdir("/etc/postgresql"))[-1]
    control = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    subprocess.run([*control, "restart", "-m", "fast"], check=True)
    back = time.monotonic()
    wait(_answers, 30, "the database")
    (ticket,) = tickets(1)
    job = run_trigger(ticket, "ping")
    wait(lambda: done([job.pk]), 60, "a job after the restart")
    return time.monotonic() - back


def outage(seconds: float) -> float:
    """Stop PostgreSQL for `seconds`, start it, and time the first job done after."""
    from ash_oban_django import run_trigger

    version = sorted(os.listdir("/etc/postgresql"))[-1]
    control = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    subprocess.run([*control, "stop", "-m", "fast"], check=True)
    time.sleep(seconds)
    subprocess.run([*control, "start"], check=True)
    back = time.monotonic()
    wait(lambda: tickets(0) is not None and _answers(), 30, "the database")
    (ticket,) = tickets(1)
    job = run_trigger(ticket, "ping")
    wait(lambda: done([job.pk]), 120, "a job after the outage")
    return time.monotonic() - back


def _answers() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return True


def report(label: str, values: list[float], target: float | None) -> None:
    p50, p95, most = _setup.percentiles(values)
    verdict = (
        ""
        if target is None
        else f"  (target <= {target:g} s: {'met' if p95 <= target else 'NOT met'})"
    )
    print(
        f"{label:<38} n={len(values):<3} p50 {p50:6.2f} s  "
        f"p95 {p95:6.2f} s  max {most:6.2f} s{verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--cron-slots", type=int, default=3)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--hangs", type=int, default=3)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--outage", type=float, default=60.0)
    args = parser.parse_args()
    _setup.create_database()
    _setup.setup_django(migrate=True)
    from django.utils import timezone

    from ash_oban_django.dispatch.maintenance import LEASE
    from ash_oban_django.models import Peer

    LOG.write_bytes(b"")
    cluster = _setup.start_cluster(
        LOG, E2E_PID_FILE=str(PID_FILE), ASH_OBAN_RESCUE_AFTER=str(RESCUE_AFTER)
    )
    try:
        wait(lambda: Peer.objects.filter(name=LEASE).exists(), 60, "a leader")
        since = timezone.now()
        print("2 worker processes, idle cluster, PostgreSQL")
        report("run_trigger to attempt start", start_delays("ping", args.samples), None)
        report("retry lag (backoff 3 s)", start_delays("retry_once", args.samples), 1.5)
        report("snooze lag (Snooze(2))", start_delays("snooze_once", args.samples), 1.5)
        if args.backlog:
            waits, left = under_backlog(args.backlog, args.samples)
            report(f"idle queue under a {args.backlog:,}-job backlog", waits, 1.5)
            print(f"  (backlog jobs still waiting when the last sample ran: {left:,})")
        if args.cron_slots:
            report("cron offset (* * * * *)", cron_offsets(args.cron_slots, since), 2.0)
        if args.hangs:
            recoveries = [hung_worker() for _ in range(args.hangs)]
            report("hung-worker recovery (timeout=5)", recoveries, HUNG_TIMEOUT + 15)
            report("frozen-leader takeover", [frozen_leader() for _ in range(args.hangs)], 15)
        if args.restarts and not _setup.MYSQL:
            restarts = [fast_restart() for _ in range(args.restarts)]
            report("recovery after a fast restart", restarts, 5.0)
        if args.outage:
            report(f"recovery after a {args.outage:g} s outage", [outage(args.outage)], 15.0)
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
