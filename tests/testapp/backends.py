"""An object-permission backend like django-rules or django-guardian would provide.

Django's ModelBackend answers False for every object-level check, so a trigger's
`permission` (checked as `actor.has_perm(permission, record)`) needs a backend like this.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend


class WidgetObjectBackend(BaseBackend):
    """Grants a permission on a widget when the user holds it model-wide and the widget is
    not named "locked"."""

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        if obj is None or not user_obj.is_active or getattr(obj, "name", "") == "locked":
            return False
        return perm in user_obj.get_all_permissions()
