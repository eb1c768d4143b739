"""An object-permission backend like django-rules or django-guardian would provide.

Django's ModelBackend answers False for every object-level check, so a trigger's
`permission` (checked as `actor.has_perm(permission, record)`) needs a backend like this.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend

from ash_oban_django import current_job


class WidgetObjectBackend(BaseBackend):
    """Grants a permission on a widget when the user holds it model-wide and the widget is
    not named "locked"."""

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        if perm == "testapp.purge_widget":
            # AshOban's AshObanInteraction bypass: allowed inside a background job only.
            return current_job() is not None
        if obj is None or not user_obj.is_active or getattr(obj, "name", "") == "locked":
            return False
        return perm in user_obj.get_all_permissions()
