"""`Trigger` and `ScheduledAction`: what a model declares in its `class Oban:`.

Both are frozen, keyword-only dataclasses (the name, and a scheduled action's cron, are
positional). Every value is checked on construction; problems that need the model or the
settings (a missing method, an unknown field) are system checks instead (`checks/`).

Each option is declared once, with `option()`: its type, default, help text (the source of
the documentation's option tables) and the check run on construction.
"""

from __future__ import annotations

import inspect
import re
import string
import sys
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, MISSING, dataclass, field, fields
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from croniter import croniter
from django.db.models import Q

from .exceptions import InvalidDeclaration
from .validators import (
    Invalid,
    Validator,
    a_callable,
    boolean,
    choice,
    dictionary,
    instance_of,
    integer,
    mapping,
    optional,
    or_callable,
    phrased,
    positive_seconds,
    seconds,
    strings,
    text,
)

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

    from .context import JobContext


class DeclarationState(StrEnum):
    """Whether a declaration's cron fires and its jobs run (not the state of a job)."""

    ACTIVE = "active"
    PAUSED = "paused"  # the cron row stays but does not fire; waiting jobs are cancelled
    DELETED = "deleted"  # the cron row is removed; waiting jobs are cancelled


# `state=` also takes the plain strings; they are normalised to the enum.
StateValue = Literal["active", "paused", "deleted"]
QuerysetSource = str | Callable[[type["Model"]], "QuerySet[Any]"]
Backoff = int | Callable[["JobContext"], float]
ListTenants = list[Any] | tuple[Any, ...] | Callable[[], Any] | str

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUEUE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_PERMISSION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z0-9_]+$")

# The cron aliases Oban accepts (`Oban.Cron.Expression`), as the five fields they stand for.
CRON_ALIASES: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@midnight": "0 0 * * *",
    "@daily": "0 0 * * *",
    "@hourly": "0 * * * *",
}


# The placeholders of a stable name given as a template, filled per concrete model by the
# registry: `"{app_label}.{model}:process"` names `shop.Order`'s jobs `"shop.Order:process"`.
NAME_PLACEHOLDERS = frozenset({"app_label", "model"})

# -- option checks ------------------------------------------------------------------------
#
# A check is a validator (`validators.py`): it returns the option's value, possibly normalised
# (a list made a tuple), or raises `Invalid`, which becomes "`option` must be ..., got ...".


def _stable_name(value: Any) -> str:
    """A stable name, or a template of one with `NAME_PLACEHOLDERS`."""
    if not isinstance(value, str) or not value:
        raise Invalid.must_be("a non-empty string or None", value)
    must = "a stable name or a template of one with the placeholders {app_label} and {model}"
    try:
        fields = list(string.Formatter().parse(value))
    except ValueError:
        raise Invalid.must_be(must, value) from None
    for _, placeholder, spec, conversion in fields:
        if placeholder is not None and (placeholder not in NAME_PLACEHOLDERS or spec or conversion):
            raise Invalid.must_be(must, value)
    return value


def _list_tenants(value: Any) -> Any:
    if value is None or callable(value) or isinstance(value, list | tuple):
        return value
    if not isinstance(value, str) or "." not in value:
        raise Invalid.must_be("a list, a callable or a dotted path", value)
    return value


def _cron(value: Any) -> str:
    """A valid five-field cron string; an Oban alias (`"@daily"`) becomes its five fields."""
    if not isinstance(value, str):
        raise Invalid.must_be("a cron string", value)
    if value == "@reboot":
        raise Invalid.must_be(
            "a cron string that repeats ('@reboot' has no time to fire on here; use e.g. "
            "'@hourly' or a five-field cron)",
            value,
        )
    expanded: str = CRON_ALIASES.get(value, value)
    if len(expanded.split()) != 5 or not croniter.is_valid(expanded):
        raise Invalid.must_be("a valid 5-field cron string such as '*/5 * * * *'", value)
    return expanded


def _time_zone(value: Any) -> str:
    """An IANA time zone name that this machine's time zone database knows."""
    must = "an IANA time zone name such as 'Europe/Paris'"
    if not isinstance(value, str) or not value:
        raise Invalid.must_be(f"{must}, or None", value)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Invalid.must_be(
            f"{must} (unknown to the time zone database; where the system has none, "
            "pip install tzdata)",
            value,
        ) from None
    return value


