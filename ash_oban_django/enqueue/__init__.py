"""Putting work into the ledger: the public insert functions and the trigger scheduler.

`api` inserts jobs on request (`run_trigger`, `schedule`, ...); `scheduler` scans a trigger's
matching rows and inserts one worker job per row; `jobs` builds the job rows both insert.
"""

from .api import (
    Target,
    build_trigger,
    queues_of,
    resolve_target,
    run_trigger,
    run_triggers,
    schedule,
    schedule_declaration,
)
from .scheduler import SchedulerReport, matching, run_scheduler

__all__ = [
    "SchedulerReport",
    "Target",
    "build_trigger",
    "matching",
    "queues_of",
    "resolve_target",
    "run_scheduler",
    "run_trigger",
    "run_triggers",
    "schedule",
    "schedule_declaration",
]
