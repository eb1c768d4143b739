"""The admin's dashboard of the ledger.

- `data`: what it shows, as plain data read by bounded, indexed queries (also read by
  `metrics` and `bench/dashboard.py`), re-exported here;
- `chart`: the throughput chart, an inline SVG;
- `views`: the pages and their URLs, which the job admin serves (`admin.py`).
"""

from ..status import next_run  # a cron's next run, as `ash_oban_status` shows it
from .data import (
    Cluster,
    DeclarationStatus,
    Failure,
    Nodes,
    QueueRow,
    Throughput,
    declarations,
    known_queues,
    latest_failures,
    nodes,
    queue_rows,
    running_clusters,
    throughput,
)

__all__ = [
    "Cluster",
    "DeclarationStatus",
    "Failure",
    "Nodes",
    "QueueRow",
    "Throughput",
    "declarations",
    "known_queues",
    "latest_failures",
    "next_run",
    "nodes",
    "queue_rows",
    "running_clusters",
    "throughput",
]
