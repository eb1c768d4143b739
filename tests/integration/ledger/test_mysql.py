"""What the MariaDB/MySQL backend adds to the contract: the generated key columns agree with
`ledger.mysql.key_hash`. Skipped on other databases. (That `hold_lock` holds until the
transaction ends is in the contract test; the leader's lock is in `test_peer.py`.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from ash_oban_django import ledger
from ash_oban_django.ledger.mysql import key_hash
from ash_oban_django.models import Job

pytestmark = pytest.mark.row_locks


@pytest.fixture(autouse=True)
def _mysql_only() -> None:
    if connection.vendor != "mysql":
        pytest.skip("MariaDB/MySQL only")


def generated(pk: int) -> tuple[Any, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT unique_key_hash, runnable_queue FROM ash_oban_django_job WHERE id = %s", [pk]
        )
        return cursor.fetchone()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "object_pk"), [("a.B:c", "1"), ("Zoë:😀", "x:y"), ("ab", "c"), ("a", "bc")]
)
def test_mysql__key_hash_is_the_generated_column(name: str, object_pk: str) -> None:
    values = {"kind": "trigger", "queue": "q", "priority": 2, "max_attempts": 1}
    (job,) = ledger.insert([ledger.new_job(name=name, object_pk=object_pk, **values)])
    digest, queue = generated(job.pk)
    assert bytes(digest) == key_hash(job.name, job.object_pk, job.tenant_key, job.args_key)
    assert queue == "q"
    Job.objects.filter(pk=job.pk).update(state="completed")
    assert generated(job.pk) == (None, None)  # a completed job leaves the key free
    Job.objects.filter(pk=job.pk).update(once=True)
    assert generated(job.pk)[0] is not None  # ... but a completed `once` job keeps it
