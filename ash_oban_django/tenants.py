"""Tenants: which ones a scheduler runs for, and the context a job runs in for one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.utils.module_loading import import_string

from .conf import settings

if TYPE_CHECKING:
    from .registry import Registered


def list_tenants(entry: Registered) -> list[Any]:
    """The tenants of a declaration: its own `list_tenants`, the model's, or `[None]`."""
    source = entry.list_tenants
    if source is None:
        return [None]
    if isinstance(source, str):
        source = import_string(source)
    if hasattr(source, "list_tenants"):
        return list(source.list_tenants())
    if callable(source):
        return list(source())
    return list(source)


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
