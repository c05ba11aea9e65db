"""Every change we make to Rasa's own classes, applied by `apply()` and nowhere else.

Written for one Rasa version (EXPECTED_RASA_VERSION): the patches replace Rasa internals, so
`apply()` refuses any other version with a RuntimeError instead of patching code it was not
checked against. It is idempotent (the first call patches, later calls only check the
version), and our plug-ins call it where Rasa loads them, so no patch depends on import
order: the REST channel (bot/channels/rest.py), the SMS channel (bot/sms/channel.py), the
tracker store (bot/storage/tracker_store.py) and `python -m bot.rasa_server` before it starts
Rasa. The NLU components (bot/rasa_nlu.py) need none of these patches. Rasa's own version of
each patched attribute stays reachable with `rasas_own(owner, name)`;
tests/unit/test_rasa_patches.py compares the speed-ups with it.

1. `RemoteAction._validate_action_result` (speed-up). Rasa checks every action server
   response against its JSON schema with `jsonschema.validate`, which first checks the schema
   itself against the meta-schema and builds a new validator each time: 25 ms per call here,
   and our form makes two or three action calls a turn (py-spy under load: jsonschema and the
   urllib.parse calls it makes were about 30 % of the Rasa server's time, see
   results/bench_scale.json). The same check with one validator built once takes 3 ms for six
   events, still 4 % of the server's samples: each event is tried against all 23 branches of
   the schema's `oneOf`. Each branch fixes the event's type (`"event": {"const": ...}`), so an
   event can only match the branch of its own type: the check takes that branch alone (0.4 ms).
   Keeps: the same schema and the same verdict (an event of no known type, or one its branch
   refuses, is refused); for a refused response, the full check runs and raises the same error
   (the best match, with Rasa's message).

2. `Event.resolve_by_type` (speed-up). Rasa finds the class of every stored event by walking
   all subclasses of Event (with an isabstract check each) for each event it reads: about
   10 % of the Rasa server's samples under load, as the whole conversation is read every turn.
   The class found for a type name is remembered.
   Keeps: the classes Rasa's lookup finds; unknown names still go to Rasa's own lookup (its
   ValueError, its `default`, None for the legacy types it ignores).

3. `FailSafeTrackerStore.on_tracker_store_error` and `.on_tracker_store_retrieve_error`
   (safety). Rasa wraps every tracker store in a FailSafeTrackerStore which, when the database
   fails, reads an empty conversation (the bot starts the questions again as if nothing had
   been said) and keeps the turn in that process's memory only, never stored. For a triage bot
   a silently lost history is unsafe (answers read against the wrong questions, red flags
   already reported forgotten). So for a store that declares `refuses_in_memory_fallback`
   (our TriageTrackerStore) these handlers re-raise the error: both are called inside the
   wrapper's `except` blocks, so the turn fails and the channel answers with the policy's
   fail-safe line. Found by tests/live/test_scaled.py (PostgreSQL restart under load).
   Keeps: Rasa's own handler (log, in-memory fallback) for every other tracker store.
"""
from __future__ import annotations

import inspect
import logging
from functools import lru_cache
from typing import Any, Optional

import jsonschema
import rasa.version
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event

logger = logging.getLogger(__name__)

EXPECTED_RASA_VERSION = "3.6.21"

# (class, attribute name) -> Rasa's own value, recorded when apply() replaces it.
_rasas_own: dict[tuple[type, str], Any] = {}


def rasas_own(owner: type, name: str) -> Any:
    """Rasa's own `owner.name`, before or after apply() replaced it."""
    if (owner, name) in _rasas_own:
        return _rasas_own[(owner, name)]
    return getattr(owner, name)


def check_rasa_version() -> None:
    installed = rasa.version.__version__
    if installed != EXPECTED_RASA_VERSION:
        raise RuntimeError(
            f"bot.rasa_patches was written for Rasa {EXPECTED_RASA_VERSION}, but Rasa "
            f"{installed} is installed: the Rasa internals it replaces may differ. Check each "
            f"patch in bot/rasa_patches.py against Rasa {installed} (tests/unit/test_rasa_patches.py "
            f"compares them with Rasa's own), then update EXPECTED_RASA_VERSION.")


