"""`ledger.outage`: one warning with a traceback per outage, one line when it is over."""

from __future__ import annotations

import logging

import pytest

from ash_oban_django.ledger.outage import Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_outage__logs_once_then_once_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage("leader", logging.getLogger("tests.outage"), settle=5, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="tests.outage"):
        outage.answered()  # no outage: nothing to say
        for _ in range(30):  # a pass a second, the database away, then flapping
            outage.failed(ConnectionError("server closed the connection"))
            clock.now += 0.5
            outage.answered()
            clock.now += 0.5
        clock.now += 4.0
        outage.answered()  # 4.5 s since the last failure: not settled yet
        clock.now += 1.0
        outage.answered()  # 5.5 s: back
        outage.answered()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "leader: lost the database; retrying quietly until it answers",
        "leader: the database is back after 29.0 s (30 failures)",
    ]
    assert warnings[0].exc_info is not None and warnings[1].exc_info is None
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 29


def test_outage__a_new_outage_is_logged_again(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage("worker", logging.getLogger("tests.outage"), settle=5, clock=clock)
    with caplog.at_level(logging.WARNING, logger="tests.outage"):
        for _ in range(2):
            outage.failed(ConnectionError("gone"))
            clock.now += 10
            outage.answered()
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        "worker: lost the database",
        "worker: the database is back after 0.0 s (1 failures)",
        "worker: lost the database",
        "worker: the database is back after 0.0 s (1 failures)",
    ]
