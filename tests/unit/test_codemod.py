from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.utils import isolate_apps

from ash_oban_django import registry as registry_module
from ash_oban_django.codemod import AddedName, rewrite_source, set_default_names
from ash_oban_django.registry import Registry


def rewrite(source: str) -> str:
    return rewrite_source(textwrap.dedent(source), classes={"Order": "shop.Order"}).code


# -- rewrite_source ---------------------------------------------------------------------------


def test_rewrite__one_argument_per_line_keeps_its_layout_and_comments() -> None:
    assert rewrite("""\
        class Order(models.Model):
            class Oban:
                triggers = [
                    Trigger(
                        "process",  # the name
                        where=Q(paid=True),  # paid orders only
                        # max_attempts=3,
                    ),
                ]
        """) == textwrap.dedent("""\
        class Order(models.Model):
            class Oban:
                triggers = [
                    Trigger(
                        "process",  # the name
                        where=Q(paid=True),  # paid orders only
                        # max_attempts=3,
                        worker_name="shop.Order:process",
                        scheduler_name="shop.Order:process:scheduler",
                    ),
                ]
        """)


def test_rewrite__without_trailing_comma_adds_none() -> None:
    assert rewrite("""\
        class Order:
            class Oban:
                triggers = [Trigger(
                    "process",
                    max_attempts=2
                )]
        """) == textwrap.dedent("""\
        class Order:
            class Oban:
                triggers = [Trigger(
                    "process",
                    max_attempts=2,
                    worker_name="shop.Order:process",
                    scheduler_name="shop.Order:process:scheduler"
                )]
        """)


def test_rewrite__arguments_on_one_line_get_the_names_on_that_line() -> None:
    assert rewrite("""\
        class Order:
            class Oban:
                triggers = (Trigger('ship', where=Q(shipped=False)),)  # tuple, single quotes
                scheduled_actions = [
                    ScheduledAction(
                        "import_orders", "0 */6 * * *"  # every six hours
                    ),
                ]
        """) == textwrap.dedent("""\
        class Order:
            class Oban:
                triggers = (Trigger('ship', where=Q(shipped=False), worker_name='shop.Order:ship', scheduler_name='shop.Order:ship:scheduler'),)  # tuple, single quotes
                scheduled_actions = [
                    ScheduledAction(
                        "import_orders", "0 */6 * * *", worker_name="shop.Order:import_orders"  # every six hours
                    ),
                ]
        """)  # noqa: E501


def test_rewrite__no_scheduler_name_without_a_scheduler() -> None:
    result = rewrite("""\
        class Order:
            class Oban:
                triggers = [Trigger("refund", scheduler_cron=None)]
        """)
    assert 'Trigger("refund", scheduler_cron=None, worker_name="shop.Order:refund")' in result
    assert "scheduler_name" not in result


def test_rewrite__existing_names_are_never_changed() -> None:
    source = """\
        class Order:
            class Oban:
                triggers = [
                    Trigger("a", worker_name="legacy.a", scheduler_name="legacy.a.cron"),
                    Trigger("b", worker_name="legacy.b"),
                ]
                scheduled_actions = [ScheduledAction("c", "0 * * * *", worker_name="legacy.c")]
        """
    result = rewrite_source(textwrap.dedent(source), classes={"Order": "shop.Order"})
    assert result.added == (AddedName("shop.Order:b", "scheduler_name", "shop.Order:b:scheduler"),)
    assert 'Trigger("b", worker_name="legacy.b", scheduler_name="shop.Order:b:scheduler")' in (
        result.code
    )


def test_rewrite__leaves_alone_what_it_cannot_name_or_does_not_own() -> None:
    source = textwrap.dedent("""\
        class Order:
            class Oban:
                triggers = [Trigger(NAME), Trigger(f"x{1}"), Trigger("opts", **OPTIONS), other()]
                scheduled_actions = ACTIONS

            def helper(self):
                triggers = [Trigger("local")]


        class Customer:  # not in the mapping
            class Oban:
                triggers = [Trigger("welcome")]

        register(Customer, triggers=[Trigger("unmapped")])
        """)
    result = rewrite_source(source, classes={"Order": "shop.Order"})
    assert (result.code, result.added) == (source, ())


