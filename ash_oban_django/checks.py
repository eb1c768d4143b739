"""Django system checks: everything about a declaration that needs its model or the settings.

`check_declarations` reports the registry's collection problems and checks every active
declaration against its model; `check_settings` checks `ASH_OBAN`. Both read the settings when
they run, and neither raises: a check that trips over something unexpected reports E000.

Ids: E000 a check itself failed; E001 malformed `class Oban`; E002 duplicate name or stable
name; E019 an invalid option value in `class Oban` (the last three found by the registry); E003 cron that never fires; E004 bad `where`; E005 bad `sort`; E006 bad trigger action;
E007 bad `on_error`; E008 bad scheduled-action method; E009 queue on an unknown django-q2
cluster; E010 arguments that are not JSON; E011 bad `ASH_OBAN`; E012 unknown manager;
E013 bad tenant field; E014 bad `list_tenants`; E015 unknown app in `APPS`;
W001 (E016 with `REQUIRE_NAMES`) stable names not pinned; E017 a cron stable name too
long for django-q2's schedule name. `check_django_q` covers the django-q2 settings:
E018 django_q not installed; W002 `retry` not above `timeout`; W003 a declaration's `timeout`
not below its cluster's; W004 the ORM broker on another database than the ledger; W005 no
broker configured; W006 `sync` mode.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from croniter import croniter
from django.apps import AppConfig, apps
from django.conf import settings as django_settings
from django.core import checks
from django.db.models import Manager, Model, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from .conf import DEFAULTS, settings
from .registry import Registered, RegisteredAction, RegisteredTrigger, Registry, model_label
from .registry import registry as default_registry

TAG = "ash_oban_django"
Messages = list[checks.CheckMessage]


def _message(id: str, msg: str, hint: str, obj: Any = None) -> checks.CheckMessage:
    level = checks.Warning if id.startswith("ash_oban_django.W") else checks.Error
    return level(msg, hint=hint, obj=obj, id=id)


def _crashed(what: str, exc: Exception, obj: Any) -> checks.CheckMessage:
    return _message(
        "ash_oban_django.E000",
        f"Checking {what} failed: {type(exc).__name__}: {exc}",
        "The checks could not understand this declaration or setting; fix what the error "
        "names, or report it to ash_oban_django if it looks valid.",
        obj,
    )


def _selected(model: Any, app_configs: Sequence[AppConfig] | None) -> bool:
    """`manage.py check <app>` passes the apps to check; no apps means all of them."""
    if app_configs is None:
        return True
    meta = getattr(model, "_meta", None)
    return meta is not None and meta.app_config in app_configs


# -- declarations ---------------------------------------------------------------------------


@checks.register(checks.Tags.models, TAG)
def check_declarations(
    app_configs: Sequence[AppConfig] | None = None,
    *,
    registry: Registry | None = None,
    **kwargs: Any,
) -> Messages:
    """Collection problems (E001, E002), then every active declaration against its model."""
    registry = default_registry if registry is None else registry
    messages = [
        _message(p.id, p.msg, p.hint, p.obj)
        for p in registry.problems
        if _selected(p.obj, app_configs)
    ]
    try:
        entries = [e for e in registry.entries() if _selected(e.model, app_configs)]
    except Exception as exc:  # e.g. a malformed ASH_OBAN["APPS"], reported by check_settings
        return [*messages, _crashed("the active declarations", exc, None)]
    for entry in entries:
        for check in _ENTRY_CHECKS:
            messages += _safely(check, entry, entry.label, entry.model)
    # Model-level options are shared by every declaration of one `class Oban` or one
    # register() call: check them once per source, not once per declaration.
    sources: dict[tuple[type[Model], str], list[Registered]] = {}
    for entry in entries:
        sources.setdefault((entry.model, entry.origin), []).append(entry)
    for (model, origin), group in sources.items():
        messages += _safely(_check_model_options, group, origin, model)
    return messages


def _safely(check: Callable[[Any], Messages], arg: Any, what: str, obj: Any) -> Messages:
    try:
        return check(arg)
    except Exception as exc:  # a check reports problems; it must never crash `manage.py check`
        return [_crashed(what, exc, obj)]


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
            _message(
                "ash_oban_django.E003",
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
                _message(
                    "ash_oban_django.E004",
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
                _message(
                    "ash_oban_django.E005",
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
            _message(
                "ash_oban_django.E008",
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
            _message(
                "ash_oban_django.E006",
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
            _message(
                "ash_oban_django.E007",
                f"{entry.label}: `on_error` {on_error!r} {_FOUND[kind]} on {label}; it must be an "
                "instance method.",
                f"Define `def {on_error}(self, *, error)` on {label}; it is called on the locked "
                "record after the last failed attempt.",
                model,
            )
        )
    return messages


def _configured_clusters() -> list[str]:
    q_cluster = getattr(django_settings, "Q_CLUSTER", None)
    q_cluster = q_cluster if isinstance(q_cluster, dict) else {}
    alt = q_cluster.get("ALT_CLUSTERS")
    return [q_cluster.get("name", "default"), *(alt if isinstance(alt, dict) else {})]


def _cluster_of(queue: str) -> Any:
    # Read the raw setting: a malformed QUEUES is E011's to report, not a reason to crash here.
    queues = settings.raw().get("QUEUES")
    spec = queues.get(queue) if isinstance(queues, dict) else None
    return spec.get("cluster") if isinstance(spec, dict) else None


def _check_queues(entry: Registered) -> Messages:
    queues = [entry.queue]
    if isinstance(entry, RegisteredTrigger) and entry.scheduler_queue != entry.queue:
        queues.append(entry.scheduler_queue)
    clusters = _configured_clusters()
    messages: Messages = []
    for queue in queues:
        cluster = _cluster_of(queue)
        if isinstance(cluster, str) and cluster not in clusters:
            messages.append(
                _message(
                    "ash_oban_django.E009",
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
                    _message(
                        "ash_oban_django.E010",
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
                _message(
                    "ash_oban_django.E012",
                    f"{entry.label}: `{option}` {source!r} is not a manager of {label}.",
                    f"Use the name of a manager of {label} ({managers}), or a "
                    "callable(model) -> QuerySet.",
                    model,
                )
            )
    return messages


def _list_tenants_problem(value: Any) -> str | None:
    """Why `tenants.list_tenants` could not use `value`, or None."""
    if value is None or callable(value) or isinstance(value, list | tuple):
        return None
    if not isinstance(value, str):
        return f"must be a list, a zero-argument callable or a dotted path, got {value!r}"
    try:
        target = import_string(value)
    except Exception as exc:
        return f"{value!r} cannot be imported ({type(exc).__name__}: {exc})"
    # tenants.list_tenants accepts an object with list_tenants(), a callable or an iterable.
    method = getattr(target, "list_tenants", None)
    if method is not None:
        return None if callable(method) else f"{value!r} has a `list_tenants` that is not callable"
    if callable(target) or isinstance(target, Iterable):
        return None
    return f"{value!r} imports {target!r}, which has no callable `list_tenants`"


_LIST_TENANTS_HINT = (
    "Use the dotted path of an object with a `list_tenants()` method (or of "
    "a callable returning the tenants), a list, or a zero-argument callable."
)


def _check_tenants(entry: Registered) -> Messages:
    messages: Messages = []
    problem = _list_tenants_problem(entry.declaration.list_tenants)
    if problem:
        messages.append(
            _message(
                "ash_oban_django.E014",
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
            _message(
                "ash_oban_django.E013",
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
    id = "ash_oban_django.E016" if settings.REQUIRE_NAMES else "ash_oban_django.W001"
    pins = ", ".join(f"{option}={name!r}" for option, name in missing.items())
    return [
        _message(
            id,
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
    if entry.cron is None or entry.state == "deleted":
        return []
    name = entry.scheduler_name if isinstance(entry, RegisteredTrigger) else entry.worker_name
    if len(name) <= SCHEDULE_NAME_MAX:
        return []
    option = "scheduler_name" if isinstance(entry, RegisteredTrigger) else "worker_name"
    return [
        _message(
            "ash_oban_django.E017",
            f"{entry.label}: the stable name {name!r} has {len(name)} characters; its django-q2 "
            f"cron schedule is named after it and takes at most {SCHEDULE_NAME_MAX}.",
            f"Set a shorter `{option}`.",
            entry.model,
        )
    ]


_ENTRY_CHECKS: tuple[Callable[[Any], Messages], ...] = (
    _check_crons,
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
            _message(
                "ash_oban_django.E013",
                f"{first.origin}: `tenant_field` {field!r} is not a field of {label} "
                f"(used by {used_by}).",
                f"Name the field of {label} that holds a row's tenant.",
                model,
            )
        )
    problem = _list_tenants_problem(options.list_tenants)
    if problem:
        messages.append(
            _message(
                "ash_oban_django.E014",
                f"{first.origin}: `list_tenants` {problem} (used by {used_by}).",
                _LIST_TENANTS_HINT,
                model,
            )
        )
    return messages


# -- settings -------------------------------------------------------------------------------

# Each validator returns what is wrong, as "<path> must be ..., got ..." tails after
# `ASH_OBAN['KEY']`.
Validator = Callable[[Any], list[str]]


def _must(what: str, value: Any, path: str = "") -> list[str]:
    return [f"{path} must be {what}, got {value!r}"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _app_labels(value: Any) -> list[str]:
    if value is None or (
        isinstance(value, list | tuple | set | frozenset)
        and all(isinstance(label, str) for label in value)
    ):
        return []
    return _must("a list of app labels or None", value)


def _boolean(value: Any) -> list[str]:
    return [] if isinstance(value, bool) else _must("True or False", value)


def _seconds(value: Any) -> list[str]:
    return [] if _is_number(value) and value >= 0 else _must("a number of seconds >= 0", value)


def _positive_int(value: Any) -> list[str]:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return [] if ok else _must("an integer >= 1", value)


def _dotted_path(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        return _must("a dotted import path or None", value)
    try:
        import_string(value)
    except Exception as exc:
        return [f" = {value!r} cannot be imported ({type(exc).__name__}: {exc})"]
    return []


def _database(value: Any) -> list[str]:
    aliases = list(getattr(django_settings, "DATABASES", {}))
    if isinstance(value, str) and value in aliases:
        return []
    return _must(f"an alias in DATABASES ({', '.join(map(repr, aliases))})", value)


def _queues(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return _must("a dict of {queue: {'cluster': ..., 'limit': ...}}", value)
    problems: list[str] = []
    for queue, spec in value.items():
        path = f"[{queue!r}]"
        if not isinstance(queue, str):
            problems += [f" has a queue name that is not a string: {queue!r}"]
        elif not isinstance(spec, dict):
            problems += _must("a dict with 'cluster' and/or 'limit'", spec, path)
        else:
            for key in spec:
                if key not in ("cluster", "limit"):
                    problems += [f"{path} has an unknown key {key!r} (use 'cluster', 'limit')"]
            if "cluster" in spec and not isinstance(spec["cluster"], str):
                problems += _must("a django-q2 cluster name", spec["cluster"], f"{path}['cluster']")
            if "limit" in spec:
                problems += [path + "['limit']" + p for p in _positive_int(spec["limit"])]
    return problems


_SETTINGS: dict[str, tuple[Validator, str]] = {
    "APPS": (_app_labels, "Use a list of installed app labels, e.g. ['shop'], or None for all."),
    "ACTOR_PERSISTER": (
        _dotted_path,
        "Use the dotted path of an ActorPersister, e.g. "
        "'ash_oban_django.actors.UserPersister', or None.",
    ),
    "AUTHORIZE": (_boolean, "Use True or False."),
    "DEBUG_ALL_TRIGGERS": (_boolean, "Use True or False."),
    "QUEUES": (
        _queues,
        "Use {'queue name': {'cluster': 'django-q2 cluster name', 'limit': 5}};"
        " both keys are optional.",
    ),
    "TENANT_CONTEXT": (
        _dotted_path,
        "Use the dotted path of a callable(tenant) -> context manager, or None.",
    ),
    "DATABASE": (_database, "Use the alias of the database that holds the triggered models."),
    "PRUNE_AFTER": (_seconds, "Use a number of seconds >= 0."),
    "RESCUE_AFTER": (_seconds, "Use a number of seconds >= 0."),
    "REQUIRE_NAMES": (_boolean, "Use True or False."),
    "DISPATCH_BATCH": (_positive_int, "Use an integer >= 1."),
}


@checks.register(TAG)
def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """`ASH_OBAN` itself (E011) and the apps it names (E015)."""
    try:
        return _settings_messages()
    except Exception as exc:  # never crash `manage.py check`
        return [_crashed("ASH_OBAN", exc, None)]


def _settings_messages() -> Messages:
    raw = getattr(django_settings, "ASH_OBAN", None)
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [
            _message(
                "ash_oban_django.E011",
                f"ASH_OBAN must be a dict, got {raw!r}.",
                "Set ASH_OBAN = {...} with the keys of the settings reference.",
            )
        ]
    messages: Messages = []
    valid = sorted(DEFAULTS)
    for key, value in raw.items():
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), valid, n=1)
            messages.append(
                _message(
                    "ash_oban_django.E011",
                    f"ASH_OBAN has an unknown key {key!r}.",
                    (f"Did you mean {close[0]!r}? " if close else "")
                    + f"Valid keys: {', '.join(valid)}.",
                )
            )
            continue
        # A key added to DEFAULTS without a validator yet is accepted as it is.
        validate, hint = _SETTINGS.get(key, (lambda value: [], ""))
        messages += [
            _message("ash_oban_django.E011", f"ASH_OBAN[{key!r}]{problem}.", hint)
            for problem in validate(value)
        ]
    labels = raw.get("APPS")
    if labels is not None and not _app_labels(labels):
        installed = {config.label for config in apps.get_app_configs()}
        by_name = {config.name: config.label for config in apps.get_app_configs()}
        for label in labels:
            if label not in installed:
                messages.append(
                    _message(
                        "ash_oban_django.E015",
                        f"ASH_OBAN['APPS'] names {label!r}, which is not an installed app label.",
                        f"Use the label {by_name[label]!r} of the app {label!r}."
                        if label in by_name
                        else "Use app labels (AppConfig.label) of apps in INSTALLED_APPS.",
                    )
                )
    return messages


# -- django-q2 ----------------------------------------------------------------------------------


@checks.register(TAG)
def check_django_q(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> Messages:
    """django-q2 settings that would break the guarantees of the ledger (E018, W002-W006)."""
    try:
        return _django_q_messages()
    except Exception as exc:  # never crash `manage.py check`
        return [_crashed("Q_CLUSTER", exc, None)]


def _clusters() -> dict[str, dict[str, Any]]:
    """Each configured cluster's effective settings (ALT_CLUSTERS override the base)."""
    q_cluster = getattr(django_settings, "Q_CLUSTER", None)
    base = q_cluster if isinstance(q_cluster, dict) else {}
    alt = base.get("ALT_CLUSTERS")
    clusters = {base.get("name", "default"): base}
    for name, overrides in (alt if isinstance(alt, dict) else {}).items():
        clusters[name] = {**base, **(overrides if isinstance(overrides, dict) else {})}
    return clusters


