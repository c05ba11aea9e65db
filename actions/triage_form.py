"""The triage form's validation: applying each answer's reading, and choosing the next
question and how it is worded (the form asks it with a response, `utter_ask_<slot>`)."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker_state import OFF_TOPIC_INTENTS, latest_intent, reading_of, replies_to, slots_of
from bot.dialogue import interpret, next_question, red_flag_updates, said_something
from bot.extracted import Extraction
from bot.failures import describe
from bot.language.detect import NOT_ENGLISH_INTENT
from bot.policy import FAILSAFE_LINE
from bot.questions import ask_style

logger = logging.getLogger(__name__)


def failsafe_events(red_flags: set[str], slots: dict[str, Any]) -> list[EventType]:
    """After a failed reading: end the questions on a red flag, else keep the form
    where it was. The SlotSet of a non-question slot keeps Rasa's form running (a
    validation with no slot set rejects the form)."""
    if not red_flags:
        return [SlotSet("reask", slots.get("reask"))]
    return [SlotSet(name, value) for name, value in red_flag_updates(red_flags, slots).items()] + [
        SlotSet("requested_slot", None)]


class ValidateTriageForm(FormValidationAction):
    """Reads every message during the form, red flags included.

    Ending the form (requested_slot = None) on an emergency is how a red flag
    at any form position gives the 999 advice on the same turn.
    """

    def name(self) -> str:
        return "validate_triage_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        reading = None
        try:
            reading = reading_of(tracker)
            if reading.failed:
                raise ValueError("the rules could not read the message")
            return self._validate(tracker, reading.extraction)
        except Exception as error:
            # Raising here would let Rasa drop the turn and end the form on empty
            # slots (self-care by accident). Instead: the fail-safe line, the red
            # flags that could still be read, and the same question again.
            logger.error("could not read a message in %s: %s", tracker.sender_id, describe(error))
            dispatcher.utter_message(text=FAILSAFE_LINE, json_message={"failsafe": True})
            return failsafe_events(reading.red_flags if reading else set(), slots_of(tracker))

    def _validate(self, tracker: Tracker, extraction: Extraction) -> list[EventType]:
        if latest_intent(tracker) == NOT_ENGLISH_INTENT:
            # Another language is never read as an answer (a Spanish "no" is not this
            # question's no): no slot filled rejects the form, and a rule gives the
            # English-only line with the question still pending.
            return []
        slots = slots_of(tracker)
        requested = tracker.get_slot("requested_slot")
        # An off-topic reply (a question about results, say) is left to the
        # rules once per question; after that an unreadable reply is "not sure",
        # so a misread answer can never loop the same question forever.
        off_topic = (latest_intent(tracker) in OFF_TOPIC_INTENTS
                     and replies_to(tracker, requested) <= 1)
        updates = interpret(extraction, requested, slots,
                            unclear_means_unsure=not off_topic)
        if off_topic and not said_something(updates):
            return []  # no slot filled: the form is rejected and a rule answers
        events = [SlotSet(name, value) for name, value in updates.items()]
        now = {**slots, **updates}
        following = next_question(now)
        # The form asks with the utter_ask_<slot> variation of this style (domain.yml).
        return events + [SlotSet("requested_slot", following),
                         SlotSet("ask_style", ask_style(now, following))]
