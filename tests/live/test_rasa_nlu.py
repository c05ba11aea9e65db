"""The NLU components: the length guard and the safety net on messages with a given DIET
intent (no trained model), and the length guard through a real Rasa server."""
import re
import time
from pathlib import Path

import pytest
import requests
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa_nlu import RuleOnlyIntentFilter, SafetyNetClassifier, TextTruncator


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


# --- the length guard at the start of the pipeline ----------------------------------

def test_a_long_message_is_cut_to_the_limit_at_a_word_boundary():
    message = Message(data={"text": "my hip is sore " * 100})
    TextTruncator(max_chars=40).process([message])
    assert message.get("text") == "my hip is sore my hip is sore my hip is"


def test_a_long_word_with_no_space_is_cut_at_the_limit():
    message = Message(data={"text": "x" * 5000})
    TextTruncator(max_chars=1000).process([message])
    assert message.get("text") == "x" * 1000


def test_a_message_within_the_limit_is_left_as_it_is():
    message = Message(data={"text": "  it's a bit red  "})
    TextTruncator(max_chars=1000).process([message])
    assert message.get("text") == "  it's a bit red  "


def test_training_examples_are_cut_too():
    data = TrainingData([Message(data={"text": "sore " * 400, "intent": "report_symptom"})])
    TextTruncator(max_chars=100).process_training_data(data)
    assert len(data.training_examples[0].get("text")) <= 100


def test_the_limit_is_the_channels_max_message_chars(monkeypatch):
    from bot.config import settings

    monkeypatch.setenv("MAX_MESSAGE_CHARS", "250")
    settings.cache_clear()
    try:
        truncator = TextTruncator.create({}, None, None, None)
    finally:
        settings.cache_clear()
    assert truncator.max_chars == 250


def test_a_red_flag_in_the_kept_part_still_wins_over_a_huge_message():
    message = Message(data={"text": "he's not breathing properly " + "blah " * 200_000,
                            "intent": {"name": "greet", "confidence": 0.9}})
    TextTruncator(max_chars=1000).process([message])
    SafetyNetClassifier(0.8).process([message])
    assert message.get("intent")["name"] == "red_flag"


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total_kb = 0
    for p in pids:
        status = Path(f"/proc/{p}/status").read_text()
        total_kb += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return total_kb / 1024


@pytest.mark.live
def test_a_megabyte_message_is_parsed_in_well_under_a_second_and_rasa_does_not_grow(live_bot):
    """Rasa's own HTTP API has no length limit: the pipeline must cut the text before DIET
    (a 100 KB message once made it allocate 16 GB and stall every conversation for 56 s)."""
    stack, _ = live_bot
    pid = stack.processes["rasa"].pid
    url = f"{stack.rasa_url}/model/parse"
    requests.post(url, params={"token": stack.token}, json={"text": "hello"}, timeout=30)
    before = _rss_mb(pid)
    text = "he's not breathing properly and " + "my hip is sore " * 70_000  # 1 MB
    assert len(text.encode()) > 1_000_000
    start = time.monotonic()
    response = requests.post(url, params={"token": stack.token}, json={"text": text}, timeout=120)
    elapsed = time.monotonic() - start
    grown = _rss_mb(pid) - before
    print(f"1 MB /model/parse: {elapsed * 1000:.0f} ms, Rasa RSS {before:.0f} MB -> +{grown:.0f} MB")
    assert response.status_code == 200
    assert response.json()["intent"]["name"] == "red_flag"
    assert elapsed < 1.0  # about 0.1 s measured; 80 s before the cut
    assert grown < 50


# --- intents only the rules set ------------------------------------------------------

def test_diet_never_trains_on_an_intent_only_the_rules_set():
    data = TrainingData([Message(data={"text": "Mae'n brifo", "intent": "not_english"}),
                         Message(data={"text": "it hurts", "intent": "report_symptom"})])
    kept = RuleOnlyIntentFilter(["not_english"]).process_training_data(data)
    assert [m.get("intent") for m in kept.training_examples] == ["report_symptom"]
    assert kept.intents == {"report_symptom"}


def test_the_intents_only_the_rules_set_are_named_in_the_config():
    import yaml

    from bot.config import PROJECT_ROOT

    pipeline = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text())["pipeline"]
    names = [step["name"] for step in pipeline]
    step = pipeline[names.index("bot.rasa_nlu.RuleOnlyIntentFilter")]
    assert step["intents"] == ["not_english"]
    assert names.index("bot.rasa_nlu.RuleOnlyIntentFilter") < names.index("DIETClassifier")


def test_a_red_flag_still_wins_when_the_full_reading_fails(monkeypatch):
    """Any exception in the rules: the red-flag check runs again on a plain copy."""
    from bot import extraction, rasa_nlu, reading

    real_extract = extraction.extract

    def breaks_on_odd_text(text):
        if "\u2603" in text:
            raise ValueError(f"cannot read {text!r}")
        return real_extract(text)

    monkeypatch.setattr(reading, "extract", breaks_on_odd_text)
    monkeypatch.setattr("bot.extraction.extract", breaks_on_odd_text)
    from rasa.shared.nlu.training_data.message import Message

    message = Message(data={"text": "\u2603 she is not breathing",
                            "intent": {"name": "greet", "confidence": 0.9}})
    rasa_nlu.SafetyNetClassifier(0.8).process([message])
    assert message.get("intent")["name"] == "red_flag"
