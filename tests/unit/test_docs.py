"""The documentation: every declaration option has its help text, and the site builds."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ash_oban_django.declarations import OPTION_HELP, ScheduledAction, Trigger

ROOT = Path(__file__).resolve().parents[2]
CLASSES = [Trigger, ScheduledAction]


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]  # the options


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_option_help__covers_every_field(cls: type) -> None:
    missing = [name for name in field_names(cls) if not OPTION_HELP.get(name, "").strip()]
    assert missing == [], f"add OPTION_HELP entries for {cls.__name__} fields {missing}"


def test_option_help__has_no_entry_for_a_field_that_does_not_exist() -> None:
    fields = {name for cls in CLASSES for name in field_names(cls)}
    assert sorted(set(OPTION_HELP) - fields) == []


def test_hooks__table_lists_every_field_with_its_default_and_help() -> None:
    table = load_hooks().options_table(Trigger)
    rows = table.splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == field_names(Trigger)
    assert "| `name` (positional) | required |" in table
    assert f"| `scheduler_cron` | `'* * * * *'` | {OPTION_HELP['scheduler_cron']} |" in table
    assert "| `action_input` | `{}` |" in table


def test_hooks__a_field_without_help_fails_the_build() -> None:
    partial = {name: text for name, text in OPTION_HELP.items() if name != "timeout"}
    with pytest.raises(ValueError, match="timeout"):
        load_hooks().options_table(ScheduledAction, partial)


def test_hooks__replaces_placeholders_and_refuses_unknown_tables() -> None:
    hooks = load_hooks()
    page = hooks.render("Before\n\n<!-- options: ScheduledAction -->\n\nAfter")
    assert "| `cron` (positional) | required |" in page and "<!--" not in page
    with pytest.raises(ValueError, match="Unknown options table 'Job'"):
        hooks.render("<!-- options: Job -->")


def test_docs__build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    # The hook must not need Django settings: build without them.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "mkdocs.yml", "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    declarations = (site / "declarations" / "index.html").read_text()
    assert "<code>max_scheduler_attempts</code>" in declarations
    assert not (site / "hooks.py").exists()
