"""Write the default stable names into the models' source (`manage.py ash_oban_set_default_names`).

The counterpart of AshOban's `mix ash_oban.set_default_module_names`. A job row stores its
declaration's stable name, so renaming a trigger orphans its queued jobs unless the name is
pinned. This module adds `worker_name="<app_label>.<Model>:<name>"` (and, for a trigger with a
scheduler, `scheduler_name="<...>:scheduler"`) wherever they are missing, i.e. it writes down the
names the registry already uses (`Registered.worker_name` / `.scheduler_name`), so the rewrite
changes no behaviour. A declaration shared by several models (an abstract parent's `class Oban`
with several concrete children, a `register()` call run for several models) gets the name
template `"{app_label}.{model}:<name>"` instead, which the registry fills per model.

Two layers:

- `rewrite_source()` edits one module's text with libcst (a concrete syntax tree, so comments
  and layout survive). It knows nothing of Django: the caller says which classes and which
  `register()` lines belong to which model label.
- `set_default_names()` builds those mappings from the registry (the app label comes from
  Django, not from the source) and rewrites or previews every file involved.
"""

from __future__ import annotations

import difflib
import inspect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from django.db.models import Model
from libcst.metadata import MetadataWrapper, PositionProvider

from . import registry as registry_module
from .registry import Registered, RegisteredTrigger, Registry, find_oban_class, model_label

_DECLARATIONS = ("Trigger", "ScheduledAction")
_LISTS = ("triggers", "scheduled_actions")
_REGISTER_ORIGIN = "register() at "
# The model label of a declaration shared by several models: a name template the registry
# fills per model (`declarations.NAME_PLACEHOLDERS`).
SHARED_LABEL = "{app_label}.{model}"


# -- one module ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddedName:
    """One keyword argument added: `option=value` on the declaration `label`."""

    label: str  # "app_label.Model:name", as `Registered.label`, or "{app_label}.{model}:name"
    option: str  # "worker_name" or "scheduler_name"
    value: str


@dataclass(frozen=True, slots=True)
class Rewrite:
    code: str
    added: tuple[AddedName, ...]


def rewrite_source(
    source: str,
    *,
    classes: Mapping[str, str] | None = None,
    register_lines: Mapping[int, str] | None = None,
) -> Rewrite:
    """Add the missing default names to the declarations of one module.

    `classes` maps a class name to the model label (`"app_label.Model"`) whose names its
    `class Oban` gets (for an abstract parent: its only concrete child's label, or
    `SHARED_LABEL` when several children share it). `register_lines` maps a line number to the
    model label of the `register()` call whose span contains it.
    Anything else in the module is left alone.

    >>> source = 'class Order:\\n    class Oban:\\n        triggers = [Trigger("go")]'
    >>> print(rewrite_source(source, classes={"Order": "shop.Order"}).code.split("[")[1])
    Trigger("go", worker_name="shop.Order:go", scheduler_name="shop.Order:go:scheduler")]
    """
    transformer = _DefaultNames(classes or {}, register_lines or {})
    code = MetadataWrapper(cst.parse_module(source)).visit(transformer).code
    return Rewrite(code, tuple(transformer.added))


