"""What the discharge already tells the conversation, before the patient's text is read.

A follow-up text marks the conversation as a child's when the discharge says so; a parent
who texts first, before any follow-up, must get the same child wording. And the discharge
knows the procedure date, so the bot never asks "how many days ago was the biopsy?".
Both go into the conversation as slot events before each SMS turn.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot.config import settings
from bot.questions import ask_style
from bot.sms.models import Discharge


def days_since(procedure_at: datetime, now: datetime) -> int:
    """Whole calendar days in local time: the day of the procedure is day 0."""
    zone = settings().timezone
    return max(0, (now.astimezone(zone).date() - procedure_at.astimezone(zone).date()).days)


def context_slots(discharge: Discharge, now: datetime) -> dict[str, Any]:
    slots: dict[str, Any] = {"days_since_procedure": days_since(discharge.procedure_at, now)}
    if discharge.is_child:
        slots["patient_is_child"] = True
    return slots


def context_events(tracker: Optional[DialogueStateTracker], discharge: Discharge,
                   now: datetime) -> list[Event]:
    """The events that put the discharge's facts into the conversation (none if already there).

    A brand-new conversation gets its session started first: Rasa reads back only events
    after the latest session start, so slots set before it would be lost."""
    events: list[Event] = []
    if tracker is None or not any(isinstance(e, SessionStarted) for e in tracker.events):
        events += [ActionExecuted("action_session_start"), SessionStarted(),
                   ActionExecuted("action_listen")]
        current: dict[str, Any] = {}
    else:
        current = {name: tracker.get_slot(name) for name in ("days_since_procedure",
                                                               "patient_is_child")}
    for name, value in context_slots(discharge, now).items():
        if current.get(name) != value:
            events.append(SlotSet(name, value))
            if name == "patient_is_child":
                # The next question in the carer's words (the form's validation sets this
                # before every later one).
                events.append(SlotSet("ask_style", ask_style({name: value}, None)))
    return events
