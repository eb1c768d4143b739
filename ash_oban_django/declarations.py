"""`Trigger` and `ScheduledAction`: what a model declares in its `class Oban:`.

Both are frozen, keyword-only dataclasses (the name, and a scheduled action's cron, are
positional). Every value is checked on construction; problems that need the model or the
settings (a missing method, an unknown field) are system checks instead (`checks.py`).
"""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from croniter import croniter
from django.db.models import Q

from .exceptions import InvalidDeclaration

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

    from .context import JobContext

State = Literal["active", "paused", "deleted"]
STATES: tuple[str, ...] = ("active", "paused", "deleted")

QuerysetSource = str | Callable[[type["Model"]], "QuerySet[Any]"]
Backoff = int | Callable[["JobContext"], float]
ListTenants = list[Any] | tuple[Any, ...] | Callable[[], Any] | str

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUEUE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_PERMISSION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z0-9_]+$")


def validate_cron(value: object) -> str | None:
    """Return the problem with a 5-field cron string, or None when it is valid."""
    if not isinstance(value, str):
        return f"must be a cron string, got {value!r}"
    if len(value.split()) != 5 or not croniter.is_valid(value):
        return f"must be a valid 5-field cron string such as '*/5 * * * *', got {value!r}"
    return None


# The placeholders of a stable name given as a template, filled per concrete model by the
# registry: `"{app_label}.{model}:process"` names `shop.Order`'s jobs `"shop.Order:process"`.
NAME_PLACEHOLDERS = frozenset({"app_label", "model"})


def _check_stable_name(check: _Validator, option: str, value: object) -> None:
    """`value` is None, a stable name, or a template of one with `NAME_PLACEHOLDERS`."""
    check.optional_str(option, value)
    if value is None:
        return
    must = "a stable name or a template of one with the placeholders {app_label} and {model}"
    try:
        fields = list(string.Formatter().parse(str(value)))
    except ValueError:
        check.fail(option, must, value)
    for _, placeholder, spec, conversion in fields:
        if placeholder is not None and (placeholder not in NAME_PLACEHOLDERS or spec or conversion):
            check.fail(option, must, value)


class _Validator:
    """Collects nothing: raises at the first bad option, naming the declaration."""

    def __init__(self, kind: str, name: object) -> None:
        self.prefix = f"{kind} {name!r}: "

    def fail(self, option: str, must: str, value: object) -> None:
        raise InvalidDeclaration(f"{self.prefix}`{option}` must be {must}, got {value!r}")

    def name(self, value: object) -> None:
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            self.fail("name", "a Python identifier", value)

    def optional_str(
        self,
        option: str,
        value: object,
        pattern: re.Pattern[str] | None = None,
        must: str = "a non-empty string or None",
    ) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
            self.fail(option, must, value)

    def integer(self, option: str, value: object, low: int, high: int | None = None) -> None:
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < low
            or (high is not None and value > high)
        ):
            bounds = f"from {low} to {high}" if high is not None else f">= {low}"
            self.fail(option, f"an integer {bounds}", value)

    def boolean(self, option: str, value: object) -> None:
        if not isinstance(value, bool):
            self.fail(option, "True or False", value)

    def cron(self, option: str, value: object) -> None:
        problem = validate_cron(value)
        if problem:
            raise InvalidDeclaration(f"{self.prefix}`{option}` {problem}")

    def state(self, value: object) -> None:
        if value not in STATES:
            self.fail("state", "one of 'active', 'paused', 'deleted'", value)

    def backoff(self, value: object) -> None:
        if value is None or callable(value):
            return
        self.integer("backoff", value, 0)

    def timeout(self, value: object) -> None:
        if value is None:
            return
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            self.fail("timeout", "a number of seconds > 0 or None", value)

    def mapping(self, option: str, value: object) -> None:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            self.fail(option, "a dict with string keys", value)

    def list_tenants(self, value: object) -> None:
        if value is None or callable(value) or isinstance(value, list | tuple):
            return
        if not isinstance(value, str) or "." not in value:
            self.fail("list_tenants", "a list, a callable or a dotted path", value)

    def tags(self, value: object) -> tuple[str, ...]:
        if (
            isinstance(value, str)
            or not isinstance(value, list | tuple)
            or not all(isinstance(tag, str) and tag for tag in value)
        ):
            self.fail("tags", "a list or tuple of non-empty strings", value)
        return tuple(value)  # type: ignore[arg-type]


