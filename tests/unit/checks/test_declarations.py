"""`checks.declarations`: the registry's collection problems and each declaration's checks."""

from __future__ import annotations

import math
from datetime import datetime
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.checks import CheckMessage, Error, Warning, run_checks
from django.core.management import call_command
from django.db import models
from django.db.models import Q
from django.test.utils import isolate_apps

from ash_oban_django import Chunks, ScheduledAction, Trigger
from ash_oban_django.checks import check_declarations, check_settings
from ash_oban_django.registry import Registry
from tests.testapp.models import Widget
from tests.unit.checks.support import BASE, action, ids, trigger


def test_check__valid_declarations_on_widget_are_clean(widget_checks: Any) -> None:
    messages = widget_checks(
        triggers=[
            trigger(
                "finish",
                where=Q(done=False, rank__gte=1),
                sort=["-rank", "name"],
                on_error="mark_errored",
                queryset="objects",
                action_input={"a": [1]},
                extra_args={"b": {"c": None}},
                use_tenant_from_record=True,
            ),
            trigger("purge", action="delete", scheduler_cron=None),
        ],
        scheduled_actions=[action("nightly", "0 0 29 2 *", action_input={"n": 1.5})],
        tenant_field="tenant",
        list_tenants=["a", "b"],
    )
    assert messages == []


# -- E001 / E002: problems the registry found while collecting `class Oban` ------------------


@isolate_apps("tests.testapp")
def test_check__E001_malformed_class_oban() -> None:
    class Gadget(models.Model):
        class Meta:
            app_label = "testapp"

        class Oban:
            triggers = Trigger("finish", worker_name="testapp.Gadget:finish")

    registry = Registry()
    registry.collect([Gadget])
    messages = check_declarations(registry=registry)
    assert ids(messages) == ["ash_oban_django.E001"]
    assert isinstance(messages[0], Error)
    assert "Gadget.Oban.triggers must be a list, got Trigger(" in messages[0].msg
    assert "must be lists of Trigger and ScheduledAction" in (messages[0].hint or "")
    assert messages[0].obj is Gadget


@isolate_apps("tests.testapp")
def test_check__E002_duplicate_stable_name() -> None:
    class Gadget(models.Model):
        class Meta:
            app_label = "testapp"

        class Oban:
            triggers = [
                Trigger("a", scheduler_cron=None, worker_name="gadget"),
                Trigger("b", scheduler_cron=None, worker_name="gadget"),
            ]

        def a(self) -> None: ...

        def b(self) -> None: ...

    registry = Registry()
    registry.collect([Gadget])
    messages = check_declarations(registry=registry)
    assert ids(messages) == ["ash_oban_django.E002"]
    assert messages[0].msg.startswith("The stable name 'gadget' of testapp.Gadget:b (")
    assert "is already used by testapp.Gadget:a" in messages[0].msg
    assert messages[0].obj is Gadget


@isolate_apps("tests.testapp")
def test_check__E002_duplicate_name() -> None:
    class Gadget(models.Model):
        class Meta:
            app_label = "testapp"

        class Oban:
            triggers = [Trigger("a", scheduler_cron=None, worker_name="one")]
            scheduled_actions = [ScheduledAction("a", "0 * * * *", worker_name="two")]

        def a(self) -> None: ...

    registry = Registry()
    registry.collect([Gadget])
    assert ids(check_declarations(registry=registry)) == ["ash_oban_django.E002"]


# -- per-declaration checks -----------------------------------------------------------------


@pytest.mark.parametrize(
    "declarations",
    [
        {"triggers": [trigger("finish", scheduler_cron="0 0 31 2 *")]},
        {"scheduled_actions": [action("nightly", "0 0 30 2 *")]},
    ],
)
def test_check__E003_cron_that_never_fires(widget_checks: Any, declarations: Any) -> None:
    messages = widget_checks(**declarations)
    assert ids(messages) == ["ash_oban_django.E003"]
    assert "never fires (no matching time within 5 years" in messages[0].msg
    assert messages[0].msg.startswith(
        (
            "testapp.Widget:finish: `scheduler_cron` '0 0 31 2 *'",
            "testapp.Widget:nightly: `cron` '0 0 30 2 *'",
        )
    )
    assert "February has no 30th or 31st" in messages[0].hint
    assert messages[0].obj is Widget


