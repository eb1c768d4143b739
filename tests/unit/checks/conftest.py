from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import CheckMessage

from ash_oban_django import register
from ash_oban_django.checks import check_declarations
from tests.testapp.models import Widget


@pytest.fixture
def widget_checks() -> Iterator[Any]:
    """Register declarations on Widget (replacing the previous call's) and return the messages
    of the declaration check."""
    registrations = []

    def run(**declarations: Any) -> list[CheckMessage]:
        while registrations:
            registrations.pop().unregister()
        registrations.append(register(Widget, **declarations))
        return check_declarations()

    yield run
    while registrations:
        registrations.pop().unregister()