def _freeze(obj: object, attribute: str, value: object) -> None:
    object.__setattr__(obj, attribute, value)


def _validate_or_defer(declaration: object, validate: Callable[[], None]) -> None:
    """Validate; inside a model's `class Oban` body, keep the problem instead of raising.

    A model module that raised at import would stop every management command with a
    traceback; kept on the declaration, the problem is reported by `manage.py check` as
    `ash_oban_django.E019` instead, and the declaration is not registered.
    """
    try:
        validate()
    except InvalidDeclaration as exc:
        if not _in_oban_class_body():
            raise
        _freeze(declaration, "problem", str(exc))


def _in_oban_class_body() -> bool:
    frame = sys._getframe(1)
    for _ in range(8):  # this function, the validator, __post_init__, __init__, the caller
        if frame is None:
            return False
        if frame.f_code.co_name == "Oban" and "__qualname__" in frame.f_locals:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


@dataclass(frozen=True, slots=True)
class Trigger:
    """Run `action` on every row that matches `where`, one background job per row."""

    name: str
    _: KW_ONLY
    action: str | None = None
    where: Q | None = None
    sort: tuple[str, ...] = ()
    queryset: QuerysetSource | None = None
    worker_queryset: QuerysetSource | None = None
    scheduler_cron: str | None = "* * * * *"
    queue: str | None = None
    scheduler_queue: str | None = None
    worker_priority: int = 2
    scheduler_priority: int = 3
    max_attempts: int = 1
    max_scheduler_attempts: int = 1
    backoff: Backoff | None = None
    timeout: float | None = None
    record_limit: int | None = None
    stream_batch_size: int = 1000
    lock_for_update: bool = True
    trigger_once: bool = False
    action_input: Mapping[str, Any] = field(default_factory=dict)
    read_metadata: Callable[[Any], dict[str, Any]] | None = None
    extra_args: Mapping[str, Any] | Callable[[Any], dict[str, Any]] | None = None
    on_error: str | None = None
    on_error_fails_job: bool = False
    permission: str | None = None
    list_tenants: ListTenants | None = None
    use_tenant_from_record: bool = False
    state: State = "active"
    log_errors: bool = True
    log_final_error: bool = True
    debug: bool = False
    tags: tuple[str, ...] = ()
    worker_name: str | None = None
    scheduler_name: str | None = None
    # Set instead of raising when the declaration sits in a model's `class Oban` body.
    problem: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate_or_defer(self, self._validate)

    def _validate(self) -> None:
        check = _Validator("Trigger", self.name)
        check.name(self.name)
        _freeze(self, "action", self.action if self.action is not None else self.name)
        check.optional_str("action", self.action, _IDENTIFIER, "a method name")
        if self.where is not None and not isinstance(self.where, Q):
            check.fail("where", "a django.db.models.Q or None", self.where)
        if (
            isinstance(self.sort, str)
            or not isinstance(self.sort, list | tuple)
            or not all(isinstance(f, str) and f.lstrip("-") for f in self.sort)
        ):
            check.fail(
                "sort", "a list or tuple of field names (prefix '-' for descending)", self.sort
            )
        _freeze(self, "sort", tuple(self.sort))
        for option in ("queryset", "worker_queryset"):
            value = getattr(self, option)
            if value is not None and not callable(value):
                check.optional_str(
                    option,
                    value,
                    _IDENTIFIER,
                    "a manager name, a callable(model) -> QuerySet, or None",
                )
        if self.scheduler_cron is not None:
            check.cron("scheduler_cron", self.scheduler_cron)
        check.optional_str("queue", self.queue, _QUEUE, "a queue name of letters, digits, _ . : -")
        check.optional_str(
            "scheduler_queue",
            self.scheduler_queue,
            _QUEUE,
            "a queue name of letters, digits, _ . : -",
        )
        check.integer("worker_priority", self.worker_priority, 0, 9)
        check.integer("scheduler_priority", self.scheduler_priority, 0, 9)
        check.integer("max_attempts", self.max_attempts, 1)
        check.integer("max_scheduler_attempts", self.max_scheduler_attempts, 1)
        check.backoff(self.backoff)
        check.timeout(self.timeout)
        if self.record_limit is not None:
            check.integer("record_limit", self.record_limit, 1)
        check.integer("stream_batch_size", self.stream_batch_size, 1)
        for option in (
            "lock_for_update",
            "trigger_once",
            "on_error_fails_job",
            "use_tenant_from_record",
            "log_errors",
            "log_final_error",
            "debug",
        ):
            check.boolean(option, getattr(self, option))
        check.mapping("action_input", self.action_input)
        _freeze(self, "action_input", dict(self.action_input))
        if self.read_metadata is not None and not callable(self.read_metadata):
            check.fail("read_metadata", "a callable(record) -> dict or None", self.read_metadata)
        if self.extra_args is not None and not callable(self.extra_args):
            check.mapping("extra_args", self.extra_args)
        check.optional_str("on_error", self.on_error, _IDENTIFIER, "a method name or None")
        check.optional_str(
            "permission", self.permission, _PERMISSION, "an 'app_label.codename' string or None"
        )
        check.list_tenants(self.list_tenants)
        check.state(self.state)
        _freeze(self, "tags", check.tags(self.tags))
        _check_stable_name(check, "worker_name", self.worker_name)
        _check_stable_name(check, "scheduler_name", self.scheduler_name)

    @property
    def method_name(self) -> str:
        """The model method the worker calls (`action`, defaulted to the name)."""
        return self.action or self.name