class _DefaultNames(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, classes: Mapping[str, str], register_lines: Mapping[int, str]) -> None:
        super().__init__()
        self.classes = classes
        self.register_lines = dict(register_lines)  # a copy: each line is used by one call
        self.added: list[AddedName] = []
        self._scopes: list[str] = []  # enclosing class names, "" for a function

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._scopes.append(node.name.value)
        return True

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self._scopes.pop()
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._scopes.append("")
        return True

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        self._scopes.pop()
        return updated_node

    def _oban_label(self) -> str | None:
        """The model label, when directly in the body of a mapped class's `class Oban`."""
        if len(self._scopes) >= 2 and self._scopes[-1] == "Oban":
            return self.classes.get(self._scopes[-2])
        return None

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        label = self._oban_label()
        if label and any(_is_name(t.target, _LISTS) for t in updated_node.targets):
            return updated_node.with_changes(value=self._in_list(updated_node.value, label))
        return updated_node

    def leave_AnnAssign(
        self, original_node: cst.AnnAssign, updated_node: cst.AnnAssign
    ) -> cst.AnnAssign:
        label = self._oban_label()
        if label and updated_node.value and _is_name(updated_node.target, _LISTS):
            return updated_node.with_changes(value=self._in_list(updated_node.value, label))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if _callee(updated_node) != "register":
            return updated_node
        span = self.get_metadata(PositionProvider, original_node)
        # Calls are left innermost first, so a nested register() claims its line first.
        line = next(
            (n for n in sorted(self.register_lines) if span.start.line <= n <= span.end.line), None
        )
        if line is None:
            return updated_node
        label = self.register_lines.pop(line)
        return updated_node.with_changes(
            args=[
                arg.with_changes(value=self._in_list(arg.value, label))
                if arg.keyword and arg.keyword.value in _LISTS
                else arg
                for arg in updated_node.args
            ]
        )

    def _in_list(self, value: cst.BaseExpression, label: str) -> cst.BaseExpression:
        """Name the declarations written literally in a list or tuple; other values stay."""
        if not isinstance(value, cst.List | cst.Tuple):
            return value
        return value.with_changes(
            elements=[
                element.with_changes(value=self._declaration(element.value, label))
                for element in value.elements
            ]
        )

    def _declaration(self, node: cst.BaseExpression, label: str) -> cst.BaseExpression:
        if not isinstance(node, cst.Call) or _callee(node) not in _DECLARATIONS:
            return node
        if any(arg.star for arg in node.args):
            return node  # *args / **options may already carry the names
        name = _name_literal(node)
        if name is None:
            return node  # a computed name: its default cannot be written down
        declared = f"{label}:{name[1]}"
        wanted = [("worker_name", declared)]
        if _callee(node) == "Trigger" and not _passes_none(node, "scheduler_cron"):
            wanted.append(("scheduler_name", f"{declared}:scheduler"))
        present = {arg.keyword.value for arg in node.args if arg.keyword}
        missing = [(option, value) for option, value in wanted if option not in present]
        if not missing:
            return node
        self.added.extend(AddedName(declared, option, value) for option, value in missing)
        # The new strings follow the name's quotes.
        quote = name[0].quote if name[0].quote in ("'", '"') else '"'
        return _append_keywords(node, [(o, f"{quote}{v}{quote}") for o, v in missing])


def _is_name(node: cst.BaseExpression, names: Sequence[str]) -> bool:
    return isinstance(node, cst.Name) and node.value in names


def _callee(call: cst.Call) -> str | None:
    """`f` for `f(...)` and `module.f(...)`."""
    if isinstance(call.func, cst.Name):
        return call.func.value
    if isinstance(call.func, cst.Attribute):
        return call.func.attr.value
    return None


def _name_literal(call: cst.Call) -> tuple[cst.SimpleString, str] | None:
    """The declaration's name when it is a plain string literal (positional or `name=`)."""
    for arg in call.args:
        if arg.keyword is None or arg.keyword.value == "name":
            if isinstance(arg.value, cst.SimpleString):
                text = arg.value.evaluated_value
                return (arg.value, text) if isinstance(text, str) else None
            return None
    return None


def _passes_none(call: cst.Call, keyword: str) -> bool:
    return any(
        arg.keyword and arg.keyword.value == keyword and _is_name(arg.value, ("None",))
        for arg in call.args
    )


