"""What the check modules share: a check that crashes becomes E000, never a crash of
`manage.py check`."""

from __future__ import annotations

from django.core import checks

from ash_oban_django.checks.common import safely
from ash_oban_django.exceptions import InvalidSetting


def test_safely__passes_the_check_s_messages_through() -> None:
    found = [checks.Warning("w", id="x.W1")]
    assert safely("a thing", None, lambda: found) is found


def test_safely__a_crashing_check_becomes_e000_naming_what_and_why() -> None:
    def crash(value: int) -> list[checks.CheckMessage]:
        raise KeyError(value)

    (message,) = safely("trigger 'finish'", "the object", crash, 7)
    assert message.id == "ash_oban_django.E000"
    assert message.level == checks.ERROR
    assert message.msg == "Checking trigger 'finish' failed: KeyError: 7"
    assert message.obj == "the object"
    assert message.hint is not None and "fix what the error names" in message.hint


def test_safely__a_bad_setting_is_left_to_the_settings_check() -> None:
    """E011 reports an invalid `ASH_OBAN` value once; every check reading it stays quiet."""

    def reads_a_bad_setting() -> list[checks.CheckMessage]:
        raise InvalidSetting()

    assert safely("trigger 'finish'", None, reads_a_bad_setting) == []
