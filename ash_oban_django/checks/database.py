"""System checks of the ledger's database: what its backend reports (`Backend.check`), such
as E021 (a MariaDB or MySQL server too old).

Tagged `database` as well, so Django runs it where it may connect: `migrate`, and
`manage.py check --database <alias>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks

from .. import ledger
from ..conf import settings
from ..exceptions import InvalidSetting
from .common import TAG, Messages, safely


@checks.register(TAG, checks.Tags.database)
def check_database(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> Messages:
    """The ledger's database server against what the ledger needs (its backend's check)."""
    try:
        alias = settings.DATABASE
    except InvalidSetting:
        return []  # E011 reports it
    if not databases or alias not in databases:
        return []
    return safely(f"the database {alias!r}", None, lambda: ledger.engine().check())
