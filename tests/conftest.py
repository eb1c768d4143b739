from __future__ import annotations

import pytest
from django.db import connection

# What each marker needs, and the vendors that have it.
NEEDS = {
    "postgres": ({"postgresql"}, "needs PostgreSQL (set DATABASE_URL=postgres://...)"),
    "row_locks": (
        {"postgresql", "mysql"},
        "needs row locks (set DATABASE_URL=postgres://... or mysql://...)",
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, (vendors, reason) in NEEDS.items():
        if connection.vendor in vendors:
            continue
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)
