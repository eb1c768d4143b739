"""What the check modules share: the tag, the message list type and the E000 fallback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core import checks

from ..exceptions import InvalidSetting
from .ids import E000

TAG = "ash_oban_django"
Messages = list[checks.CheckMessage]


def crashed(what: str, exc: Exception, obj: Any) -> checks.CheckMessage:
    return E000.message(
        f"Checking {what} failed: {type(exc).__name__}: {exc}",
        "The checks could not understand this declaration or setting; fix what the error "
        "names, or report it to ash_oban_django if it looks valid.",
        obj,
    )


def safely(what: str, obj: Any, check: Callable[..., Messages], *args: Any) -> Messages:
    """`check(*args)`, or E000 about `what` if it raises: a check must never crash
    `manage.py check`."""
    try:
        return check(*args)
    except InvalidSetting:
        return []  # a bad ASH_OBAN value: E011 reports it, once
    except Exception as exc:
        return [crashed(what, exc, obj)]