@pytest.mark.parametrize(
    ("where", "error"),
    [
        (Q(nope=1), "Cannot resolve keyword 'nope' into field. Choices are: calls, done"),
        (Q(done=False) | Q(rank__bogus=1), "Unsupported lookup 'bogus' for IntegerField"),
        (Q(rank="many"), "Field 'rank' expected a number but got 'many'"),
    ],
)
def test_check__E004_unknown_field_in_where(widget_checks: Any, where: Q, error: str) -> None:
    messages = widget_checks(triggers=[trigger("finish", where=where)])
    assert ids(messages) == ["ash_oban_django.E004"]
    assert messages[0].msg.startswith(
        "testapp.Widget:finish: `where` is not a valid filter on testapp.Widget: "
    )
    assert error in messages[0].msg
    assert messages[0].hint == (
        "Use fields and lookups of testapp.Widget in the Q, e.g. Q(field__lookup=value)."
    )
    assert messages[0].obj is Widget


@isolate_apps("tests.testapp")
def test_check__E004_uses_the_named_manager() -> None:
    # An annotation added by the trigger's manager is a valid name in `where` and `sort`.
    class Annotated(models.Manager[Any]):
        def get_queryset(self) -> models.QuerySet[Any]:
            return super().get_queryset().annotate(double=models.F("rank") * 2)

    class Gadget(models.Model):
        rank = models.IntegerField()
        objects = models.Manager()
        annotated = Annotated()

        class Meta:
            app_label = "testapp"

        def run(self) -> None: ...

    registry = Registry()
    registry.register(
        Gadget,
        triggers=[
            Trigger(
                "a",
                action="run",
                where=Q(double__gt=2),
                sort=["-double"],
                queryset="annotated",
                worker_name="a",
                scheduler_name="a:s",
            ),
            Trigger(
                "b", action="run", where=Q(double__gt=2), worker_name="b", scheduler_name="b:s"
            ),
        ],
    )
    messages = check_declarations(registry=registry)
    assert ids(messages) == ["ash_oban_django.E004"]
    assert messages[0].msg.startswith("testapp.Gadget:b: `where` is not a valid filter")


def test_check__E005_unknown_field_in_sort(widget_checks: Any) -> None:
    messages = widget_checks(triggers=[trigger("finish", sort=["rank", "-nope"])])
    assert ids(messages) == ["ash_oban_django.E005"]
    assert messages[0].msg.startswith(
        "testapp.Widget:finish: `sort` entry '-nope' does not name a field of testapp.Widget "
        "(Cannot resolve keyword 'nope' into field."
    )
    assert messages[0].hint == (
        "Use field names of testapp.Widget, with a leading '-' for descending order."
    )


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("missing", "does not exist"),
        ("nightly", "is a classmethod"),
        ("done", "is not callable"),
        ("objects", "is not callable"),
    ],
)
def test_check__E006_bad_trigger_action(widget_checks: Any, name: str, found: str) -> None:
    messages = widget_checks(triggers=[trigger("finish", action=name)])
    assert ids(messages) == ["ash_oban_django.E006"]
    assert messages[0].msg == (
        f"testapp.Widget:finish: `action` {name!r} {found} on "
        "testapp.Widget; a trigger's action must be an instance method."
    )
    assert messages[0].hint.startswith(f"Define `def {name}(self, **inputs)` on testapp.Widget")
    assert messages[0].obj is Widget


def test_check__E006_staticmethod_and_delete(widget_checks: Any) -> None:
    Widget.helper = staticmethod(lambda: None)  # type: ignore[attr-defined]
    try:
        messages = widget_checks(
            triggers=[trigger("finish", action="helper"), trigger("purge", action="delete")]
        )
    finally:
        del Widget.helper  # type: ignore[attr-defined]
    assert ids(messages) == ["ash_oban_django.E006"]
    assert "`action` 'helper' is a staticmethod on testapp.Widget" in messages[0].msg


