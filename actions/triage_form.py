"""The triage form: reading each answer, and asking each question."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker_state import (OFF_TOPIC_INTENTS, latest_intent, latest_text, replies_to,
                                   slots_of)
from bot.dialogue import interpret, next_question, said_something
from bot.extraction import extract
from bot.questions import QUESTIONS, wording


class ValidateTriageForm(FormValidationAction):
    """Reads every message during the form, red flags included.

    Ending the form (requested_slot = None) on an emergency is how a red flag
    at any form position gives the 999 advice on the same turn.
    """

    def name(self) -> Text:
        return "validate_triage_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        slots = slots_of(tracker)
        requested = tracker.get_slot("requested_slot")
        # An off-topic reply (a question about results, say) is left to the
        # rules once per question; after that an unreadable reply is "not sure",
        # so a misread answer can never loop the same question forever.
        off_topic = (latest_intent(tracker) in OFF_TOPIC_INTENTS
                     and replies_to(tracker, requested) <= 1)
        updates = interpret(extract(latest_text(tracker)), requested, slots,
                            unclear_means_unsure=not off_topic)
        if off_topic and not said_something(updates):
            return []  # no slot filled: the form is rejected and a rule answers
        events = [SlotSet(name, value) for name, value in updates.items()]
        return events + [SlotSet("requested_slot", next_question({**slots, **updates}))]


class AskQuestion(Action, ABC):
    """action_ask_<slot>: the question in the patient's or the carer's wording."""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The form slot this action asks for."""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        text, buttons = wording(
            self.slot,
            child=bool(tracker.get_slot("patient_is_child")),
            simpler=tracker.get_slot("reask") == self.slot,
        )
        dispatcher.utter_message(
            text=text, buttons=[{"title": b, "payload": b} for b in buttons])
        return []


# One ask action per question, registered with the action server by subclassing.
for _slot in QUESTIONS:
    globals()[f"AskQuestion_{_slot}"] = type(f"AskQuestion_{_slot}", (AskQuestion,), {"slot": _slot})