def _append_keywords(call: cst.Call, keywords: Sequence[tuple[str, str]]) -> cst.Call:
    """Append `keyword=code` arguments in the call's own layout.

    Arguments one per line get new lines (with a trailing comma when the call had one);
    arguments on one line get the new ones on that line. A comment after the last argument
    stays on its line.
    """
    args = list(call.args)
    last = args[-1]
    comma = last.comma if isinstance(last.comma, cst.Comma) else None
    # What follows the last argument: its comment, and the line break before ")" if any.
    tail = comma.whitespace_after if comma else last.whitespace_after_arg
    separator = _separator(call)
    after_last: cst.BaseParenthesizableWhitespace = separator
    if isinstance(separator, cst.ParenthesizedWhitespace) and isinstance(
        tail, cst.ParenthesizedWhitespace
    ):
        # One per line: the old last line keeps its comment, the new last line gets the ")".
        after_last = tail.with_changes(indent=separator.indent, last_line=separator.last_line)
        tail = _bare(tail)
    new = [
        cst.Arg(
            keyword=cst.Name(keyword),
            value=cst.SimpleString(code),
            equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""),
                whitespace_after=cst.SimpleWhitespace(""),
            ),
            comma=cst.Comma(whitespace_after=separator),
        )
        for keyword, code in keywords
    ]
    if comma:
        new[-1] = new[-1].with_changes(
            comma=comma.with_changes(whitespace_after=tail),
            whitespace_after_arg=last.whitespace_after_arg,
        )
    else:
        new[-1] = new[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=tail)
    args[-1] = last.with_changes(
        comma=cst.Comma(
            whitespace_before=comma.whitespace_before if comma else cst.SimpleWhitespace(""),
            whitespace_after=after_last,
        ),
        whitespace_after_arg=last.whitespace_after_arg if comma else cst.SimpleWhitespace(""),
    )
    return call.with_changes(args=[*args, *new])


def _separator(call: cst.Call) -> cst.BaseParenthesizableWhitespace:
    """The whitespace between two arguments of this call, without its comments."""
    if len(call.args) >= 2 and isinstance(call.args[-2].comma, cst.Comma):
        between = call.args[-2].comma.whitespace_after
    else:  # a single argument: one per line if it sits on its own line
        between = call.whitespace_before_args
    if isinstance(between, cst.ParenthesizedWhitespace):
        return _bare(between)
    return cst.SimpleWhitespace(" ")


def _bare(whitespace: cst.ParenthesizedWhitespace) -> cst.ParenthesizedWhitespace:
    """A line break to the same indentation, with no comment and no blank lines."""
    return cst.ParenthesizedWhitespace(indent=whitespace.indent, last_line=whitespace.last_line)


# -- the project --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MissingName:
    """A declaration without (some of) its stable names, and what the rewrite does about it."""

    label: str  # "app_label.Model:name"
    options: tuple[str, ...]  # the missing options: "worker_name", "scheduler_name"
    origin: str  # `Registered.origin`
    path: Path | None  # the file the names are (or would be) written to
    manual: str | None  # why the names must be written by hand; None when the rewrite adds them


@dataclass(frozen=True, slots=True)
class FileRewrite:
    path: Path
    old: str
    new: str
    added: tuple[AddedName, ...]

    def diff(self) -> str:
        name = display_path(self.path)
        # git's a/ b/ prefixes for paths in the working directory, like `diff -u` outside it.
        old, new = (name, name) if Path(name).is_absolute() else (f"a/{name}", f"b/{name}")
        return "".join(
            difflib.unified_diff(
                self.old.splitlines(keepends=True),
                self.new.splitlines(keepends=True),
                fromfile=old,
                tofile=new,
            )
        )


@dataclass(frozen=True, slots=True)
class Report:
    missing: tuple[MissingName, ...]  # as declared before the run
    files: tuple[FileRewrite, ...]  # the files changed (or that would be)

    @property
    def manual(self) -> tuple[MissingName, ...]:
        return tuple(m for m in self.missing if m.manual)


