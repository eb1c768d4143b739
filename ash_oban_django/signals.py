"""Lifecycle signals. Receivers get keyword arguments only.

- `job_started(sender=Job, job=Job, context=JobContext)`
- `job_finished(sender=Job, job=Job, state=str, duration=float, error=BaseException | None)`
- `scheduler_finished(sender=Model, name=str, tenant=Any, matched=int, inserted=int,
  duplicates=int)`
"""

from django.dispatch import Signal

job_started = Signal()
job_finished = Signal()
scheduler_finished = Signal()
