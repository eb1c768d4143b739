"""A `TENANT_CONTEXT` like a schema-per-tenant setup would provide."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENTERED: list[Any] = []


@contextmanager
def use_tenant(tenant: Any) -> Iterator[None]:
    ENTERED.append(tenant)
    yield
