"""Lifecycle signals. Receivers get keyword arguments only.

- `job_started(sender=Job, job=Job, context=JobContext)`
- `job_finished(sender=Job, job=Job, state=str, duration=float, error=BaseException | None)`
- `scheduler_finished(sender=Model, name=str, tenant=Any, matched=int, inserted=int,
  duplicates=int, refused=int)`: `refused` counts the matched rows that got no job because
  their `read_metadata` or `extra_args` raised or gave a value that cannot be stored;
  `duplicates` is `matched - inserted - refused`.
"""

from django.dispatch import Signal

job_started = Signal()
job_finished = Signal()
scheduler_finished = Signal()