@pytest.mark.parametrize(
    ("name", "found"),
    [("missing", "does not exist"), ("finish", "is an instance method")],
)
def test_check__E025_bulk_action_that_is_not_class_level(
    widget_checks: Any, name: str, found: str
) -> None:
    messages = widget_checks(triggers=[trigger("finish", chunks=Chunks(bulk_action=name))])
    assert ids(messages) == ["ash_oban_django.E025"]
    assert messages[0].msg == (
        f"testapp.Widget:finish: `chunks.bulk_action` {name!r} {found} on testapp.Widget; "
        "a bulk action must be a classmethod or staticmethod."
    )
    assert messages[0].hint.startswith(
        f"Define `@classmethod def {name}(cls, records, **inputs)` on testapp.Widget"
    )


def test_check__E025_bulk_action_with_read_metadata(widget_checks: Any) -> None:
    chunked = trigger(
        "finish", chunks=Chunks(bulk_action="finish_all"), read_metadata=lambda row: {}
    )
    messages = widget_checks(triggers=[chunked])
    assert ids(messages) == ["ash_oban_django.E025"]
    assert "`read_metadata` is set, but a bulk action receives no per-row metadata" in (
        messages[0].msg
    )


def test_check__E025_fill_timeout_not_below_rescue_after(widget_checks: Any, settings: Any) -> None:
    settings.ASH_OBAN = {**settings.ASH_OBAN, "RESCUE_AFTER": 5}
    messages = widget_checks(triggers=[trigger("finish", chunks=Chunks(timeout=5))])
    assert ids(messages) == ["ash_oban_django.E025"]
    assert "`chunks.timeout` (5 s) is not below ASH_OBAN[\"RESCUE_AFTER\"] (5 s)" in (
        messages[0].msg
    )


def test_check__E025_valid_chunks_are_clean(widget_checks: Any) -> None:
    chunked = [
        trigger("finish", chunks=Chunks(size=50, by=("batch",))),
        trigger("purge", action="delete", chunks=Chunks(bulk_action="finish_all")),
    ]
    assert widget_checks(triggers=chunked) == []


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("missing", "does not exist"),
        ("nightly", "is a classmethod"),
        ("rank", "is not callable"),
    ],
)
def test_check__E007_bad_on_error(widget_checks: Any, name: str, found: str) -> None:
    messages = widget_checks(triggers=[trigger("finish", on_error=name)])
    assert ids(messages) == ["ash_oban_django.E007"]
    assert messages[0].msg == (
        f"testapp.Widget:finish: `on_error` {name!r} {found} on "
        "testapp.Widget; it must be an instance method."
    )
    assert messages[0].hint.startswith(f"Define `def {name}(self, *, error)` on testapp.Widget")


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("missing", "does not exist"),
        ("finish", "is an instance method"),
        ("name", "is not callable"),
    ],
)
def test_check__E008_bad_scheduled_action_method(widget_checks: Any, name: str, found: str) -> None:
    messages = widget_checks(scheduled_actions=[action("job", action=name)])
    assert ids(messages) == ["ash_oban_django.E008"]
    assert messages[0].msg == (
        f"testapp.Widget:job: the scheduled action's method {name!r} {found} on "
        "testapp.Widget; it must be a classmethod or staticmethod."
    )
    assert messages[0].hint.startswith(f"Define `@classmethod def {name}(cls, **inputs)`")
    assert messages[0].obj is Widget


@pytest.mark.parametrize(
    "declarations",
    [
        {"triggers": [trigger("finish", queue="fast")]},
        {"triggers": [trigger("finish", scheduler_queue="fast")]},
        {"scheduled_actions": [action("nightly", queue="fast")]},
    ],
)
def test_check__E009_queue_on_unknown_cluster(
    widget_checks: Any, settings: Any, declarations: Any
) -> None:
    settings.ASH_OBAN = {**BASE, "QUEUES": {"fast": {"cluster": "express", "limit": 2}}}
    messages = widget_checks(**declarations)
    assert ids(messages) == ["ash_oban_django.E009"]
    assert messages[0].msg.endswith(
        ": queue 'fast' is mapped in ASH_OBAN['QUEUES'] to the django-q2 cluster 'express', "
        "which is not configured (configured: 'default')."
    )
    assert messages[0].hint == (
        "Add 'express' to Q_CLUSTER['ALT_CLUSTERS'], or map the queue to a configured cluster."
    )

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "ALT_CLUSTERS": {"express": {"workers": 1}}}
    assert check_declarations() == []
    settings.Q_CLUSTER = {"name": "express"}
    assert check_declarations() == []


