from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.db.models import Q

from ash_oban_django import Chunks, InvalidDeclaration, ScheduledAction, Trigger
from ash_oban_django.declarations import DeclarationState


def test_trigger__defaults_follow_the_contract() -> None:
    trigger = Trigger("process")
    assert trigger.action == "process"
    assert trigger.where is None
    assert trigger.sort == ()
    assert trigger.scheduler_cron == "* * * * *"
    assert (trigger.worker_priority, trigger.scheduler_priority) == (2, 3)
    assert (trigger.max_attempts, trigger.max_scheduler_attempts) == (1, 1)
    assert trigger.stream_batch_size == 1000
    assert trigger.lock_for_update is True
    assert trigger.trigger_once is False
    assert trigger.action_input == {}
    assert trigger.state == "active"
    assert (trigger.log_errors, trigger.log_final_error, trigger.debug) == (True, True, False)
    assert trigger.worker_name is None and trigger.scheduler_name is None


def test_trigger__is_frozen_and_keyword_only() -> None:
    trigger = Trigger("process", where=Q(done=False), sort=["-created"], tags=["a"])
    assert trigger.sort == ("-created",) and trigger.tags == ("a",)
    with pytest.raises(AttributeError):
        trigger.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Trigger("process", "action")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 0}, "`max_attempts` must be an integer >= 1, got 0"),
        ({"worker_priority": 10}, "`worker_priority` must be an integer from 0 to 9, got 10"),
        ({"scheduler_cron": "every minute"}, "`scheduler_cron` must be a valid 5-field cron"),
        ({"scheduler_cron": "* * * * * *"}, "`scheduler_cron` must be a valid 5-field cron"),
        ({"where": {"done": False}}, "`where` must be a django.db.models.Q or None"),
        ({"state": "stopped"}, "`state` must be one of 'active', 'paused', 'deleted'"),
        ({"backoff": -1}, "`backoff` must be an integer >= 0"),
        ({"timeout": 0}, "`timeout` must be a number of seconds > 0 or None"),
        ({"sort": "created"}, "`sort` must be a list or tuple of field names"),
        ({"tags": "urgent"}, "`tags` must be a list or tuple of non-empty strings"),
        ({"permission": "can_process"}, "`permission` must be an 'app_label.codename' string"),
        ({"action_input": [1]}, "`action_input` must be a dict with string keys"),
        ({"record_limit": 0}, "`record_limit` must be an integer >= 1, got 0"),
        ({"lock_for_update": "yes"}, "`lock_for_update` must be True or False, got 'yes'"),
        ({"queue": "bad queue"}, "`queue` must be a queue name"),
        ({"timezone": "Mars/Olympus"}, "`timezone` must be an IANA time zone name such as"),
        ({"timezone": ""}, "`timezone` must be an IANA time zone name such as 'Europe/Paris'"),
        ({"default_actor": lambda user: user}, "`default_actor` must be a value, or a callable"),
        ({"actor_persister": "Persister"}, "`actor_persister` must be a dotted path of an"),
        ({"actor_persister": object()}, "`actor_persister` must be a dotted path of an"),
    ],
)
def test_trigger__invalid_option_says_what_is_wrong(options: dict, message: str) -> None:
    with pytest.raises(InvalidDeclaration, match="^Trigger 'process': ") as info:
        Trigger("process", **options)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_trigger__name_must_be_an_identifier() -> None:
    with pytest.raises(InvalidDeclaration, match="`name` must be a Python identifier"):
        Trigger("not a name")


def test_scheduled_action__defaults_and_validation() -> None:
    action = ScheduledAction("import_orders", "0 */6 * * *")
    assert action.action == "import_orders"
    assert (action.priority, action.max_attempts, action.state) == (3, 1, "active")
    with pytest.raises(InvalidDeclaration, match="`cron` must be a valid 5-field cron"):
        ScheduledAction("import_orders", "whenever")
    with pytest.raises(InvalidDeclaration, match="`priority` must be an integer from 0 to 9"):
        ScheduledAction("import_orders", "* * * * *", priority=-1)


