"""Lifecycle signals (`ash_oban_django.signals`) sent once a change commits.

The ledger's verbs and bulk operations, and the executor's recording of outcomes, send
through here: each change is sent once, by the code that makes it, and only if its
transaction commits (a rolled-back change sends nothing).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from ..models import Job


def after_commit(signal: Signal, sender: Any, using: str, **arguments: Any) -> None:
    """Send `signal` once the current transaction on `using` commits (at once in
    autocommit)."""
    transaction.on_commit(partial(signal.send_robust, sender, **arguments), using=using)


def jobs_after_commit(signal: Signal, jobs: Iterable[Job], using: str, **arguments: Any) -> None:
    """Send `signal` once per job once the transaction commits, with a copy of each job as
    it is now (the caller may go on changing the object)."""
    if not signal.has_listeners(Job):
        return
    frozen = [copy.copy(job) for job in jobs]
    if frozen:
        transaction.on_commit(partial(_send_each, signal, frozen, arguments), using=using)


def _send_each(signal: Signal, jobs: list[Job], arguments: dict[str, Any]) -> None:
    for job in jobs:
        signal.send_robust(Job, job=job, **arguments)