def test_check__E009_reports_each_queue_once(widget_checks: Any, settings: Any) -> None:
    settings.ASH_OBAN = {
        **BASE,
        "QUEUES": {"testapp_widget_finish": {"cluster": "x"}, "sched": {"cluster": "y"}},
    }
    # The scheduler queue defaults to the worker queue: one queue, one error.
    messages = widget_checks(triggers=[trigger("finish")])
    assert ids(messages) == ["ash_oban_django.E009"]
    assert "testapp.Widget:finish: queue 'testapp_widget_finish'" in messages[0].msg
    messages = widget_checks(triggers=[trigger("other", scheduler_queue="sched")])
    assert ids(messages) == ["ash_oban_django.E009"]
    assert "testapp.Widget:other: queue 'sched'" in messages[0].msg
    messages = widget_checks(
        triggers=[trigger("other", queue="testapp_widget_finish", scheduler_queue="sched")]
    )
    assert ids(messages) == ["ash_oban_django.E009", "ash_oban_django.E009"]


@pytest.mark.parametrize(
    ("declarations", "text"),
    [
        (
            {"triggers": [trigger("finish", action_input={"ok": 1, "when": datetime(2024, 1, 1)})]},
            "testapp.Widget:finish: `action_input['when']` is not JSON-serialisable: Object of type "
            "datetime is not JSON serializable.",
        ),
        (
            {"triggers": [trigger("finish", extra_args={"ids": {1, 2}})]},
            "testapp.Widget:finish: `extra_args['ids']` is not JSON-serialisable: Object of type set "
            "is not JSON serializable.",
        ),
        (
            {"scheduled_actions": [action("nightly", action_input={"ratio": math.nan})]},
            "testapp.Widget:nightly: `action_input['ratio']` is not JSON-serialisable: Out of range "
            "float values are not JSON compliant",
        ),
    ],
)
def test_check__E010_arguments_that_are_not_json(
    widget_checks: Any, declarations: Any, text: str
) -> None:
    messages = widget_checks(**declarations)
    assert ids(messages) == ["ash_oban_django.E010"]
    assert messages[0].msg.startswith(text)  # Python 3.13 adds the value to json's message
    assert "Job arguments are stored as JSON" in messages[0].hint


def test_check__E010_callable_extra_args_are_not_called(widget_checks: Any) -> None:
    assert widget_checks(triggers=[trigger("finish", extra_args=lambda record: {})]) == []


@pytest.mark.parametrize("option", ["queryset", "worker_queryset"])
def test_check__E012_unknown_manager(widget_checks: Any, option: str) -> None:
    messages = widget_checks(triggers=[trigger("finish", **{option: "active"})])
    assert ids(messages) == ["ash_oban_django.E012"]
    assert messages[0].msg == (
        f"testapp.Widget:finish: `{option}` 'active' is not a manager of testapp.Widget."
    )
    assert messages[0].hint == (
        "Use the name of a manager of testapp.Widget ('objects'), or a callable(model) -> QuerySet."
    )
    assert widget_checks(triggers=[trigger("other", **{option: "objects"})]) == []
    assert ids(widget_checks(triggers=[trigger("x", **{option: "finish"})])) == [
        "ash_oban_django.E012"
    ]


def test_check__E013_unknown_tenant_field(widget_checks: Any) -> None:
    messages = widget_checks(triggers=[trigger("finish"), trigger("other")], tenant_field="org")
    assert ids(messages) == ["ash_oban_django.E013"]
    assert messages[0].msg.startswith("register() at ")
    assert messages[0].msg.endswith(
        ": `tenant_field` 'org' is not a field of testapp.Widget "
        "(used by testapp.Widget:finish, testapp.Widget:other)."
    )
    assert messages[0].hint == "Name the field of testapp.Widget that holds a row's tenant."
    assert messages[0].obj is Widget


def test_check__E013_tenant_from_record_without_tenant_field(widget_checks: Any) -> None:
    messages = widget_checks(triggers=[trigger("finish", use_tenant_from_record=True)])
    assert ids(messages) == ["ash_oban_django.E013"]
    assert messages[0].msg == (
        "testapp.Widget:finish: `use_tenant_from_record=True` but "
        "testapp.Widget declares no `tenant_field`."
    )


