"""System checks of the declarations: everything about one that needs its model or settings.

`check_declarations` reports the registry's collection problems (E001, E002, E019), checks
every active declaration against its model, then each `class Oban` (or `register()` call)'s
model-level options once.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any

from croniter import croniter
from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Manager, Model, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from ..conf import settings
from ..declarations import DeclarationState
from ..dispatch import routing
from ..exceptions import InvalidSetting
from ..registry import (
    ProblemKind,
    Registered,
    RegisteredAction,
    RegisteredTrigger,
    Registry,
    model_label,
)
from ..registry import registry as default_registry
from ..tenants import tenant_lister
from .common import TAG, Messages, crashed, safely
from .ids import (
    E001,
    E002,
    E003,
    E004,
    E005,
    E006,
    E007,
    E008,
    E009,
    E010,
    E012,
    E013,
    E014,
    E016,
    E017,
    E019,
    E025,
    E026,
    W001,
    CheckId,
)

# The id under which each kind of registry problem is reported.
PROBLEM_IDS: dict[ProblemKind, CheckId] = {
    ProblemKind.MALFORMED_OBAN: E001,
    ProblemKind.DUPLICATE_NAME: E002,
    ProblemKind.INVALID_OPTION: E019,
}


def _selected(model: Any, app_configs: Sequence[AppConfig] | None) -> bool:
    """`manage.py check <app>` passes the apps to check; no apps means all of them."""
    if app_configs is None:
        return True
    meta = getattr(model, "_meta", None)
    return meta is not None and meta.app_config in app_configs


@checks.register(checks.Tags.models, TAG)
def check_declarations(
    app_configs: Sequence[AppConfig] | None = None,
    *,
    registry: Registry | None = None,
    **kwargs: Any,
) -> Messages:
    """Collection problems (E001, E002, E019), then every active declaration against its
    model, then the model-level options of each source."""
    registry = default_registry if registry is None else registry
    messages = [
        PROBLEM_IDS[p.kind].message(p.msg, p.hint, p.obj)
        for p in registry.problems
        if _selected(p.obj, app_configs)
    ]
    try:
        entries = [e for e in registry.entries() if _selected(e.model, app_configs)]
    except InvalidSetting:  # a malformed ASH_OBAN["APPS"]: check_settings reports it
        return messages
    except Exception as exc:
        return [*messages, crashed("the active declarations", exc, None)]
    for entry in entries:
        for check in _ENTRY_CHECKS:
            messages += safely(entry.label, entry.model, check, entry)
    # Model-level options are shared by every declaration of one `class Oban` or one
    # register() call: check them once per source, not once per declaration.
    sources: dict[tuple[type[Model], str], list[Registered]] = {}
    for entry in entries:
        sources.setdefault((entry.model, entry.origin), []).append(entry)
    for (model, origin), group in sources.items():
        messages += safely(origin, model, _check_model_options, group)
    return messages


def _check_crons(entry: Registered) -> Messages:
    option = "scheduler_cron" if entry.is_trigger else "cron"
    cron = entry.cron
    if cron is None:
        return []
    try:
        # croniter gives up past `max_years_between_matches`: "0 0 31 2 *" would search forever.
        croniter(cron, timezone.now(), max_years_between_matches=5).get_next()
    except Exception as exc:
        return [
            E003.message(
                f"{entry.label}: `{option}` {cron!r} never fires (no matching time within 5 years: "
                f"{exc}).",
                "Use a day that exists in the month (February has no 30th or 31st)"
                + (
                    ", or scheduler_cron=None to disable the scheduler."
                    if entry.is_trigger
                    else "."
                ),
                entry.model,
            )
        ]
    return []


def _base_queryset(entry: RegisteredTrigger) -> QuerySet[Any]:
    """The scheduler's manager when `queryset` names one (it may add annotations that `where`
    and `sort` use), else the default manager. Callables are not called: they may query."""
    source = entry.trigger.queryset
    manager = getattr(entry.model, source, None) if isinstance(source, str) else None
    if not isinstance(manager, Manager):
        manager = entry.model._default_manager
    return manager.all()


def _check_filters(entry: Registered) -> Messages:
    if not isinstance(entry, RegisteredTrigger):
        return []
    messages: Messages = []
    label, where = model_label(entry.model), entry.trigger.where
    if where is not None:
        try:
            # filter() resolves fields and lookups while building the query; nothing runs.
            _base_queryset(entry).filter(where).query  # noqa: B018
        except Exception as exc:
            messages.append(
                E004.message(
                    f"{entry.label}: `where` is not a valid filter on {label}: {exc}",
                    f"Use fields and lookups of {label} in the Q, e.g. Q(field__lookup=value).",
                    entry.model,
                )
            )
    for item in entry.trigger.sort:
        try:
            _base_queryset(entry).order_by(item).query  # noqa: B018
        except Exception as exc:
            messages.append(
                E005.message(
                    f"{entry.label}: `sort` entry {item!r} does not name a field of {label} "
                    f"({exc}).",
                    f"Use field names of {label}, with a leading '-' for descending order.",
                    entry.model,
                )
            )
    return messages


def _method_kind(model: type[Model], name: str) -> str:
    """'missing', 'classmethod', 'staticmethod', 'instance method' or 'not callable'."""
    try:
        # getattr_static returns the descriptor itself (walking the MRO), so a classmethod is
        # not mistaken for the bound method getattr would return.
        raw = inspect.getattr_static(model, name)
    except AttributeError:
        return "missing"
    if isinstance(raw, classmethod | staticmethod):
        return type(raw).__name__
    return "instance method" if callable(getattr(model, name, None)) else "not callable"


_FOUND = {
    "missing": "does not exist",
    "not callable": "is not callable",
    "instance method": "is an instance method",
    "classmethod": "is a classmethod",
    "staticmethod": "is a staticmethod",
}


def _check_methods(entry: Registered) -> Messages:
    model, label = entry.model, model_label(entry.model)
    name = entry.declaration.method_name
    if isinstance(entry, RegisteredAction):
        kind = _method_kind(model, name)
        if kind in ("classmethod", "staticmethod"):
            return []
        return [
            E008.message(
                f"{entry.label}: the scheduled action's method {name!r} {_FOUND[kind]} on "
                f"{label}; it must be a classmethod or staticmethod.",
                f"Define `@classmethod def {name}(cls, **inputs)` on {label} (a scheduled action "
                "has no record to call it on), or set `action=` to one.",
                model,
            )
        ]
    assert isinstance(entry, RegisteredTrigger)
    messages: Messages = []
    # "delete" is record.delete(), which every model has.
    kind = "instance method" if name == "delete" else _method_kind(model, name)
    if kind != "instance method":
        messages.append(
            E006.message(
                f"{entry.label}: `action` {name!r} {_FOUND[kind]} on {label}; a trigger's action "
                "must be an instance method.",
                f"Define `def {name}(self, **inputs)` on {label}, or set `action=` to an "
                'existing instance method ("delete" deletes the record). Trigger actions are '
                "called on the locked record.",
                model,
            )
        )
    on_error = entry.trigger.on_error
    kind = "instance method" if on_error is None else _method_kind(model, on_error)
    if kind != "instance method":
        messages.append(
            E007.message(
                f"{entry.label}: `on_error` {on_error!r} {_FOUND[kind]} on {label}; it must be an "
                "instance method.",
                f"Define `def {on_error}(self, *, error)` on {label}; it is called on the locked "
                "record after the last failed attempt.",
                model,
            )
        )
    return messages


def _check_chunks(entry: Registered) -> Messages:
    """A chunked trigger's options that cannot work together."""
    if not isinstance(entry, RegisteredTrigger):
        return []
    model, label, trigger = entry.model, model_label(entry.model), entry.trigger
    chunks = trigger.chunks
    if chunks is None:
        return []
    messages: Messages = []
    if chunks.bulk_action is not None:
        name = chunks.bulk_action
        kind = _method_kind(model, name)
        if kind not in ("classmethod", "staticmethod"):
            messages.append(
                E025.message(
                    f"{entry.label}: `chunks.bulk_action` {name!r} {_FOUND[kind]} on {label}; "
                    "a bulk action must be a classmethod or staticmethod.",
                    f"Define `@classmethod def {name}(cls, records, **inputs)` on {label}: it "
                    "receives the chunk's locked rows, or leave bulk_action=None to call the "
                    "trigger's action on each row.",
                    model,
                )
            )
        if trigger.read_metadata is not None:
            messages.append(
                E025.message(
                    f"{entry.label}: `read_metadata` is set, but a bulk action receives no "
                    "per-row metadata.",
                    "Read what the bulk action needs from the rows it receives, or leave "
                    "bulk_action=None so each row's action gets its own `metadata=`.",
                    model,
                )
            )
    rescue_after = settings.RESCUE_AFTER
    if chunks.timeout >= rescue_after:
        messages.append(
            E025.message(
                f"{entry.label}: `chunks.timeout` ({chunks.timeout:g} s) is not below "
                f'ASH_OBAN["RESCUE_AFTER"] ({rescue_after:g} s): jobs claimed while a chunk '
                "fills would be rescued as orphans.",
                "Wait a few seconds at most for a chunk to fill (the default is 1 s).",
                model,
            )
        )
    return messages


