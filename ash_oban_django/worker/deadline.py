"""`timeout`: an attempt that runs past its time fails with `JobTimeout`, and the database
ends an attempt that stops (`idle_bound`)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, connections

from .. import ledger
from ..conf import settings
from ..exceptions import JobTimeout


def idle_bound(timeout: float | None, default_timeout: float | None) -> float | None:
    """Seconds the database lets an attempt's transaction sit idle before it ends the session
    (`Backend.bound_transaction`): the attempt's `timeout`, else `default_timeout` (the
    django-q2 cluster's, past which django-q2 ends the worker anyway), plus `ATTEMPT_MARGIN`.
    None, no bound, when neither is set.

    A live attempt is never idle that long: the alarm ends it at its timeout. Only a worker
    that stopped (frozen, paused, cut off) is, and it loses its locks."""
    seconds = default_timeout if timeout is None else timeout
    return None if seconds is None else seconds + settings.ATTEMPT_MARGIN


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Fail the attempt with `JobTimeout` once it runs longer than `seconds`.

    In a process's main thread (a django-q2 worker) SIGALRM interrupts the action, and the
    alarm it replaces is restored afterwards. The alarm is held back while a statement runs
    on the ledger's database, so it never lands inside the database driver: the statement is
    bounded by the database instead (`Backend.statements_bounded`), and the alarm fires when it
    returns. Elsewhere the action cannot be interrupted, so an attempt that finishes late
    fails after the fact: its writes still roll back.
    """
    if seconds is None:
        yield
        return
    engine = ledger.engine()
    started = time.monotonic()
    message = f"the attempt ran longer than its timeout of {seconds:g} seconds"
    use_alarm = threading.current_thread() is threading.main_thread()
    if use_alarm:

        def on_alarm(signum: int, frame: Any) -> None:
            raise JobTimeout(message)

        previous_handler = signal.signal(signal.SIGALRM, on_alarm)
        previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with (
            engine.bound_statements(seconds),
            connections[engine.alias].execute_wrapper(_without_alarm if use_alarm else _as_is),
        ):
            yield
    except Exception as exc:
        # A statement the database cancelled at the deadline fails the attempt as a timeout.
        if isinstance(exc, DatabaseError) and time.monotonic() - started >= seconds * 0.99:
            raise JobTimeout(message) from exc
        raise
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_delay:
                elapsed = time.monotonic() - started
                signal.setitimer(signal.ITIMER_REAL, max(previous_delay - elapsed, 0.001))
    if time.monotonic() - started > seconds:
        raise JobTimeout(message)


def _without_alarm(execute: Callable[..., Any], *args: Any) -> Any:
    """Run a statement with SIGALRM held back; a pending alarm fires once it returns."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        return execute(*args)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})


def _as_is(execute: Callable[..., Any], *args: Any) -> Any:
    return execute(*args)
