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


def test_ids__the_registry_problem_ids_resolve() -> None:
    # The registry stores its collection problems by id string; the checks look them up in
    # BY_ID, so every id it can store must be a constant.
    source = (ROOT / "ash_oban_django" / "registry.py").read_text()
    stored = set(re.findall(r"ash_oban_django\.[EW]\d{3}", source))
    assert stored and stored <= set(ids.BY_ID)
