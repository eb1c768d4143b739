"""`ash_oban_django.checks` registers its three checks with Django, under their tags."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Tags, run_checks
from django.db.models import Q

from ash_oban_django.checks import check_declarations, check_settings
from tests.unit.checks.support import BASE, ids, ours, trigger


@pytest.mark.django_db  # Django's own model checks ask the database
def test_check__clean_project_has_no_messages() -> None:
    assert check_declarations() == []
    assert check_settings() == []
    assert ours(run_checks()) == []


@pytest.mark.django_db  # Django's own model checks ask the database
def test_check__registered_with_django_under_their_tags(widget_checks: Any, settings: Any) -> None:
    widget_checks(triggers=[trigger("finish", where=Q(nope=1))])
    assert ids(ours(run_checks(tags=[Tags.models]))) == ["ash_oban_django.E004"]
    settings.ASH_OBAN = {**BASE, "APPS": ["testapp", "nope"]}
    # Django keeps its checks in a set: the order of the two functions is not defined.
    assert sorted(ids(ours(run_checks(tags=["ash_oban_django"])))) == [
        "ash_oban_django.E004",
        "ash_oban_django.E015",
    ]
