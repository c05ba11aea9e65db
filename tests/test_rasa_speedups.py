"""bot/rasa_speedups.py: the cached validator accepts and refuses what Rasa's own does, and
the remembered event classes are the ones Rasa's own lookup finds."""
from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.utils.common import all_subclasses

import bot.rasa_speedups  # noqa: F401

GOOD = {"events": [{"event": "slot", "name": "bleeding", "value": "none"}],
        "responses": [{"text": "Have you had a fever?"}]}
BAD = [{"events": "not a list"},
       {"events": [{"name": "no event type"}]},
       {"events": [{"event": "slot", "name": 3}], "responses": []},
       {"responses": ["not an object"]}]


def rasas_own_check(result: dict) -> None:
    jsonschema.validate(result, RemoteAction.action_response_format_spec())


def test_the_patch_is_in_place():
    assert RemoteAction._validate_action_result is bot.rasa_speedups.validate_action_result


def test_accepts_a_valid_response():
    rasas_own_check(GOOD)
    assert RemoteAction("x", None)._validate_action_result(GOOD) is True


@pytest.mark.parametrize("result", BAD)
def test_refuses_what_rasa_refuses_with_the_same_error(result):
    with pytest.raises(jsonschema.ValidationError) as rasa_error:
        rasas_own_check(result)
    with pytest.raises(jsonschema.ValidationError) as ours:
        RemoteAction("x", None)._validate_action_result(result)
    assert ours.value.message.startswith(rasa_error.value.message)
    assert "Failed to validate Action server response" in ours.value.message


def test_every_event_type_resolves_to_the_class_rasa_finds():
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert {"user", "bot", "action", "slot"} <= names
    for name in names:
        assert Event.resolve_by_type(name) is bot.rasa_speedups.rasas_resolve_by_type(name)
        assert Event.resolve_by_type(name) is bot.rasa_speedups.rasas_resolve_by_type(name)


def test_unknown_and_legacy_event_types_behave_as_in_rasa():
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None


def test_stored_events_still_read_back():
    events = [UserUttered("hi", metadata={"turn": 1}), ActionExecuted("action_listen"),
              SlotSet("bleeding", "none")]
    assert [Event.from_parameters(e.as_dict()) for e in events] == events
