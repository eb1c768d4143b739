"""Actors: who a job acts for, stored in its args and looked up again on every attempt."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .conf import settings


@runtime_checkable
class ActorPersister(Protocol):
    """Turns an actor into JSON for the job row, and back.

    `lookup(None)` is called when a job carries no actor: return a default actor or None.
    Raise to fail the attempt (it is retried like any error).
    """

    def store(self, actor: Any) -> Any: ...

    def lookup(self, value: Any) -> Any: ...


class UserPersister:
    """Stores a user of `AUTH_USER_MODEL` as its primary key; no default actor."""

    def store(self, actor: Any) -> Any:
        return {"pk": actor.pk}

    def lookup(self, value: Any) -> Any:
        if value is None:
            return None
        return get_user_model()._default_manager.get(pk=value["pk"])


def get_persister() -> ActorPersister | None:
    path = settings.ACTOR_PERSISTER
    if not path:
        return None
    persister = import_string(path)
    found: ActorPersister = persister() if isinstance(persister, type) else persister
    return found


def store_actor(actor: Any) -> Any:
    """JSON for `actor`, for a job's args. An actor with no persister is an error."""
    if actor is None:
        return None
    persister = get_persister()
    if persister is None:
        raise ImproperlyConfigured(
            "An actor was passed but no actor persister is configured, so it cannot be stored "
            "on the job. Set ASH_OBAN['ACTOR_PERSISTER'] (for users: "
            "'ash_oban_django.actors.UserPersister')."
        )
    return persister.store(actor)


def lookup_actor(value: Any) -> Any:
    """The actor for a job's stored value; `lookup(None)` gives the default actor."""
    persister = get_persister()
    if persister is None:
        return None
    return persister.lookup(value)
