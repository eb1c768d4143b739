"""The registry: collection from `class Oban`, inheritance, register(), names, APPS."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import models
from django.test.utils import isolate_apps

from ash_oban_django import AlreadyRegistered, ScheduledAction, Trigger, register
from ash_oban_django.registry import (
    ModelOptions,
    ProblemKind,
    Registered,
    RegisteredAction,
    RegisteredTrigger,
    Registry,
    find_oban_class,
    registry,
)
from ash_oban_django.states import Kind
from tests.testapp.models import Widget


def shared_by_two(oban: type) -> tuple[type[models.Model], type[models.Model]]:
    """Two concrete models, Coupon and Voucher, sharing `oban` through an abstract parent
    (call inside `isolate_apps`)."""
    parent = type(
        "Expiring",
        (models.Model,),
        {
            "__module__": __name__,
            "Meta": type("Meta", (), {"abstract": True, "app_label": "testapp"}),
            "Oban": oban,
        },
    )
    return tuple(
        type(
            name,
            (parent,),
            {"__module__": __name__, "Meta": type("Meta", (), {"app_label": "testapp"})},
        )
        for name in ("Coupon", "Voucher")
    )


@isolate_apps("tests.testapp")
def test_collect__abstract_parents_declarations_are_inherited_not_a_concrete_parents() -> None:
    class Oban:
        triggers = [Trigger("expire")]

    Coupon, Voucher = shared_by_two(Oban)

    class Special(Coupon):  # multi-table child of a concrete model
        class Meta:
            app_label = "testapp"

    fresh = Registry()
    fresh.collect([Coupon, Voucher, Special])
    assert [e.label for e in fresh.entries()] == ["testapp.Coupon:expire", "testapp.Voucher:expire"]
    assert fresh.problems == []
    assert find_oban_class(Special) is None


@isolate_apps("tests.testapp")
def test_collect__name_templates_of_a_shared_abstract_parent_are_filled_per_child() -> None:
    class Oban:
        triggers = [
            Trigger(
                "expire",
                worker_name="{app_label}.{model}:expire",
                scheduler_name="legacy.{model}.expire:scheduler",
            )
        ]
        scheduled_actions = [ScheduledAction("sweep", "0 * * * *", worker_name="{model}")]

    Coupon, Voucher = shared_by_two(Oban)
    fresh = Registry()
    fresh.collect([Coupon, Voucher])
    assert fresh.problems == []
    names = [(e.label, list(e.stable_names)) for e in fresh.entries()]
    assert names == [
        ("testapp.Coupon:expire", ["testapp.Coupon:expire", "legacy.Coupon.expire:scheduler"]),
        ("testapp.Coupon:sweep", ["Coupon"]),
        ("testapp.Voucher:expire", ["testapp.Voucher:expire", "legacy.Voucher.expire:scheduler"]),
        ("testapp.Voucher:sweep", ["Voucher"]),
    ]
    found = fresh.by_stable_name("testapp.Voucher:expire")
    assert found is not None and found[0].model is Voucher
    assert fresh.get_trigger(Coupon, "expire").cron_name == "legacy.Coupon.expire:scheduler"


@isolate_apps("tests.testapp")
def test_collect__default_names_and_queues() -> None:
    class Invoice(models.Model):
        class Meta:
            app_label = "testapp"

        class Oban:
            triggers = [Trigger("send", scheduler_queue="cron")]
            scheduled_actions = [ScheduledAction("sweep", "0 * * * *")]

    fresh = Registry()
    fresh.collect([Invoice])
    send = fresh.get_trigger(Invoice, "send")
    assert (send.worker_name, send.scheduler_name) == (
        "testapp.Invoice:send",
        "testapp.Invoice:send:scheduler",
    )
    assert (send.queue, send.scheduler_queue) == ("testapp_invoice_send", "cron")
    assert fresh.by_stable_name("testapp.Invoice:send:scheduler") == (send, "scheduler")
    sweep = fresh.get(Invoice, "sweep")
    assert (sweep.worker_name, sweep.queue) == ("testapp.Invoice:sweep", "testapp_invoice_sweep")
    assert fresh.by_stable_name("testapp.Invoice:sweep") == (sweep, "action")


@isolate_apps("tests.testapp")
def test_collect__duplicates_are_refused_and_reported_with_both_places() -> None:
    class Left(models.Model):
        class Meta:
            app_label = "testapp"

        class Oban:
            triggers = [Trigger("go", worker_name="shared"), Trigger("go", action="x")]

    class Right(models.Model):
        class Meta:
            app_label = "testapp"

        class Oban:
            triggers = [Trigger("other", worker_name="shared")]

    fresh = Registry()
    fresh.collect([Left, Right])
    assert [e.label for e in fresh.entries()] == ["testapp.Left:go"]
    assert [p.kind for p in fresh.problems] == [ProblemKind.DUPLICATE_NAME] * 2
    assert "declared more than once on testapp.Left" in fresh.problems[0].msg
    assert fresh.problems[1].msg == (
        "The stable name 'shared' of testapp.Right:other "
        f"({Right.__module__}.{Right.__qualname__}.Oban) is already used by testapp.Left:go "
        f"({Left.__module__}.{Left.__qualname__}.Oban)."
    )


def test_register__context_manager_unregisters_on_exit() -> None:
    with register(User, triggers=[Trigger("welcome", scheduler_cron=None)]) as registration:
        assert registry.get_trigger(User, "welcome").label == "auth.User:welcome"
        assert registration.entries[0].origin.startswith("register() at ")
        assert __file__ in registration.entries[0].origin
    with pytest.raises(LookupError, match="No trigger or scheduled action named 'welcome'"):
        registry.get(User, "welcome")


def test_register__duplicate_is_refused_naming_both_places() -> None:
    with register(Widget, triggers=[Trigger("finish")]):
        with pytest.raises(AlreadyRegistered) as info:
            register(Widget, triggers=[Trigger("finish", worker_name="other")])
        assert "'finish'" in str(info.value) and "register() at" in str(info.value)
        with pytest.raises(AlreadyRegistered, match="stable name 'shop.Order:process'"):
            register(User, triggers=[Trigger("process", worker_name="shop.Order:process")])
    # Nothing of the refused calls stayed behind.
    assert [e.label for e in registry.for_model(Widget)] == []
    assert registry.for_model(User) == []


def test_register__rejects_what_is_not_a_declaration() -> None:
    with pytest.raises(ValueError, match="expected Trigger or ScheduledAction"):
        register(Widget, triggers=["finish"])  # type: ignore[list-item]


def test_apps_setting__limits_which_declarations_count(settings: Any) -> None:
    labels = {e.label for e in registry.entries()}
    assert {"shop.Order:process", "shop.Order:import_orders", "e2eapp.Ticket:handle"} <= labels
    settings.ASH_OBAN = {"APPS": ["shop"]}
    assert {e.label for e in registry.entries()} == {
        "shop.Order:process",
        "shop.Order:import_orders",
    }
    assert registry.by_stable_name("e2eapp.Ticket:handle") is None


@isolate_apps("tests.testapp")
def test_collect__bad_option_in_class_oban_is_a_check_error_not_an_import_crash() -> None:
    class Parcel(models.Model):  # defining the model raises nothing
        class Meta:
            app_label = "testapp"

        class Oban:
            triggers = [Trigger("ship", max_attempts=0), Trigger("track")]

    fresh = Registry()
    fresh.collect([Parcel])
    assert [e.label for e in fresh.entries()] == ["testapp.Parcel:track"]
    (problem,) = fresh.problems
    assert problem.kind == ProblemKind.INVALID_OPTION
    assert problem.msg.endswith("Trigger 'ship': `max_attempts` must be an integer >= 1, got 0")
    assert problem.obj is Parcel
    from ash_oban_django.checks import check_declarations

    assert [m.id for m in check_declarations(registry=fresh)][:1] == ["ash_oban_django.E019"]
    # Outside a `class Oban` body the same declaration raises at once.
    with pytest.raises(ValueError, match="`max_attempts` must be an integer >= 1, got 0"):
        Trigger("ship", max_attempts=0)


def test_registered__the_base_is_no_kind_of_declaration() -> None:
    """Each kind says what its jobs are; the base answers for neither."""
    with pytest.raises(TypeError, match="abstract"):
        Registered(Widget, Trigger("t"), ModelOptions(), "test")  # type: ignore[abstract]


def test_registered__each_kind_names_its_jobs_and_its_cron() -> None:
    trigger = RegisteredTrigger(
        Widget, Trigger("t", queue="work", scheduler_queue="plan"), ModelOptions(), "test"
    )
    action = RegisteredAction(
        Widget, ScheduledAction("a", "0 3 * * *", queue="nightly"), ModelOptions(), "test"
    )
    assert trigger.stable_names == {
        "testapp.Widget:t": Kind.TRIGGER,
        "testapp.Widget:t:scheduler": Kind.SCHEDULER,
    }
    assert (trigger.cron, trigger.cron_name, trigger.cron_queue) == (
        "* * * * *",
        "testapp.Widget:t:scheduler",
        "plan",
    )
    assert trigger.queues == ["plan", "work"]
    assert action.stable_names == {"testapp.Widget:a": Kind.ACTION}
    assert (action.cron, action.cron_name, action.cron_queue) == (
        "0 3 * * *",
        "testapp.Widget:a",
        "nightly",
    )
    assert action.queues == ["nightly"]


def test_registered__a_trigger_without_a_scheduler_has_no_cron_job() -> None:
    entry = RegisteredTrigger(Widget, Trigger("t", scheduler_cron=None), ModelOptions(), "test")
    assert entry.cron is None
    assert entry.stable_names == {"testapp.Widget:t": Kind.TRIGGER}
