"""mkdocs hook: the option tables of `declarations.md`, generated from the dataclasses.

A page writes `<!-- options: Trigger -->` (or `ScheduledAction`) where the table goes. Each
row is one `dataclasses.fields()` entry: its name, its default as the code defines it, and
its meaning from `ash_oban_django.declarations.OPTION_HELP`. A field without an entry in
`OPTION_HELP` fails the build, so the reference cannot fall behind the code.

Importing `ash_oban_django.declarations` needs Django installed but not configured.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ash_oban_django import declarations  # noqa: E402

PLACEHOLDER = re.compile(r"<!--\s*options:\s*(\w+)\s*-->")
CLASSES: dict[str, type] = {
    "Trigger": declarations.Trigger,
    "ScheduledAction": declarations.ScheduledAction,
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        return f"`{field.default!r}`"
    if field.default_factory is not dataclasses.MISSING:
        return f"`{field.default_factory()!r}`"
    return "required"


def options_table(cls: type, help_texts: dict[str, str] | None = None) -> str:
    """The Markdown table of every field of `cls`; raises if one has no help text."""
    help_texts = declarations.OPTION_HELP if help_texts is None else help_texts
    missing = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in help_texts]
    if missing:
        raise ValueError(
            f"{cls.__name__} field(s) {', '.join(missing)} have no entry in "
            "ash_oban_django.declarations.OPTION_HELP; add one sentence for each."
        )
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for field in (f for f in dataclasses.fields(cls) if f.init):
        name = f"`{field.name}`" + ("" if field.kw_only else " (positional)")
        rows.append(f"| {name} | {_cell(_default(field))} | {_cell(help_texts[field.name])} |")
    return "\n".join(rows)


def render(markdown: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in CLASSES:
            raise ValueError(f"Unknown options table {name!r}; use one of {sorted(CLASSES)}.")
        return options_table(CLASSES[name])

    return PLACEHOLDER.sub(replace, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return render(markdown)
