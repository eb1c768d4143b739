"""The package's exceptions. Each docstring is the default message."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from . import validators


class AshObanError(Exception):
    """An ash_oban_django error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class InvalidDeclaration(ValueError, AshObanError):
    """A trigger or scheduled action was declared with an invalid option."""


class InvalidSetting(ImproperlyConfigured, AshObanError):
    """A key of the `ASH_OBAN` setting holds an invalid value (`manage.py check` lists them)."""


class UnknownDeclaration(LookupError, AshObanError):
    """No trigger or scheduled action is registered under that name."""


class AlreadyRegistered(AshObanError):
    """A declaration with that stable name is already registered."""


class Snooze(AshObanError):
    """Run the job again later without using up an attempt."""

    def __init__(self, seconds: float) -> None:
        try:
            self.seconds = validators.seconds(seconds)
        except validators.Invalid as invalid:
            # A bad argument, not a bad declaration: the caller's own ValueError.
            raise ValueError("; ".join(invalid.messages("Snooze `seconds`"))) from None
        super().__init__(f"snoozed for {self.seconds:g} seconds")


class Cancel(AshObanError):
    """The job was cancelled."""

    def __init__(self, reason: str = "cancelled") -> None:
        self.reason = str(reason)
        super().__init__(self.reason)


class TriggerNoLongerApplies(AshObanError):
    """Trigger no longer applies: the row is gone or no longer matches `where`."""


class JobTimeout(AshObanError):
    """The attempt ran longer than the trigger's `timeout`."""


class JobOrphaned(AshObanError):
    """The worker running this attempt died; the job was rescued."""
