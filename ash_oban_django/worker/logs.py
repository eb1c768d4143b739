"""Errors in log lines, bounded as a job's stored errors are (`ledger.rows.storable`): an
action that raises with a megabyte of message writes a few kilobytes of log, not the
megabyte, on every attempt."""

from __future__ import annotations

from dataclasses import dataclass

from ..ledger.rows import (
    ERROR_MESSAGE_LIMIT,
    ERROR_TRACEBACK_LIMIT,
    describe,
    format_traceback,
    storable,
)


@dataclass(frozen=True, slots=True)
class Bounded:
    """A log argument that prints `error` as `Type: message` and its traceback, each cut
    to the limits of a stored error. Formatted only when the line is emitted."""

    error: BaseException
    traceback: bool = True

    def __str__(self) -> str:
        head = storable(describe(self.error), ERROR_MESSAGE_LIMIT)
        if not self.traceback:
            return head
        return f"{head}\n{storable(format_traceback(self.error), ERROR_TRACEBACK_LIMIT)}"


def bounded(error: BaseException, *, traceback: bool = True) -> Bounded:
    """`error` for a log line (`logger.error("... %s", bounded(error))`), never whole."""
    return Bounded(error, traceback)
