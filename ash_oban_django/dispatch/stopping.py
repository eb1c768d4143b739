"""Whether this process's django-q2 cluster is stopping, so a dispatch task stops claiming.

A SIGTERM (or SIGINT) to `manage.py qcluster` sets the cluster's stop event; its sentinel
then stops pulling tasks and lets each worker process finish the task it runs. A dispatch
task may go on claiming for up to `consume.TASK_SECONDS`, so it looks at that event before
each claim: a stopping cluster finishes the jobs it holds and claims no more, and the jobs
left are woken for the next cluster (see `consume`).

django-q2 does not hand its stop event to worker processes, but it forks them from the
sentinel, so the event is in the worker's memory: `watch` (django-q2's `post_spawn`
receiver) finds it on the stack the fork left, where the sentinel's frames still hold it.
A worker whose sentinel died is stopping as well.
"""

from __future__ import annotations

import multiprocessing
import sys
from typing import Any, Protocol


class _Event(Protocol):
    def is_set(self) -> bool: ...


_stop_event: _Event | None = None


def sentinel_stop_event() -> _Event | None:
    """The stop event of the django-q2 sentinel that forked this process, if any."""
    from django_q.cluster import Sentinel

    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Sentinel) and owner.stop_event is not None:
            event: _Event = owner.stop_event
            return event
        frame = frame.f_back  # type: ignore[assignment]
    return None


def watch(sender: Any = None, **kwargs: Any) -> None:
    """Remember this worker process's stop event (django-q2's `post_spawn` receiver)."""
    global _stop_event
    _stop_event = sentinel_stop_event()


def stopping() -> bool:
    """True once the cluster this process works for is stopping (or gone)."""
    if _stop_event is not None and _stop_event.is_set():
        return True
    parent = multiprocessing.parent_process()
    return _stop_event is not None and parent is not None and not parent.is_alive()