# 1. Action server replies: validators built once, each event checked against its own type's branch.

def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@lru_cache(maxsize=1)
def action_response_validator() -> jsonschema.protocols.Validator:
    return _validator(RemoteAction.action_response_format_spec())


@lru_cache(maxsize=1)
def _validators_by_event_type() -> tuple[jsonschema.protocols.Validator,
                                         dict[str, jsonschema.protocols.Validator]]:
    """The response schema without its events' schema, and for each event type the event
    schema with its `oneOf` narrowed to that type's branch."""
    schema = RemoteAction.action_response_format_spec()
    event_schema = schema["properties"]["events"]["items"]
    common = {key: value for key, value in event_schema.items() if key != "oneOf"}
    by_type: dict[str, jsonschema.protocols.Validator] = {}
    for branch in event_schema["oneOf"]:
        type_name = branch["properties"]["event"]["const"]
        if type_name in by_type:  # two branches of one type: only the full check is exact
            raise ValueError(f"two event schemas for {type_name!r}")
        by_type[type_name] = _validator({"allOf": [common, branch]})
    outer = {**schema, "properties": {**schema["properties"], "events": {"type": "array"}}}
    return _validator(outer), by_type


def _is_valid_by_event_type(result: Any) -> bool:
    outer, by_type = _validators_by_event_type()
    if not outer.is_valid(result):
        return False
    for event in result.get("events", []):
        type_name = event.get("event") if isinstance(event, dict) else None
        validator = by_type.get(type_name) if isinstance(type_name, str) else None
        if validator is None or not validator.is_valid(event):
            return False
    return True


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    if _is_valid_by_event_type(result):
        return True
    error = best_match(action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions")
    raise error


# 2. Event types: the class found for a type name, remembered.

EVENT_CLASSES: dict[str, type[Event]] = {}


def resolve_by_type(type_name: str, default: Optional[type[Event]] = None) -> Optional[type[Event]]:
    found = EVENT_CLASSES.get(type_name)
    if found is not None:
        return found
    try:
        found = rasas_own(Event, "resolve_by_type")(type_name)
    except ValueError:
        if default is not None:
            return default
        raise
    if found is not None:
        EVENT_CLASSES[type_name] = found
    return found


# 3. Tracker store errors: re-raised for a store that refuses the in-memory fallback.

def _raise_if_store_refuses_fallback(wrapper: FailSafeTrackerStore, error: Exception) -> None:
    if getattr(wrapper._tracker_store, "refuses_in_memory_fallback", False) is True:
        logger.error("tracker store failed, turn refused (no in-memory fallback): %s", error)
        raise error


def on_tracker_store_error(self: FailSafeTrackerStore, error: Exception) -> None:
    _raise_if_store_refuses_fallback(self, error)
    rasas_own(FailSafeTrackerStore, "on_tracker_store_error")(self, error)


def on_tracker_store_retrieve_error(self: FailSafeTrackerStore, error: Exception) -> None:
    _raise_if_store_refuses_fallback(self, error)
    rasas_own(FailSafeTrackerStore, "on_tracker_store_retrieve_error")(self, error)


# (class, attribute name, ours): what apply() replaces, in the order of the module docstring.
PATCHES = (
    (RemoteAction, "_validate_action_result", validate_action_result),
    (Event, "resolve_by_type", resolve_by_type),
    (FailSafeTrackerStore, "on_tracker_store_error", on_tracker_store_error),
    (FailSafeTrackerStore, "on_tracker_store_retrieve_error", on_tracker_store_retrieve_error),
)


def apply() -> None:
    """Check the Rasa version, then patch Rasa (once: a later call patches nothing)."""
    check_rasa_version()
    for owner, name, ours in PATCHES:
        current = getattr(owner, name)
        if current is ours:
            continue  # applied already
        _rasas_own[(owner, name)] = current
        # A static method stays one (Event.resolve_by_type).
        is_static = isinstance(inspect.getattr_static(owner, name), staticmethod)
        setattr(owner, name, staticmethod(ours) if is_static else ours)
