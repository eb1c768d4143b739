"""`Trigger` and `ScheduledAction`: what a model declares in its `class Oban:`.

Both are frozen, keyword-only dataclasses (the name, and a scheduled action's cron, are
positional). Every value is checked on construction; problems that need the model or the
settings (a missing method, an unknown field) are system checks instead (`checks.py`).
"""

from __future__ import annotations

import re
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

    def __post_init__(self) -> None:
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
        check.optional_str("worker_name", self.worker_name)
        check.optional_str("scheduler_name", self.scheduler_name)

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

    def __post_init__(self) -> None:
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
        check.optional_str("worker_name", self.worker_name)

    @property
    def method_name(self) -> str:
        return self.action or self.name


Declaration = Trigger | ScheduledAction
