"""One reading per message (bot.reading): what the NLU stores in the parse data reads, in
the action server, exactly as the message itself would have."""
from __future__ import annotations

import json

import pytest
import yaml

from bot import reading
from bot.config import PROJECT_ROOT
from bot.dialogue import interpret
from bot.questions import QUESTIONS


def corpus() -> list[str]:
    labelled = yaml.safe_load((PROJECT_ROOT / "tests" / "extraction_labelled.yml").read_text())
    extra = ["yes", "no", "not sure", "38.4", "thirty nine", "she's 6 and hot", "it was normal",
             "3 days ago", "the ibuprofen is doing its job", "<b>bleeding</b> 🩸", "", "/affirm",
             "no chest pain, no fever, a bit sore", "calpol helps enough, he's walking"]
    return [s["text"] for s in labelled["sentences"]] + extra


def through_rasa(r: reading.Reading) -> reading.Reading:
    """As the action server gets it: JSON out of the Rasa process and back."""
    stored = json.loads(json.dumps({reading.PARSE_KEY: reading.to_parse_data(r)}))
    found = reading.from_parse_data(stored[reading.PARSE_KEY])
    assert found is not None
    return found


@pytest.mark.parametrize("requested", [None, *QUESTIONS])
def test_a_stored_reading_gives_the_same_answers_as_the_message(requested):
    mismatches = []
    for text in corpus():
        direct = reading.read(text)
        stored = through_rasa(direct)
        assert stored.red_flags == direct.red_flags, text
        for slots in ({}, {"patient_is_child": True, "reask": requested}):
            for unsure in (True, False):
                a = interpret(direct.extraction, requested, slots, unclear_means_unsure=unsure)
                b = interpret(stored.extraction, requested, slots, unclear_means_unsure=unsure)
                if a != b:
                    mismatches.append((text, requested, a, b))
    assert not mismatches, mismatches[:5]


def test_a_failed_reading_keeps_the_red_flags_of_a_plain_copy(monkeypatch):
    from bot import extraction

    real = extraction.extract

    def breaks_on_a_snowman(text):
        if "\u2603" in text:
            raise ValueError("cannot read it")
        return real(text)

    monkeypatch.setattr(reading, "extract", breaks_on_a_snowman)
    monkeypatch.setattr(extraction, "extract", breaks_on_a_snowman)
    found = through_rasa(reading.read("\u2603 he collapsed and isn't breathing"))
    expected = reading.read("he collapsed and isn't breathing").red_flags
    assert found.failed and expected and found.red_flags == expected


def test_a_reading_this_version_does_not_know_is_read_again_from_the_text():
    for stored in ({"version": 999}, "junk", {"version": reading.VERSION, "failed": False}):
        found = reading.of_message({reading.PARSE_KEY: stored}, "no bleeding")
        assert not found.failed and found.extraction.text == "no bleeding"
    assert reading.of_message(None, "no fever").extraction.text == "no fever"


def test_the_action_server_reads_the_stored_reading_without_loading_spacy():
    """The reason for carrying the reading: the action server's process never imports
    spaCy, and with it thinc and TensorFlow (about 450 MB)."""
    import subprocess
    import sys

    script = """
import asyncio, sys
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
import bot.action_server
from actions.triage_form import ValidateTriageForm
from actions.advice import ActionTriageAdvice
stored = %r
def tracker(text, slots, intent, loop):
    return Tracker.from_dict({"sender_id": "no-spacy", "slots": slots, "paused": False,
        "latest_message": {"text": text, "intent": {"name": intent}, "entities": [], **stored},
        "events": [], "followup_action": None, "latest_action_name": "action_listen",
        "active_loop": {"name": loop} if loop else {}})
events = asyncio.run(ValidateTriageForm().run(CollectingDispatcher(),
    tracker("no bleeding", {"requested_slot": "bleeding"}, "deny", "triage_form"), {}))
assert any(e.get("name") == "bleeding" and e.get("value") == "none" for e in events), events
asyncio.run(ValidateTriageForm().run(CollectingDispatcher(),
    tracker("", {"requested_slot": None}, "greet", "triage_form"), {}))
print(sorted(m for m in ("spacy", "thinc", "tensorflow") if m in sys.modules))
"""
    stored = {reading.PARSE_KEY: reading.to_parse_data(reading.read("no bleeding"))}
    out = subprocess.run([sys.executable, "-c", script % stored], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
