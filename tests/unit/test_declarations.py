from __future__ import annotations

import pytest
from django.db.models import Q

from ash_oban_django import InvalidDeclaration, ScheduledAction, Trigger


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
