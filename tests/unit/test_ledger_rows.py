"""What the ledger stores of an error or of a row's values (docs/running.md)."""

from __future__ import annotations

import pytest

from ash_oban_django.ledger.rows import json_problem, message, storable


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_message__of_an_error_whose_str_raises() -> None:
    assert message(Unprintable()) == (
        "<unprintable Unprintable: __str__ raised RuntimeError: no text>"
    )


@pytest.mark.parametrize("size", [99, 100, 101, 5_000])
def test_storable__keeps_head_and_tail_within_the_limit(size: int) -> None:
    text = "H" + "x" * (size - 2) + "T"
    kept = storable(text, 100)
    if size <= 100:
        assert kept == text
    else:
        assert len(kept) <= 100
        assert kept.startswith("Hxx") and kept.endswith("xxT")
        assert f"characters cut of {size} ...]" in kept


def test_storable__replaces_what_the_database_refuses() -> None:
    assert storable("a\x00b\ud800c", 100) == "a\ufffdb\ufffdc"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": 1.5, "b": ["\\u0000 as text"]}, None),
        ({"a": float("nan")}, "ValueError: Out of range float values are not JSON compliant"),
        ({"a": float("inf")}, "ValueError: Out of range float values are not JSON compliant"),
        ({"a": "x\x00"}, "a string holds a NUL character"),
        ({"a": object()}, "TypeError: Object of type object is not JSON serializable"),
    ],
)
def test_json_problem(value: object, problem: str | None) -> None:
    found = json_problem(value)
    if problem is None:
        assert found is None
    else:  # newer Pythons add the value to the message ("...: nan")
        assert found is not None and found.startswith(problem), found
