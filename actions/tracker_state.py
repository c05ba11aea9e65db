"""Reading what the actions need from a rasa_sdk Tracker."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from bot.language.detect import NOT_ENGLISH_INTENT
from bot.questions import FOLLOW_UPS, MAIN_QUESTIONS
from bot.reading import Reading, of_message

STATE_SLOTS = MAIN_QUESTIONS + FOLLOW_UPS + (
    "red_flags", "reask", "unsure_slots", "patient_is_child", "about_someone_else",
    "triage_level", "advised_findings",
)
# Intents that are about something else: a reply with one of these that says
# nothing about symptoms is not a "not sure" (the form hands over to a rule).
OFF_TOPIC_INTENTS = {
    "greet", "goodbye", "thank", "start_again", "stop", "ask_results", "ask_help",
    "ask_aftercare", "out_of_scope", "bot_challenge",
}


def slots_of(tracker: Tracker) -> dict[str, Any]:
    return {name: tracker.get_slot(name) for name in STATE_SLOTS}


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def reading_of(tracker: Tracker) -> Reading:
    """The NLU's one reading of the latest message (bot.reading)."""
    return of_message(tracker.latest_message, latest_text(tracker))


def form_read_this_turn(tracker: Tracker) -> bool:
    """Whether the triage form ran since the patient's latest message (its validation has
    applied the message's reading already)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action" and event.get("name") == "triage_form":
            return True
    return False


def latest_intent(tracker: Tracker) -> str:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""


def replies_to(tracker: Tracker, question: str) -> int:
    """How many messages the patient has sent since the bot started asking `question`
    (not counting those in another language: the form never reads them)."""
    seen = replies = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            seen += intent != NOT_ENGLISH_INTENT
        elif event.get("event") == "slot" and event.get("name") == "requested_slot":
            if event.get("value") != question:
                break
            replies = seen  # messages after this (earlier) ask of the same question
    return replies


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"
