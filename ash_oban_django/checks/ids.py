"""Every system check id of ash_oban_django, declared once with its level.

A check module builds its messages from these constants (`E004.message(msg, hint, obj)`), so
an id and its level are written in one place; `BY_ID` lists them by id string.
`docs/operations.md` lists the same ids (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core import checks

from ..ledger.backend import SERVER_UNSUPPORTED


@dataclass(frozen=True, slots=True)
class CheckId:
    """A check id and the level of the messages reported under it."""

    id: str
    level: type[checks.Error] | type[checks.Warning]

    def message(self, msg: str, hint: str, obj: Any = None) -> checks.CheckMessage:
        return self.level(msg, hint=hint, obj=obj, id=self.id)


# a check itself failed on an unexpected value
E000 = CheckId("ash_oban_django.E000", checks.Error)
# malformed `class Oban` (found by the registry while collecting)
E001 = CheckId("ash_oban_django.E001", checks.Error)
# a name used twice on a model, or a stable name used twice (found by the registry)
E002 = CheckId("ash_oban_django.E002", checks.Error)
# a cron that never fires
E003 = CheckId("ash_oban_django.E003", checks.Error)
# `where` is not a valid filter on the model
E004 = CheckId("ash_oban_django.E004", checks.Error)
# a `sort` entry does not name a field
E005 = CheckId("ash_oban_django.E005", checks.Error)
# a trigger's action is missing or not an instance method
E006 = CheckId("ash_oban_django.E006", checks.Error)
# `on_error` is missing or not an instance method
E007 = CheckId("ash_oban_django.E007", checks.Error)
# a scheduled action's method is missing or not a classmethod / staticmethod
E008 = CheckId("ash_oban_django.E008", checks.Error)
# a queue routed to a django-q2 cluster that is not configured
E009 = CheckId("ash_oban_django.E009", checks.Error)
# `action_input` or `extra_args` values that are not JSON
E010 = CheckId("ash_oban_django.E010", checks.Error)
# an invalid `ASH_OBAN` setting or an unknown key
E011 = CheckId("ash_oban_django.E011", checks.Error)
# `queryset` / `worker_queryset` names no manager of the model
E012 = CheckId("ash_oban_django.E012", checks.Error)
# `tenant_field` is not a field, or `use_tenant_from_record` without one
E013 = CheckId("ash_oban_django.E013", checks.Error)
# `list_tenants` cannot be used
E014 = CheckId("ash_oban_django.E014", checks.Error)
# `ASH_OBAN["APPS"]` names an app label that is not installed
E015 = CheckId("ash_oban_django.E015", checks.Error)
# stable names not pinned, with `ASH_OBAN["REQUIRE_NAMES"]` (W001 otherwise)
E016 = CheckId("ash_oban_django.E016", checks.Error)
# a cron stable name too long for django-q2's schedule name
E017 = CheckId("ash_oban_django.E017", checks.Error)
# `django_q` is not installed
E018 = CheckId("ash_oban_django.E018", checks.Error)
# an invalid option value in a `class Oban` declaration (found by the registry)
E019 = CheckId("ash_oban_django.E019", checks.Error)
# Q_CLUSTER names the Redis broker but the `redis` package is not installed
E020 = CheckId("ash_oban_django.E020", checks.Error)
# the ledger's database server cannot run the ledger (MariaDB older than 10.6, MySQL older
# than 8.0.1); reported by the ledger's backend (`Backend.check`)
E021 = CheckId(SERVER_UNSUPPORTED, checks.Error)
# a `TASKS` entry uses the ledger's backend but ash_oban_django is not installed
E022 = CheckId("ash_oban_django.E022", checks.Error)
# a queue of a `TASKS` entry routed to a django-q2 cluster that is not configured
E023 = CheckId("ash_oban_django.E023", checks.Error)
# a `TASKS` entry's `OPTIONS` or `QUEUES` of the wrong type, or an unknown option
E024 = CheckId("ash_oban_django.E024", checks.Error)
# a trigger's `chunks` that cannot work (bulk action, read_metadata, fill timeout)
E025 = CheckId("ash_oban_django.E025", checks.Error)
# a declaration's `actor_persister` cannot be imported or is no ActorPersister
E026 = CheckId("ash_oban_django.E026", checks.Error)
# stable names not pinned
W001 = CheckId("ash_oban_django.W001", checks.Warning)
# a django-q2 cluster's `retry` is not above its `timeout`
W002 = CheckId("ash_oban_django.W002", checks.Warning)
# a declaration's `timeout` is not below its cluster's
W003 = CheckId("ash_oban_django.W003", checks.Warning)
# the ORM broker on another database than the ledger
W004 = CheckId("ash_oban_django.W004", checks.Warning)
# no django-q2 broker configured
W005 = CheckId("ash_oban_django.W005", checks.Warning)
# django-q2 `sync` mode is on
W006 = CheckId("ash_oban_django.W006", checks.Warning)
# `ASH_OBAN["TESTING"]` is set in settings checked for deployment
W007 = CheckId("ash_oban_django.W007", checks.Warning)

BY_ID: dict[str, CheckId] = {
    value.id: value for value in list(globals().values()) if isinstance(value, CheckId)
}
