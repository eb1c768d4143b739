"""Django system checks, one module per subject; every check id is declared in `ids`.

- `declarations`: the registry's collection problems and every active declaration against
  its model (`check_declarations`, tag `models`).
- `settings`: the `ASH_OBAN` setting (`check_settings`).
- `django_q`: the django-q2 settings (`check_django_q`).
- `database`: the ledger's database server (`check_database`, also tag `database`).
- `tasks`: the `TASKS` entries of the ledger's Django Tasks backend (`check_tasks`).

Importing this package registers the five with Django (`apps.py` does it in `ready()`).
None raises: a check that trips over something unexpected reports E000.
"""

from .database import check_database
from .declarations import check_declarations
from .django_q import check_django_q
from .settings import check_settings
from .tasks import check_tasks

__all__ = [
    "check_database",
    "check_declarations",
    "check_django_q",
    "check_settings",
    "check_tasks",
]
