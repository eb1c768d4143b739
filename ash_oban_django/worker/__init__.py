"""Performing jobs: one attempt of a claimed job, its outcome decided and then recorded.

`executor` runs an attempt and records what came of it; `runners` holds what each kind of
job does; `outcome` classifies errors; `retry` decides when a failure runs again;
`deadline` bounds an attempt's time; `chunks` runs a chunked trigger's jobs together;
`drain` runs jobs in this process.
"""

from .chunks import chunks_of, perform_chunk
from .drain import Result, drain, schedule_and_run_triggers
from .executor import Performed, perform, perform_and_claim, release_claimed, rescue_orphan

__all__ = [
    "Performed",
    "Result",
    "chunks_of",
    "drain",
    "perform",
    "perform_and_claim",
    "perform_chunk",
    "release_claimed",
    "rescue_orphan",
    "schedule_and_run_triggers",
]