_BROKERS = ("orm", "redis", "django_redis", "iron_mq", "sqs", "mongo", "broker_class")


def _django_q_messages() -> Messages:
    if not apps.is_installed("django_q"):
        return [
            _message(
                "ash_oban_django.E018",
                "django_q is not in INSTALLED_APPS: no cluster can run the jobs and the cron "
                "schedules cannot be written.",
                "Add 'django_q' to INSTALLED_APPS and run `manage.py migrate`.",
            )
        ]
    messages: Messages = []
    q_cluster = getattr(django_settings, "Q_CLUSTER", None) or {}
    if not any(q_cluster.get(key) for key in _BROKERS):
        messages.append(
            _message(
                "ash_oban_django.W005",
                "Q_CLUSTER configures no broker, so django-q2 falls back to Redis on localhost.",
                f"Set Q_CLUSTER['orm'] = {settings.DATABASE!r}: the ORM broker on the ledger's "
                "database commits dispatch tasks together with the jobs.",
            )
        )
    orm = q_cluster.get("orm")
    if orm and orm != settings.DATABASE:
        messages.append(
            _message(
                "ash_oban_django.W004",
                f"Q_CLUSTER['orm'] is {orm!r} but the ledger is on {settings.DATABASE!r}: "
                "django-q2 then closes the ledger's connection inside its scheduler pass.",
                f"Use Q_CLUSTER['orm'] = {settings.DATABASE!r}.",
            )
        )
    if q_cluster.get("sync"):
        messages.append(
            _message(
                "ash_oban_django.W006",
                "Q_CLUSTER['sync'] is on: every job would run inside the process and "
                "transaction that inserted it.",
                "Turn sync off; tests run jobs with ash_oban_django.testing.drain_queues().",
            )
        )
    for name, cluster in _clusters().items():
        timeout, retry = cluster.get("timeout"), cluster.get("retry", 60)
        if _is_number(timeout) and _is_number(retry) and retry <= timeout:
            messages.append(
                _message(
                    "ash_oban_django.W002",
                    f"django-q2 cluster {name!r}: retry ({retry}) is not above timeout "
                    f"({timeout}), so django-q2 hands a task still running to a second worker.",
                    "Set retry to timeout plus the longest time a task waits in the cluster, "
                    "e.g. timeout + 60.",
                )
            )
    messages += _declaration_timeouts()
    return messages


def _declaration_timeouts() -> Messages:
    from .dispatch.routing import cluster_for

    clusters = _clusters()
    messages: Messages = []
    for entry in default_registry.entries():
        timeout = entry.declaration.timeout
        cluster = clusters.get(cluster_for(entry.queue), {})
        limit = cluster.get("timeout")
        if timeout is not None and _is_number(limit) and timeout >= limit:  # type: ignore[operator]
            messages.append(
                _message(
                    "ash_oban_django.W003",
                    f"{entry.label}: timeout {timeout:g}s is not below its django-q2 cluster's "
                    f"timeout ({limit}s), so django-q2 kills the worker before the attempt "
                    "fails with JobTimeout; the job then waits to be rescued.",
                    "Lower the declaration's timeout or raise Q_CLUSTER['timeout'].",
                    entry.model,
                )
            )
    return messages
