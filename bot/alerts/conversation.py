"""Where a conversation stands, from Rasa's `events` (read-only, as the console reads them:
bot/console/events.py): the slots of its current session replayed the way Rasa replays
them (a session start, a restart or "start again" clears them), whether the patient wrote
in it, and whether the questions began and ended in advice. Only slot names and the
question registry's own values are kept: never what the patient wrote."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.events import EVENTS, event_data, events_exist, mapping, text_of
from bot.questions import MAIN_QUESTIONS, QUESTIONS, unanswered_main_questions

CLEARS_SLOTS = ("session_started", "restart")
MAX_EVENTS = 5000  # as the console's transcript


@dataclass
class State:
    slots: dict[str, Any] = field(default_factory=dict)
    patient_wrote: bool = False      # a message from the patient (not a system-started one)
    questions_began: bool = False    # the form asked something
    channel: str = ""

    @property
    def unanswered(self) -> list[str]:
        return unanswered_main_questions(self.slots)

    @property
    def advised(self) -> bool:
        return bool(self.slots.get("triage_level"))

    @property
    def incomplete(self) -> bool:
        """The patient started answering and stopped before advice, questions left."""
        started = self.questions_began or len(self.unanswered) < len(MAIN_QUESTIONS)
        return self.patient_wrote and started and not self.advised and bool(self.unanswered)

    def answered(self) -> dict[str, str]:
        """Main question -> the registry value it was given ("answered" for anything else)."""
        values = {}
        for slot in MAIN_QUESTIONS:
            if slot in self.unanswered:
                continue
            value = self.slots.get(slot)
            values[slot] = value if value in QUESTIONS[slot].values else "answered"
        return values


def state_of(s: Session, conversation_id: str) -> Optional[State]:
    """None when Rasa has no events table yet."""
    if not events_exist(s.connection()):
        return None
    state = State()
    rows = s.execute(select(EVENTS.c.type_name, EVENTS.c.data)
                     .where(EVENTS.c.sender_id == conversation_id,
                            EVENTS.c.type_name.in_(("slot", "user", "reset_slots") + CLEARS_SLOTS))
                     .order_by(EVENTS.c.id).limit(MAX_EVENTS))
    for type_name, raw in rows:
        if type_name in CLEARS_SLOTS:
            state = State(channel=state.channel)
        elif type_name == "reset_slots":
            state.slots = {}
        elif type_name == "slot":
            data = event_data(raw)
            name = text_of(data.get("name"))
            state.slots[name] = data.get("value")
            if name == "requested_slot" and data.get("value"):
                state.questions_began = True
        elif type_name == "user":
            data = event_data(raw)
            if not mapping(data.get("metadata")).get("is_external"):
                state.patient_wrote = True
                state.channel = text_of(data.get("input_channel")) or state.channel
    return state
