"""When a failed attempt runs again: a retry strategy turns a declaration's `backoff` into a
decision, so the executor never branches on backoff forms."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from ..context import JobContext
from ..declarations import Backoff
from ..ledger.rows import ERROR_MESSAGE_LIMIT, describe, storable
from .logs import bounded

logger = logging.getLogger("ash_oban_django")


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether the failed attempt is retried, and in how many seconds. `failure` is what a
    `backoff` callable raised: with no delay to wait, the failure is final."""

    retry: bool
    delay: float = 0.0
    failure: BaseException | None = None


# How many times a job's attempts may lose their database connection without spending an
# attempt: past it, a lost connection counts like any error, so a database that is broken
# for one job cannot loop it forever.
MAX_INTERRUPTIONS = 10
# The longest wait before an interrupted job runs again (seconds).
MAX_INTERRUPTION_DELAY = 30.0


@dataclass(frozen=True, slots=True)
class RetryStrategy:
    """Retry while attempts are left, after `backoff` seconds: an `int` (exact), a
    `callable(JobContext) -> float`, or None for Oban's default, `15 + 2**attempt` seconds
    plus up to 10% jitter."""

    backoff: Backoff | None = None

    def decide(self, context: JobContext) -> RetryDecision:
        if context.attempt >= context.max_attempts:
            return RetryDecision(retry=False)
        try:
            delay = self.delay(context)
        except Exception as failure:  # noqa: BLE001 - the attempt's failure becomes final
            # Raised here, it would escape the outcome's transaction and leave the job
            # `executing` until a rescue: the failure is final instead, and says why.
            logger.error(
                "backoff of %s raised on attempt %s; the failure is final: %s",
                context.name,
                context.attempt,
                bounded(failure),
            )
            return RetryDecision(retry=False, failure=failure)
        return RetryDecision(retry=True, delay=delay)

    def after_interruption(self, interruptions: int) -> RetryDecision:
        """Whether an attempt that lost its database connection runs again without counting,
        given how many of the job's attempts already did, and in how many seconds: 1, 2,
        4 ... up to `MAX_INTERRUPTION_DELAY`."""
        if interruptions >= MAX_INTERRUPTIONS:
            return RetryDecision(retry=False)
        return RetryDecision(retry=True, delay=min(2.0**interruptions, MAX_INTERRUPTION_DELAY))

    def delay(self, context: JobContext) -> float:
        if callable(self.backoff):
            return float(self.backoff(context))
        if self.backoff is not None:
            return float(self.backoff)
        base = 15.0 + 2.0 ** min(context.attempt, 20)
        return base + random.uniform(0, base * 0.1)


def backoff_note(failure: BaseException) -> str:
    """The note added to an attempt's error when its `backoff` raised."""
    return f"No retry: backoff raised {storable(describe(failure), ERROR_MESSAGE_LIMIT)}"
