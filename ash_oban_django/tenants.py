"""Tenants: which ones a scheduler runs for, and the context a job runs in for one."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from .conf import settings

if TYPE_CHECKING:
    from .registry import Registered


def list_tenants(entry: Registered) -> list[Any]:
    """The tenants of a declaration: its own `list_tenants`, the model's, or `[None]`."""
    return list(tenant_lister(entry.list_tenants)())


def tenant_lister(source: Any) -> Callable[[], Iterable[Any]]:
    """What a `list_tenants` value means: a function that lists the tenants.

    `None` is the one tenant `None`; a dotted path is imported first; an object with a
    `list_tenants()` method, a zero-argument callable and a list are each used as they are.
    Raises `ImproperlyConfigured` saying what is wrong (the system check E014 reports it).
    """
    if source is None:
        return lambda: [None]
    target = source
    if isinstance(source, str):
        try:
            target = import_string(source)
        except Exception as exc:
            raise ImproperlyConfigured(
                f"{source!r} cannot be imported ({type(exc).__name__}: {exc})"
            ) from exc
    method = getattr(target, "list_tenants", None)
    if method is not None:
        if not callable(method):
            raise ImproperlyConfigured(f"{source!r} has a `list_tenants` that is not callable")
        return method  # type: ignore[no-any-return]
    if callable(target):
        return target  # type: ignore[no-any-return]
    if isinstance(target, Iterable) and not isinstance(target, str | bytes):
        return lambda: target
    if isinstance(source, str):
        raise ImproperlyConfigured(
            f"{source!r} imports {target!r}, which has no callable `list_tenants`"
        )
    raise ImproperlyConfigured(
        f"must be a list, a zero-argument callable or a dotted path, got {source!r}"
    )


@contextlib.contextmanager
def tenant_context(tenant: Any) -> Iterator[None]:
    """Enter `ASH_OBAN["TENANT_CONTEXT"](tenant)` when configured (schema-per-tenant)."""
    path = settings.TENANT_CONTEXT
    if not path:
        yield
        return
    with import_string(path)(tenant):
        yield


def filter_tenant(queryset: QuerySet[Any], entry: Registered, tenant: Any) -> QuerySet[Any]:
    """Only the tenant's rows, for models that hold their tenant in `tenant_field`."""
    field = entry.options.tenant_field
    if field is None or tenant is None:
        return queryset
    return queryset.filter(**{field: tenant})
