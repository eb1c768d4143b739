"""Former home of the django-q2 task functions, kept for what outlives a deploy.

Wake tasks already in a broker, and cron rows not yet rewritten by `ash_oban_sync`, name the
functions by their old dotted paths; `set_dispatch` is documented here for tests. New code
uses `ash_oban_django.dispatch.tasks` and `ash_oban_django.testing`.
"""

from .dispatch.tasks import cron_tick, maintain, run_queue
from .dispatch.wake import set_dispatch

__all__ = ["cron_tick", "maintain", "run_queue", "set_dispatch"]