@dataclass(frozen=True, slots=True)
class ScheduledAction:
    """Run a class-level model method on a cron."""

    name: str
    cron: str
    _: KW_ONLY
    action: str | None = None
    action_input: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int = 3
    max_attempts: int = 1
    backoff: Backoff | None = None
    timeout: float | None = None
    state: State = "active"
    list_tenants: ListTenants | None = None
    debug: bool = False
    tags: tuple[str, ...] = ()
    worker_name: str | None = None
    problem: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate_or_defer(self, self._validate)

    def _validate(self) -> None:
        check = _Validator("ScheduledAction", self.name)
        check.name(self.name)
        check.cron("cron", self.cron)
        _freeze(self, "action", self.action if self.action is not None else self.name)
        check.optional_str("action", self.action, _IDENTIFIER, "a method name")
        check.mapping("action_input", self.action_input)
        _freeze(self, "action_input", dict(self.action_input))
        check.optional_str("queue", self.queue, _QUEUE, "a queue name of letters, digits, _ . : -")
        check.integer("priority", self.priority, 0, 9)
        check.integer("max_attempts", self.max_attempts, 1)
        check.backoff(self.backoff)
        check.timeout(self.timeout)
        check.state(self.state)
        check.list_tenants(self.list_tenants)
        check.boolean("debug", self.debug)
        _freeze(self, "tags", check.tags(self.tags))
        _check_stable_name(check, "worker_name", self.worker_name)

    @property
    def method_name(self) -> str:
        return self.action or self.name


Declaration = Trigger | ScheduledAction

