"""Starting again and stopping."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionStartAgain(Action):
    def name(self) -> str:
        return "action_start_again"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text="OK, let's start again from the beginning.")
        return [ActiveLoop(None), AllSlotsReset()]


class ActionStopTriage(Action):
    def name(self) -> str:
        return "action_stop_triage"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(
            text="OK, I've stopped the questions. If you are worried, call 111; if it is an "
                 "emergency, call 999. Say \"start again\" whenever you want to go through them.")
        return [ActiveLoop(None), SlotSet("requested_slot", None)]
