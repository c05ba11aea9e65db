"""Concluding a triage: level, advice with sources, and the stored outcome."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.tracker_state import channel_of, form_read_this_turn, latest_intent, reading_of, slots_of
from bot.advice import render
from bot.config import settings
from bot.dialogue import findings, interpret, red_flag_updates
from bot.failures import describe
from bot.policy import FAILSAFE_LINE, Level
from bot.questions import unanswered_main_questions
from bot.storage.outcomes import record_outcome
from bot.triage import assess

logger = logging.getLogger(__name__)


class ActionTriageAdvice(Action):
    """Runs when the form ends, or straight away on a red flag outside the form."""

    def name(self) -> str:
        return "action_triage_advice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        slots = slots_of(tracker)
        updates: dict[str, Any] = {}
        red_flag_turn = latest_intent(tracker) == "red_flag"
        if red_flag_turn and not form_read_this_turn(tracker):
            # A red flag outside the questions: no action has applied this message's
            # reading yet (inside them, the form's validation has).
            reading = reading_of(tracker)
            updates = (red_flag_updates(reading.red_flags, slots) if reading.extraction is None
                       else interpret(reading.extraction, None, slots, unclear_means_unsure=False))
            slots = {**slots, **updates}
        assessment = assess(findings(slots))
        if red_flag_turn and assessment.level < Level.EMERGENCY:
            # The language model read an emergency the rules did not: take the
            # higher level (policy: when unsure between two levels).
            updates["red_flags"] = list(slots.get("red_flags") or []) + ["DESCRIBED"]
            slots = {**slots, **updates}
            assessment = assess(findings(slots))

        if assessment.level == Level.SELF_CARE and unanswered_main_questions(slots):
            # Self-care is a conclusion from every main answer, never a default: the
            # questions were cut short (an error, lost events), so carry on with them.
            logger.error("advice asked for with main questions unanswered in %s",
                         tracker.sender_id)
            dispatcher.utter_message(text=FAILSAFE_LINE, json_message={"failsafe": True})
            return [SlotSet(k, v) for k, v in updates.items()] + [
                SlotSet("triage_level", None), FollowupAction("triage_form")]
        advice = render(assessment, settings(), datetime.now(timezone.utc),
                        unclear=slots.get("unsure_slots") or ())
        events: list[EventType] = [SlotSet(k, v) for k, v in updates.items()]
        events += [SlotSet("triage_level", assessment.level.slug), SlotSet("requested_slot", None),
                   SlotSet("advised_findings", assessment.findings), ActiveLoop(None)]
        if slots.get("advised_findings") == assessment.findings:
            # Nothing new since the last advice (e.g. a question after it): remind, don't repeat.
            dispatcher.utter_message(text=advice.reminder,
                                     json_message=advice.as_payload(reminder=True))
            return events
        dispatcher.utter_message(text=advice.text, json_message=advice.as_payload())
        try:
            record_outcome(
                conversation_id=tracker.sender_id, channel=channel_of(tracker),
                level=assessment.level.slug, findings=assessment.findings,
                advice_ids=advice.advice_ids, sources=advice.sources,
                unsure_slots=list(slots.get("unsure_slots") or []),
                red_flag_interrupt=red_flag_turn or bool(slots.get("red_flags")),
                patient_is_child=bool(slots.get("patient_is_child")),
                advice_text=advice.text, policy_version=assessment.policy_version,
            )
        except Exception as error:  # the advice is already on its way; the event log keeps it
            logger.error("could not store the triage outcome of %s: %s", tracker.sender_id,
                         describe(error))
        return events  # ActiveLoop(None) also ends a form that could not read a red flag