def set_default_names(*, registry: Registry | None = None, write: bool = True) -> Report:
    """Add the default `worker_name` / `scheduler_name` wherever a declaration lacks them.

    `registry` defaults to the project's. With `write=False` nothing is written: the report
    says what would change (`--check`, `--diff`). A declaration shared by several models gets
    name templates (`SHARED_LABEL`). Declarations whose source cannot be rewritten safely
    (names computed at run time, no source file, ...) are reported in `Report.manual` with the
    reason.
    """
    entries = (registry if registry is not None else registry_module.registry).entries()
    missing = [
        (entry, options, _site(entry)) for entry in entries if (options := _missing_options(entry))
    ]
    # (file, class name or register() line) -> the model labels declared there
    sites: dict[tuple[Path, str | int], set[str]] = defaultdict(set)
    for entry, _, site in missing:
        if not isinstance(site, str):
            sites[site].add(model_label(entry.model))

    per_file: dict[Path, tuple[dict[str, str], dict[int, str]]] = defaultdict(lambda: ({}, {}))
    for (path, key), labels in sites.items():
        classes, lines = per_file[path]
        label = _site_label(labels)
        if isinstance(key, str):
            classes[key] = label
        else:
            lines[key] = label

    files: list[FileRewrite] = []
    unparsable: dict[Path, str] = {}
    for path, (classes, lines) in per_file.items():
        with open(path, encoding="utf-8", newline="") as source:  # newline="": keep "\r\n"
            old = source.read()
        try:
            result = rewrite_source(old, classes=classes, register_lines=lines)
        except cst.ParserSyntaxError as exc:
            unparsable[path] = f"libcst cannot parse {display_path(path)}: {exc.message}"
            continue
        if result.added:
            files.append(FileRewrite(path, old, result.code, result.added))

    added = {(a.label, a.option) for f in files for a in f.added}
    report = []
    for entry, options, site in missing:
        file = None if isinstance(site, str) else site[0]
        manual: str | None = None
        if isinstance(site, str):
            manual = site
        elif site[0] in unparsable:
            manual = unparsable[site[0]]
        elif any(
            (f"{_site_label(sites[site])}:{entry.name}", option) not in added for option in options
        ):
            manual = (
                f"no literal {type(entry.declaration).__name__}({entry.name!r}, ...) "
                f"without *args/**kwargs found where it is declared"
            )
        report.append(MissingName(entry.label, options, entry.origin, file, manual))

    if write:
        for rewrite in files:
            with open(rewrite.path, "w", encoding="utf-8", newline="") as target:
                target.write(rewrite.new)
    return Report(tuple(report), tuple(files))


def _missing_options(entry: Registered) -> tuple[str, ...]:
    options = []
    if entry.declaration.worker_name is None:
        options.append("worker_name")
    if (
        isinstance(entry, RegisteredTrigger)
        and entry.declaration.scheduler_cron is not None
        and entry.declaration.scheduler_name is None
    ):
        options.append("scheduler_name")
    return tuple(options)


def _site(entry: Registered) -> tuple[Path, str | int] | str:
    """Where `entry` is declared: (file, class name) or (file, register() line), or a reason."""
    if entry.origin.startswith(_REGISTER_ORIGIN):
        filename, _, line = entry.origin.removeprefix(_REGISTER_ORIGIN).rpartition(":")
        if not line.isdigit() or not Path(filename).is_file():
            return f"the source of {entry.origin} is not available"
        return Path(filename).resolve(), int(line)
    holder = _oban_holder(entry.model)
    try:
        source = inspect.getsourcefile(holder) if holder else None
    except TypeError:  # a class without a source file
        source = None
    if holder is None or source is None:
        return f"the source of {entry.origin} is not available"
    return Path(source).resolve(), holder.__name__


def _oban_holder(model: type[Model]) -> type | None:
    """The class whose body holds the `class Oban` of `model` (itself or an abstract parent)."""
    oban = find_oban_class(model)
    return next((k for k in model.__mro__ if vars(k).get("Oban") is oban), None)


def _site_label(labels: set[str]) -> str:
    """The label whose names a declaration site gets: its one model's, or the template."""
    return next(iter(labels)) if len(labels) == 1 else SHARED_LABEL


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is inside it."""
    cwd = Path.cwd()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)
