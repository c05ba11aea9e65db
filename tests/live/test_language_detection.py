"""The language check: the messages of tests/language_samples.yml through
bot.language.detect and the NLU safety net, and through a real Rasa stack (Welsh and
Polish get the English-only line and no question, before and inside the questions)."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message

from bot.language.detect import NOT_ENGLISH_INTENT, is_english
from bot.policy import FAILSAFE_LINE
from bot.rasa_nlu import SafetyNetClassifier
from tests.client import texts

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = yaml.safe_load((ROOT / "tests" / "language_samples.yml").read_text(encoding="utf-8"))


def lines(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if line.strip()]


NOT_ENGLISH = {language: lines(block) for language, block in SAMPLES["not_english"].items()}
ENGLISH = lines(SAMPLES["english"])
NOT_ENGLISH_LINE = yaml.safe_load((ROOT / "domain.yml").read_text())[
    "responses"]["utter_not_english"][0]["text"]
# With an English-looking word in them: a medicine, a temperature, a "no".
WELSH = "Cymerais i paracetamol ond mae'n dal i frifo"
POLISH = "Mam temperaturę 38.5 i boli mnie noga"
SPANISH = "No tengo fiebre pero me sangra mucho la herida"


def intent_after_the_safety_net(text: str, diet_intent: str) -> str:
    message = Message(data={"text": text, "intent": {"name": diet_intent, "confidence": 0.9}})
    SafetyNetClassifier(0.8).process([message])
    return message.get("intent")["name"]


def test_the_sample_set_covers_the_languages_and_the_short_answers():
    sentences = [s for group in NOT_ENGLISH.values() for s in group]
    assert len(sentences) >= 40 and len(NOT_ENGLISH) >= 12
    assert len(NOT_ENGLISH["welsh"]) >= 5 and len(NOT_ENGLISH["polish"]) >= 5
    assert len(ENGLISH) >= 150


def test_every_sentence_in_another_language_gets_not_english_from_the_safety_net():
    """Also those in which the English rules read a temperature or a "no"."""
    missed = [(language, s) for language, group in NOT_ENGLISH.items() for s in group
              if intent_after_the_safety_net(s, "report_symptom") != NOT_ENGLISH_INTENT]
    assert not missed, f"read as English: {missed}"


def test_short_and_odd_english_is_never_taken_for_another_language():
    tripped = [s for s in ENGLISH if not is_english(s)]
    assert not tripped, f"taken for another language: {tripped}"


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "38.5", "/greet", "x" * 1000,
                                  "ok " * 400])
def test_odd_input_is_english_by_default(text):
    assert is_english(text)


@pytest.mark.parametrize("text", ["tmp 38.5 sinse lst nite", "temp 39 sinse 2dy",
                                  "bleedn sinse yday nt stoppin"])
def test_misspelt_english_the_rules_read_stays_english(text):
    assert intent_after_the_safety_net(text, "report_symptom") != NOT_ENGLISH_INTENT


def test_a_sentence_in_another_script_is_not_english_however_short():
    assert not is_english("ہاں")  # Urdu "yes"
    assert not is_english("ok شکریہ")


@pytest.mark.parametrize("text", [WELSH, POLISH, SPANISH])
def test_the_safety_net_gives_not_english_whatever_diet_said(text):
    assert intent_after_the_safety_net(text, "report_symptom") == NOT_ENGLISH_INTENT


def test_no_english_answer_gets_not_english_from_the_safety_net():
    tripped = [s for s in ENGLISH
               if intent_after_the_safety_net(s, "nlu_fallback") == NOT_ENGLISH_INTENT]
    assert not tripped


def test_a_red_flag_the_rules_read_wins_over_the_language():
    assert intent_after_the_safety_net(
        "Mae hi'n sâl iawn, she can't breathe", "greet") == "red_flag"


def test_the_english_only_line_offers_an_interpreter_and_ends_with_the_failsafe_line():
    assert "only read English" in NOT_ENGLISH_LINE
    assert "111" in NOT_ENGLISH_LINE and "interpreter" in NOT_ENGLISH_LINE
    assert NOT_ENGLISH_LINE.endswith(FAILSAFE_LINE)


# --- through the real Rasa server and action server ----------------------------------

def new_sender() -> str:
    return f"lang-{uuid.uuid4().hex[:8]}"


@pytest.mark.live
@pytest.mark.parametrize("text", [WELSH, POLISH])
def test_a_welsh_or_polish_first_message_gets_the_english_only_line_and_no_question(
        live_bot, text):
    _, bot = live_bot
    sender = new_sender()
    assert texts(bot.say(sender, text)) == NOT_ENGLISH_LINE
    tracker = bot.tracker(sender, events="NONE")
    assert tracker["slots"]["requested_slot"] is None
    assert not (tracker.get("active_loop") or {}).get("name")
    # Writing in English then starts the questions as usual.
    assert "?" in texts(bot.say(sender, "hi, my hip is a bit red"))
    assert bot.slots(sender)["requested_slot"] is not None


@pytest.mark.live
@pytest.mark.parametrize("text", [WELSH, POLISH, SPANISH])
def test_a_welsh_or_polish_reply_to_a_question_gets_the_line_and_is_not_read_as_an_answer(
        live_bot, text):
    _, bot = live_bot
    sender = new_sender()
    bot.say(sender, "hi")
    before = bot.slots(sender)
    assert before["requested_slot"] == "bleeding"
    assert texts(bot.say(sender, text)) == NOT_ENGLISH_LINE
    assert bot.slots(sender) == before  # nothing read, the same question still pending
    # An English answer carries on from the question that was pending.
    bot.say(sender, "no bleeding at all")
    after = bot.slots(sender)
    assert after["bleeding"] == "none" and after["requested_slot"] not in (None, "bleeding")
