"""Testing modes: jobs run where a test inserts them, not on a cluster.

`ASH_OBAN["TESTING"]` (or `testing.inline()` for a block) picks one:

- `"inline"`: a job runs in the inserting process as soon as its insert commits. A job
  inserted outside any transaction runs before the insert returns; one inserted inside a
  transaction runs once it commits, and not at all when it rolls back. A test case's own
  transaction (Django's `TestCase`, pytest-django's `db`), which never commits, counts as
  committed: what the code under test commits runs. Jobs due later wait, as retries do,
  for `drain_queues(with_scheduled=True)`. Jobs a job inserts run after it, in order.
- `"manual"`: jobs stay in the ledger until a test drains them.

In both modes nothing is handed to django-q2 (`dispatch.wake` asks `mode()`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, transaction

from .. import ledger
from ..conf import settings
from ..models import Job
from ..states import State
from .drain import attempt_now

# A test case's transaction, by the savepoint ids of its blocks; None outside one.
Test = tuple[str | None, ...] | None

INLINE = "inline"
MANUAL = "manual"
MODES = (INLINE, MANUAL)

# The modes `testing_mode()` blocks set, innermost last; they win over the setting.
_overrides: list[str | None] = []
# Jobs inserted in inline mode that have not run yet: (id, the test they belong to).
_pending: list[tuple[int, Test]] = []
_running = False


def mode() -> str | None:
    """The testing mode in force: the innermost `testing_mode()` block's, else the
    setting's; None when jobs go to django-q2 as usual."""
    return _overrides[-1] if _overrides else settings.TESTING


@contextmanager
def testing_mode(value: str | None) -> Iterator[None]:
    """Use testing mode `value` inside the block (None: the usual hand-off to django-q2);
    in inline mode, the jobs left waiting for a commit that happened run as the block ends."""
    if value is not None and value not in MODES:
        raise ValueError(f"`mode` must be one of {MODES} or None, got {value!r}")
    _overrides.append(value)
    try:
        yield
    finally:
        _overrides.pop()
    if value == INLINE:
        run_pending()


def _test_transaction(alias: str) -> Test:
    """Which test case's transaction the connection is in (None: none), by the savepoints
    of its blocks, which a connection never names twice: jobs left waiting by one test never
    run in the next, even where the next reuses their ids (SQLite rolls its sequences back
    with the test)."""
    connection = connections[alias]
    blocks = 0
    for block in connection.atomic_blocks:
        if not getattr(block, "_from_testcase", False):
            break
        blocks += 1
    # The outermost block is the transaction; each one inside it pushed a savepoint id.
    return tuple(connection.savepoint_ids[: blocks - 1]) if blocks else None


def _committed(alias: str) -> bool:
    """No transaction is open on the connection but a test case's own."""
    connection = connections[alias]
    return not connection.in_atomic_block or all(
        getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    )


@contextmanager
def capturing() -> Iterator[list[Job]]:
    """A list that receives every job inserted inside the block, as it was inserted (a
    duplicate that was not inserted is not in it)."""
    captured: list[Job] = []
    _captures.append(captured)
    try:
        yield captured
    finally:
        _captures.remove(captured)


# The lists of the open `capturing()` blocks.
_captures: list[list[Job]] = []


def on_jobs_inserted(sender: Any, *, ids: list[int], **kwargs: Any) -> None:
    """`ledger.jobs_inserted` receiver: hand the new jobs to the open `capturing()` blocks,
    then, in inline mode, run them once their insert commits."""
    if _captures:
        jobs = list(ledger.jobs().filter(pk__in=ids).order_by("id"))
        for captured in _captures:
            captured.extend(jobs)
    if mode() != INLINE:
        return
    alias = ledger.database()
    _pending.extend((pk, _test_transaction(alias)) for pk in ids)
    if _committed(alias):
        run_pending()
    elif _test_transaction(alias) is None:
        transaction.on_commit(run_pending, using=alias)
    else:
        # A test case's transaction never commits, so the code's own transaction ends with
        # the release of its savepoint: watch for it (a rollback removes the rows).
        wrappers = connections[alias].execute_wrappers
        if _after_release not in wrappers:
            wrappers.append(_after_release)


def _after_release(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """An execute wrapper, in a test case's transaction: once the savepoint of the code's
    outermost transaction is released, run the jobs it inserted; once it is rolled back,
    forget them (their rows are gone)."""
    result = execute(sql, params, many, context)
    connection = context["connection"]
    ended = sql.startswith(("RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    if not ended or not _committed(connection.alias):
        return result
    if sql.startswith("ROLLBACK"):
        # Forget the jobs whose rows went with it now, before SQLite hands their ids out again.
        kept = set(
            ledger.jobs().filter(pk__in=[pk for pk, _ in _pending]).values_list("pk", flat=True)
        )
        _pending[:] = [entry for entry in _pending if entry[0] in kept]
    if not _pending:
        connection.execute_wrappers.remove(_after_release)
    elif sql.startswith("RELEASE"):
        run_pending()
    return result


def run_pending() -> None:
    """Run the pending jobs whose insert has committed, oldest first, and those they insert.
    A job whose insert rolled back is gone, and skipped."""
    global _running
    alias = ledger.database()
    if _running or not _committed(alias):
        return  # the loop below (or the next commit) runs them
    _running = True
    try:
        current = _test_transaction(alias)
        while _pending:
            batch = sorted(pk for pk, owner in _pending if owner == current)
            _pending.clear()
            for pk in batch:
                attempt_now(ledger.jobs().filter(pk=pk, state=State.AVAILABLE))
    finally:
        _running = False