# One sentence per option of `Trigger` and `ScheduledAction` (an option both have shares its
# sentence). The documentation's option tables are generated from the dataclass fields and
# this mapping, and the docs build fails if a field has no entry.
OPTION_HELP: dict[str, str] = {
    "name": (
        "Identifier of the declaration, a Python identifier unique across the model's "
        "triggers and scheduled actions."
    ),
    "cron": (
        "Five-field cron string (croniter syntax) on which the scheduled action runs, "
        "e.g. `'0 */6 * * *'`."
    ),
    "action": (
        "Method to call, defaulting to the name: for a trigger an instance method called on "
        "the locked record (`'delete'` deletes the record), for a scheduled action a "
        "classmethod or staticmethod of the model."
    ),
    "where": (
        "`Q` a row must match, both when the scheduler scans and again when the worker "
        "re-reads the row under its lock; `None` matches every row."
    ),
    "sort": (
        "`order_by` fields for the scheduler's scan ('-' prefix for descending), with the "
        "primary key always added as the last tie-breaker."
    ),
    "queryset": (
        "Manager name or `callable(model) -> QuerySet` the scheduler reads from, instead of "
        "the model's default manager."
    ),
    "worker_queryset": (
        "Manager name or `callable(model) -> QuerySet` the worker re-reads the row through, "
        "defaulting to `queryset`."
    ),
    "scheduler_cron": (
        "Cron string (croniter syntax, five fields) on which the scheduler looks for matching "
        "rows; `None` means no scheduler, so jobs only come from `run_trigger()`."
    ),
    "queue": (
        "Ledger queue of the declaration's jobs, defaulting to "
        "`'<app_label>_<model>_<name>'` in lower case."
    ),
    "scheduler_queue": "Ledger queue of the trigger's scheduler jobs, defaulting to `queue`.",
    "worker_priority": ("Priority of the trigger's worker jobs, from 0 (runs first) to 9."),
    "scheduler_priority": "Priority of the trigger's scheduler jobs, from 0 (runs first) to 9.",
    "priority": "Priority of the scheduled action's jobs, from 0 (runs first) to 9.",
    "max_attempts": ("Attempts a worker or scheduled-action job gets before a failure is final."),
    "max_scheduler_attempts": "Attempts a scheduler job gets before a failure is final.",
    "backoff": (
        "Seconds to wait before a retry, as an `int` or a `callable(JobContext) -> float`; "
        "`None` uses the default of `15 + 2**attempt` seconds plus up to 10% jitter."
    ),
    "timeout": (
        "Seconds one attempt may run before it fails with `JobTimeout` (a failed attempt like "
        "any other); `None` means no limit."
    ),
    "record_limit": ("Most rows one scheduler run enqueues jobs for; `None` means no limit."),
    "stream_batch_size": "Rows per keyset page of the scheduler's scan.",
    "lock_for_update": (
        "Lock the row with `select_for_update()` in the transaction that runs the action, so "
        "nothing else changes it until the job is recorded."
    ),
    "trigger_once": (
        "A row that has had a completed job of this trigger is never enqueued again, even "
        "after old jobs are pruned."
    ),
    "action_input": (
        "Static keyword arguments (JSON values) passed to the method; `action_arguments` "
        "given when the job is inserted override them key by key."
    ),
    "read_metadata": (
        "`callable(record) -> dict` the scheduler calls on the full row; the result is stored "
        "on the job and passed to the action as `metadata=`."
    ),
    "extra_args": (
        "Dict, or `callable(record) -> dict`, stored in the job's args under `extra_args`, "
        "visible in the ledger but not passed to the action."
    ),
    "on_error": (
        "Instance method called as `method(error=exc)` on the locked row after the last "
        "attempt fails; the job is then `completed` unless `on_error_fails_job` is set."
    ),
    "on_error_fails_job": (
        "Leave the job `discarded` rather than `completed` after `on_error` ran successfully."
    ),
    "permission": (
        "`'app_label.codename'` that a job's actor must hold on the row "
        "(`actor.has_perm(permission, record)`) when the job carries an actor."
    ),
    "list_tenants": (
        "Tenants to run for (a list, a zero-argument callable or a dotted path), overriding "
        "the model's `Oban.list_tenants`."
    ),
    "use_tenant_from_record": (
        "Run one scheduler with tenant `None` over all rows and give each job the tenant held "
        "in the row's `tenant_field`."
    ),
    "state": (
        "`'active'`, `'paused'` (the cron row stays but does not fire, and waiting jobs are "
        "cancelled when they run) or `'deleted'` (the cron row is removed, jobs likewise "
        "cancelled)."
    ),
    "log_errors": "Log every failed attempt with its traceback.",
    "log_final_error": "Log the final failure even when `log_errors` is off.",
    "debug": (
        "Write debug log lines for this declaration (`ASH_OBAN['DEBUG_ALL_TRIGGERS']` turns "
        "them on for all)."
    ),
    "tags": "Strings stored on every job of the declaration, filterable in the admin.",
    "worker_name": (
        "Stable name stored on the worker or scheduled-action jobs, defaulting to "
        "`'<app_label>.<Model>:<name>'`; pin it so a rename does not orphan queued jobs."
    ),
    "scheduler_name": (
        "Stable name of the trigger's scheduler jobs and cron row, defaulting to "
        "`'<app_label>.<Model>:<name>:scheduler'`."
    ),
}
