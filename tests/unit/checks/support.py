"""What the check tests share: declarations on `Widget` with pinned names, id lists."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage

from ash_oban_django import ScheduledAction, Trigger

# What the test settings configure; tests that set ASH_OBAN start from it.
BASE = {"ACTOR_PERSISTER": "ash_oban_django.actors.UserPersister"}


def trigger(name: str, **options: Any) -> Trigger:
    """A trigger on Widget with pinned names, so only the problem under test is reported."""
    options.setdefault("action", "finish")
    options.setdefault("worker_name", f"testapp.Widget:{name}")
    options.setdefault("scheduler_name", f"testapp.Widget:{name}:scheduler")
    return Trigger(name, **options)


def action(name: str, cron: str = "0 3 * * *", **options: Any) -> ScheduledAction:
    options.setdefault("worker_name", f"testapp.Widget:{name}")
    return ScheduledAction(name, cron, **options)


def ours(messages: list[CheckMessage]) -> list[CheckMessage]:
    return [m for m in messages if m.id and m.id.startswith("ash_oban_django.")]


def ids(messages: list[CheckMessage]) -> list[str | None]:
    return [m.id for m in messages]
