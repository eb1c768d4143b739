"""The bridge to django-q2.

- `tasks`: the functions django-q2 calls by dotted path (never renamed once released);
- `wake`: handing a queue's cluster the tasks that run its jobs;
- `consume`: what such a task does with its queue;
- `routing`: which cluster serves a queue (the only reader of `Q_CLUSTER`);
- `leader`: the one process among all clusters that runs the maintenance steps and fires
  the crons, on their intervals;
- `cron`: firing each declaration's cron once per slot, and the django-q2 cron rows kept in
  step with the declarations (registration and fallback);
- `maintenance`: the steps (stage due jobs and wake their queues, rescue orphans, prune),
  and their fallback when no leader lives.
"""