def test_rewrite__register_calls_matched_by_line() -> None:
    source = textwrap.dedent("""\
        import ash_oban_django
        from ash_oban_django import register

        with register(User, triggers=[Trigger("welcome")]):
            pass

        ash_oban_django.register(
            Group,
            triggers=[
                Trigger("audit", scheduler_cron=None),  # on demand
            ],
            scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")],
        )
        register(User, triggers=[Trigger("elsewhere")])
        """)
    # Any line of the call's span will do: Python reports the line the call starts on.
    result = rewrite_source(source, register_lines={4: "auth.User", 9: "auth.Group"})
    assert [(a.label, a.option) for a in result.added] == [
        ("auth.User:welcome", "worker_name"),
        ("auth.User:welcome", "scheduler_name"),
        ("auth.Group:audit", "worker_name"),
        ("auth.Group:nightly", "worker_name"),
    ]
    assert result.code == source.replace(
        'Trigger("welcome")',
        'Trigger("welcome", worker_name="auth.User:welcome", '
        'scheduler_name="auth.User:welcome:scheduler")',
    ).replace(
        "scheduler_cron=None),", 'scheduler_cron=None, worker_name="auth.Group:audit"),'
    ).replace('"0 3 * * *")', '"0 3 * * *", worker_name="auth.Group:nightly")')


def test_rewrite__second_run_is_a_no_op() -> None:
    source = textwrap.dedent("""\
        class Order:
            class Oban:
                triggers = [
                    Trigger(
                        "process",
                        where=Q(paid=True),
                    ),
                    Trigger("ship"),
                ]
                scheduled_actions = [ScheduledAction("tidy", "0 * * * *")]

        register(User, triggers=[Trigger("welcome")])
        """)
    classes, lines = {"Order": "shop.Order"}, {12: "auth.User"}
    once = rewrite_source(source, classes=classes, register_lines=lines)
    assert len(once.added) == 7
    again = rewrite_source(once.code, classes=classes, register_lines=lines)
    assert (again.code, again.added) == (once.code, ())


def test_rewrite__keeps_windows_line_endings() -> None:
    source = "\r\n".join(
        [
            "class Order:",
            "    class Oban:",
            "        triggers = [Trigger(",
            '            "a",',
            "        )]",
            "",
        ]
    )
    code = rewrite_source(source, classes={"Order": "shop.Order"}).code
    assert code.count("\r\n") == 7 and "\n" not in code.replace("\r\n", "")


# -- the command, end to end on files ---------------------------------------------------------

MODELS = """\
from django.db import models
from django.db.models import Q

from ash_oban_django import ScheduledAction, Trigger, register


class Invoice(models.Model):
    sent = models.BooleanField(default=False)

    class Meta:
        app_label = "testapp"

    class Oban:
        triggers = [
            Trigger(
                "send",  # e-mail the customer
                where=Q(sent=False),
            ),
        ]
        scheduled_actions = [ScheduledAction("tidy", "0 * * * *")]  # hourly


class Ticket(models.Model):
    class Meta:
        app_label = "testapp"


register(
    Ticket,
    triggers=[Trigger("close", scheduler_cron=None)],
)
"""

NAMED = (
    MODELS.replace(
        """\
                where=Q(sent=False),
            ),""",
        """\
                where=Q(sent=False),
                worker_name="testapp.Invoice:send",
                scheduler_name="testapp.Invoice:send:scheduler",
            ),""",
    )
    .replace('"0 * * * *")', '"0 * * * *", worker_name="testapp.Invoice:tidy")')
    .replace("scheduler_cron=None)", 'scheduler_cron=None, worker_name="testapp.Ticket:close")')
)


