"""The jobs a declaration inserts, built but not saved (docs/running.md): what each holds.
Inserting them is tested in tests/integration/enqueue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ash_oban_django import ScheduledAction, Trigger
from ash_oban_django.enqueue.jobs import (
    UnstorableValue,
    cron_job,
    job_row,
    of_record,
    tenant_jobs,
    worker_job,
)
from ash_oban_django.models import ALL_TENANTS
from ash_oban_django.registry import ModelOptions, RegisteredAction, RegisteredTrigger
from ash_oban_django.states import Kind
from tests.testapp.models import Widget

SLOT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def trigger(options: ModelOptions | None = None, **declared: Any) -> RegisteredTrigger:
    return RegisteredTrigger(Widget, Trigger("finish", **declared), options or ModelOptions(), "t")


def action(**declared: Any) -> RegisteredAction:
    return RegisteredAction(
        Widget, ScheduledAction("nightly", "0 3 * * *", **declared), ModelOptions(), "t"
    )


def test_job_row__our_keys_win_over_extra_args_which_win_over_extra() -> None:
    entry = trigger(
        extra_args=lambda record: {"name": record.name},
        read_metadata=lambda record: {"rank": record.rank},
    )
    row = job_row(
        entry,
        Widget(pk=3, name="w", rank=2),
        None,
        {"pk": 1},
        action_arguments={"rush": True},
        extra={"extra_args": "from extra", "cron_slot": "x"},
    )
    assert row["args"] == {
        "cron_slot": "x",
        "extra_args": {"name": "w"},
        "action_arguments": {"rush": True},
        "metadata": {"rank": 2},
        "actor": {"pk": 1},
    }
    assert (row["kind"], row["name"], row["object_pk"]) == (
        Kind.TRIGGER,
        "testapp.Widget:finish",
        "3",
    )


def test_job_row__a_values_row_gives_its_pk_and_no_per_record_values() -> None:
    entry = trigger(extra_args=lambda record: {"never": "called"})
    row = job_row(entry, ("sort value", 42), None, None)
    assert row["object_pk"] == "42"
    assert row["args"] == {}


def test_job_row__the_declaration_s_defaults_and_the_options_over_them() -> None:
    entry = trigger(worker_priority=4, max_attempts=3, tags=("a",))
    plain = job_row(entry, Widget(pk=1), None, None)
    assert (plain["queue"], plain["priority"], plain["max_attempts"], plain["tags"]) == (
        "testapp_widget_finish",
        4,
        3,
        ["a"],
    )
    assert plain["scheduled_at"] == plain["inserted_at"]
    later = datetime(2030, 1, 1, tzinfo=UTC)
    given = job_row(
        entry,
        Widget(pk=1),
        None,
        None,
        queue="rush",
        priority=0,
        max_attempts=9,
        tags=["b"],
        scheduled_at=later,
    )
    assert (given["queue"], given["priority"], given["max_attempts"], given["tags"]) == (
        "rush",
        0,
        9,
        ["a", "b"],
    )
    assert given["scheduled_at"] == later


def test_job_row__the_tenant_comes_from_the_record_when_asked() -> None:
    entry = trigger(ModelOptions(tenant_field="tenant"), use_tenant_from_record=True)
    assert job_row(entry, Widget(pk=1, tenant="north"), None, None)["tenant"] == "north"
    assert job_row(entry, Widget(pk=1, tenant="north"), "south", None)["tenant"] == "south"
    assert job_row(trigger(), Widget(pk=1, tenant="north"), None, None)["tenant"] is None


def test_job_row__a_trigger_once_job_is_marked_once() -> None:
    assert job_row(trigger(trigger_once=True), Widget(pk=1), None, None)["once"] is True
    assert job_row(trigger(), Widget(pk=1), None, None)["once"] is False


def test_of_record__a_value_that_cannot_be_stored_names_the_option() -> None:
    with pytest.raises(UnstorableValue, match=r"read_metadata\(record\)\['at'\] is object"):
        of_record("read_metadata", lambda record: {"at": object()}, Widget(pk=1))
    assert of_record("extra_args", lambda record: {"pk": record.pk}, Widget(pk=1)) == {"pk": 1}


def test_worker_job__is_unsaved() -> None:
    job = worker_job(trigger(), Widget(pk=5), None, None)
    assert job.pk is None and job._state.adding
    assert job.object_pk == "5"


def test_cron_job__of_a_trigger_is_its_scheduler_job_for_every_tenant() -> None:
    entry = trigger(scheduler_queue="plans", scheduler_priority=1, max_scheduler_attempts=2)
    job = cron_job(entry, stored_actor={"pk": 1}, slot=SLOT)
    assert (job.kind, job.name, job.queue, job.priority, job.max_attempts) == (
        Kind.SCHEDULER,
        "testapp.Widget:finish:scheduler",
        "plans",
        1,
        2,
    )
    assert job.args == {"actor": {"pk": 1}, "cron_slot": "2026-01-05T09:00:00+00:00"}
    assert (job.tenant, job.tenant_key) == (None, ALL_TENANTS)
    assert job.once is True  # a slot runs once, even after it completed


def test_cron_job__without_a_slot_is_not_once() -> None:
    job = cron_job(trigger())
    assert job.args == {} and job.once is False


def test_cron_job__of_a_scheduled_action_carries_its_arguments() -> None:
    job = cron_job(action(priority=5, max_attempts=4, tags=("x",)), action_arguments={"n": 1})
    assert (job.kind, job.name, job.queue, job.priority, job.max_attempts, job.tags) == (
        Kind.ACTION,
        "testapp.Widget:nightly",
        "testapp_widget_nightly",
        5,
        4,
        ["x"],
    )
    assert job.args == {"action_arguments": {"n": 1}}


def test_cron_job__a_trigger_without_a_scheduler_says_to_use_run_trigger() -> None:
    with pytest.raises(ValueError, match=r"has no scheduler .* use run_trigger\(\)"):
        cron_job(trigger(scheduler_cron=None))


def test_tenant_jobs__one_job_per_tenant_otherwise_the_same() -> None:
    job = cron_job(action(tags=("x",)), action_arguments={"n": 1})
    split = tenant_jobs(job, ["north", {"id": 2}])
    assert [j.tenant for j in split] == ["north", {"id": 2}]
    assert len({j.tenant_key for j in split}) == 2
    for one in split:
        assert (one.kind, one.name, one.queue, one.args, one.tags, one.once) == (
            job.kind,
            job.name,
            job.queue,
            job.args,
            job.tags,
            job.once,
        )
