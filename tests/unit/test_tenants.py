"""Tenants (docs/tenants-and-actors.md): which ones a scheduler runs for, and the context and
rows a job of one sees."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from ash_oban_django import ScheduledAction, Trigger
from ash_oban_django.registry import ModelOptions, RegisteredAction, RegisteredTrigger
from ash_oban_django.tenants import filter_tenant, list_tenants, tenant_context, tenant_lister
from tests.testapp import tenancy
from tests.testapp.models import Widget

# Dotted paths `tenant_lister` imports.
TENANTS = ["north", "south"]


class Directory:
    """An object with a `list_tenants()` method, as a dotted path may name."""

    @staticmethod
    def list_tenants() -> Iterable[str]:
        return iter(["east"])


NOT_CALLABLE = type("NotCallable", (), {"list_tenants": ["west"]})()


def test_tenant_lister__none_is_the_one_tenant_none() -> None:
    assert list(tenant_lister(None)()) == [None]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (["a", "b"], ["a", "b"]),
        (("a",), ["a"]),
        (lambda: ["c"], ["c"]),
        (Directory, ["east"]),
        (Directory(), ["east"]),
        (f"{__name__}.TENANTS", TENANTS),
        (f"{__name__}.Directory", ["east"]),
    ],
    ids=["list", "tuple", "callable", "class", "object", "path-to-list", "path-to-object"],
)
def test_tenant_lister__each_form_lists_its_tenants(source: Any, expected: list[Any]) -> None:
    assert list(tenant_lister(source)()) == expected


def test_tenant_lister__a_list_is_read_at_each_call() -> None:
    tenants = ["a"]
    lister = tenant_lister(tenants)
    tenants.append("b")
    assert list(lister()) == ["a", "b"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "tests.nowhere.TENANTS",
            "'tests.nowhere.TENANTS' cannot be imported (ModuleNotFoundError:",
        ),
        (f"{__name__}.NOT_CALLABLE", "has a `list_tenants` that is not callable"),
        (f"{__name__}.__doc__", "which has no callable `list_tenants`"),
        (42, "must be a list, a zero-argument callable or a dotted path, got 42"),
        (b"ab", "must be a list, a zero-argument callable or a dotted path, got b'ab'"),
    ],
    ids=["unimportable", "attribute-not-callable", "path-to-a-string", "int", "bytes"],
)
def test_tenant_lister__bad_values_say_what_is_wrong(source: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        tenant_lister(source)
    assert message in str(raised.value)


def test_list_tenants__the_declaration_s_own_over_the_model_s() -> None:
    options = ModelOptions(list_tenants=["model"])
    own = RegisteredTrigger(Widget, Trigger("a", list_tenants=["own"]), options, "test")
    inherited = RegisteredTrigger(Widget, Trigger("b"), options, "test")
    action = RegisteredAction(Widget, ScheduledAction("c", "* * * * *"), options, "test")
    assert list_tenants(own) == ["own"]
    assert list_tenants(inherited) == ["model"]
    assert list_tenants(action) == ["model"]


def test_list_tenants__none_declared_is_the_tenant_none() -> None:
    entry = RegisteredTrigger(Widget, Trigger("a"), ModelOptions(), "test")
    assert list_tenants(entry) == [None]


def test_tenant_context__entered_with_the_tenant_when_configured() -> None:
    tenancy.ENTERED.clear()
    path = "tests.testapp.tenancy.use_tenant"
    with override_settings(ASH_OBAN={"TENANT_CONTEXT": path}), tenant_context({"schema": "north"}):
        assert tenancy.ENTERED == [{"schema": "north"}]
    assert tenancy.ENTERED == [{"schema": "north"}]
    tenancy.ENTERED.clear()


def test_tenant_context__nothing_entered_without_the_setting() -> None:
    tenancy.ENTERED.clear()
    with override_settings(ASH_OBAN={}), tenant_context("north"):
        pass
    assert tenancy.ENTERED == []


def test_filter_tenant__only_the_tenant_s_rows_with_a_tenant_field() -> None:
    entry = RegisteredTrigger(Widget, Trigger("a"), ModelOptions(tenant_field="tenant"), "test")
    queryset = Widget.objects.all()
    filtered = filter_tenant(queryset, entry, "north")
    assert str(filtered.query) == str(queryset.filter(tenant="north").query)


def test_filter_tenant__unchanged_without_a_tenant_field_or_a_tenant() -> None:
    queryset = Widget.objects.all()
    scoped = RegisteredTrigger(Widget, Trigger("a"), ModelOptions(tenant_field="tenant"), "test")
    unscoped = RegisteredTrigger(Widget, Trigger("a"), ModelOptions(), "test")
    assert filter_tenant(queryset, scoped, None) is queryset  # a scan across all tenants
    assert filter_tenant(queryset, unscoped, "north") is queryset