# `list_tenants` targets for the E014 tests (import_string reaches module attributes only).
class Tenants:
    @staticmethod
    def list_tenants() -> list[str]:
        return ["a"]


def all_tenants() -> list[str]:
    return ["a", "b"]


ALL_TENANTS = ["a", "b"]
NOT_AN_OBJECT = 5
NOT_CALLABLE = type("NotCallable", (), {"list_tenants": 3})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "tests.nope.Tenants",
            "'tests.nope.Tenants' cannot be imported (ModuleNotFoundError: No "
            "module named 'tests.nope')",
        ),
        (
            f"{__name__}.NOT_AN_OBJECT",
            f"'{__name__}.NOT_AN_OBJECT' imports 5, which has no callable `list_tenants`",
        ),
        (
            f"{__name__}.NOT_CALLABLE",
            f"'{__name__}.NOT_CALLABLE' has a `list_tenants` that is not callable",
        ),
    ],
)
def test_check__E014_bad_list_tenants(widget_checks: Any, value: str, problem: str) -> None:
    messages = widget_checks(triggers=[trigger("finish", list_tenants=value)])
    assert ids(messages) == ["ash_oban_django.E014"]
    assert messages[0].msg == f"testapp.Widget:finish: `list_tenants` {problem}."
    assert messages[0].hint.startswith("Use the dotted path of an object with a `list_tenants()`")

    # The same path at the model level is reported once for the register() call.
    messages = widget_checks(triggers=[trigger("a"), trigger("b")], list_tenants=value)
    assert ids(messages) == ["ash_oban_django.E014"]
    assert messages[0].msg.endswith(
        f": `list_tenants` {problem} (used by testapp.Widget:a, testapp.Widget:b)."
    )


# What tenants.list_tenants accepts: an object with list_tenants(), a callable, an iterable.
@pytest.mark.parametrize(
    "value",
    [
        f"{__name__}.Tenants",
        f"{__name__}.all_tenants",
        f"{__name__}.ALL_TENANTS",
        None,
        ["a"],
        all_tenants,
    ],
)
def test_check__E014_valid_list_tenants(widget_checks: Any, value: Any) -> None:
    assert widget_checks(triggers=[trigger("finish")], list_tenants=value) == []


def test_check__E014_model_level_wrong_type(widget_checks: Any) -> None:
    messages = widget_checks(triggers=[trigger("finish")], list_tenants=3)
    assert ids(messages) == ["ash_oban_django.E014"]
    assert "`list_tenants` must be a list, a zero-argument callable or a dotted path, got 3" in (
        messages[0].msg
    )


def test_check__W001_missing_names(widget_checks: Any) -> None:
    messages = widget_checks(
        triggers=[
            Trigger("finish"),
            Trigger("other", action="finish", scheduler_cron=None),
            trigger("third", scheduler_name=None),
        ],
        scheduled_actions=[ScheduledAction("nightly", "0 3 * * *")],
    )
    assert ids(messages) == ["ash_oban_django.W001"] * 4
    assert all(isinstance(m, Warning) and m.obj is Widget for m in messages)
    assert [m.msg for m in messages] == [
        "testapp.Widget:finish has no `worker_name` and no `scheduler_name`: its jobs are named "
        "after the model and declaration names.",
        "testapp.Widget:other has no `worker_name`: its jobs are named after the model and "
        "declaration names.",
        "testapp.Widget:third has no `scheduler_name`: its jobs are named after the model and "
        "declaration names.",
        "testapp.Widget:nightly has no `worker_name`: its jobs are named after the model and "
        "declaration names.",
    ]
    assert messages[0].hint == (
        "Run `manage.py ash_oban_set_default_names` to pin the default names "
        "(worker_name='testapp.Widget:finish', scheduler_name='testapp.Widget:finish:scheduler'"
        "), so renaming the model or trigger does not orphan queued jobs."
    )


