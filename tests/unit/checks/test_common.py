"""What the check modules share: a check that crashes becomes E000, never a crash of
`manage.py check`."""

from __future__ import annotations

import math

import pytest
from django.core import checks

from ash_oban_django.checks.common import is_number, safely


def test_safely__passes_the_check_s_messages_through() -> None:
    found = [checks.Warning("w", id="x.W1")]
    assert safely("a thing", None, lambda: found) is found


def test_safely__a_crashing_check_becomes_e000_naming_what_and_why() -> None:
    def crash(value: int) -> list[checks.CheckMessage]:
        raise KeyError(value)

    (message,) = safely("trigger 'finish'", "the object", crash, 7)
    assert message.id == "ash_oban_django.E000"
    assert message.level == checks.ERROR
    assert message.msg == "Checking trigger 'finish' failed: KeyError: 7"
    assert message.obj == "the object"
    assert message.hint is not None and "fix what the error names" in message.hint


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, True),
        (2.5, True),
        (-1, True),
        (True, False),
        (math.inf, False),
        (math.nan, False),
        ("1", False),
        (None, False),
    ],
)
def test_is_number__a_finite_int_or_float_not_a_bool(value: object, expected: bool) -> None:
    assert is_number(value) is expected
