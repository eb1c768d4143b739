"""What the ledger stores of an error or of a row's values (docs/running.md)."""

from __future__ import annotations

from datetime import date

import pytest

from ash_oban_django.ledger.rows import check_json, message, storable


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
        ({"a": 1.5, "b": ["\\u0000 as text"], "c": [True, None, 2]}, None),
        ({"a": float("nan")}, "ValueError: the value['a'] is nan, which JSON has no form for"),
        ({"a": [float("-inf")]}, "ValueError: the value['a'][0] is -inf, which JSON has"),
        ({"a": "x\x00"}, "ValueError: the value['a'] holds a NUL character or a lone surrogate"),
        ({"a\x00": 1}, "ValueError: the value holds a NUL character or a lone surrogate"),
        ({"a": "\udc00"}, "ValueError: the value['a'] holds a NUL character or a lone surrogate"),
        ({"a": object()}, "TypeError: the value['a'] is object <object object"),
        ({1: "a"}, "TypeError: the value has a key 1: JSON object keys are strings"),
    ],
)
def test_check_json(value: object, problem: str | None) -> None:
    try:
        check_json("the value", value)
    except (TypeError, ValueError) as error:
        found: str | None = f"{type(error).__name__}: {error}"
    else:
        found = None
    assert found == problem or (found and problem and found.startswith(problem)), found


def test_check_json__names_the_key_and_says_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"^action_arguments\['note'\]\[1\] holds a NUL"):
        check_json("action_arguments", {"note": ["ok", "a\x00b"]})
    with pytest.raises(TypeError, match=r"^args\['when'\] is date .*pass e\.g\. its pk or text"):
        check_json("args", {"when": date(2026, 1, 1)})
    check_json("args", None)  # nothing to check