def _cluster_of(queue: str) -> Any:
    # Read the raw setting: a malformed QUEUES is E011's to report, not a reason to crash here.
    queues = settings.raw().get("QUEUES")
    spec = queues.get(queue) if isinstance(queues, dict) else None
    return spec.get("cluster") if isinstance(spec, dict) else None


def _check_queues(entry: Registered) -> Messages:
    queues = entry.queues
    clusters = list(routing.clusters())
    messages: Messages = []
    for queue in queues:
        cluster = _cluster_of(queue)
        if isinstance(cluster, str) and cluster not in clusters:
            messages.append(
                E009.message(
                    f"{entry.label}: queue {queue!r} is mapped in ASH_OBAN['QUEUES'] to the "
                    f"django-q2 cluster {cluster!r}, which is not configured (configured: "
                    f"{', '.join(map(repr, clusters))}).",
                    f"Add {cluster!r} to Q_CLUSTER['ALT_CLUSTERS'], or map the queue to a "
                    "configured cluster.",
                    entry.model,
                )
            )
    return messages


def _check_json(entry: Registered) -> Messages:
    mappings = {"action_input": entry.declaration.action_input}
    if isinstance(entry, RegisteredTrigger) and isinstance(entry.trigger.extra_args, dict):
        mappings["extra_args"] = entry.trigger.extra_args
    messages: Messages = []
    for option, mapping in mappings.items():
        for key, value in mapping.items():
            try:
                # allow_nan=False: PostgreSQL's jsonb rejects NaN and Infinity.
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                messages.append(
                    E010.message(
                        f"{entry.label}: `{option}[{key!r}]` is not JSON-serialisable: {exc}.",
                        "Job arguments are stored as JSON: use strings, numbers, booleans, None, "
                        "lists and dicts (e.g. an ISO string instead of a datetime, a pk instead "
                        "of a model instance).",
                        entry.model,
                    )
                )
    return messages


