"""Every declared trigger and scheduled action, bound to its model and keyed by stable name.

Declarations come from two places: the `class Oban:` of installed models (collected once in
`AppConfig.ready()`) and explicit `register()` calls for models the project does not own.
A stable name is what a job row stores, so it is the registry's key: two declarations that
would share one are refused, and the message says where both come from.
"""

from __future__ import annotations

import sys
import zoneinfo
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from enum import Enum
from types import TracebackType
from typing import Any

from django.apps import apps
from django.db.models import Model, QuerySet
from django.utils import timezone

from .conf import settings
from .declarations import DeclarationState, ScheduledAction, Trigger
from .exceptions import AlreadyRegistered, InvalidDeclaration, UnknownDeclaration
from .states import Kind


def model_label(model: type[Model]) -> str:
    """`"app_label.ModelName"`, the prefix of every default stable name."""
    return f"{model._meta.app_label}.{model.__name__}"


def fill_name(name: str, model: type[Model]) -> str:
    """A declared stable name for `model`, read as a template: its placeholders
    (`declarations.NAME_PLACEHOLDERS`) filled, so a declaration shared through an abstract
    parent names each child's jobs."""
    return name.format(app_label=model._meta.app_label, model=model.__name__)


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """The model-level options of a `class Oban:` (or of a `register()` call)."""

    list_tenants: Any = None
    tenant_field: str | None = None


@dataclass(frozen=True, slots=True)
class Registered(ABC):
    """A declaration bound to its model; the defaults that need the model are filled here.

    What is common to every declaration; each kind says what its jobs are and what its cron
    inserts (`RegisteredTrigger`, `RegisteredAction`).
    """

    model: type[Model]
    declaration: Trigger | ScheduledAction
    options: ModelOptions
    origin: str

    @property
    def name(self) -> str:
        return self.declaration.name

    @property
    def label(self) -> str:
        """`"app_label.Model:name"`: the default worker name and the name used in messages."""
        return f"{model_label(self.model)}:{self.name}"

    @property
    def is_trigger(self) -> bool:
        return isinstance(self.declaration, Trigger)

    @property
    def worker_name(self) -> str:
        declared = self.declaration.worker_name
        return fill_name(declared, self.model) if declared else self.label

    @property
    def queue(self) -> str:
        default = f"{self.model._meta.app_label}_{self.model._meta.model_name}_{self.name}"
        return self.declaration.queue or default.lower()

    @property
    def state(self) -> DeclarationState:
        return DeclarationState(self.declaration.state)

    @property
    def list_tenants(self) -> Any:
        return self.declaration.list_tenants or self.options.list_tenants

    @property
    @abstractmethod
    def stable_names(self) -> dict[str, Kind]:
        """The stable names of the declaration's jobs, with the kind of job each names."""

    @property
    @abstractmethod
    def cron(self) -> str | None:
        """The declaration's cron, or None when nothing fires on a clock."""

    @property
    def cron_timezone(self) -> tzinfo:
        """The time zone the cron is read in: the declaration's, else `TIME_ZONE`."""
        name = self.declaration.timezone
        return zoneinfo.ZoneInfo(name) if name else timezone.get_default_timezone()

    @property
    @abstractmethod
    def cron_name(self) -> str:
        """The stable name of the jobs the cron inserts, which also names its cron row."""

    @property
    @abstractmethod
    def cron_queue(self) -> str:
        """The queue of the jobs the cron inserts."""

    @property
    def queues(self) -> list[str]:
        """Every queue the declaration's jobs go to, the cron's first."""
        return list(dict.fromkeys([self.cron_queue, self.queue]))


@dataclass(frozen=True, slots=True)
class RegisteredTrigger(Registered):
    declaration: Trigger

    @property
    def trigger(self) -> Trigger:
        return self.declaration

    def queryset(self, *, for_worker: bool = False) -> QuerySet[Any]:
        """What the scheduler scans (or, `for_worker`, what the worker re-reads)."""
        source = self.declaration.queryset
        if for_worker and self.declaration.worker_queryset is not None:
            source = self.declaration.worker_queryset
        if source is None:
            queryset = self.model._default_manager.all()
        elif isinstance(source, str):
            queryset = getattr(self.model, source).all()
        else:
            queryset = source(self.model)
        return queryset.using(settings.DATABASE)

    @property
    def scheduler_name(self) -> str:
        declared = self.declaration.scheduler_name
        return fill_name(declared, self.model) if declared else f"{self.label}:scheduler"

    @property
    def scheduler_queue(self) -> str:
        return self.declaration.scheduler_queue or self.queue

    @property
    def stable_names(self) -> dict[str, Kind]:
        names = {self.worker_name: Kind.TRIGGER}
        if self.declaration.scheduler_cron is not None:
            names[self.scheduler_name] = Kind.SCHEDULER
        return names

    @property
    def cron(self) -> str | None:
        return self.declaration.scheduler_cron

    @property
    def cron_name(self) -> str:
        return self.scheduler_name

    @property
    def cron_queue(self) -> str:
        return self.scheduler_queue


