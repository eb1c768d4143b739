"""`make demo`: the example shop processing orders in a real django-q2 cluster.

Runs on SQLite by default (a fresh `demo.sqlite3`, or the file `SQLITE_PATH` names; no
server needed); with `DATABASE_URL=postgres://...` it runs the same on PostgreSQL, creating the
database if it does not exist. The demo deletes every order and job of its database first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SQLITE_FILE = ROOT / "demo.sqlite3"
TIMEOUT = 90


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    if not os.environ.get("DATABASE_URL"):
        sqlite_file = os.environ.setdefault("SQLITE_PATH", str(SQLITE_FILE))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)

    import django

    django.setup()
    from django.conf import settings

    from example_project.database import DatabaseUnavailable, ensure_database

    try:
        ensure_database(settings.DATABASES["default"])
    except DatabaseUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    from django.core.management import call_command
    from django.db import connection
    from rich.console import Console
    from rich.table import Table

    from ash_oban_django.models import Job
    from example_project.shop.models import Order
    from example_project.shop.tasks import send_receipt

    console = Console()
    console.rule(
        f"ash_oban_django demo on {connection.vendor} (database {connection.settings_dict['NAME']})"
    )
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    Order.objects.all().delete()
    Job.objects.all().delete()

    amounts = ["19.99", "5.00", "0.00", "42.50", "-3.00", "12.00", "7.25", "99.00"]
    for i, amount in enumerate(amounts):
        Order.objects.create(customer=f"customer {i + 1}", amount=Decimal(amount), paid=True)
    Order.objects.create(customer="not paid yet", amount=Decimal("8.00"), paid=False)
    console.print(
        f"Seeded {Order.objects.count()} orders: {len(amounts)} paid "
        "(two with amounts that cannot be charged), one unpaid."
    )

    # The cluster's log goes to a temporary folder: the demo writes nothing but its database.
    with tempfile.TemporaryDirectory(prefix="ash-oban-demo-") as folder:
        log_path = Path(folder) / "qcluster.log"
        ok, receipt = run_cluster(console, Order, send_receipt, log_path)
        log_tail = "" if ok else "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])

    orders = Table(title="Orders")
    for column in ("#", "customer", "amount", "paid", "outcome"):
        orders.add_column(column)
    for order in Order.objects.order_by("pk"):
        outcome = (
            "processed"
            if order.processed
            else f"[red]errored[/red]: {order.error}"
            if order.errored
            else "untouched"
        )
        orders.add_row(str(order.pk), order.customer, str(order.amount), str(order.paid), outcome)
    console.print(orders)

    jobs = Table(title="Jobs in the ledger")
    for column in ("job", "name", "row", "state", "attempts", "errors"):
        jobs.add_column(column)
    for job in Job.objects.order_by("id"):
        errors = "; ".join(e["error"] for e in job.errors)
        jobs.add_row(
            str(job.pk),
            job.name,
            job.object_pk or "—",
            job.state,
            f"{job.attempt}/{job.max_attempts}",
            errors,
        )
    console.print(jobs)
    receipt.refresh()
    outcome = receipt.return_value if receipt.status == "SUCCESSFUL" else receipt.errors
    console.print(f"Django task send_receipt: {receipt.status} -> {outcome!r}")
    if not ok:
        console.print(
            f"[red]Orders were not all handled within {TIMEOUT}s.[/red] The cluster's log:"
        )
        console.print(log_tail, markup=False, highlight=False)
        return 1
    console.print("[green]Every paid order was processed or marked errored by on_error.[/green]")
    return 0


def wait_for_task(result: Any, cluster: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and cluster.poll() is None:
        result.refresh()
        if result.is_finished:
            return True
        time.sleep(0.3)
    return False


def run_cluster(console: Any, order_model: type, task: Any, log_path: Path) -> tuple[bool, Any]:
    """Start `manage.py qcluster` (its output to `log_path`), schedule the trigger and
    enqueue the task, wait for every paid order and the task, stop the cluster. Returns
    whether all were handled, and the task's result."""
    from ash_oban_django import schedule

    with log_path.open("wb") as log:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    console.print(f"Started a django-q2 cluster (pid {cluster.pid}).")
    try:
        # The cron row fires the scheduler every minute; schedule it now instead of waiting.
        schedule(order_model, "process")
        console.print("Scheduled the `process` trigger: one job per paid, unprocessed order.")
        # A Django task on the same ledger, run by the same cluster.
        receipt = task.enqueue(order_model.objects.filter(paid=True).earliest("pk").pk)  # type: ignore[attr-defined]
        console.print(f"Enqueued the Django task send_receipt (result id {receipt.id}).")
        ok = wait_for_orders(console, order_model, cluster)
        return wait_for_task(receipt, cluster) and ok, receipt
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(30)
            console.print("Cluster stopped cleanly.")
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(10)
            console.print("[red]Cluster did not stop in time; killed it.[/red]")


def wait_for_orders(console: object, order_model: type, cluster: subprocess.Popen[bytes]) -> bool:
    from rich.progress import Progress

    paid = order_model.objects.filter(paid=True)  # type: ignore[attr-defined]
    total = paid.count()
    deadline = time.monotonic() + TIMEOUT
    with Progress(console=console) as progress:  # type: ignore[arg-type]
        task = progress.add_task("orders handled", total=total)
        while time.monotonic() < deadline and cluster.poll() is None:
            handled = paid.filter(processed=True).count() + paid.filter(errored=True).count()
            progress.update(task, completed=handled)
            if handled == total:
                return True
            time.sleep(0.3)
    return False


if __name__ == "__main__":
    sys.exit(main())
