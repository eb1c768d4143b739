"""The dashboard in a real browser (docs/dashboard.md): Playwright drives Debian's Chromium
against the live test server while a real qcluster runs the jobs.

`make chromium` installs the browser when it is missing (root only); Playwright cannot
download its own here. Set `SCREENSHOT_DIR=docs/img` to refresh the docs' screenshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connections
from django.utils import timezone

from ash_oban_django import ledger, run_triggers
from ash_oban_django.models import Job, Peer
from tests.e2e.conftest import ROOT, Cluster, wait_until
from tests.e2eapp.models import Ticket

pytestmark = [pytest.mark.row_locks, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUEUE = "e2eapp_ticket_mark"  # the `mark` trigger's queue; it has no cron
SHOWN = "shown"  # a queue of jobs in every state, for the counts


def chromium() -> Path:
    """Debian's Chromium, installed by `make chromium` when missing; skips when it cannot be."""
    if not CHROMIUM.exists() and shutil.which("make"):
        subprocess.run(["make", "--no-print-directory", "chromium"], cwd=ROOT, check=False)
    if not CHROMIUM.exists():
        pytest.skip("Chromium is missing and `make chromium` could not install it (not root?)")
    return CHROMIUM


@pytest.fixture
def browser_page(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    # Playwright's sync API runs an event loop in this thread; the test's ORM calls are
    # still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1180, "height": 900})
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            browser.close()
            # ORM calls made while Playwright runs see a connection of their own (its
            # greenlet's context): close it, or the test database could not be dropped.
            connections.close_all()


def make(state: str, object_pk: str = "1", **fields: Any) -> Job:
    at = ledger.now()
    return Job.objects.create(
        object_pk=object_pk,
        kind="trigger",
        name=f"shop.Shown:{state}",
        queue=SHOWN,
        state=state,
        inserted_at=at,
        scheduled_at=at + timedelta(hours=1) if state in ("scheduled", "retryable") else at,
        **fields,
    )


def cell(page: Any, queue: str, column: str) -> str:
    return str(page.locator(f'tr[data-queue="{queue}"] td.{column}').inner_text()).strip()


def test_dashboard__in_chromium_counts_chart_pause_and_resume_a_running_cluster(
    browser_page: Any,
    live_server: Any,
    start_cluster: Callable[..., Cluster],
    tmp_path: Path,
) -> None:
    page = browser_page
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    now = ledger.now()
    for pk in "123":
        make("available", pk)
    make("scheduled")
    make("executing", attempted_at=now, attempted_by="elsewhere:1")
    make("retryable", attempted_at=now, errors=[{"attempt": 1, "error": "ValueError: late"}])
    make("completed", completed_at=now - timedelta(minutes=2))
    make("discarded", discarded_at=now, errors=[{"attempt": 1, "error": "KeyError: 'sku'"}])

    # The admin's stylesheets load: staticfiles serves them.
    css: list[int] = []
    page.on("response", lambda r: css.append(r.status) if r.url.endswith("/base.css") else None)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/ash_oban_django/job/dashboard/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#queues")
    assert css and set(css) == {200}, css
    header = page.evaluate("getComputedStyle(document.getElementById('header')).backgroundColor")
    assert header not in ("rgba(0, 0, 0, 0)", "transparent"), header  # styled, not bare HTML

    counts = {c: cell(page, SHOWN, c) for c in ("available", "scheduled", "executing", "retryable")}
    assert counts == {"available": "3", "scheduled": "1", "executing": "1", "retryable": "1"}
    assert page.locator("svg.ash-oban-chart").first.get_attribute("aria-label") == (
        "1 completed, 2 failed in the last hour"
    )
    assert page.locator("svg.ash-oban-chart rect.completed").count() >= 1
    assert page.locator("svg.ash-oban-chart rect.failed").count() >= 1
    Job.objects.filter(queue=SHOWN, state="available").delete()  # not for the cluster

    # A running cluster: it runs the queue's jobs...
    tickets = [Ticket.objects.create() for _ in range(6)]
    cluster = start_cluster(E2E_NO_CRON="1")
    wait_until(lambda: Peer.objects.exists(), 30, "a leader", [cluster])
    run_triggers(tickets[:1], "mark")
    wait_until(lambda: Ticket.objects.filter(processed=True).count() == 1, 20, "a run", [cluster])

    # ...until the button pauses it: no claim from then on.
    page.reload()
    page.locator(f'tr[data-queue="{QUEUE}"] button[value="pause"]').click()
    page.wait_for_selector("text=Queue e2eapp_ticket_mark paused.")
    assert cell(page, QUEUE, "state") == "paused"
    run_triggers(tickets[1:], "mark")
    waiting = Job.objects.filter(queue=QUEUE, state="available")
    wait_until(lambda: waiting.count() == 5, 5, "the jobs to wait", [cluster])
    page.wait_for_timeout(4_000)  # several leader passes and wakes
    assert Job.objects.filter(queue=QUEUE, attempted_at__isnull=False).count() == 1
    assert Ticket.objects.filter(processed=True).count() == 1
    page.reload()
    assert cell(page, QUEUE, "available") == "5"

    # Resumed, the cluster runs the jobs that waited.
    page.locator(f'tr[data-queue="{QUEUE}"] button[value="resume"]').click()
    page.wait_for_selector("text=Queue e2eapp_ticket_mark resumed.")
    wait_until(lambda: Ticket.objects.filter(processed=True).count() == 6, 20, "resume", [cluster])
    page.reload()
    assert cell(page, QUEUE, "available") == "0"
    assert cell(page, QUEUE, "state") == "running"
    assert Job.objects.filter(queue=QUEUE, state="completed").count() == 6
    assert timezone.now() - ledger.now() < timedelta(seconds=1)

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SCREENSHOT_DIR"):
        target = ROOT / os.environ["SCREENSHOT_DIR"] / "dashboard.png"
        shutil.copyfile(shot, target)


def log_in(page: Any, live_server: Any, username: str, next_url: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")


def test_dashboard__in_chromium_search_by_an_error_word_and_bulk_retry_on_a_running_cluster(
    browser_page: Any,
    live_server: Any,
    start_cluster: Callable[..., Cluster],
) -> None:
    page = browser_page
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    tickets = [Ticket.objects.create() for _ in range(4)]
    jobs = run_triggers(tickets, "mark")
    # They failed during an outage; one failed for another reason.
    failed, other = jobs[:3], jobs[3]
    at = ledger.now()
    Job.objects.filter(pk__in=[j.pk for j in failed]).update(
        state="discarded",
        attempt=1,
        discarded_at=at,
        errors=[{"attempt": 1, "error": "ConnectionError: quokka gateway unreachable"}],
    )
    Job.objects.filter(pk=other.pk).update(
        state="discarded",
        attempt=1,
        discarded_at=at,
        errors=[{"attempt": 1, "error": "ValueError: bad sku"}],
    )
    cluster = start_cluster(E2E_NO_CRON="1")
    wait_until(lambda: Peer.objects.exists(), 30, "a leader", [cluster])

    # Without change_job: the search finds them, but there is no bulk action, and a POST
    # made anyway (with a valid CSRF token) is refused.
    viewing = page.context.browser.new_page()
    try:
        log_in(viewing, live_server, "viewer", "/admin/ash_oban_django/job/dashboard/")
        viewing.fill("#search input[name=q]", "quokka")
        viewing.click("#search button[type=submit]")
        viewing.wait_for_selector("#search-results")
        assert viewing.locator("#search-results tr[data-job]").count() == 3
        assert viewing.locator("#bulk").count() == 0
        token = next(c["value"] for c in viewing.context.cookies() if c["name"] == "csrftoken")
        refused = viewing.request.post(
            f"{live_server.url}/admin/ash_oban_django/job/dashboard/search/bulk/",
            form={
                "csrfmiddlewaretoken": token,
                "q": "quokka",
                "state": "",
                "action": "retry",
                "confirm": "1",
            },
            headers={"Referer": f"{live_server.url}/admin/"},
        )
        assert refused.status == 403
    finally:
        viewing.context.close()
    assert set(Job.objects.filter(name="e2eapp.Ticket:mark").values_list("state", flat=True)) == {
        "discarded"
    }

    # With it: search by a word of the error, confirm the count, and the cluster runs them.
    log_in(page, live_server, "admin", "/admin/ash_oban_django/job/dashboard/")
    page.fill("#search input[name=q]", "quokka")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#search-results")
    rows = page.locator("#search-results tr[data-job]")
    assert sorted(int(rows.nth(i).get_attribute("data-job")) for i in range(3)) == sorted(
        j.pk for j in failed
    )
    assert {rows.nth(i).locator("td.state").inner_text() for i in range(3)} == {"discarded"}
    link = rows.first.locator("a").get_attribute("href")
    assert link.endswith(
        f"/admin/ash_oban_django/job/{rows.first.get_attribute('data-job')}/change/"
    )
    page.click("#bulk button[value=retry]")
    page.wait_for_selector("#bulk-confirm")
    assert page.locator("#bulk-count").inner_text() == "3"
    page.click("#bulk-confirm button[type=submit]")
    page.wait_for_selector("text=3 jobs retried.")
    wait_until(
        lambda: Ticket.objects.filter(processed=True).count() == 3,
        20,
        "the retried jobs",
        [cluster],
    )
    assert {(j.state, j.attempt) for j in Job.objects.filter(pk__in=[j.pk for j in failed])} == {
        ("completed", 2)
    }
    assert Job.objects.get(pk=other.pk).state == "discarded"
    assert not Ticket.objects.get(pk=tickets[3].pk).processed