class Project:
    """Model modules written to disk and imported, with their declarations in a fresh registry."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.modules: set[str] = set()
        monkeypatch.syspath_prepend(str(root))
        monkeypatch.setattr(sys, "dont_write_bytecode", True)

    def write(self, module: str, source: str) -> Path:
        path = self.root / f"{module}.py"
        path.write_text(source)
        return path

    def load(self, *modules: str) -> Registry:
        """(Re)import `modules` in isolated apps; the command sees only their declarations."""
        registry = Registry()
        # The global registry is swapped, so the modules' own register() calls land here too.
        self.monkeypatch.setattr(registry_module, "registry", registry)
        importlib.invalidate_caches()
        with isolate_apps() as apps:
            for module in modules:
                sys.modules.pop(module, None)
                self.modules.add(module)
                importlib.import_module(module)
            registry.collect([m for models in apps.all_models.values() for m in models.values()])
        return registry


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    project = Project(tmp_path, monkeypatch)
    yield project
    for module in project.modules:
        sys.modules.pop(module, None)


def run(*args: str) -> str:
    out = StringIO()
    call_command("ash_oban_set_default_names", *args, stdout=out, no_color=True)
    return out.getvalue()


def test_command__check_fails_until_the_names_are_written(project: Project) -> None:
    path = project.write("shop_models", MODELS)
    project.load("shop_models")

    with pytest.raises(CommandError, match="3 declaration") as failed:
        run("--check")
    assert failed.value.returncode == 1
    assert path.read_text() == MODELS

    output = run()
    assert path.read_text() == NAMED  # comments and layout kept
    assert output.splitlines() == [
        f"Wrote {path}:",
        '  testapp.Invoice:send: worker_name="testapp.Invoice:send"',
        '  testapp.Invoice:send: scheduler_name="testapp.Invoice:send:scheduler"',
        '  testapp.Invoice:tidy: worker_name="testapp.Invoice:tidy"',
        '  testapp.Ticket:close: worker_name="testapp.Ticket:close"',
    ]

    project.load("shop_models")  # what a new process would see
    assert run("--check") == "Every trigger and scheduled action has its stable names.\n"
    run()
    assert path.read_text() == NAMED


def test_command__check_lists_the_declarations_missing_names(project: Project) -> None:
    path = project.write("shop_models", MODELS)
    project.load("shop_models")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("ash_oban_set_default_names", "--check", stdout=out, no_color=True)
    assert out.getvalue().splitlines() == [
        f"testapp.Invoice:send is missing worker_name, scheduler_name ({path})",
        f"testapp.Invoice:tidy is missing worker_name ({path})",
        f"testapp.Ticket:close is missing worker_name ({path})",
    ]


def test_command__diff_prints_the_change_and_writes_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project.write("shop_models", MODELS)
    project.load("shop_models")
    assert run("--diff").startswith(f"--- {path}\n+++ {path}\n")  # outside the working dir
    monkeypatch.chdir(path.parent)
    output = run("--diff")
    assert path.read_text() == MODELS
    assert output.startswith("--- a/shop_models.py\n+++ b/shop_models.py\n@@ ")
    assert '+                worker_name="testapp.Invoice:send",\n' in output
    assert '-        scheduled_actions = [ScheduledAction("tidy", "0 * * * *")]  # hourly\n' in (
        output
    )


def test_set_default_names__takes_a_registry_and_can_only_plan(project: Project) -> None:
    path = project.write("shop_models", MODELS)
    registry = project.load("shop_models")
    monkeypatched_global = registry_module.registry
    registry_module.registry = Registry()  # proves the argument, not the global, is read
    try:
        report = set_default_names(registry=registry, write=False)
    finally:
        registry_module.registry = monkeypatched_global
    assert path.read_text() == MODELS
    assert [f.path for f in report.files] == [path]
    assert report.files[0].new == NAMED
    assert [(m.label, m.options, m.manual) for m in report.missing] == [
        ("testapp.Invoice:send", ("worker_name", "scheduler_name"), None),
        ("testapp.Invoice:tidy", ("worker_name",), None),
        ("testapp.Ticket:close", ("worker_name",), None),
    ]


ABSTRACT = """\
from django.db import models

from ash_oban_django import ScheduledAction, Trigger


class Stamped(models.Model):
    class Meta:
        abstract = True

    class Oban:
        triggers = [Trigger("stamp")]


