"""Our components in Rasa's NLU pipeline (config.yml).

TextTruncator runs first, before the tokenizer: it cuts every message (and every
training example) to MAX_MESSAGE_CHARS, at a word boundary. The channels refuse
longer messages already, but Rasa's own HTTP API (/model/parse,
/conversations/<id>/messages) does not, and DIET's attention grows with the square
of the message's length (100 KB once asked for 16 GB and stalled every
conversation for a minute). Everything after it, the safety net included, reads
only the first MAX_MESSAGE_CHARS characters: a red flag later in a longer message
is not seen here (no channel lets such a message through).

RuleOnlyIntentFilter keeps the examples of intents that only the rules set
(`not_english`, by the language check) out of DIET's training: Rasa's validation
wants examples for every intent, but DIET learning them would only shift its
other intents, and the safety net decides them anyway.

SafetyNetClassifier: the deterministic rules inside Rasa's NLU pipeline.

Reads every message once with the rules (bot.reading: the reading goes into the parse
data, where the actions take it), after DIET, and overrides DIET:
- the rules find an emergency: the intent becomes `red_flag`, whatever DIET said
  (also in a message otherwise written in another language);
- the message is not in English (bot.language.detect): `not_english`, whatever
  DIET said: the bot cannot read it, and must not ask English questions on it
  (DIET never learns this intent);
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
from typing import Any, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.config import settings
from bot.extracted import ABSENT, RED_FLAG_LABELS, Extraction
from bot.failures import describe
from bot.language import detect
from bot.reading import PARSE_KEY, read, to_parse_data

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


def _reads_as_english(text: str, found: Optional[Extraction]) -> bool:
    rules_read_it = found is not None and bool(
        found.mentions or found.answer or found.temperature_c is not None)
    try:
        return detect.is_english(text, rules_read_it)
    except Exception as error:  # English is the default: a failed check never blocks a patient
        logger.error("language check failed: %s", describe(error))
        return True


def _set_intent(message: Message, name: str) -> None:
    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != name]
    message.set(INTENT, {"name": name, "confidence": 1.0}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": name, "confidence": 1.0}] + ranking,
                add_to_output=True)


def truncate(text: str, max_chars: int) -> str:
    """The first `max_chars` characters, ending at a word boundary when there is one."""
    if len(text) <= max_chars:
        return text
    kept = text[:max_chars]
    if not text[max_chars].isspace():
        boundary = max(kept.rfind(" "), kept.rfind("\n"), kept.rfind("\t"))
        if boundary > 0:
            kept = kept[:boundary]
    return kept.rstrip()


# Registered as a tokenizer only so that Rasa runs it on the training data as well
# as on every message, before the real tokenizer (it is not a Tokenizer subclass).
@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class TextTruncator(GraphComponent):
    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> TextTruncator:
        return cls(settings().max_message_chars)

    def _cut(self, messages: list[Message]) -> None:
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str) and len(text) > self.max_chars:
                message.set(TEXT, truncate(text, self.max_chars))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._cut(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._cut(messages)
        return messages


# A tokenizer for Rasa for the same reason as TextTruncator: so that it sees the training data.
@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class RuleOnlyIntentFilter(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"intents": []}

    def __init__(self, intents: list[str]) -> None:
        self.intents = set(intents)

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> RuleOnlyIntentFilter:
        return cls(config["intents"])

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data.filter_training_examples(
            lambda example: example.get(INTENT) not in self.intents)

    def process(self, messages: list[Message]) -> list[Message]:
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class SafetyNetClassifier(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # DIET alone, without the rules, sends someone to 999 only when this sure.
        return {"model_red_flag_threshold": 0.8}

    def __init__(self, model_red_flag_threshold: float) -> None:
        self.model_red_flag_threshold = model_red_flag_threshold

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> SafetyNetClassifier:
        detect.warm_up()  # not on a patient's first message
        return cls(config["model_red_flag_threshold"])

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            reading = read(text)  # the one reading of this message (bot.reading)
            message.set(PARSE_KEY, to_parse_data(reading), add_to_output=True)
            if text.startswith("/"):
                continue  # an intent typed directly (e.g. "/restart")
            if reading.red_flags:  # read by the rules, or from a plain copy after a failure
                _set_intent(message, RED_FLAG_INTENT)
                continue
            found = reading.extraction
            if not _reads_as_english(text, found):
                _set_intent(message, detect.NOT_ENGLISH_INTENT)
                continue
            if found is None:
                continue
            intent = (message.get(INTENT) or {}).get("name")
            confidence = (message.get(INTENT) or {}).get("confidence") or 0.0
            if intent == RED_FLAG_INTENT and confidence < self.model_red_flag_threshold:
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
                _set_intent(message, ANSWER_INTENTS.get(found.answer or "", "report_symptom"))
        return messages
