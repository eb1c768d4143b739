"""`checks.ids`: every check id declared once, with the level its letter says, and documented."""

from __future__ import annotations

import re
from pathlib import Path

from django.core import checks

from ash_oban_django.checks import ids

ROOT = Path(__file__).resolve().parents[3]
LEVELS = {"E": checks.Error, "W": checks.Warning}


def test_ids__each_level_matches_its_letter() -> None:
    assert ids.BY_ID, "no check ids found"
    for id, check_id in ids.BY_ID.items():
        match = re.fullmatch(r"ash_oban_django\.([EW])(\d{3})", id)
        assert match, id
        letter, number = match.groups()
        assert check_id.level is LEVELS[letter], id
        assert getattr(ids, letter + number) is check_id  # the constant is named after its id


def test_ids__message_carries_the_id_and_level() -> None:
    message = ids.W001.message("msg", "hint", obj=int)
    assert isinstance(message, checks.Warning)
    assert (message.id, message.msg, message.hint, message.obj) == (
        "ash_oban_django.W001",
        "msg",
        "hint",
        int,
    )


def test_ids__documented_in_operations_and_nothing_else() -> None:
    page = (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"^\| `(ash_oban_django\.[EW]\d{3})` \|", page, re.MULTILINE))
    assert sorted(documented) == sorted(ids.BY_ID)


def test_ids__every_kind_of_registry_problem_has_an_id() -> None:
    from ash_oban_django.checks.declarations import PROBLEM_IDS
    from ash_oban_django.registry import ProblemKind

    assert set(PROBLEM_IDS) == set(ProblemKind)
    assert all(check_id in ids.BY_ID.values() for check_id in PROBLEM_IDS.values())