def _value_or_zero_argument_callable(value: Any) -> Any:
    if callable(value):
        try:
            inspect.signature(value).bind()
        except TypeError:
            raise Invalid.must_be("a value, or a callable that takes no arguments", value) from None
        except ValueError:  # no signature to read (some builtins): taken as it is
            pass
    return value


_PERSISTER = "a dotted path of an ActorPersister, an ActorPersister, or None"


def _persister(value: Any) -> Any:
    """A dotted path (imported by the system checks, E026), or an object with `store` and
    `lookup`, or a class of one."""
    if isinstance(value, str):
        if "." not in value:
            raise Invalid.must_be(_PERSISTER, value)
        return value
    if not all(callable(getattr(value, method, None)) for method in ("store", "lookup")):
        raise Invalid.must_be(_PERSISTER, value)
    return value


def option(
    default: Any = MISSING,
    *,
    help: str,
    check: Validator[Any] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A declaration option: its default, its help text (the documentation's option tables
    are generated from it) and the check run on construction, all in one place."""
    metadata = {"help": help, "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


_METHOD = text("a method name", _IDENTIFIER)
_MANAGER = optional(
    or_callable(text("a manager name, a callable(model) -> QuerySet, or None", _IDENTIFIER))
)
_PRIORITY = integer(0, 9)
_QUEUE_NAME = optional(text("a queue name of letters, digits, _ . : -", _QUEUE))
_STABLE_NAME = optional(_stable_name)


# -- options shared by Trigger and ScheduledAction (each call makes a new field) -----------

_name = partial(
    option,
    help="Identifier of the declaration, a Python identifier unique across the model's "
    "triggers and scheduled actions.",
    check=text("a Python identifier", _IDENTIFIER),
)

_action = partial(
    option,
    None,
    help="Method to call, defaulting to the name: for a trigger an instance method called "
    "on the locked record (`'delete'` deletes the record), for a scheduled action a "
    "classmethod or staticmethod of the model.",
    check=_METHOD,
)

_action_input = partial(
    option,
    factory=dict,
    help="Static keyword arguments (JSON values) passed to the method; `action_arguments` "
    "given when the job is inserted override them key by key.",
    check=dictionary,
)

_queue = partial(
    option,
    None,
    help="Ledger queue of the declaration's jobs, defaulting to "
    "`'<app_label>_<model>_<name>'` in lower case.",
    check=_QUEUE_NAME,
)

_max_attempts = partial(
    option,
    default=1,
    help="Attempts a worker or scheduled-action job gets before a failure is final.",
    check=integer(1),
)

_backoff = partial(
    option,
    default=None,
    help="Seconds to wait before a retry, as an `int` or a `callable(JobContext) -> "
    "float`; `None` uses the default of `15 + 2**attempt` seconds plus up to 10% jitter.",
    check=optional(or_callable(integer(0))),
)

_timeout_option = partial(
    option,
    default=None,
    help="Seconds one attempt may run before it fails with `JobTimeout` (a failed attempt "
    "like any other); `None` means no limit.",
    check=phrased("a number of seconds > 0 or None", optional(positive_seconds)),
)

_state_option = partial(
    option,
    DeclarationState.ACTIVE,
    help="`'active'`, `'paused'` (the cron row stays but does not fire, and waiting jobs "
    "are cancelled when they run) or `'deleted'` (the cron row is removed, jobs likewise "
    "cancelled).",
    check=choice(DeclarationState),
)

_list_tenants_option = partial(
    option,
    None,
    help="Tenants to run for (a list, a zero-argument callable or a dotted path), "
    "overriding the model's `Oban.list_tenants`.",
    check=_list_tenants,
)

_debug = partial(
    option,
    False,
    help="Write debug log lines for this declaration (`ASH_OBAN['DEBUG_ALL_TRIGGERS']` "
    "turns them on for all).",
    check=boolean,
)

_tags = partial(
    option,
    default=(),
    help="Strings stored on every job of the declaration, filterable in the admin.",
    check=strings("a list or tuple of non-empty strings"),
)

_worker_name = partial(
    option,
    None,
    help="Stable name stored on the worker or scheduled-action jobs, defaulting to "
    "`'<app_label>.<Model>:<name>'`; pin it so a rename does not orphan queued jobs. "
    "`{app_label}` and `{model}` in it are filled per concrete model (for a declaration "
    "shared through an abstract parent).",
    check=_STABLE_NAME,
)


# The options of a job whatever declared it, each call making a new field: triggers and
# scheduled actions declare their fields with them, and so does the Django Tasks task class
# (`tasks.LedgerTask`, which passes `default=` to leave room for the backend's defaults).
JOB_OPTIONS: dict[str, Callable[..., Any]] = {
    "max_attempts": _max_attempts,
    "backoff": _backoff,
    "timeout": _timeout_option,
    "tags": _tags,
}


_default_actor = partial(
    option,
    None,
    help="Actor of the declaration's jobs that carry none: a value, or a callable with no "
    "arguments called at each attempt (`current_job().actor` is what it gives); `None` asks "
    "the actor persister's `lookup(None)`.",
    check=_value_or_zero_argument_callable,
)

_actor_persister = partial(
    option,
    None,
    help="ActorPersister that stores and looks up the actors of the declaration's jobs (a "
    "dotted path, a class or an instance), instead of `ASH_OBAN['ACTOR_PERSISTER']`.",
    check=optional(_persister),
)

_timezone = partial(
    option,
    None,
    help="IANA time zone name (e.g. `'Europe/Paris'`) the cron is read in, for its slots "
    "and next run; `None` uses the project's `TIME_ZONE`.",
    check=optional(_time_zone),
)


def _problem() -> Any:
    # Set instead of raising when the declaration sits in a model's `class Oban` body.
    return field(default=None, init=False, repr=False, compare=False)


# -- construction -------------------------------------------------------------------------


def _freeze(obj: object, attribute: str, value: object) -> None:
    object.__setattr__(obj, attribute, value)


def _validate(declaration: Trigger | ScheduledAction | Chunks) -> None:
    """Run every option's check (in field order), keeping what it normalised."""
    named = getattr(declaration, "name", None)
    owner = type(declaration).__name__ + ("" if named is None else f" {named!r}")
    for option_field in fields(declaration):
        check = option_field.metadata.get("check")
        if check is None:
            continue
        value = getattr(declaration, option_field.name)
        try:
            checked = check(value)
        except Invalid as invalid:
            subject = f"{owner}: `{option_field.name}`"
            raise InvalidDeclaration("; ".join(invalid.messages(subject))) from None
        if checked is not value:
            _freeze(declaration, option_field.name, checked)


def _validate_or_defer(declaration: Trigger | ScheduledAction) -> None:
    """Validate; inside a model's `class Oban` body, keep the problem instead of raising.

    A model module that raised at import would stop every management command with a
    traceback; kept on the declaration, the problem is reported by `manage.py check` as
    `ash_oban_django.E019` instead, and the declaration is not registered.
    """
    if declaration.action is None:
        _freeze(declaration, "action", declaration.name)
    try:
        _validate(declaration)
    except InvalidDeclaration as exc:
        if not _in_oban_class_body():
            raise
        _freeze(declaration, "problem", str(exc))


def _in_oban_class_body() -> bool:
    frame = sys._getframe(1)
    for _ in range(8):  # this function, _validate_or_defer, __post_init__, __init__, the caller
        if frame is None:
            return False
        if frame.f_code.co_name == "Oban" and "__qualname__" in frame.f_locals:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


# The most rows one chunk may hold: its statements list every row's id, and a chunk holds
# its rows' locks until it commits.
MAX_CHUNK_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Chunks:
    """Run a trigger's jobs in chunks: one transaction locks up to `size` rows, re-checks
    `where` for all of them in one query, runs the action on each row in its own savepoint
    (or `bulk_action` once over them all) and records every job's outcome before one commit.

    AshOban's `chunks do size; timeout; by end`. Each row keeps its own job: its attempts,
    backoff, `on_error`, snooze and cancel work as for single jobs.
    """

    _: KW_ONLY
    size: int = option(
        100,
        help="Most jobs (rows) one chunk runs, from 1 to 1000.",
        check=integer(1, MAX_CHUNK_SIZE),
    )
    timeout: float = option(
        1.0,
        help="Seconds a worker waits for a chunk to fill when fewer than `size` jobs are "
        "runnable; 0 runs what there is at once. The trigger's own `timeout` bounds the "
        "chunk's run.",
        check=phrased("a number of seconds >= 0", seconds),
    )
    by: tuple[str, ...] = option(
        (),
        help="Keys of the jobs' `action_arguments` that a chunk's jobs share (besides their "
        "tenant and actor, which always do): jobs with other values run in other chunks.",
        check=strings(
            "a list or tuple of action_arguments keys (identifiers without '__')",
            lambda key: bool(_IDENTIFIER.match(key)) and "__" not in key,
        ),
    )
    bulk_action: str | None = option(
        None,
        help="Classmethod called once per chunk as `method(records, **inputs)` with the locked "
        "rows that still match (a list), instead of the action once per row; it returns None, "
        "or a mapping of the primary keys of the rows that failed to their exception (it must "
        "not have written those rows). `inputs` are `action_input` and the chunk's `by` "
        "arguments.",
        check=optional(text("a method name or None", _IDENTIFIER)),
    )

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True, slots=True)
class Trigger:
    """Run `action` on every row that matches `where`, one background job per row."""

    name: str = _name()
    _: KW_ONLY
    action: str | None = _action()
    where: Q | None = option(
        None,
        help="`Q` a row must match, both when the scheduler scans and again when the worker "
        "re-reads the row under its lock; `None` matches every row.",
        check=optional(instance_of(Q, "a django.db.models.Q or None")),
    )
    sort: tuple[str, ...] = option(
        (),
        help="`order_by` fields for the scheduler's scan ('-' prefix for descending), with the "
        "primary key always added as the last tie-breaker.",
        check=strings(
            "a list or tuple of field names (prefix '-' for descending)",
            lambda item: bool(item.lstrip("-")),
        ),
    )
    queryset: QuerysetSource | None = option(
        None,
        help="Manager name or `callable(model) -> QuerySet` the scheduler reads from, instead "
        "of the model's default manager.",
        check=_MANAGER,
    )
    worker_queryset: QuerysetSource | None = option(
        None,
        help="Manager name or `callable(model) -> QuerySet` the worker re-reads the row "
        "through, defaulting to `queryset`.",
        check=_MANAGER,
    )
    scheduler_cron: str | None = option(
        "* * * * *",
        help="Cron string (croniter syntax, five fields, or an alias such as `'@hourly'`) on "
        "which the scheduler looks for matching rows; `None` means no scheduler, so jobs only "
        "come from `run_trigger()`.",
        check=optional(_cron),
    )
    timezone: str | None = _timezone()
    queue: str | None = _queue()
    scheduler_queue: str | None = option(
        None,
        help="Ledger queue of the trigger's scheduler jobs, defaulting to `queue`.",
        check=_QUEUE_NAME,
    )
    worker_priority: int = option(
        2,
        help="Priority of the trigger's worker jobs, from 0 (runs first) to 9.",
        check=_PRIORITY,
    )
    scheduler_priority: int = option(
        3,
        help="Priority of the trigger's scheduler jobs, from 0 (runs first) to 9.",
        check=_PRIORITY,
    )
    max_attempts: int = _max_attempts()
    max_scheduler_attempts: int = option(
        1,
        help="Attempts a scheduler job gets before a failure is final.",
        check=integer(1),
    )
    backoff: Backoff | None = _backoff()
    timeout: float | None = _timeout_option()
    record_limit: int | None = option(
        None,
        help="Most rows one scheduler run enqueues jobs for; `None` means no limit.",
        check=optional(integer(1)),
    )
    stream_batch_size: int = option(
        1000, help="Rows per keyset page of the scheduler's scan.", check=integer(1)
    )
    lock_for_update: bool = option(
        True,
        help="Lock the row with `select_for_update()` in the transaction that runs the action, "
        "so nothing else changes it until the job is recorded.",
        check=boolean,
    )
    trigger_once: bool = option(
        False,
        help="A row that has had a completed job of this trigger is never enqueued again, even "
        "after old jobs are pruned.",
        check=boolean,
    )
    action_input: Mapping[str, Any] = _action_input()
    read_metadata: Callable[[Any], dict[str, Any]] | None = option(
        None,
        help="`callable(record) -> dict` the scheduler calls on the full row; the result is "
        "stored on the job and passed to the action as `metadata=`.",
        check=optional(a_callable("a callable(record) -> dict or None")),
    )
    extra_args: Mapping[str, Any] | Callable[[Any], dict[str, Any]] | None = option(
        None,
        help="Dict, or `callable(record) -> dict`, stored in the job's args under "
        "`extra_args`, visible in the ledger but not passed to the action.",
        check=optional(or_callable(mapping)),
    )
    on_error: str | None = option(
        None,
        help="Instance method called as `method(error=exc)` on the locked row after the last "
        "attempt fails; the job is then `completed` unless `on_error_fails_job` is set.",
        check=optional(text("a method name or None", _IDENTIFIER)),
    )
    on_error_fails_job: bool = option(
        False,
        help="Leave the job `discarded` rather than `completed` after `on_error` ran successfully.",
        check=boolean,
    )
    permission: str | None = option(
        None,
        help="`'app_label.codename'` that a job's actor must hold on the row "
        "(`actor.has_perm(permission, record)`) when the job carries an actor.",
        check=optional(text("an 'app_label.codename' string or None", _PERMISSION)),
    )
    default_actor: Any = _default_actor()
    actor_persister: Any = _actor_persister()
    list_tenants: ListTenants | None = _list_tenants_option()
    use_tenant_from_record: bool = option(
        False,
        help="Run one scheduler with tenant `None` over all rows and give each job the tenant "
        "held in the row's `tenant_field`.",
        check=boolean,
    )
    state: DeclarationState | StateValue = _state_option()
    log_errors: bool = option(
        True, help="Log every failed attempt with its traceback.", check=boolean
    )
    log_final_error: bool = option(
        True, help="Log the final failure even when `log_errors` is off.", check=boolean
    )
    chunks: Chunks | None = option(
        None,
        help="`Chunks(size=..., timeout=..., by=..., bulk_action=...)` runs the worker jobs "
        "in chunks of up to `size` rows, each chunk in one transaction (see Chunks); `None` "
        "runs one job per transaction.",
        check=optional(instance_of(Chunks, "a Chunks(...) or None")),
    )
    debug: bool = _debug()
    tags: tuple[str, ...] = _tags()
    worker_name: str | None = _worker_name()
    scheduler_name: str | None = option(
        None,
        help="Stable name of the trigger's scheduler jobs and cron row, defaulting to "
        "`'<app_label>.<Model>:<name>:scheduler'`; a template like `worker_name`.",
        check=_STABLE_NAME,
    )
    problem: str | None = _problem()

    def __post_init__(self) -> None:
        _validate_or_defer(self)

    @property
    def method_name(self) -> str:
        """The model method the worker calls (`action`, defaulted to the name)."""
        return self.action or self.name


