"""Actors: who a job acts for, stored in its args and looked up again on every attempt."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .conf import settings
from .declarations import Declaration


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


def get_persister(declaration: Declaration | None = None) -> ActorPersister | None:
    """The persister of `declaration`'s jobs: its `actor_persister`, else the setting's."""
    source: Any = getattr(declaration, "actor_persister", None) or settings.ACTOR_PERSISTER
    if not source:
        return None
    persister = import_string(source) if isinstance(source, str) else source
    found: ActorPersister = persister() if isinstance(persister, type) else persister
    return found


def store_actor(actor: Any, declaration: Declaration | None = None) -> Any:
    """JSON for `actor`, for the args of a job of `declaration`. An actor with no
    persister is an error."""
    if actor is None:
        return None
    persister = get_persister(declaration)
    if persister is None:
        raise ImproperlyConfigured(
            "An actor was passed but no actor persister is configured, so it cannot be stored "
            "on the job. Set ASH_OBAN['ACTOR_PERSISTER'] (for users: "
            "'ash_oban_django.actors.UserPersister'), or the declaration's actor_persister."
        )
    return persister.store(actor)


def lookup_actor(value: Any, declaration: Declaration | None = None) -> Any:
    """The actor for a job's stored value. A job that carries none gets the declaration's
    `default_actor` (called, when it is a callable), else the persister's `lookup(None)`."""
    default = getattr(declaration, "default_actor", None)
    if value is None and default is not None:
        return default() if callable(default) else default
    persister = get_persister(declaration)
    if persister is None:
        return None
    return persister.lookup(value)
