from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from ash_oban_django.actors import UserPersister


class SystemDefaultPersister(UserPersister):
    """Stores users by pk; a job without an actor runs as the user "system"."""

    def lookup(self, value: Any) -> Any:
        if value is None:
            return User.objects.get_or_create(username="system")[0]
        return super().lookup(value)


class NamePersister:
    """Stores an actor as its name; a job without one runs as "nobody". Its jobs' actors
    are plain strings."""

    def store(self, actor: Any) -> Any:
        return {"name": str(actor)}

    def lookup(self, value: Any) -> Any:
        return "nobody" if value is None else f"{value['name']} (looked up)"