def _check_querysets(entry: Registered) -> Messages:
    if not isinstance(entry, RegisteredTrigger):
        return []
    model, label = entry.model, model_label(entry.model)
    managers = ", ".join(repr(m.name) for m in model._meta.managers) or "none"
    messages: Messages = []
    for option in ("queryset", "worker_queryset"):
        source = getattr(entry.trigger, option)
        if isinstance(source, str) and not isinstance(getattr(model, source, None), Manager):
            messages.append(
                E012.message(
                    f"{entry.label}: `{option}` {source!r} is not a manager of {label}.",
                    f"Use the name of a manager of {label} ({managers}), or a "
                    "callable(model) -> QuerySet.",
                    model,
                )
            )
    return messages


def _list_tenants_problem(value: Any) -> str | None:
    """Why the tenants could not be listed from `value`, or None."""
    try:
        tenant_lister(value)
    except ImproperlyConfigured as exc:
        return str(exc)
    return None


_LIST_TENANTS_HINT = (
    "Use the dotted path of an object with a `list_tenants()` method (or of "
    "a callable returning the tenants), a list, or a zero-argument callable."
)


def _check_tenants(entry: Registered) -> Messages:
    messages: Messages = []
    problem = _list_tenants_problem(entry.declaration.list_tenants)
    if problem:
        messages.append(
            E014.message(
                f"{entry.label}: `list_tenants` {problem}.",
                _LIST_TENANTS_HINT,
                entry.model,
            )
        )
    if (
        isinstance(entry, RegisteredTrigger)
        and entry.trigger.use_tenant_from_record
        and not entry.options.tenant_field
    ):
        messages.append(
            E013.message(
                f"{entry.label}: `use_tenant_from_record=True` but {model_label(entry.model)} "
                "declares no `tenant_field`.",
                "Set `tenant_field` (in `class Oban` or register()) to the field that holds a "
                "row's tenant, or drop use_tenant_from_record.",
                entry.model,
            )
        )
    return messages


