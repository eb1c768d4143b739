"""Every outcome of a worker job (docs/running.md), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.db.models import Q

from ash_oban_django import (
    Cancel,
    ScheduledAction,
    Snooze,
    Trigger,
    ledger,
    register,
    run_trigger,
    schedule,
)
from ash_oban_django.models import Job
from ash_oban_django.testing import drain_queues
from ash_oban_django.worker import perform
from ash_oban_django.worker.executor import AttemptFailed, failures_of_the_work
from ash_oban_django.worker.runners import TriggerRunner
from tests.integration.refusals import refusing_job_saves
from tests.testapp.models import Widget

pytestmark = pytest.mark.django_db


@pytest.fixture
def widget_trigger(request: pytest.FixtureRequest, ash_oban: Any) -> Iterator[Trigger]:
    options = dict(getattr(request, "param", {}))
    trigger = Trigger(
        "finish",
        where=Q(done=False, errored=False),
        scheduler_cron=None,
        worker_name="testapp.Widget:finish",
        **options,
    )
    with register(Widget, triggers=[trigger]):
        yield trigger


def run_once(widget: Widget, **options: Any) -> Job:
    job = run_trigger(widget, "finish", **options)
    drain_queues(with_recursion=False)
    job.refresh_from_db()
    return job


def test_worker__success_commits_the_action_and_completes(widget_trigger: Trigger) -> None:
    widget = Widget.objects.create()
    job = run_once(widget, action_arguments={"speed": 3})
    widget.refresh_from_db()
    assert (job.state, job.attempt, job.errors) == ("completed", 1, [])
    assert job.completed_at is not None
    assert widget.done and widget.calls == 1
    assert widget.note == "[('speed', 3)]"


@pytest.mark.parametrize(
    "widget_trigger",
    [{"action_input": {"speed": 1, "mode": "a"}, "read_metadata": lambda w: {"rank": w.rank}}],
    indirect=True,
)
def test_worker__inputs_precedence_is_action_input_then_arguments_then_metadata(
    widget_trigger: Trigger,
) -> None:
    widget = Widget.objects.create(rank=7)
    run_once(widget, action_arguments={"speed": 2})
    widget.refresh_from_db()
    assert widget.note == "[('metadata', {'rank': 7}), ('mode', 'a'), ('speed', 2)]"


def test_worker__row_no_longer_matching_is_cancelled(widget_trigger: Trigger) -> None:
    widget = Widget.objects.create()
    job = run_trigger(widget, "finish")
    Widget.objects.filter(pk=widget.pk).update(done=True)
    result = drain_queues()
    job.refresh_from_db()
    assert (result.cancelled, job.state, job.attempt) == (1, "cancelled", 1)
    assert "no longer applies" in job.meta["cancel_reason"]
    assert Widget.objects.get(pk=widget.pk).calls == 0


def test_worker__deleted_row_is_cancelled(widget_trigger: Trigger) -> None:
    widget = Widget.objects.create()
    job = run_trigger(widget, "finish")
    widget.delete()
    drain_queues()
    job.refresh_from_db()
    assert job.state == "cancelled" and job.errors == []


class Snoozing(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        self.calls += 1
        self.save()
        raise Snooze(30)


def test_worker__snooze_reschedules_without_using_an_attempt(ash_oban: Any) -> None:
    trigger = Trigger("finish", where=Q(done=False), scheduler_cron=None, max_attempts=2)
    with register(Snoozing, triggers=[trigger]):
        widget = Snoozing.objects.create()
        job = run_trigger(widget, "finish")
        result = drain_queues()
        job.refresh_from_db()
    assert result.snoozed == 1
    assert job.state == "scheduled"
    assert job.max_attempts - job.attempt == 2  # as before the attempt
    assert 25 < (job.scheduled_at - job.attempted_at).total_seconds() <= 31
    assert job.meta["snoozed"] == 1
    # The snoozed attempt's writes roll back with it.
    assert Widget.objects.get(pk=widget.pk).calls == 0


class SnoozingOnError(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        raise RuntimeError("payment declined")

    def mark_errored(self, *, error: BaseException) -> None:
        raise Snooze(30)


def test_worker__snooze_from_on_error_is_recorded_as_from_the_action(ash_oban: Any) -> None:
    """One way to record a snooze: the bookkeeping is the same whoever raised it."""
    snoozes = {}
    for model, on_error in ((Snoozing, None), (SnoozingOnError, "mark_errored")):
        trigger = Trigger("finish", where=Q(done=False), scheduler_cron=None, on_error=on_error)
        with register(model, triggers=[trigger]):
            job = run_trigger(model.objects.create(), "finish")
            result = drain_queues(with_recursion=False)
            job.refresh_from_db()
        assert result.snoozed == 1
        snoozes[model.__name__] = job
    action, handler = snoozes["Snoozing"], snoozes["SnoozingOnError"]
    for job in (action, handler):
        assert (job.state, job.attempt, job.meta) == ("scheduled", 0, {"snoozed": 1})
        assert 25 < (job.scheduled_at - job.attempted_at).total_seconds() <= 31
    assert action.errors == []
    # From on_error, the failure that led to it is kept.
    assert [e["error"] for e in handler.errors] == ["RuntimeError: payment declined"]


class Cancelling(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        self.calls += 1
        self.save()
        raise Cancel("customer asked")


def test_worker__cancel_cancels_and_rolls_back(ash_oban: Any) -> None:
    with register(Cancelling, triggers=[Trigger("finish", scheduler_cron=None)]):
        widget = Cancelling.objects.create()
        job = run_trigger(widget, "finish")
        assert drain_queues().cancelled == 1
        job.refresh_from_db()
    assert (job.state, job.meta["cancel_reason"], job.errors) == ("cancelled", "customer asked", [])
    assert Widget.objects.get(pk=widget.pk).calls == 0


class Failing(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        self.calls += 1
        self.save()
        raise RuntimeError(f"boom {self.pk}")

    def on_error_raises(self, *, error: BaseException) -> None:
        self.note = "written by on_error"
        self.save()
        raise ValueError("handler broke")


def failing(**options: Any) -> Any:
    options.setdefault("scheduler_cron", None)
    return register(Failing, triggers=[Trigger("finish", where=Q(errored=False), **options)])


def test_worker__failure_with_attempts_left_is_retryable_after_backoff(ash_oban: Any) -> None:
    with failing(max_attempts=3, backoff=40):
        widget = Failing.objects.create()
        job = run_trigger(widget, "finish")
        result = drain_queues()
        job.refresh_from_db()
    assert result.failure == 1
    assert (job.state, job.attempt) == ("retryable", 1)
    assert (job.scheduled_at - job.attempted_at).total_seconds() == pytest.approx(40, abs=1)
    assert [e["attempt"] for e in job.errors] == [1]
    assert job.errors[0]["error"] == f"RuntimeError: boom {widget.pk}"
    assert "Traceback" in job.errors[0]["traceback"]
    assert Widget.objects.get(pk=widget.pk).calls == 0  # rolled back


def test_worker__default_backoff_is_15_plus_2_pow_attempt_with_jitter(ash_oban: Any) -> None:
    with failing(max_attempts=2):
        job = run_trigger(Failing.objects.create(), "finish")
        drain_queues()
        job.refresh_from_db()
    delay = (job.scheduled_at - job.attempted_at).total_seconds()
    assert 17 - 0.5 <= delay <= 17 * 1.1 + 0.5


def test_worker__errors_accumulate_until_the_last_attempt_discards(ash_oban: Any) -> None:
    with failing(max_attempts=3, backoff=0):
        widget = Failing.objects.create()
        job = run_trigger(widget, "finish")
        result = drain_queues(with_scheduled=True)
        job.refresh_from_db()
    assert (result.failure, result.discard) == (2, 1)
    assert (job.state, job.attempt) == ("discarded", 3)
    assert [e["attempt"] for e in job.errors] == [1, 2, 3]
    assert job.discarded_at is not None


def test_worker__final_failure_calls_on_error_and_completes(ash_oban: Any) -> None:
    with failing(on_error="mark_errored"):
        widget = Failing.objects.create()
        job = run_trigger(widget, "finish")
        assert drain_queues().success == 1
        job.refresh_from_db()
    widget.refresh_from_db()
    assert (job.state, job.attempt) == ("completed", 1)
    assert [e["error"] for e in job.errors] == [f"RuntimeError: boom {widget.pk}"]
    assert widget.errored and widget.note == f"RuntimeError: boom {widget.pk}"
    assert widget.calls == 0


def test_worker__on_error_fails_job_leaves_it_discarded(ash_oban: Any) -> None:
    with failing(on_error="mark_errored", on_error_fails_job=True):
        widget = Failing.objects.create()
        job = run_trigger(widget, "finish")
        assert drain_queues().discard == 1
        job.refresh_from_db()
    assert job.state == "discarded"
    assert Widget.objects.get(pk=widget.pk).errored  # on_error's writes are kept


def test_worker__failing_on_error_is_rolled_back_and_both_errors_recorded(ash_oban: Any) -> None:
    with failing(on_error="on_error_raises"):
        widget = Failing.objects.create()
        job = run_trigger(widget, "finish")
        drain_queues()
        job.refresh_from_db()
    assert job.state == "discarded"
    assert [e["error"] for e in job.errors] == [
        f"RuntimeError: boom {widget.pk}",
        "ValueError: handler broke",
    ]
    assert Widget.objects.get(pk=widget.pk).note == ""


class Slow(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        import time

        self.calls += 1
        self.save()
        time.sleep(0.5)


def test_worker__timeout_fails_the_attempt_and_reaches_on_error(ash_oban: Any) -> None:
    trigger = Trigger(
        "finish", where=Q(errored=False), scheduler_cron=None, timeout=0.1, on_error="mark_errored"
    )
    with register(Slow, triggers=[trigger]):
        widget = Slow.objects.create()
        job = run_trigger(widget, "finish")
        drain_queues()
        job.refresh_from_db()
    widget.refresh_from_db()
    assert job.state == "completed"
    assert job.errors[0]["error"].startswith("JobTimeout: the attempt ran longer than its timeout")
    assert widget.calls == 0 and widget.errored


@pytest.mark.parametrize("widget_trigger", [{"permission": "testapp.change_widget"}], indirect=True)
def test_worker__permission_denied_for_actor_fails_the_attempt(widget_trigger: Trigger) -> None:
    actor = User.objects.create_user("alice")
    widget = Widget.objects.create()
    job = run_once(widget, actor=actor)
    assert job.state == "discarded"
    assert job.errors[0]["error"].startswith("PermissionDenied: alice lacks the permission")
    assert job.args["actor"] == {"pk": actor.pk}

    actor.user_permissions.add(Permission.objects.get(codename="change_widget"))
    allowed = User.objects.get(pk=actor.pk)  # fresh permission cache
    job = run_once(widget, actor=allowed)
    assert job.state == "completed"


def test_worker__delete_action_deletes_the_row(ash_oban: Any) -> None:
    with register(
        Widget,
        triggers=[Trigger("purge", action="delete", where=Q(done=True), scheduler_cron=None)],
    ):
        widget = Widget.objects.create(done=True)
        job = run_trigger(widget, "purge")
        drain_queues()
        job.refresh_from_db()
    assert job.state == "completed"
    assert not Widget.objects.filter(pk=widget.pk).exists()


def test_worker__unknown_stable_name_is_discarded_with_a_fix(
    ash_oban: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with register(Widget, triggers=[Trigger("old_name", scheduler_cron=None, action="finish")]):
        job = run_trigger(Widget.objects.create(), "old_name")
    with caplog.at_level(logging.ERROR, "ash_oban_django"):
        result = drain_queues()
    job.refresh_from_db()
    assert (result.discard, job.state) == (1, "discarded")
    message = job.errors[0]["error"]
    assert "stable name 'testapp.Widget:old_name'" in message
    assert "worker_name='testapp.Widget:old_name'" in message
    assert "testapp.Widget:old_name" in caplog.text


def test_worker__paused_trigger_job_is_cancelled_when_it_runs(ash_oban: Any) -> None:
    with register(Widget, triggers=[Trigger("finish", scheduler_cron=None, state="paused")]):
        widget = Widget.objects.create()
        job = run_trigger(widget, "finish")
        assert job.state == "available"
        drain_queues()
        job.refresh_from_db()
    assert job.state == "cancelled" and "paused" in job.meta["cancel_reason"]
    assert Widget.objects.get(pk=widget.pk).calls == 0


def test_worker__errors_are_logged_per_flags(
    ash_oban: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        failing(max_attempts=2, backoff=30, log_errors=False, log_final_error=True),
        caplog.at_level(logging.WARNING, "ash_oban_django"),
    ):
        widget = Failing.objects.create()
        run_trigger(widget, "finish")
        drain_queues()
        assert caplog.records == []
        drain_queues(with_scheduled=True)
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "Final error on attempt 2 of testapp.Failing:finish" in caplog.text
    assert f"boom {widget.pk}" in caplog.text


def test_current_job__lets_a_permission_backend_allow_work_done_in_a_job(ash_oban: Any) -> None:
    actor = User.objects.create_user("bob")
    widget = Widget.objects.create()
    assert not actor.has_perm("testapp.purge_widget", widget)  # outside a job
    trigger = Trigger("finish", scheduler_cron=None, permission="testapp.purge_widget")
    with register(Widget, triggers=[trigger]):
        job = run_trigger(widget, "finish", actor=actor)
        drain_queues()
    job.refresh_from_db()
    assert job.state == "completed"
    assert Widget.objects.get(pk=widget.pk).done


def test_debug__logs_each_step_for_a_debug_trigger(
    ash_oban: Any, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    widget = Widget.objects.create()
    with register(Widget, triggers=[Trigger("finish", where=Q(done=False), debug=True)]):
        from ash_oban_django import schedule_and_run_triggers

        with caplog.at_level(logging.DEBUG, "ash_oban_django"):
            schedule_and_run_triggers(Widget, drain_queues=True)
    assert f"Trigger testapp.Widget:finish triggered for pk={widget.pk}" in caplog.text
    assert "1 rows matched, 1 jobs inserted, 0 duplicates skipped" in caplog.text
    caplog.clear()
    settings.ASH_OBAN = {**settings.ASH_OBAN, "DEBUG_ALL_TRIGGERS": True}
    other = Widget.objects.create()
    with (
        register(Widget, triggers=[Trigger("finish", where=Q(done=False))]),
        caplog.at_level(logging.DEBUG, "ash_oban_django"),
    ):
        run_trigger(other, "finish")
        drain_queues()
    assert f"triggered for pk={other.pk}" in caplog.text


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


HUGE = 5_000_000
# What each case's action raises: a message jsonb refuses (NUL), a `__str__` that raises, a
# message far past the bound.
RAISED = {
    "nul": lambda: RuntimeError("before\x00after"),
    "unprintable": Unprintable,
    "huge": lambda: RuntimeError("HEAD" + "x" * HUGE + "TAIL"),
}
received: list[BaseException] = []


class RaisingOddly(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, *, case: str, **inputs: Any) -> None:
        raise RAISED[case]()

    def remember(self, *, error: BaseException) -> None:
        received.append(error)
        self.errored = True
        self.save()


@pytest.mark.parametrize("case", list(RAISED))
@pytest.mark.parametrize(
    ("options", "state"),
    [({"max_attempts": 2}, "retryable"), ({"on_error": "remember"}, "completed")],
    ids=["attempts_left", "final"],
)
def test_worker__an_error_of_any_content_is_recorded_bounded_at_once(
    ash_oban: Any, case: str, options: dict[str, Any], state: str
) -> None:
    from ash_oban_django.ledger.rows import ERROR_MESSAGE_LIMIT, ERROR_TRACEBACK_LIMIT

    received.clear()
    trigger = Trigger(
        "finish",
        where=Q(errored=False),
        scheduler_cron=None,
        action_input={"case": case},
        **options,
    )
    with register(RaisingOddly, triggers=[trigger]):
        job = run_trigger(RaisingOddly.objects.create(), "finish")
        drain_queues()
    job.refresh_from_db()
    assert (job.state, job.attempt) == (state, 1)
    (entry,) = job.errors
    assert len(entry["error"]) <= ERROR_MESSAGE_LIMIT
    assert len(entry["traceback"]) <= ERROR_TRACEBACK_LIMIT
    assert not any("\x00" in text for text in (entry["error"], entry["traceback"]))
    expected = {
        "nul": "RuntimeError: before\ufffdafter",
        "unprintable": "Unprintable: <unprintable Unprintable: __str__ raised RuntimeError: "
        "no text for you>",
    }
    if case == "huge":
        size = len("RuntimeError: HEAD") + HUGE + len("TAIL")
        assert entry["error"].startswith("RuntimeError: HEADxxx")
        assert entry["error"].endswith("xxxTAIL")
        assert f"characters cut of {size} ...]" in entry["error"]
        assert "TAIL" in entry["traceback"][-100:]
    else:
        assert entry["error"] == expected[case]
    if state == "completed":  # on_error saw the real error, not a rescue's
        assert [type(e) for e in received] == [type(RAISED[case]())]


@pytest.fixture
def refuse_errors_saying() -> Iterator[str]:
    """The database refuses every job save whose `errors` hold this text."""
    text = "the database refuses this"
    with refusing_job_saves(lambda job: any(text in e["error"] for e in job.errors)):
        yield text


@pytest.mark.parametrize(
    ("options", "state"),
    [({"max_attempts": 2}, "retryable"), ({"on_error": "remember"}, "completed")],
    ids=["attempts_left", "final"],
)
def test_worker__an_outcome_the_database_refuses_is_recorded_with_a_stand_in(
    ash_oban: Any,
    refuse_errors_saying: str,
    options: dict[str, Any],
    state: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    received.clear()
    RAISED["refused"] = lambda: RuntimeError(refuse_errors_saying)
    trigger = Trigger(
        "finish",
        where=Q(errored=False),
        scheduler_cron=None,
        action_input={"case": "refused"},
        **options,
    )
    try:
        with register(RaisingOddly, triggers=[trigger]), caplog.at_level(logging.ERROR):
            widget = RaisingOddly.objects.create()
            job = run_trigger(widget, "finish")
            drain_queues()
    finally:
        del RAISED["refused"]
    job.refresh_from_db()
    assert (job.state, job.attempt) == (state, 1)
    assert [e["error"] for e in job.errors] == [
        "ErrorNotRecorded: RuntimeError (recording it failed: DataError)"
    ]
    assert f"Could not record the outcome of job {job.pk}" in caplog.text
    if state == "completed":  # on_error saw the real error, and its writes are kept
        assert [str(e) for e in received] == [refuse_errors_saying]
        assert Widget.objects.get(pk=widget.pk).errored


# A statement that blocks for 10 seconds, and how to read the statement time limit, per
# database that can bound statements.
SLEEP = {"postgresql": "SELECT pg_sleep(10)", "mysql": "SELECT SLEEP(10)"}
STATEMENT_LIMIT = {
    "postgresql": ("SHOW statement_timeout", ("0",)),
    "mysql": ("SELECT @@SESSION.max_statement_time", (0.0,)),
}


class SlowQuery(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(SLEEP[connection.vendor])


@pytest.mark.row_locks
def test_worker__timeout_bounds_a_blocking_statement(ash_oban: Any) -> None:
    """The database cancels a statement still running at the deadline: the attempt, and the
    lock on the job's row, end on time (PostgreSQL's statement_timeout, MariaDB's
    max_statement_time)."""
    if connection.vendor == "mysql" and not connection.mysql_is_mariadb:
        pytest.skip("MySQL bounds only SELECTs, and SLEEP() returns 1 when interrupted")
    trigger = Trigger("finish", where=Q(errored=False), scheduler_cron=None, timeout=1)
    with register(SlowQuery, triggers=[trigger]):
        job = run_trigger(SlowQuery.objects.create(), "finish")
        started = time.monotonic()
        drain_queues()
        elapsed = time.monotonic() - started
        job.refresh_from_db()
    assert elapsed < 4, f"the attempt took {elapsed:.1f}s with timeout=1"
    assert job.state == "discarded"
    assert job.errors[0]["error"].startswith("JobTimeout: the attempt ran longer than its timeout")
    read_limit, unbounded = STATEMENT_LIMIT[connection.vendor]
    with connection.cursor() as cursor:  # the bound was lifted with the attempt
        cursor.execute(read_limit)
        assert cursor.fetchone() == unbounded


class Async(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    async def finish(self, **inputs: Any) -> None:
        self.done = True
        self.calls += 1
        await self.asave()
        if inputs.get("fail"):
            raise RuntimeError("failed after its write")

    async def mark_errored(self, *, error: BaseException) -> None:
        self.errored = True
        self.note = f"async on_error: {error}"
        await self.asave()

    @classmethod
    async def nightly(cls, **inputs: Any) -> None:
        await cls.objects.acreate(name="async nightly")


def test_worker__async_action_runs_inside_the_attempt(ash_oban: Any) -> None:
    """An `async def` action is awaited, its writes in the attempt's transaction: they
    commit with the job, and roll back when the action fails after them."""
    trigger = Trigger("finish", where=Q(done=False), scheduler_cron=None, on_error="mark_errored")
    with register(Async, triggers=[trigger]):
        ok, failing = Async.objects.create(), Async.objects.create()
        done = run_trigger(ok, "finish")
        failed = run_trigger(failing, "finish", action_arguments={"fail": True})
        result = drain_queues()
        done.refresh_from_db()
        failed.refresh_from_db()
    ok.refresh_from_db()
    failing.refresh_from_db()
    assert result.success == 2
    assert (done.state, ok.done, ok.calls) == ("completed", True, 1)
    # The failed attempt's write rolled back; the async on_error ran and committed.
    assert (failed.state, failed.meta.get("on_error")) == ("completed", "handled")
    assert (failing.done, failing.calls, failing.errored) == (False, 0, True)
    assert failing.note == "async on_error: failed after its write"


def test_worker__async_scheduled_action_is_awaited(ash_oban: Any) -> None:
    with register(Async, scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")]):
        schedule(Async, "nightly")
        result = drain_queues()
    assert result.success == 1
    assert Widget.objects.filter(name="async nightly").count() == 1


@pytest.mark.django_db(databases=[])
def test_failures_of_the_work__blame_only_what_runs_after_the_runner_is_known() -> None:
    # Before the runner is known, an error is the package's own: raised as it is (the job
    # stays executing and is rescued).
    with pytest.raises(KeyError), failures_of_the_work():
        raise KeyError("ledger")
    # Once the work runs, what it raises is the attempt's outcome.
    job = Job(name="testapp.Widget:finish", kind="trigger")
    runner = TriggerRunner(job, object())  # type: ignore[arg-type]
    with pytest.raises(AttemptFailed) as failed, failures_of_the_work() as work:
        work.runner = runner
        raise ValueError("action")
    assert failed.value.runner is runner
    assert repr(failed.value.error) == "ValueError('action')"


# How the attempt's transaction reads its idle bound, per database that has one.
IDLE_BOUND = {
    "postgresql": "SHOW idle_in_transaction_session_timeout",
    "mysql": "SELECT @@SESSION.idle_transaction_timeout",
}


class ReadsItsBound(Widget):
    class Meta:
        proxy = True
        app_label = "testapp"

    def finish(self, **inputs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(IDLE_BOUND[connection.vendor])
            self.note = str(cursor.fetchone()[0])
        self.save(update_fields=["note"])


@pytest.mark.row_locks
@pytest.mark.parametrize(
    ("timeout", "default_timeout", "bound"),
    [(3, None, "5s"), (3, 300, "5s"), (None, 300, "302s"), (None, None, "0")],
)
def test_perform__the_attempts_transaction_is_bounded_by_its_timeout_plus_the_margin(
    ash_oban: Any,
    settings: Any,
    timeout: int | None,
    default_timeout: int | None,
    bound: str,
) -> None:
    """The bound is the declaration's timeout, else the cluster's (`default_timeout`), plus
    `ATTEMPT_MARGIN`; none without either."""
    if connection.vendor == "mysql" and not connection.mysql_is_mariadb:
        pytest.skip("MySQL bounds the session's idleness with wait_timeout")
    settings.ASH_OBAN = {**settings.ASH_OBAN, "ATTEMPT_MARGIN": 2}
    trigger = Trigger("finish", scheduler_cron=None, timeout=timeout)
    with register(ReadsItsBound, triggers=[trigger]):
        widget = ReadsItsBound.objects.create()
        job = run_trigger(widget, "finish")
        (claimed,) = ledger.engine().claim(job.queue, 1)
        assert perform(claimed, default_timeout=default_timeout).state == "completed"
    widget.refresh_from_db()
    expected = bound if connection.vendor == "postgresql" else bound.rstrip("s")
    assert widget.note == expected
