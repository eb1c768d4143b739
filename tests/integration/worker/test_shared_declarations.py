"""A `class Oban` shared through an abstract parent, with a name template: each concrete child
has its own stable name, and its jobs run its own model's action."""

from __future__ import annotations

from typing import Any

import pytest

from ash_oban_django import run_trigger
from ash_oban_django.models import Job
from ash_oban_django.testing import drain_queues
from tests.testapp.models import Crate, Envelope

pytestmark = pytest.mark.django_db


def test_shared_declaration__each_childs_job_runs_its_own_models_action(ash_oban: Any) -> None:
    crate = Crate.objects.create()
    envelope = Envelope.objects.create(pk=crate.pk)  # the same pk: told apart by the name
    jobs = [run_trigger(crate, "ship"), run_trigger(envelope, "ship")]
    assert [(j.name, j.conflict) for j in jobs] == [
        ("testapp.Crate:ship", False),
        ("testapp.Envelope:ship", False),
    ]
    assert drain_queues().success == 2
    assert set(Job.objects.values_list("name", "state")) == {
        ("testapp.Crate:ship", "completed"),
        ("testapp.Envelope:ship", "completed"),
    }
    crate.refresh_from_db()
    envelope.refresh_from_db()
    assert (crate.shipped_as, envelope.shipped_as) == ("Crate", "Envelope")