@dataclass(frozen=True, slots=True)
class RegisteredAction(Registered):
    declaration: ScheduledAction

    @property
    def action(self) -> ScheduledAction:
        return self.declaration

    @property
    def stable_names(self) -> dict[str, Kind]:
        return {self.worker_name: Kind.ACTION}

    @property
    def cron(self) -> str | None:
        return self.declaration.cron

    @property
    def cron_name(self) -> str:
        return self.worker_name

    @property
    def cron_queue(self) -> str:
        return self.queue


class ProblemKind(Enum):
    """Why a declaration could not be registered (the checks give each kind its id)."""

    MALFORMED_OBAN = "a `class Oban` whose triggers or scheduled_actions are not lists"
    DUPLICATE_NAME = "a name or stable name used twice"
    INVALID_OPTION = "an option value the declaration refused"


@dataclass(slots=True)
class Problem:
    """A declaration that could not be registered; reported by the system checks."""

    kind: ProblemKind
    msg: str
    hint: str
    obj: Any = None


def find_oban_class(model: type[Model]) -> type | None:
    """The `class Oban` a model declares or inherits from an abstract parent.

    A multi-table child does not inherit its concrete parent's declarations (nor those the
    parent inherits): the parent's triggers already cover those rows.
    """
    for klass in model.__mro__:
        meta = getattr(klass, "_meta", None)
        if klass is not model and meta is not None and not meta.abstract:
            return None  # a concrete ancestor: what lies beyond is the parent's
        oban: type | None = vars(klass).get("Oban")
        if oban is not None:
            return oban
    return None


def _caller() -> str:
    frame = sys._getframe(2)
    return f"register() at {frame.f_code.co_filename}:{frame.f_lineno}"


def _bind(
    model: type[Model], declaration: object, options: ModelOptions, origin: str
) -> Registered:
    if isinstance(declaration, Trigger):
        return RegisteredTrigger(model, declaration, options, origin)
    if isinstance(declaration, ScheduledAction):
        return RegisteredAction(model, declaration, options, origin)
    raise InvalidDeclaration(
        f"{origin}: expected Trigger or ScheduledAction instances, got {declaration!r}"
    )