class Shared(models.Model):
    class Meta:
        abstract = True

    class Oban:
        triggers = [
            Trigger(
                "audit",  # on demand
                scheduler_cron=None,
            ),
            Trigger("expire"),
        ]
        scheduled_actions = [ScheduledAction('sweep', "0 * * * *")]


class Receipt(Stamped):
    class Meta:
        app_label = "testapp"


class Refund(Shared):
    class Meta:
        app_label = "testapp"


class Credit(Shared):
    class Meta:
        app_label = "testapp"
"""


def test_command__abstract_parent_gets_its_only_childs_names_or_templates(
    project: Project,
) -> None:
    path = project.write("abstract_models", ABSTRACT)
    project.load("abstract_models")
    output = run()
    # The parent shared by two models gets name templates, filled per model by the registry.
    assert path.read_text() == ABSTRACT.replace(
        'Trigger("stamp")',
        'Trigger("stamp", worker_name="testapp.Receipt:stamp", '
        'scheduler_name="testapp.Receipt:stamp:scheduler")',
    ).replace(
        """\
                scheduler_cron=None,
            ),
            Trigger("expire"),""",
        """\
                scheduler_cron=None,
                worker_name="{app_label}.{model}:audit",
            ),
            Trigger("expire", worker_name="{app_label}.{model}:expire", scheduler_name="{app_label}.{model}:expire:scheduler"),""",  # noqa: E501
    ).replace(
        "ScheduledAction('sweep', \"0 * * * *\")",
        "ScheduledAction('sweep', \"0 * * * *\", worker_name='{app_label}.{model}:sweep')",
    )
    assert "by hand" not in output
    assert '  {app_label}.{model}:audit: worker_name="{app_label}.{model}:audit"' in output

    registry = project.load("abstract_models")  # what a new process would see
    assert registry.problems == []
    assert [list(e.stable_names) for e in registry.entries() if e.model.__name__ == "Credit"] == [
        ["testapp.Credit:audit"],
        ["testapp.Credit:expire", "testapp.Credit:expire:scheduler"],
        ["testapp.Credit:sweep"],
    ]
    assert {e.worker_name for e in registry.entries()} >= {"testapp.Refund:audit"}
    assert run("--check") == "Every trigger and scheduled action has its stable names.\n"
    written = path.read_text()
    run()
    assert path.read_text() == written


REGISTER_LOOP = """\
from django.db import models

from ash_oban_django import Trigger, register


class Note(models.Model):
    class Meta:
        app_label = "testapp"


class Memo(models.Model):
    class Meta:
        app_label = "testapp"


for model in (Note, Memo):
    register(model, triggers=[Trigger("close", scheduler_cron=None)])
"""


def test_command__register_call_run_for_several_models_gets_name_templates(
    project: Project,
) -> None:
    path = project.write("loop_models", REGISTER_LOOP)
    project.load("loop_models")
    run()
    assert path.read_text() == REGISTER_LOOP.replace(
        "scheduler_cron=None)", 'scheduler_cron=None, worker_name="{app_label}.{model}:close")'
    )
    registry = project.load("loop_models")
    assert [e.worker_name for e in registry.entries()] == [
        "testapp.Note:close",
        "testapp.Memo:close",
    ]


def test_command__nothing_declared() -> None:
    registry = Registry()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry_module, "registry", registry)
        assert run() == "Every trigger and scheduled action has its stable names.\n"


def test_command__without_libcst_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libcst", None)  # makes `import libcst` fail
    monkeypatch.delitem(sys.modules, "ash_oban_django.codemod")
    with pytest.raises(CommandError, match=r"pip install \"libcst>=1.1\""):
        run()


def test_command__without_libcst_check_exits_3_not_1(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 means "names missing"; a missing dependency must be told apart by CI.
    monkeypatch.setitem(sys.modules, "libcst", None)
    monkeypatch.delitem(sys.modules, "ash_oban_django.codemod")
    with pytest.raises(CommandError) as failed:
        run("--check")
    assert failed.value.returncode == 3
    assert "\n" not in str(failed.value)


def test_command__accepts_skip_checks() -> None:
    registry = Registry()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry_module, "registry", registry)
        assert run("--skip-checks", "--check") == (
            "Every trigger and scheduled action has its stable names.\n"
        )
