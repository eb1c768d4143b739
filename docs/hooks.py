"""The option tables of the reference, generated from the code and kept in the pages.

A page holds each table between two comments:

    <!-- options: Trigger -->

    | option | default | meaning |
    ...

    <!-- /options -->

`Trigger` and `ScheduledAction` (in `declarations.md`) have one row per `dataclasses.fields()`
entry: its name, its default as the code defines it, and its `help` from the field's metadata
(`ash_oban_django.declarations.option`). `ASH_OBAN` (in `settings.md`) has one row per key of
`ash_oban_django.conf.Settings`: its name, default and `help`. An option or key without help
fails, so the reference cannot fall behind the code.

- `python docs/hooks.py --write` rewrites the tables in `docs/*.md` from the code;
  `python docs/hooks.py --check` (the default) exits 1 if one differs.
- As an mkdocs hook it fails the build when a page's table differs from the code.

Importing `ash_oban_django.declarations` and `.conf` needs Django installed but not configured.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ash_oban_django import conf, declarations  # noqa: E402

BEGIN = re.compile(r"<!--\s*options:\s*(\w+)\s*-->")
BLOCK = re.compile(r"(<!--\s*options:\s*(\w+)\s*-->\n)(.*?)(<!--\s*/options\s*-->)", re.DOTALL)
CLASSES: dict[str, type] = {
    "Trigger": declarations.Trigger,
    "ScheduledAction": declarations.ScheduledAction,
    "Chunks": declarations.Chunks,
}
FIX = "run `python docs/hooks.py --write`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
        return f"`{(value.value if isinstance(value, Enum) else value)!r}`"
    if field.default_factory is not dataclasses.MISSING:
        return f"`{field.default_factory()!r}`"
    return "required"


def options_table(cls: type) -> str:
    """The Markdown table of every option of `cls`; raises if one has no help text."""
    options = [f for f in dataclasses.fields(cls) if f.init]
    missing = [f.name for f in options if not str(f.metadata.get("help", "")).strip()]
    if missing:
        raise ValueError(
            f"{cls.__name__} field(s) {', '.join(missing)} have no help; declare them with "
            "ash_oban_django.declarations.option(..., help=...)."
        )
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for field in options:
        name = f"`{field.name}`" + ("" if field.kw_only else " (positional)")
        rows.append(f"| {name} | {_cell(_default(field))} | {_cell(field.metadata['help'])} |")
    return "\n".join(rows)


def settings_table(settings: dict[str, conf.Setting[Any]] = conf.SETTINGS) -> str:
    """The Markdown table of every `ASH_OBAN` key; raises if one has no help text."""
    missing = [name for name, setting in settings.items() if not setting.help.strip()]
    if missing:
        raise ValueError(
            f"ASH_OBAN key(s) {', '.join(missing)} have no help; declare them with "
            "ash_oban_django.conf.Setting(..., help=...)."
        )
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for name, setting in settings.items():
        rows.append(f"| `{name}` | {_cell(f'`{setting.default!r}`')} | {_cell(setting.help)} |")
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {
    **{name: (lambda cls=cls: options_table(cls)) for name, cls in CLASSES.items()},
    "ASH_OBAN": settings_table,
}


def render(markdown: str) -> str:
    """`markdown` with every options table regenerated from the code."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in TABLES:
            raise ValueError(f"Unknown options table {name!r}; use one of {sorted(TABLES)}.")
        # Blank lines around the table: Markdown reads a line right after a comment as HTML.
        return f"{match.group(1)}\n{TABLES[name]()}\n\n{match.group(4)}"

    if len(BEGIN.findall(markdown)) != len(BLOCK.findall(markdown)):
        raise ValueError("An `<!-- options: ... -->` comment has no `<!-- /options -->` after it.")
    return BLOCK.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any = None, **kwargs: Any) -> str:
    if render(markdown) != markdown:
        where = getattr(getattr(page, "file", None), "src_path", "a page")
        raise ValueError(f"The options tables of {where} differ from the code; {FIX}.")
    return markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep the options tables of docs/*.md current.")
    parser.add_argument("--write", action="store_true", help="rewrite the tables in place")
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is stale")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text()
        rendered = render(text)
        if rendered == text:
            continue
        if args.write:
            path.write_text(rendered)
            print(f"rewrote {path.relative_to(ROOT)}")
        else:
            stale.append(str(path.relative_to(ROOT)))
    if stale:
        print(f"stale options tables in {', '.join(stale)}; {FIX}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