@dataclass
class Registry:
    """All bound declarations. Reads filter by `ASH_OBAN["APPS"]` at call time."""

    _collected: list[Registered] = field(default_factory=list)  # from `class Oban:`
    _explicit: list[Registered] = field(default_factory=list)  # from register()
    problems: list[Problem] = field(default_factory=list)

    @property
    def _entries(self) -> list[Registered]:
        return [*self._collected, *self._explicit]

    # -- building -------------------------------------------------------------------------

    def collect(self, models: Iterable[type[Model]] | None = None) -> None:
        """(Re)collect the `class Oban:` declarations of the installed models.

        Problems (a malformed `class Oban`, duplicate names) are kept for the system checks
        instead of raised, so `manage.py check` can report every one of them.
        """
        self._collected = []
        self.problems = []
        for model in models if models is not None else apps.get_models():
            if model._meta.swapped:
                continue
            oban = find_oban_class(model)
            if oban is None:
                continue
            origin = f"{model.__module__}.{model.__qualname__}.Oban"
            try:
                entries = self._bind_all(model, oban, origin)
            except InvalidDeclaration as exc:
                self.problems.append(
                    Problem(
                        ProblemKind.MALFORMED_OBAN,
                        str(exc),
                        "`triggers` and `scheduled_actions` must be lists of Trigger and "
                        "ScheduledAction instances.",
                        model,
                    )
                )
                continue
            for entry in entries:
                if entry.declaration.problem:
                    self.problems.append(
                        Problem(
                            ProblemKind.INVALID_OPTION,
                            f"{origin}: {entry.declaration.problem}",
                            "Fix the option as the message says; the declarations reference "
                            "lists every option and the values it takes.",
                            model,
                        )
                    )
                    continue
                clash = self._clash(entry)
                if clash:
                    self.problems.append(
                        Problem(
                            ProblemKind.DUPLICATE_NAME,
                            clash,
                            (
                                "Names must be unique across a model's triggers and scheduled actions, "
                                "and stable names (worker_name / scheduler_name) across the project."
                            ),
                            model,
                        )
                    )
                else:
                    self._collected.append(entry)

    @staticmethod
    def _bind_all(model: type[Model], oban: type, origin: str) -> list[Registered]:
        options = ModelOptions(
            getattr(oban, "list_tenants", None), getattr(oban, "tenant_field", None)
        )
        declared: list[object] = []
        for attribute in ("triggers", "scheduled_actions"):
            value = getattr(oban, attribute, ())
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise InvalidDeclaration(f"{origin}.{attribute} must be a list, got {value!r}")
            declared.extend(value)
        return [_bind(model, d, options, origin) for d in declared]

    def _clash(self, entry: Registered) -> str | None:
        """Why `entry` cannot be added next to the current entries, or None."""
        for other in self._entries:
            if other.model is entry.model and other.name == entry.name:
                return (
                    f"The name {entry.name!r} of {entry.origin} is declared more than once "
                    f"on {model_label(entry.model)} (also by {other.origin})."
                )
            shared = set(other.stable_names) & set(entry.stable_names)
            if shared:
                return (
                    f"The stable name {sorted(shared)[0]!r} of {entry.label} "
                    f"({entry.origin}) is already used by {other.label} ({other.origin})."
                )
        return None

    def register(
        self,
        model: type[Model],
        *,
        triggers: Sequence[Trigger] = (),
        scheduled_actions: Sequence[ScheduledAction] = (),
        list_tenants: Any = None,
        tenant_field: str | None = None,
        origin: str | None = None,
    ) -> Registration:
        origin = origin or _caller()
        options = ModelOptions(list_tenants, tenant_field)
        entries = [_bind(model, d, options, origin) for d in [*triggers, *scheduled_actions]]
        added: list[Registered] = []
        try:
            for entry in entries:
                if entry.declaration.problem:
                    raise InvalidDeclaration(entry.declaration.problem)
                clash = self._clash(entry)
                if clash:
                    raise AlreadyRegistered(clash)
                self._explicit.append(entry)
                added.append(entry)
        except (AlreadyRegistered, InvalidDeclaration):
            self._remove(added)
            raise
        return Registration(self, added)

    def _remove(self, entries: Iterable[Registered]) -> None:
        gone = {id(e) for e in entries}
        self._explicit = [e for e in self._explicit if id(e) not in gone]

    # -- reading --------------------------------------------------------------------------

    def entries(self) -> list[Registered]:
        allowed = settings.APPS
        return [e for e in self._entries if allowed is None or e.model._meta.app_label in allowed]

    def for_model(self, model: type[Model]) -> list[Registered]:
        return [e for e in self.entries() if e.model is model]

    def get(self, model: type[Model], name: str) -> Registered:
        for entry in self.for_model(model):
            if entry.name == name:
                return entry
        known = ", ".join(repr(e.name) for e in self.for_model(model)) or "none"
        raise UnknownDeclaration(
            f"No trigger or scheduled action named {name!r} on {model_label(model)} "
            f"(declared: {known})."
        )

    def get_trigger(self, model: type[Model], name: str | Trigger) -> RegisteredTrigger:
        if isinstance(name, Trigger):
            name = name.name
        entry = self.get(model, name)
        if not isinstance(entry, RegisteredTrigger):
            raise UnknownDeclaration(f"{entry.label} is a scheduled action, not a trigger.")
        return entry

    def by_stable_name(self, stable_name: str) -> tuple[Registered, Kind] | None:
        """The declaration whose jobs carry `stable_name`, and the kind of those jobs."""
        for entry in self.entries():
            kind = entry.stable_names.get(stable_name)
            if kind:
                return entry, kind
        return None


class Registration:
    """What `register()` returns: a context manager that unregisters on exit."""

    def __init__(self, registry: Registry, entries: list[Registered]) -> None:
        self.registry = registry
        self.entries = entries

    def unregister(self) -> None:
        self.registry._remove(self.entries)
        self.entries = []

    def __enter__(self) -> Registration:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unregister()


registry = Registry()


def register(
    model: type[Model],
    *,
    triggers: Sequence[Trigger] = (),
    scheduled_actions: Sequence[ScheduledAction] = (),
    list_tenants: Any = None,
    tenant_field: str | None = None,
) -> Registration:
    """Declare triggers and scheduled actions for a model you do not own (e.g. `auth.User`).

    >>> with register(User, triggers=[Trigger("welcome", where=Q(welcomed=False))]):
    ...     ...

    Raises `AlreadyRegistered` when a name or stable name is taken, naming both places.
    """
    return registry.register(
        model,
        triggers=triggers,
        scheduled_actions=scheduled_actions,
        list_tenants=list_tenants,
        tenant_field=tenant_field,
        origin=_caller(),
    )
