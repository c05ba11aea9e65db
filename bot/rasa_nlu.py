"""SafetyNetClassifier: the deterministic rules inside Rasa's NLU pipeline.

Runs bot.extraction on every message, after DIET, and overrides it:
- the rules find an emergency: the intent becomes `red_flag`, whatever DIET said;
- DIET said `red_flag` but the rules only see negated red flags ("no chest
  pain"): `report_symptom`;
- DIET said stop or start again, but the message describes something ("calpol
  helps enough"): `report_symptom`;
- the rules read a symptom, an answer or a temperature, and DIET chose an
  intent that would not triage it ("can I shower? it's gone red", "Nil."):
  `report_symptom`, or `affirm` / `deny` / `unsure` for a bare answer.
Everything else is left to DIET.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.extraction import ABSENT, PRESENT, RED_FLAG_LABELS, extract

logger = logging.getLogger(__name__)
RED_FLAG_INTENT = "red_flag"
ANSWER_INTENTS = {"yes": "affirm", "no": "deny", "fine": "deny", "unsure": "unsure"}
# Intents whose rules lead into the triage questions (or are answers in them).
TRIAGING_INTENTS = {"report_symptom", "affirm", "deny", "unsure", RED_FLAG_INTENT,
                    "start_again", "stop"}
LEAVING_INTENTS = {"stop", "start_again"}
# Words that ask to stop or start again whatever else the message says.
LEAVING_WORDS = re.compile(
    r"\b(stop|quit|cancel|end|exit|unsubscribe|opt out|leave me alone|forget it|"
    r"no more questions|start (again|over)|restart|begin again|from the (top|start|beginning))\b")


def _set_intent(message: Message, name: str) -> None:
    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != name]
    message.set(INTENT, {"name": name, "confidence": 1.0}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": name, "confidence": 1.0}] + ranking,
                add_to_output=True)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class SafetyNetClassifier(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        # DIET alone, without the rules, sends someone to 999 only when this sure.
        return {"model_red_flag_threshold": 0.8}

    def __init__(self, model_red_flag_threshold: float) -> None:
        self.model_red_flag_threshold = model_red_flag_threshold

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SafetyNetClassifier":
        return cls(config["model_red_flag_threshold"])

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/"):
                continue  # an intent typed directly (e.g. "/restart")
            try:
                found = extract(text)
            except Exception:  # the net must never take the NLU down with it
                logger.exception("red-flag extraction failed")
                continue
            intent = (message.get(INTENT) or {}).get("name")
            confidence = (message.get(INTENT) or {}).get("confidence") or 0.0
            if found.red_flags:
                _set_intent(message, RED_FLAG_INTENT)
            elif intent == RED_FLAG_INTENT and confidence < self.model_red_flag_threshold:
                # Too unsure to send someone to A&E on the model's word alone:
                # ask the questions instead (they include every red flag).
                _set_intent(message, "report_symptom")
            elif intent == RED_FLAG_INTENT and any(
                m.label in RED_FLAG_LABELS and m.status == ABSENT for m in found.mentions
            ):
                _set_intent(message, "report_symptom")
            elif intent in LEAVING_INTENTS and (found.mentions or found.cues) \
                    and not LEAVING_WORDS.search(found.text):
                # "calpol helps enough, he's walking" is an answer, not "enough" of the
                # questions: a reply that describes something is read as one.
                _set_intent(message, "report_symptom")
            elif intent not in TRIAGING_INTENTS and (
                    found.mentions or found.answer or found.temperature_c is not None):
                # It reads as an answer or a symptom, whatever DIET thought
                # ("Nil." is not goodbye, "thirty-nine" is not a greeting).
                _set_intent(message, ANSWER_INTENTS.get(found.answer, "report_symptom"))
        return messages