@pytest.mark.parametrize(
    ("alias", "fields"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_cron__oban_aliases_become_their_five_fields(alias: str, fields: str) -> None:
    assert Trigger("process", scheduler_cron=alias).scheduler_cron == fields
    assert ScheduledAction("import_orders", alias).cron == fields


def test_cron__reboot_and_unknown_aliases_are_refused() -> None:
    with pytest.raises(InvalidDeclaration) as info:
        Trigger("process", scheduler_cron="@reboot")
    assert str(info.value) == (
        "Trigger 'process': `scheduler_cron` must be a cron string that repeats ('@reboot' has "
        "no time to fire on here; use e.g. '@hourly' or a five-field cron), got '@reboot'"
    )
    with pytest.raises(InvalidDeclaration, match="`cron` must be a valid 5-field cron"):
        ScheduledAction("import_orders", "@often")
    with pytest.raises(InvalidDeclaration, match="`cron` must be a cron string, got 5"):
        ScheduledAction("import_orders", 5)  # type: ignore[arg-type]


@pytest.mark.parametrize("state", ["paused", DeclarationState.PAUSED])
def test_state__a_plain_string_is_normalised_to_the_enum(state: str) -> None:
    for declaration in (
        Trigger("process", state=state),  # type: ignore[arg-type]
        ScheduledAction("import_orders", "* * * * *", state=state),  # type: ignore[arg-type]
    ):
        assert declaration.state is DeclarationState.PAUSED
        assert declaration.state == "paused"
    assert Trigger("process").state is DeclarationState.ACTIVE


def test_options__each_is_declared_with_help_and_a_check() -> None:
    for cls in (Trigger, ScheduledAction):
        options = [f for f in dataclasses.fields(cls) if f.init]
        assert [f.name for f in options if not f.metadata.get("help")] == []
        assert [f.name for f in options if not callable(f.metadata.get("check"))] == []


def test_options__normalised_values() -> None:
    trigger = Trigger("process", action_input={"a": 1}, tags=["x"], sort=["-a"])
    assert (trigger.action_input, trigger.tags, trigger.sort) == ({"a": 1}, ("x",), ("-a",))
    assert trigger.action == "process"
    assert Trigger("process", action="run").action == "run"
    # A callable passes where one is accepted; a value of the wrong kind does not.
    assert Trigger("process", extra_args=dict).extra_args is dict
    with pytest.raises(InvalidDeclaration, match="`read_metadata` must be a callable"):
        Trigger("process", read_metadata={"a": 1})  # type: ignore[arg-type]


def test_stable_name__template_placeholders_are_app_label_and_model() -> None:
    trigger = Trigger(
        "ship",
        worker_name="{app_label}.{model}:ship",
        scheduler_name="{app_label}.{model}:ship:scheduler",
    )
    assert trigger.worker_name == "{app_label}.{model}:ship"
    assert ScheduledAction("tidy", "0 * * * *", worker_name="{model}-tidy").worker_name
    assert Trigger("ship", worker_name="no.placeholder:{{literal}}").worker_name


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("worker_name", "{app_label}.{model_name}:ship"),
        ("scheduler_name", "{app}.{model}:ship:scheduler"),
        ("worker_name", "{model!r}:ship"),
        ("worker_name", "{model:>9}:ship"),
        ("worker_name", "{}:ship"),
        ("worker_name", "{model:ship"),
    ],
)
def test_stable_name__template_with_an_unknown_placeholder_is_invalid(
    option: str, value: str
) -> None:
    with pytest.raises(
        InvalidDeclaration,
        match=rf"^Trigger 'ship': `{option}` must be a stable name or a template of one with "
        r"the placeholders \{app_label\} and \{model\}, got ",
    ):
        Trigger("ship", **{option: value})
    with pytest.raises(InvalidDeclaration, match="^ScheduledAction 'tidy': `worker_name`"):
        ScheduledAction("tidy", "0 * * * *", worker_name="{app}:tidy")


def test_options__checked_by_the_shared_validators() -> None:
    trigger = Trigger("process", timeout=5, state="paused", action_input={"a": 1})
    assert trigger.timeout == 5.0 and isinstance(trigger.timeout, float)
    assert trigger.state is DeclarationState.PAUSED
    with pytest.raises(InvalidDeclaration) as info:
        Trigger("process", timeout=float("inf"))
    assert str(info.value) == (
        "Trigger 'process': `timeout` must be a number of seconds > 0 or None, got inf"
    )
    with pytest.raises(InvalidDeclaration) as info:
        ScheduledAction("tidy", "0 * * * *", tags=["a", ""])
    assert str(info.value) == (
        "ScheduledAction 'tidy': `tags` must be a list or tuple of non-empty strings, got ['a', '']"
    )


def test_chunks__defaults_follow_ash_oban() -> None:
    chunks = Chunks()
    assert (chunks.size, chunks.timeout, chunks.by, chunks.bulk_action) == (100, 1.0, (), None)
    assert Trigger("process", chunks=Chunks(size=10, by=["batch"])).chunks == Chunks(
        size=10, by=("batch",)
    )
    assert Trigger("process").chunks is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"size": 0}, "Chunks: `size` must be an integer from 1 to 1000, got 0"),
        ({"size": 5000}, "Chunks: `size` must be an integer from 1 to 1000, got 5000"),
        ({"size": 2.5}, "Chunks: `size` must be an integer from 1 to 1000, got 2.5"),
        ({"timeout": -1}, "Chunks: `timeout` must be a number of seconds >= 0, got -1"),
        ({"by": "batch"}, "Chunks: `by` must be a list or tuple of action_arguments keys"),
        ({"by": ["a__b"]}, "Chunks: `by` must be a list or tuple of action_arguments keys"),
        ({"bulk_action": "not a name"}, "Chunks: `bulk_action` must be a method name or None"),
    ],
)
def test_chunks__invalid_option_says_what_is_wrong(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDeclaration) as info:
        Chunks(**options)
    assert str(info.value).startswith(message)


def test_trigger__chunks_must_be_a_chunks() -> None:
    with pytest.raises(InvalidDeclaration, match="`chunks` must be a Chunks"):
        Trigger("process", chunks={"size": 10})  # type: ignore[arg-type]


def test_declarations__actor_and_time_zone_options() -> None:
    action = ScheduledAction("report", "0 3 * * *", timezone="Europe/Paris", default_actor=dict)
    assert (action.timezone, action.default_actor, action.actor_persister) == (
        "Europe/Paris",
        dict,
        None,
    )
    trigger = Trigger("process", default_actor="system", actor_persister="app.actors.Persister")
    assert (trigger.timezone, trigger.default_actor) == (None, "system")
    with pytest.raises(InvalidDeclaration, match="ScheduledAction 'report': `timezone` must be"):
        ScheduledAction("report", "0 3 * * *", timezone="UTC+2")
