"""`validators`: what each validator accepts (and makes of it), and what it says otherwise."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any

import pytest

from ash_oban_django import validators as must
from ash_oban_django.validators import Invalid, Problem


def refusal(check: Callable[[Any], Any], value: Any) -> list[str]:
    """What `check` says about `value`, as sentences about `x`."""
    with pytest.raises(Invalid) as info:
        check(value)
    return info.value.messages("x")


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


def test_invalid__is_a_value_error_whose_text_names_the_value() -> None:
    invalid = Invalid.must_be("an integer >= 1", 0)
    assert isinstance(invalid, ValueError)
    assert str(invalid) == "value must be an integer >= 1, got 0"
    assert invalid.messages("ASH_OBAN['DISPATCH_BATCH']") == [
        "ASH_OBAN['DISPATCH_BATCH'] must be an integer >= 1, got 0"
    ]


def test_invalid__within_puts_each_problem_inside_the_larger_value() -> None:
    invalid = Invalid(Problem("['limit']", "must be an integer >= 1, got 0"), Problem("", "is odd"))
    assert invalid.within("['q']").messages("QUEUES") == [
        "QUEUES['q']['limit'] must be an integer >= 1, got 0",
        "QUEUES['q'] is odd",
    ]
    assert str(invalid) == "value['limit'] must be an integer >= 1, got 0; value is odd"


@pytest.mark.parametrize(
    ("check", "value", "expected"),
    [
        (must.boolean, False, False),
        (must.integer(1), 3, 3),
        (must.integer(0, 9), 9, 9),
        (must.seconds, 0, 0.0),
        (must.seconds, 2.5, 2.5),
        (must.positive_seconds, 1, 1.0),
        (must.text("a name"), "ok", "ok"),
        (must.text("an identifier", re.compile(r"^\w+$")), "a_b", "a_b"),
        (must.strings("names"), ["a", "b"], ("a", "b")),
        (must.strings("sort fields", lambda s: bool(s.lstrip("-"))), ("-a",), ("-a",)),
        (must.string_set("labels"), ["a", "b", "a"], frozenset({"a", "b"})),
        (must.string_set("labels"), {"a"}, frozenset({"a"})),
        (must.mapping, {"a": 1}, {"a": 1}),
        (must.dictionary, {"a": 1}, {"a": 1}),
        (must.instance_of(int, "an int"), 4, 4),
        (must.a_callable("a callable"), len, len),
        (must.choice(Colour), "red", Colour.RED),
        (must.choice(Colour), Colour.BLUE, Colour.BLUE),
        (must.dotted_path(), "ash_oban_django.actors.UserPersister", None),
        (must.database_alias, "default", "default"),
        (must.optional(must.integer(1)), None, None),
        (must.optional(must.integer(1)), 2, 2),
        (must.or_callable(must.integer(1)), len, len),
        (must.or_callable(must.integer(1)), 5, 5),
        (must.phrased("a small number", must.integer(0, 3)), 3, 3),
    ],
)
def test_validator__accepts_and_normalises(
    check: Callable[[Any], Any], value: Any, expected: Any
) -> None:
    result = check(value)
    assert result == (value if expected is None else expected)
    assert type(result) is type(value if expected is None else expected)


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (must.boolean, 1, "x must be True or False, got 1"),
        (must.boolean, "yes", "x must be True or False, got 'yes'"),
        (must.integer(1), 0, "x must be an integer >= 1, got 0"),
        (must.integer(1), True, "x must be an integer >= 1, got True"),
        (must.integer(1), 1.0, "x must be an integer >= 1, got 1.0"),
        (must.integer(0, 9), 10, "x must be an integer from 0 to 9, got 10"),
        (must.seconds, -1, "x must be a number of seconds >= 0, got -1"),
        (must.seconds, "60", "x must be a number of seconds >= 0, got '60'"),
        (must.seconds, float("inf"), "x must be a number of seconds >= 0, got inf"),
        (must.seconds, False, "x must be a number of seconds >= 0, got False"),
        (must.positive_seconds, 0, "x must be a number of seconds > 0, got 0"),
        (must.text("a name"), "", "x must be a name, got ''"),
        (must.text("a name"), 3, "x must be a name, got 3"),
        (
            must.text("an identifier", re.compile(r"^\w+$")),
            "a b",
            "x must be an identifier, got 'a b'",
        ),
        (must.strings("names"), "ab", "x must be names, got 'ab'"),
        (must.strings("names"), ["a", ""], "x must be names, got ['a', '']"),
        (must.strings("names"), {"a"}, "x must be names, got {'a'}"),
        (must.string_set("labels"), "a", "x must be labels, got 'a'"),
        (must.string_set("labels"), [1], "x must be labels, got [1]"),
        (must.mapping, [1], "x must be a dict with string keys, got [1]"),
        (must.dictionary, {1: 2}, "x must be a dict with string keys, got {1: 2}"),
        (must.instance_of(int, "an int"), "4", "x must be an int, got '4'"),
        (must.a_callable("a callable"), 3, "x must be a callable, got 3"),
        (must.choice(Colour), "green", "x must be one of 'red', 'blue', got 'green'"),
        (must.choice(Colour), [], "x must be one of 'red', 'blue', got []"),
        (must.dotted_path(), 3, "x must be a dotted import path, got 3"),
        (
            must.dotted_path(),
            "nope.thing",
            "x = 'nope.thing' cannot be imported (ModuleNotFoundError: No module named 'nope')",
        ),
        (must.database_alias, "other", "x must be an alias in DATABASES ('default'), got 'other'"),
        (must.optional(must.integer(1)), 0, "x must be an integer >= 1, got 0"),
        (must.or_callable(must.integer(1)), "f", "x must be an integer >= 1, got 'f'"),
        (must.phrased("a small number", must.integer(0, 3)), 4, "x must be a small number, got 4"),
    ],
)
def test_validator__refuses_saying_what_it_must_be(
    check: Callable[[Any], Any], value: Any, message: str
) -> None:
    assert refusal(check, value) == [message]
