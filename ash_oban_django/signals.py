"""Lifecycle signals. Receivers get keyword arguments only; every signal is sent with
`send_robust`, so a failing receiver neither fails the change nor stops the other receivers.

Unless said otherwise, a signal is sent once the transaction that made the change commits
(at once in autocommit), and never for a change that rolled back.

Jobs (`sender=Job`), once per job, bulk operations included:

- `job_inserted(job=Job, conflict=bool)`: a job was inserted (`run_trigger`,
  `run_triggers`, `schedule`, a cron tick, a scheduled action's tenants), or
  (`conflict=True`) not, because another job holds its unique key; then `job` is the job
  that was not inserted (`job.pk` is None). A scheduler run inserts its jobs set-based and
  reports them by their counts in `scheduler_finished` instead: one signal per row, held
  until the run commits, would make its memory grow with the rows it matches.
- `job_started(job=Job, context=JobContext)`: sent inside the attempt's transaction, just
  before the job's work runs.
- `job_finished(job=Job, state=str, duration=float, error=BaseException | None)`: sent
  after the attempt's outcome is recorded.
- `job_cancelled(job=Job, reason=str)`: the job will not run (cancelled by an operator, by
  `cancel_jobs`, or because its trigger no longer applies or is paused).
- `job_rescued(job=Job)`: a job whose worker died is `available` again (an orphan with no
  attempts left goes the final-failure path instead: `job_discarded`, or completed by
  `on_error`).
- `job_discarded(job=Job)`: the job failed for good; `job.errors` holds why.

Maintenance (`sender=Job`), sent only when something changed:

- `jobs_staged(count=int, queues=dict[str, int])`: `count` due jobs became `available`;
  `queues` is every queue with available jobs and how many (the queues woken).
- `jobs_pruned(count=int)`: `count` finished jobs were deleted.

Leadership (`sender=Peer`), sent by the leader thread of the node concerned:

- `leader_elected(name=str, node=str)`: `node` took the lead `name`.
- `leader_resigned(name=str, node=str, lost=bool)`: `node` gave up the lead (its process
  stops), or lost it (`lost=True`: another node took it, or the database did not answer).

Queues (`sender=Queue`):

- `queue_changed(queue=str, change=str, paused=bool, limit=int | None, by=Any)`: `change`
  is `"paused"`, `"resumed"` or `"scaled"`; `paused` and `limit` are the queue's control
  after it (`limit` None: the setting's); `by` says who did it when an operator did (the
  admin's user, or the command), None otherwise.

The scheduler (`sender=Model`), sent after each scheduler run, inside its transaction:

- `scheduler_finished(name=str, worker_name=str, queue=str, tenant=Any, matched=int,
  inserted=int, duplicates=int, refused=int)`: `name` is the scheduler's stable name,
  `worker_name` and `queue` those of the jobs it inserts; `refused` counts the matched rows that got no job because their
  `read_metadata` or `extra_args` raised or gave a value that cannot be stored;
  `duplicates` is `matched - inserted - refused`.
"""

from django.dispatch import Signal

job_inserted = Signal()
job_started = Signal()
job_finished = Signal()
job_cancelled = Signal()
job_rescued = Signal()
job_discarded = Signal()
jobs_staged = Signal()
jobs_pruned = Signal()
leader_elected = Signal()
leader_resigned = Signal()
queue_changed = Signal()
scheduler_finished = Signal()
