"""Quiet logs while the ledger's database is away.

A database that restarts, fails over or has its sessions ended makes every pass of the leader
and every claim of a worker fail until it is back. Logging each failure with its traceback
buries the one line that matters, so each process keeps an `Outage` per loop: the first
failure of an outage is logged once, with its traceback; the failures after it only at debug
level; and once the database has answered for `SETTLE` seconds without a failure, one line
says it is back, how long it was away and how many failures it cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# Seconds the database must answer without a failure for an outage to end: a database whose
# sessions keep being ended is one outage, not one per failure.
SETTLE = 5.0


class Outage:
    """Whether the ledger's database answers, as one loop (`who`) of one process sees it."""

    def __init__(
        self,
        who: str,
        logger: logging.Logger,
        *,
        settle: float = SETTLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.who, self.logger, self.settle, self.clock = who, logger, settle, clock
        self.began: float | None = None  # when the current outage began, if one is on
        self.last_failure = 0.0
        self.failures = 0

    def failed(self, error: BaseException) -> None:
        """The database did not answer (or dropped the connection) with `error`."""
        now = self.clock()
        self.last_failure = now
        self.failures += 1
        if self.began is not None:
            self.logger.debug("%s: the database is still away (%s)", self.who, error)
            return
        self.began = now
        self.logger.warning(
            "%s: lost the database; retrying quietly until it answers", self.who, exc_info=error
        )

    def answered(self) -> None:
        """The database answered: the outage ends once it has done so for `settle` s."""
        if self.began is None:
            return
        now = self.clock()
        if now - self.last_failure < self.settle:
            return
        # A warning, as the loss was: whoever sees that one sees this one.
        self.logger.warning(
            "%s: the database is back after %.1f s (%d failures)",
            self.who,
            self.last_failure - self.began,
            self.failures,
        )
        self.began, self.failures = None, 0