def _check_names(entry: Registered) -> Messages:
    declaration = entry.declaration
    missing: dict[str, str] = {}
    if declaration.worker_name is None:
        missing["worker_name"] = entry.worker_name
    if (
        isinstance(entry, RegisteredTrigger)
        and entry.cron is not None
        and entry.trigger.scheduler_name is None
    ):
        missing["scheduler_name"] = entry.scheduler_name
    if not missing:
        return []
    check_id = E016 if settings.REQUIRE_NAMES else W001
    pins = ", ".join(f"{option}={name!r}" for option, name in missing.items())
    return [
        check_id.message(
            f"{entry.label} has no {' and no '.join(f'`{o}`' for o in missing)}: its jobs are "
            "named after the model and declaration names.",
            f"Run `manage.py ash_oban_set_default_names` to pin the default names ({pins}), so "
            "renaming the model or trigger does not orphan queued jobs.",
            entry.model,
        )
    ]


# django-q2's Schedule.name is a CharField(max_length=100).
SCHEDULE_NAME_MAX = 100


def _check_cron_name(entry: Registered) -> Messages:
    if entry.cron is None or entry.state == DeclarationState.DELETED:
        return []
    name = entry.cron_name
    if len(name) <= SCHEDULE_NAME_MAX:
        return []
    option = "scheduler_name" if isinstance(entry, RegisteredTrigger) else "worker_name"
    return [
        E017.message(
            f"{entry.label}: the stable name {name!r} has {len(name)} characters; its django-q2 "
            f"cron schedule is named after it and takes at most {SCHEDULE_NAME_MAX}.",
            f"Set a shorter `{option}`.",
            entry.model,
        )
    ]


def _check_actor_persister(entry: Registered) -> Messages:
    path = entry.declaration.actor_persister
    if not isinstance(path, str):
        return []  # an object: its `store` and `lookup` were checked at declaration
    hint = (
        "Set actor_persister to the dotted path of an ActorPersister (an object or class with "
        "store(actor) and lookup(value)), e.g. 'ash_oban_django.actors.UserPersister'."
    )
    try:
        found = import_string(path)
    except Exception as exc:
        return [
            E026.message(
                f"{entry.label}: actor_persister {path!r} cannot be imported "
                f"({type(exc).__name__}: {exc}).",
                hint,
                entry.model,
            )
        ]
    if not all(callable(getattr(found, method, None)) for method in ("store", "lookup")):
        return [
            E026.message(
                f"{entry.label}: actor_persister {path!r} has no store() and lookup().",
                hint,
                entry.model,
            )
        ]
    return []


_ENTRY_CHECKS: tuple[Callable[[Any], Messages], ...] = (
    _check_actor_persister,
    _check_crons,
    _check_chunks,
    _check_filters,
    _check_methods,
    _check_queues,
    _check_json,
    _check_querysets,
    _check_tenants,
    _check_names,
    _check_cron_name,
)


def _check_model_options(group: list[Registered]) -> Messages:
    first = group[0]
    model, label, options = first.model, model_label(first.model), first.options
    used_by = ", ".join(e.label for e in group)
    messages: Messages = []
    field = options.tenant_field
    if field is not None and field not in {f.name for f in model._meta.get_fields()}:
        messages.append(
            E013.message(
                f"{first.origin}: `tenant_field` {field!r} is not a field of {label} "
                f"(used by {used_by}).",
                f"Name the field of {label} that holds a row's tenant.",
                model,
            )
        )
    problem = _list_tenants_problem(options.list_tenants)
    if problem:
        messages.append(
            E014.message(
                f"{first.origin}: `list_tenants` {problem} (used by {used_by}).",
                _LIST_TENANTS_HINT,
                model,
            )
        )
    return messages
