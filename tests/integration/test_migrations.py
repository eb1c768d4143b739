"""The ledger's migrations, run backwards and forwards on the test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from ash_oban_django.models import Job, args_key

pytestmark = pytest.mark.django_db(transaction=True)

APP = "ash_oban_django"
BEFORE_ARGS_KEY = [(APP, "0001_initial")]


@pytest.fixture
def before_args_key() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes(APP)
    executor.migrate(BEFORE_ARGS_KEY)
    executor.loader.build_graph()
    yield executor
    executor.loader.build_graph()
    executor.migrate(latest)


def test_0002__existing_unfinished_jobs_get_their_args_key(
    before_args_key: MigrationExecutor,
) -> None:
    old = before_args_key.loader.project_state(BEFORE_ARGS_KEY).apps.get_model(APP, "Job")
    now = timezone.now()
    common = {"kind": "trigger", "name": "shop.Order:process", "queue": "q", "tenant_key": "null"}
    args = {"action_arguments": {"rush": True}, "actor": {"pk": 1}}
    waiting = old.objects.create(
        object_pk="1", args=args, inserted_at=now, scheduled_at=now, **common
    )
    plain = old.objects.create(
        object_pk="2", args={"metadata": {"m": 1}}, inserted_at=now, scheduled_at=now, **common
    )
    done = old.objects.create(
        object_pk="3", args=args, state="completed", inserted_at=now, scheduled_at=now, **common
    )

    before_args_key.loader.build_graph()
    before_args_key.migrate(before_args_key.loader.graph.leaf_nodes(APP))

    keys = dict(Job.objects.values_list("pk", "args_key"))
    assert keys == {waiting.pk: args_key(args), plain.pk: "", done.pk: args_key(args)}
    assert keys[waiting.pk] == args_key({"action_arguments": {"rush": True}})
