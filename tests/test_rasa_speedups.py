"""bot/rasa_speedups.py: the cached validator accepts and refuses what Rasa's own does."""
from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

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
