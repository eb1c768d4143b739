"""The bridge to django-q2.

- `tasks`: the functions django-q2 calls by dotted path (stable across releases);
- `wake`: handing a queue's cluster the tasks that run its jobs;
- `consume`: what such a task does with its queue;
- `routing`: which cluster serves a queue (the only reader of `Q_CLUSTER`);
- `cron`: the django-q2 cron rows kept in step with the declarations;
- `maintenance`: staging due jobs, rescuing orphans, pruning.
"""
