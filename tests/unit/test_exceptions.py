"""`exceptions`: default messages, and `Snooze`'s argument."""

from __future__ import annotations

from typing import Any

import pytest

from ash_oban_django.exceptions import (
    AshObanError,
    Cancel,
    InvalidDeclaration,
    InvalidSetting,
    JobTimeout,
    Snooze,
    TriggerNoLongerApplies,
)


@pytest.mark.parametrize(
    "error", [Cancel, InvalidDeclaration, JobTimeout, Snooze, TriggerNoLongerApplies]
)
def test_exceptions__all_under_ash_oban_error(error: type[Exception]) -> None:
    assert issubclass(error, AshObanError)


def test_invalid_declaration__is_a_value_error() -> None:
    assert issubclass(InvalidDeclaration, ValueError)


def test_cancel__the_reason_is_the_message() -> None:
    cancel = Cancel("customer left")
    assert (cancel.reason, str(cancel)) == ("customer left", "customer left")
    assert Cancel().reason == "cancelled"


def test_exceptions__docstring_is_the_default_message() -> None:
    assert str(InvalidSetting()) == (
        "A key of the `ASH_OBAN` setting holds an invalid value (`manage.py check` lists them)."
    )
    assert str(Cancel()) == "cancelled"


@pytest.mark.parametrize(("seconds", "stored"), [(0, 0.0), (30, 30.0), (1.5, 1.5)])
def test_snooze__keeps_its_seconds_as_a_float(seconds: float, stored: float) -> None:
    snooze = Snooze(seconds)
    assert snooze.seconds == stored and isinstance(snooze.seconds, float)
    assert str(snooze) == f"snoozed for {stored:g} seconds"
    assert isinstance(snooze, AshObanError)


@pytest.mark.parametrize("bad", [-1, "10", None, True, float("nan")])
def test_snooze__a_bad_argument_is_a_value_error_not_a_declaration_error(bad: Any) -> None:
    with pytest.raises(ValueError) as info:
        Snooze(bad)
    assert str(info.value) == f"Snooze `seconds` must be a number of seconds >= 0, got {bad!r}"
    assert not isinstance(info.value, InvalidDeclaration)
