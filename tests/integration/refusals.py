"""A database that refuses some job writes, as it refuses a value it cannot store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DataError
from django.db.models.signals import pre_save

from ash_oban_django.models import Job


@contextmanager
def refusing_job_saves(refused: Callable[[Job], bool]) -> Iterator[None]:
    """Every save of a job for which `refused(job)` holds raises `DataError`."""

    def refuse(sender: Any, instance: Job, **kwargs: Any) -> None:
        if refused(instance):
            raise DataError("value refused")

    pre_save.connect(refuse, sender=Job)
    try:
        yield
    finally:
        pre_save.disconnect(refuse, sender=Job)
