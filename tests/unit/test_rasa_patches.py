"""bot/rasa_patches.py: apply() checks the Rasa version and patches once; the cached validator
accepts and refuses what Rasa's own does, and the remembered event classes are the ones Rasa's
own lookup finds."""
from __future__ import annotations

import inspect

import jsonschema
import pytest
import rasa.version
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    FollowupAction,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.utils.common import all_subclasses

from bot import rasa_patches

PATCHED = rasa_patches.PATCHES
GOOD = {"events": [{"event": "slot", "name": "bleeding", "value": "none"}],
        "responses": [{"text": "Have you had a fever?"}]}
BAD = [{"events": "not a list"},
       {"events": [{"name": "no event type"}]},
       {"events": [{"event": "slot", "name": 3}], "responses": []},
       {"responses": ["not an object"]}]


@pytest.fixture(autouse=True, scope="module")
def patched():
    rasa_patches.apply()


def rasas_own_check(result: dict) -> None:
    jsonschema.validate(result, RemoteAction.action_response_format_spec())


def rasas_resolve_by_type(name: str):
    return rasa_patches.rasas_own(Event, "resolve_by_type")(name)


def test_the_patches_are_in_place():
    assert RemoteAction._validate_action_result is rasa_patches.validate_action_result
    assert Event.resolve_by_type is rasa_patches.resolve_by_type
    assert FailSafeTrackerStore.on_tracker_store_error is rasa_patches.on_tracker_store_error
    assert (FailSafeTrackerStore.on_tracker_store_retrieve_error
            is rasa_patches.on_tracker_store_retrieve_error)


def test_rasas_own_are_kept_and_are_rasas():
    for owner, name, ours in PATCHED:
        own = rasa_patches.rasas_own(owner, name)
        assert own is not ours
        assert own.__module__.startswith("rasa."), (owner, name)


def test_applying_twice_patches_once():
    before = {(owner, name): rasa_patches.rasas_own(owner, name) for owner, name, _ in PATCHED}
    rasa_patches.apply()
    rasa_patches.apply()
    for owner, name, ours in PATCHED:
        assert getattr(owner, name) is ours
        assert rasa_patches.rasas_own(owner, name) is before[(owner, name)]
    assert Event.resolve_by_type("slot") is SlotSet  # ours calls Rasa's, not itself


@pytest.fixture
def rasa_as_installed(monkeypatch):
    """Rasa's classes as before any apply() (the patches are back after the test)."""
    for owner, name, _ in PATCHED:
        own = rasa_patches.rasas_own(owner, name)
        is_static = isinstance(inspect.getattr_static(owner, name), staticmethod)
        monkeypatch.setattr(owner, name, staticmethod(own) if is_static else own)


@pytest.mark.parametrize("version", ["3.6.20", "3.7.0", "3.6.21rc1"])
def test_another_rasa_version_is_refused_and_nothing_is_patched(monkeypatch, rasa_as_installed,
                                                                version):
    monkeypatch.setattr(rasa.version, "__version__", version)
    with pytest.raises(RuntimeError) as refused:
        rasa_patches.apply()
    assert rasa_patches.EXPECTED_RASA_VERSION in str(refused.value)
    assert f"Rasa {version} is installed" in str(refused.value)
    for owner, name, ours in PATCHED:
        assert getattr(owner, name) is not ours


def test_the_expected_version_patches_from_rasas_own(rasa_as_installed):
    assert RemoteAction._validate_action_result is not rasa_patches.validate_action_result
    rasa_patches.apply()
    for owner, name, ours in PATCHED:
        assert getattr(owner, name) is ours
    assert isinstance(inspect.getattr_static(Event, "resolve_by_type"), staticmethod)
    assert Event.resolve_by_type("user") is UserUttered


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


def rasa_accepts(result) -> bool:
    return jsonschema.validators.validator_for(SCHEMA)(SCHEMA).is_valid(result)


SCHEMA = RemoteAction.action_response_format_spec()
EVENT_TYPES = [branch["properties"]["event"]["const"]
               for branch in SCHEMA["properties"]["events"]["items"]["oneOf"]]
ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=5), st.lists(st.integers(), max_size=2),
                      st.dictionaries(st.sampled_from(["name", "confidence", "entity", "value"]),
                                      st.one_of(st.text(max_size=3), st.integers()), max_size=2))
# Values for the keys the event branches check: one the schema allows, or any JSON kind.
KEY_VALUES = {
    "name": st.text(max_size=3), "value": ANY_VALUE, "timestamp": st.floats(0, 1e9),
    "metadata": st.just({}), "text": st.text(max_size=3), "policy": st.none(),
    "confidence": st.floats(0, 1), "hide_rule_turn": st.booleans(),
    "entities": st.just([{"entity": "site", "value": "hip"}]),
    "parse_data": st.just({"intent": {"name": "greet", "confidence": 0.5}})}
# Events of every type with those keys, and untyped or unknown events.
EVENTS = st.one_of(
    st.fixed_dictionaries({"event": st.sampled_from(EVENT_TYPES)}, optional={
        key: st.one_of(allowed, allowed, ANY_VALUE) for key, allowed in KEY_VALUES.items()}),
    st.dictionaries(st.sampled_from(["event", "name", "value"]),
                    st.one_of(st.just("nonsense"), ANY_VALUE), max_size=3),
    ANY_VALUE)
REPLIES = st.lists(st.one_of(st.just({"text": "Hello"}), ANY_VALUE), max_size=2)
RESPONSES = st.one_of(
    st.fixed_dictionaries({"events": st.lists(EVENTS, min_size=1, max_size=3)},
                          optional={"responses": REPLIES}),
    st.fixed_dictionaries({}, optional={"events": ANY_VALUE, "responses": REPLIES}),
    ANY_VALUE)


@settings(max_examples=400, deadline=None)
@given(RESPONSES)
def test_the_check_by_event_type_gives_rasas_verdict(result):
    try:
        ours = RemoteAction("x", None)._validate_action_result(result)
    except jsonschema.ValidationError:
        ours = False
    assert ours == rasa_accepts(result)


def test_rasas_own_events_are_accepted():
    events = [UserUttered("hi", {"name": "greet", "confidence": 0.9}), BotUttered("Hello"),
              ActionExecuted("action_listen"), SlotSet("bleeding", "none"), ActiveLoop("triage_form"),
              ActiveLoop(None), FollowupAction("action_triage_advice"), SessionStarted()]
    result = {"events": [e.as_dict() for e in events], "responses": [{"text": "Hello"}]}
    assert rasa_accepts(result)
    assert RemoteAction("x", None)._validate_action_result(result) is True


def test_every_event_type_resolves_to_the_class_rasa_finds():
    names = {cls.type_name for cls in all_subclasses(Event)}
    assert {"user", "bot", "action", "slot"} <= names
    for name in names:
        assert Event.resolve_by_type(name) is rasas_resolve_by_type(name)
        assert Event.resolve_by_type(name) is rasas_resolve_by_type(name)


def test_unknown_and_legacy_event_types_behave_as_in_rasa():
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None


def test_stored_events_still_read_back():
    events = [UserUttered("hi", metadata={"turn": 1}), ActionExecuted("action_listen"),
              SlotSet("bleeding", "none")]
    assert [Event.from_parameters(e.as_dict()) for e in events] == events
