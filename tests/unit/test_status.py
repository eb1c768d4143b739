"""What `ash_oban_status` shows (docs/operations.md), for the parts that need no database:
state labels and the declarations table. The counts are tested in
tests/integration/test_commands.py."""

from __future__ import annotations

from ash_oban_django import ScheduledAction, Trigger, register
from ash_oban_django.models import Job
from ash_oban_django.states import State
from ash_oban_django.status import (
    ON_ERROR_COMPLETED,
    STATE_LABELS,
    DanglingName,
    DeclarationRow,
    declarations_table,
    state_label,
)
from tests.testapp.models import Widget


def test_state_label__a_completion_by_on_error_is_shown_apart() -> None:
    assert state_label(Job(state=State.COMPLETED, meta={"on_error": "handled"})) == (
        ON_ERROR_COMPLETED
    )
    assert state_label(Job(state=State.COMPLETED, meta={})) == "completed"
    assert state_label(Job(state=State.DISCARDED, meta={"on_error": "handled"})) == "discarded"


def test_state_labels__every_state_in_order_with_on_error_after_completed() -> None:
    assert STATE_LABELS == (
        "available",
        "scheduled",
        "executing",
        "retryable",
        "completed",
        ON_ERROR_COMPLETED,
        "discarded",
        "cancelled",
    )


def test_declarations_table__a_row_per_declaration_sorted_by_label() -> None:
    with register(
        Widget,
        triggers=[Trigger("zap", scheduler_queue="plans"), Trigger("adhoc", scheduler_cron=None)],
        scheduled_actions=[ScheduledAction("nightly", "0 3 * * *", state="paused")],
    ):
        rows = [r for r in declarations_table() if r.label.startswith("testapp.Widget:")]
    assert rows == [
        DeclarationRow(
            label="testapp.Widget:adhoc",
            kind="trigger",
            cron=None,
            state="active",
            queue="testapp_widget_adhoc",
            scheduler_queue=None,
            worker_name="testapp.Widget:adhoc",
            scheduler_name=None,
        ),
        DeclarationRow(
            label="testapp.Widget:nightly",
            kind="scheduled action",
            cron="0 3 * * *",
            state="paused",
            queue="testapp_widget_nightly",
            scheduler_queue=None,
            worker_name="testapp.Widget:nightly",
            scheduler_name=None,
        ),
        DeclarationRow(
            label="testapp.Widget:zap",
            kind="trigger",
            cron="* * * * *",
            state="active",
            queue="testapp_widget_zap",
            scheduler_queue="plans",
            worker_name="testapp.Widget:zap",
            scheduler_name="testapp.Widget:zap:scheduler",
        ),
    ]


def test_dangling_name__names_the_option_the_renamed_declaration_needs() -> None:
    assert DanglingName("old:scheduler", "scheduler", 2).option == "scheduler_name"
    assert DanglingName("old", "trigger", 2).option == "worker_name"
    assert DanglingName("old", "action", 1).option == "worker_name"
