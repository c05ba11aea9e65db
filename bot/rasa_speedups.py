"""Two measured speed-ups of Rasa 3.6, applied when the Rasa server loads our REST channel.
Both keep Rasa's behaviour; tests/test_rasa_speedups.py compares them with Rasa's own.

1. Action server replies. Rasa checks every action server response against its JSON schema with
`jsonschema.validate`, which first checks the schema itself against the meta-schema and
builds a new validator each time: 25 ms per call here, and our form makes two or three
action calls a turn (py-spy under load: jsonschema and the urllib.parse calls it makes were
about 30 % of the Rasa server's time, see results/bench_scale.json). The same check with one
validator built once takes 2 ms: same schema, same error raised (the best match, with Rasa's
message), so a malformed response is still refused.

2. Event types. Rasa finds the class of every stored event by walking all subclasses of
Event (with an isabstract check each) for each event it reads: about 10 % of the Rasa
server's samples under load, as the whole conversation is read every turn. The class found
for a type name is remembered; unknown names still go to Rasa's own lookup.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Optional, Text, Type

import jsonschema
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.constants import DOCS_BASE_URL


@lru_cache(maxsize=1)
def action_response_validator() -> jsonschema.protocols.Validator:
    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    error = best_match(action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions")
    raise error


RemoteAction._validate_action_result = validate_action_result


rasas_resolve_by_type = Event.resolve_by_type
EVENT_CLASSES: Dict[Text, Type[Event]] = {}


def resolve_by_type(type_name: Text, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    found = EVENT_CLASSES.get(type_name)
    if found is not None:
        return found
    try:
        found = rasas_resolve_by_type(type_name)
    except ValueError:
        if default is not None:
            return default
        raise
    if found is not None:
        EVENT_CLASSES[type_name] = found
    return found


Event.resolve_by_type = staticmethod(resolve_by_type)