def test_check__E016_missing_names_when_required(widget_checks: Any, settings: Any) -> None:
    settings.ASH_OBAN = {**BASE, "REQUIRE_NAMES": True}
    messages = widget_checks(triggers=[Trigger("finish", scheduler_cron=None)])
    assert ids(messages) == ["ash_oban_django.E016"]
    assert isinstance(messages[0], Error)
    assert messages[0].hint.startswith("Run `manage.py ash_oban_set_default_names`")


# -- scope and robustness -------------------------------------------------------------------


def test_check__only_active_apps_are_checked(widget_checks: Any, settings: Any) -> None:
    assert ids(widget_checks(triggers=[trigger("finish", action="missing")])) == [
        "ash_oban_django.E006"
    ]
    settings.ASH_OBAN = {**BASE, "APPS": ["shop"]}
    assert check_declarations() == []


def test_check__app_configs_limit_the_declarations(widget_checks: Any) -> None:
    widget_checks(triggers=[trigger("finish", action="missing")])
    assert check_declarations(app_configs=[apps.get_app_config("shop")]) == []
    assert ids(check_declarations(app_configs=[apps.get_app_config("testapp")])) == [
        "ash_oban_django.E006"
    ]


def test_check__a_failing_check_is_reported_not_raised(
    widget_checks: Any, monkeypatch: Any
) -> None:
    def explode(entry: Any) -> list[CheckMessage]:
        raise RuntimeError("boom")

    monkeypatch.setattr("ash_oban_django.checks.declarations._ENTRY_CHECKS", (explode,))
    messages = widget_checks(triggers=[trigger("finish")])
    # One per active declaration (the example shop's, the e2e app's and Widget's).
    from ash_oban_django.registry import registry

    assert ids(messages) == ["ash_oban_django.E000"] * len(registry.entries())
    (widget_message,) = [m for m in messages if m.obj is Widget]
    assert widget_message.msg == "Checking testapp.Widget:finish failed: RuntimeError: boom"


def test_check__malformed_apps_setting_does_not_crash(settings: Any) -> None:
    settings.ASH_OBAN = {**BASE, "APPS": 5}
    assert check_declarations() == []  # E011 says what is wrong, once
    assert ids(check_settings()) == ["ash_oban_django.E011"]


def test_check__E017_cron_stable_name_too_long_for_django_q2(widget_checks: Any) -> None:
    long_name = "testapp.Widget:finish:" + "s" * 90
    messages = widget_checks(triggers=[trigger("finish", scheduler_name=long_name)])
    assert ids(messages) == ["ash_oban_django.E017"]
    assert "has 112 characters" in messages[0].msg
    assert messages[0].hint == "Set a shorter `scheduler_name`."
    # A trigger without a cron has no schedule row: any length is fine.
    assert (
        widget_checks(triggers=[trigger("finish", scheduler_cron=None, scheduler_name=long_name)])
        == []
    )


@pytest.mark.django_db  # Django's own model checks ask the database
def test_check__W001_name_templates_pin_the_names_of_a_shared_declaration() -> None:
    from tests.testapp.models import Crate, Envelope

    assert [m for m in run_checks() if m.obj in (Crate, Envelope)] == []
    out = StringIO()
    call_command("check", stdout=out)
    assert "W001" not in out.getvalue()


NOT_A_PERSISTER = object()


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tests.nope.Persister", "cannot be imported (ModuleNotFoundError: No module named"),
        (f"{__name__}.NOT_A_PERSISTER", "has no store() and lookup()"),
    ],
)
def test_check__E026_bad_actor_persister(widget_checks: Any, path: str, problem: str) -> None:
    messages = widget_checks(
        triggers=[trigger("finish", actor_persister=path)],
        scheduled_actions=[action("nightly", "0 3 * * *", actor_persister=path)],
    )
    assert ids(messages) == ["ash_oban_django.E026", "ash_oban_django.E026"]
    assert messages[0].msg.startswith(f"testapp.Widget:finish: actor_persister {path!r} {problem}")
    assert messages[1].msg.startswith(f"testapp.Widget:nightly: actor_persister {path!r}")
    assert messages[0].hint.startswith("Set actor_persister to the dotted path of an")


def test_check__E026_a_valid_persister_path_is_clean(widget_checks: Any) -> None:
    path = "tests.testapp.actors.NamePersister"
    assert widget_checks(triggers=[trigger("finish", actor_persister=path)]) == []