@dataclass(frozen=True, slots=True)
class ScheduledAction:
    """Run a class-level model method on a cron."""

    name: str = _name()
    cron: str = option(
        help="Five-field cron string (croniter syntax) or an alias such as `'@daily'`, on "
        "which the scheduled action runs, e.g. `'0 */6 * * *'`.",
        check=_cron,
    )
    _: KW_ONLY
    timezone: str | None = _timezone()
    action: str | None = _action()
    action_input: Mapping[str, Any] = _action_input()
    queue: str | None = _queue()
    priority: int = option(
        3,
        help="Priority of the scheduled action's jobs, from 0 (runs first) to 9.",
        check=_PRIORITY,
    )
    max_attempts: int = _max_attempts()
    backoff: Backoff | None = _backoff()
    timeout: float | None = _timeout_option()
    state: DeclarationState | StateValue = _state_option()
    default_actor: Any = _default_actor()
    actor_persister: Any = _actor_persister()
    list_tenants: ListTenants | None = _list_tenants_option()
    debug: bool = _debug()
    tags: tuple[str, ...] = _tags()
    worker_name: str | None = _worker_name()
    problem: str | None = _problem()

    def __post_init__(self) -> None:
        _validate_or_defer(self)

    @property
    def method_name(self) -> str:
        return self.action or self.name


Declaration = Trigger | ScheduledAction
