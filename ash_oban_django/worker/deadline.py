"""`timeout`: an attempt that runs past its time fails with `JobTimeout`."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..exceptions import JobTimeout


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Fail the attempt with `JobTimeout` once it runs longer than `seconds`.

    In a process's main thread (a django-q2 worker) SIGALRM interrupts the action, and the
    alarm it replaces is restored afterwards. Elsewhere the action cannot be interrupted, so
    an attempt that finishes late fails after the fact: its writes still roll back.
    """
    if seconds is None:
        yield
        return
    started = time.monotonic()
    message = f"the attempt ran longer than its timeout of {seconds:g} seconds"
    use_alarm = threading.current_thread() is threading.main_thread()
    if use_alarm:

        def on_alarm(signum: int, frame: Any) -> None:
            raise JobTimeout(message)

        previous_handler = signal.signal(signal.SIGALRM, on_alarm)
        previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_delay:
                elapsed = time.monotonic() - started
                signal.setitimer(signal.ITIMER_REAL, max(previous_delay - elapsed, 0.001))
    if time.monotonic() - started > seconds:
        raise JobTimeout(message)
