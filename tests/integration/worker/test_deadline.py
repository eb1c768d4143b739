"""`timeout` (docs/running.md#timeouts): an attempt that runs past its time fails with
`JobTimeout`; the ledger's database bounds its statements meanwhile."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from django.db import connection

from ash_oban_django.exceptions import JobTimeout
from ash_oban_django.worker.deadline import deadline

pytestmark = pytest.mark.django_db


def test_deadline__none_sets_no_alarm() -> None:
    with deadline(None):
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        time.sleep(0.01)


def test_deadline__an_attempt_in_time_passes_and_leaves_no_alarm() -> None:
    with deadline(5):
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_deadline__the_alarm_interrupts_an_attempt_in_the_main_thread() -> None:
    started = time.monotonic()
    timed_out = pytest.raises(JobTimeout, match="ran longer than its timeout of 0.2 seconds")
    with timed_out, deadline(0.2):
        time.sleep(5)
    assert time.monotonic() - started < 2


def test_deadline__an_outer_alarm_is_restored_with_the_time_it_had_left() -> None:
    fired: list[int] = []

    def outer(signum: int, frame: object) -> None:
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 5)
        with deadline(1):
            pass
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 3 < left <= 5
        assert signal.getsignal(signal.SIGALRM) is outer
        assert fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_deadline__off_the_main_thread_a_late_attempt_fails_after_the_fact() -> None:
    """No signal reaches another thread: the attempt runs to its end, then fails."""
    raised: list[BaseException] = []
    finished: list[bool] = []

    def attempt() -> None:
        try:
            with deadline(0.1):
                time.sleep(0.3)
                finished.append(True)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            raised.append(error)
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    assert finished == [True]
    assert [type(e) for e in raised] == [JobTimeout]
