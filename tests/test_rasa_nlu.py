"""The safety-net NLU component on messages with a given DIET intent (no trained model)."""
import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.rasa_nlu import SafetyNetClassifier


def classify(text: str, intent: str, confidence: float = 0.9) -> str:
    message = Message(data={"text": text, "intent": {"name": intent, "confidence": confidence}})
    SafetyNetClassifier(0.8).process([message])
    return message.get("intent")["name"]


def test_a_red_flag_overrides_any_intent():
    assert classify("thanks, oh no he's not breathing", "thank") == "red_flag"


@pytest.mark.parametrize("text", ["calpol helps enough, he's walking",
                                  "enough of the redness, it's spreading up his leg"])
def test_an_answer_that_sounds_like_stop_is_read_as_an_answer(text):
    assert classify(text, "stop") == "report_symptom"


@pytest.mark.parametrize("text", ["stop", "i've had enough of this", "no more questions",
                                  "start again"])
def test_a_real_stop_or_start_again_is_left_alone(text):
    intent = "start_again" if "start" in text else "stop"
    assert classify(text, intent) == intent
