"""Actors (docs/tenants-and-actors.md#actors): stored in a job's args through the configured
persister, and looked up again at each attempt. The user lookups run against the database in
tests/integration/enqueue/test_scheduler.py; here, the persister's choice and the errors."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from ash_oban_django.actors import (
    ActorPersister,
    UserPersister,
    get_persister,
    lookup_actor,
    store_actor,
)


class Named:
    """A persister kept as an instance, storing actors by name."""

    def store(self, actor: Any) -> Any:
        return {"name": actor}

    def lookup(self, value: Any) -> Any:
        return "anonymous" if value is None else value["name"]


NAMED = Named()


class Actor:
    pk = 12


def test_get_persister__none_without_the_setting() -> None:
    with override_settings(ASH_OBAN={}):
        assert get_persister() is None


def test_get_persister__a_class_is_instantiated_an_instance_is_used_as_it_is() -> None:
    with override_settings(ASH_OBAN={"ACTOR_PERSISTER": "ash_oban_django.actors.UserPersister"}):
        assert isinstance(get_persister(), UserPersister)
    with override_settings(ASH_OBAN={"ACTOR_PERSISTER": f"{__name__}.NAMED"}):
        assert get_persister() is NAMED
    assert isinstance(NAMED, ActorPersister)


def test_store_actor__through_the_persister() -> None:
    with override_settings(ASH_OBAN={"ACTOR_PERSISTER": "ash_oban_django.actors.UserPersister"}):
        assert store_actor(Actor()) == {"pk": 12}
    with override_settings(ASH_OBAN={"ACTOR_PERSISTER": f"{__name__}.NAMED"}):
        assert store_actor("ada") == {"name": "ada"}


def test_store_actor__no_actor_needs_no_persister() -> None:
    with override_settings(ASH_OBAN={}):
        assert store_actor(None) is None


def test_store_actor__an_actor_without_a_persister_says_what_to_set() -> None:
    with override_settings(ASH_OBAN={}), pytest.raises(ImproperlyConfigured) as raised:
        store_actor(Actor())
    assert "Set ASH_OBAN['ACTOR_PERSISTER']" in str(raised.value)
    assert "'ash_oban_django.actors.UserPersister'" in str(raised.value)


def test_lookup_actor__none_gives_the_persister_s_default() -> None:
    with override_settings(ASH_OBAN={"ACTOR_PERSISTER": f"{__name__}.NAMED"}):
        assert lookup_actor(None) == "anonymous"
        assert lookup_actor({"name": "ada"}) == "ada"
    with override_settings(ASH_OBAN={"ACTOR_PERSISTER": "ash_oban_django.actors.UserPersister"}):
        assert lookup_actor(None) is None  # users have no default actor


def test_lookup_actor__none_without_a_persister() -> None:
    with override_settings(ASH_OBAN={}):
        assert lookup_actor({"pk": 12}) is None
