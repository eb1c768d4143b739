"""The validator vocabulary: what an `ASH_OBAN` setting or a declaration option must hold.

A validator takes a value and returns it, possibly normalised (a list made a tuple, an int
made a float), or raises `Invalid`. An `Invalid` holds one or more problems, each read after
the name of what was checked: the caller names it (`ASH_OBAN['DISPATCH_BATCH']`,
"Trigger 'ship': `queue`"), the validator says the rest ("must be an integer >= 1, got 0").

    >>> integer(1)(0)
    Traceback (most recent call last):
    ...
    ash_oban_django.validators.Invalid: value must be an integer >= 1, got 0
    >>> Invalid.must_be("True or False", "yes").messages("ASH_OBAN['AUTHORIZE']")
    ["ASH_OBAN['AUTHORIZE'] must be True or False, got 'yes'"]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, TypeGuard, TypeVar

from django.conf import settings as django_settings
from django.utils.module_loading import import_string

T = TypeVar("T")
E = TypeVar("E", bound=Enum)
Validator = Callable[[Any], T]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a value: where inside it, and what."""

    path: str  # e.g. "['q']['limit']"; "" for the value itself
    text: str  # e.g. "must be an integer >= 1, got 0"

    def about(self, subject: str) -> str:
        return f"{subject}{self.path} {self.text}"


class Invalid(ValueError):
    """A value a validator refused, with every problem it found."""

    def __init__(self, *problems: Problem) -> None:
        self.problems = problems
        super().__init__("; ".join(self.messages("value")))

    @classmethod
    def must_be(cls, what: str, value: Any) -> Invalid:
        """The "must be <what>, got <value>" problem."""
        return cls(Problem("", f"must be {what}, got {value!r}"))

    def messages(self, subject: str) -> list[str]:
        """Each problem as a sentence about `subject` (without the final full stop)."""
        return [problem.about(subject) for problem in self.problems]

    def within(self, path: str) -> Invalid:
        """The same problems, found inside the part of a larger value at `path`."""
        return Invalid(*(replace(p, path=path + p.path) for p in self.problems))


def is_number(value: Any) -> TypeGuard[float]:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# -- combinators ----------------------------------------------------------------------------


def optional(check: Validator[T]) -> Validator[T | None]:
    """None, or what `check` accepts."""

    def optional(value: Any) -> T | None:
        return None if value is None else check(value)

    return optional


def or_callable(check: Validator[T]) -> Validator[T | Callable[..., Any]]:
    """Any callable, or what `check` accepts."""

    def or_callable(value: Any) -> T | Callable[..., Any]:
        return value if callable(value) else check(value)

    return or_callable


def phrased(what: str, check: Validator[T]) -> Validator[T]:
    """`check`, saying "must be <what>" whatever it found wrong."""

    def phrased(value: Any) -> T:
        try:
            return check(value)
        except Invalid:
            raise Invalid.must_be(what, value) from None

    return phrased


# -- values ---------------------------------------------------------------------------------


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid.must_be("True or False", value)
    return value


def integer(low: int, high: int | None = None) -> Validator[int]:
    """An int (not a bool) from `low` to `high` (no upper bound when None)."""
    bounds = f"from {low} to {high}" if high is not None else f">= {low}"

    def integer(value: Any) -> int:
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < low
            or (high is not None and value > high)
        ):
            raise Invalid.must_be(f"an integer {bounds}", value)
        return value

    return integer


def seconds(value: Any) -> float:
    """A finite number of seconds >= 0, as a float."""
    if not is_number(value) or value < 0:
        raise Invalid.must_be("a number of seconds >= 0", value)
    return float(value)


def positive_seconds(value: Any) -> float:
    """A finite number of seconds > 0, as a float."""
    if not is_number(value) or value <= 0:
        raise Invalid.must_be("a number of seconds > 0", value)
    return float(value)


def text(what: str, pattern: re.Pattern[str] | None = None) -> Validator[str]:
    """A non-empty string, matching `pattern` if given."""

    def text(value: Any) -> str:
        if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
            raise Invalid.must_be(what, value)
        return value

    return text


def strings(what: str, each: Callable[[str], bool] = bool) -> Validator[tuple[str, ...]]:
    """A list or tuple of strings, each passing `each` (by default: non-empty); as a tuple."""

    def strings(value: Any) -> tuple[str, ...]:
        if (
            isinstance(value, str)
            or not isinstance(value, list | tuple)
            or not all(isinstance(item, str) and each(item) for item in value)
        ):
            raise Invalid.must_be(what, value)
        return tuple(value)

    return strings


def string_set(what: str) -> Validator[frozenset[str]]:
    """A list, tuple or set of strings, where order and repeats do not matter; as a frozenset."""

    def string_set(value: Any) -> frozenset[str]:
        if not isinstance(value, list | tuple | set | frozenset) or not all(
            isinstance(item, str) for item in value
        ):
            raise Invalid.must_be(what, value)
        return frozenset(value)

    return string_set


def mapping(value: Any) -> Mapping[str, Any]:
    """A mapping with string keys, as it is."""
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise Invalid.must_be("a dict with string keys", value)
    return value


def dictionary(value: Any) -> dict[str, Any]:
    """A mapping with string keys, as a dict of its own (a copy)."""
    return dict(mapping(value))


def instance_of(cls: type[T], what: str) -> Validator[T]:
    def instance_of(value: Any) -> T:
        if not isinstance(value, cls):
            raise Invalid.must_be(what, value)
        return value

    return instance_of


def a_callable(what: str) -> Validator[Callable[..., Any]]:
    def a_callable(value: Any) -> Callable[..., Any]:
        if not callable(value):
            raise Invalid.must_be(what, value)
        return value  # type: ignore[no-any-return]

    return a_callable


def choice(enum: type[E]) -> Validator[E]:
    """A member of `enum`, or its value (normalised to the member)."""
    what = "one of " + ", ".join(repr(member.value) for member in enum)

    def choice(value: Any) -> E:
        try:
            return enum(value)
        except (ValueError, TypeError):
            raise Invalid.must_be(what, value) from None

    return choice


def dotted_path(what: str = "a dotted import path") -> Validator[str]:
    """The dotted path of something that can be imported (it is imported to be sure)."""

    def dotted_path(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid.must_be(what, value)
        try:
            import_string(value)
        except Exception as exc:
            problem = f"= {value!r} cannot be imported ({type(exc).__name__}: {exc})"
            raise Invalid(Problem("", problem)) from None
        return value

    return dotted_path


def database_alias(value: Any) -> str:
    """An alias of `settings.DATABASES`."""
    aliases = list(getattr(django_settings, "DATABASES", {}))
    if not isinstance(value, str) or value not in aliases:
        raise Invalid.must_be(f"an alias in DATABASES ({', '.join(map(repr, aliases))})", value)
    return value
