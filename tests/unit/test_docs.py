"""The documentation: every declaration option has its help text, the option tables in the
Markdown match the code, and the site builds."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ash_oban_django.declarations import ScheduledAction, Trigger, option

ROOT = Path(__file__).resolve().parents[2]
CLASSES = [Trigger, ScheduledAction]


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]  # the options


def help_of(cls: type, name: str) -> str:
    return str({f.name: f for f in dataclasses.fields(cls)}[name].metadata.get("help", ""))


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_option_help__covers_every_field(cls: type) -> None:
    missing = [name for name in field_names(cls) if not help_of(cls, name).strip()]
    assert missing == [], f"declare {cls.__name__} fields {missing} with option(..., help=...)"


def test_option_help__a_shared_option_has_one_sentence() -> None:
    shared = set(field_names(Trigger)) & set(field_names(ScheduledAction))
    assert [n for n in sorted(shared) if help_of(Trigger, n) != help_of(ScheduledAction, n)] == []


def test_hooks__table_lists_every_field_with_its_default_and_help(hooks: ModuleType) -> None:
    table = hooks.options_table(Trigger)
    rows = table.splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == field_names(Trigger)
    assert "| `name` (positional) | required |" in table
    assert f"| `scheduler_cron` | `'* * * * *'` | {help_of(Trigger, 'scheduler_cron')} |" in table
    assert "| `action_input` | `{}` |" in table
    assert "| `state` | `'active'` |" in table


def test_hooks__a_field_without_help_fails(hooks: ModuleType) -> None:
    @dataclasses.dataclass
    class Partial:
        name: str = option(help="The name.")
        timeout: float | None = None

    with pytest.raises(ValueError, match="timeout"):
        hooks.options_table(Partial)


def test_hooks__rewrites_tables_between_markers_and_refuses_unknown_ones(
    hooks: ModuleType,
) -> None:
    page = hooks.render("Before\n\n<!-- options: ScheduledAction -->\nold\n<!-- /options -->\n")
    assert "| `cron` (positional) | required |" in page and "old" not in page
    assert page.startswith("Before\n\n<!-- options: ScheduledAction -->\n\n| option |")
    assert page.endswith("|\n\n<!-- /options -->\n")
    assert hooks.render(page) == page
    with pytest.raises(ValueError, match="Unknown options table 'Job'"):
        hooks.render("<!-- options: Job -->\n<!-- /options -->")
    with pytest.raises(ValueError, match="has no `<!-- /options -->`"):
        hooks.render("<!-- options: Trigger -->\n")


def test_docs__option_tables_in_the_markdown_match_the_code(hooks: ModuleType) -> None:
    pages = sorted((ROOT / "docs").glob("*.md"))
    stale = [p.name for p in pages if hooks.render(p.read_text()) != p.read_text()]
    assert stale == [], f"run `python docs/hooks.py --write` to update {stale}"
    assert "| `max_scheduler_attempts` |" in (ROOT / "docs" / "declarations.md").read_text()


def test_docs__a_stale_table_fails_the_build_hook(hooks: ModuleType) -> None:
    stale = "<!-- options: Trigger -->\n| old |\n<!-- /options -->\n"
    with pytest.raises(ValueError, match="python docs/hooks.py --write"):
        hooks.on_page_markdown(stale)


def test_docs__write_command_rewrites_a_stale_table(hooks: ModuleType, tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- options: Trigger -->\n<!-- /options -->\n")
    original = hooks.DOCS
    hooks.DOCS, hooks.ROOT = tmp_path, tmp_path
    try:
        assert hooks.main(["--check"]) == 1
        assert hooks.main(["--write"]) == 0
        assert hooks.main([]) == 0
    finally:
        hooks.DOCS, hooks.ROOT = original, ROOT
    assert "| `scheduler_name` |" in page.read_text()


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


def test_hooks__settings_table_lists_every_key_with_its_default_and_help(
    hooks: ModuleType,
) -> None:
    from ash_oban_django.conf import SETTINGS

    rows = hooks.settings_table().splitlines()
    assert rows[0] == "| key | default | meaning |"
    assert [row.split("`")[1] for row in rows[2:]] == list(SETTINGS)
    assert f"| `DATABASE` | `'default'` | {SETTINGS['DATABASE'].help} |" in rows
    page = hooks.render("<!-- options: ASH_OBAN -->\n<!-- /options -->\n")
    assert "| `LEADER_TTL` | `5.0` |" in page


def test_hooks__a_setting_without_help_fails(hooks: ModuleType) -> None:
    from ash_oban_django.conf import Setting
    from ash_oban_django.validators import boolean

    with pytest.raises(ValueError, match="ASH_OBAN key\\(s\\) FLAG have no help"):
        hooks.settings_table({"FLAG": Setting(False, boolean, hint="Use True or False.", help="")})


def test_docs__the_settings_page_lists_every_setting() -> None:
    from ash_oban_django.conf import SETTINGS

    page = (ROOT / "docs" / "settings.md").read_text()
    listed = re.findall(r"^\| `([A-Z_]+)` \|", page, re.M)
    assert sorted(listed) == sorted(SETTINGS)
