"""`atomic=False`: a task that runs outside its job's transaction (its writes commit at
once, on a connection of its own), on the databases with row locks."""

from __future__ import annotations

import pytest

from ash_oban_django.taskapi import TaskResultStatus
from ash_oban_django.testing import drain_queues
from tests.testapp import tasks
from tests.testapp.models import Widget

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.row_locks]


def test_not_atomic__writes_stay_when_the_attempt_fails() -> None:
    widget = Widget.objects.create()
    failed = tasks.outside_transaction.enqueue(widget.pk, True)
    succeeded = tasks.outside_transaction.enqueue(widget.pk, False)
    drain_queues()
    failed.refresh()
    succeeded.refresh()
    assert failed.status == TaskResultStatus.FAILED
    assert succeeded.status == TaskResultStatus.SUCCESSFUL
    assert succeeded.return_value == 2
    widget.refresh_from_db()
    assert widget.calls == 2  # the failed attempt's write was not rolled back
