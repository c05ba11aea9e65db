"""Custom actions with rasa_sdk trackers and a CollectingDispatcher."""
from __future__ import annotations

import asyncio

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.advice import ActionTriageAdvice
from actions.conversation import ActionStartAgain, ActionStopTriage
from actions.triage_form import ValidateTriageForm
from bot import reading
from bot.policy import FAILSAFE_LINE
from bot.storage.outcomes import outcomes_for

DOMAIN: dict = {"forms": {"triage_form": {"required_slots": [
    "bleeding", "fever", "swelling", "pus", "lymph_nodes"]}}, "slots": {}}


def tracker(text: str, slots: dict | None = None, intent: str = "report_symptom",
            active_loop: str | None = "triage_form", sender: str = "test-user",
            parse_data: dict | None = None) -> Tracker:
    """A tracker whose latest message has `parse_data` added (the NLU's reading, say);
    without it the actions read the text themselves, as for a message our NLU never saw."""
    return Tracker.from_dict({
        "sender_id": sender,
        "slots": slots or {},
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 0.9},
                           "entities": [], **(parse_data or {})},
        "events": [{"event": "user", "text": text, "input_channel": "rest",
                    "parse_data": {"intent": {"name": intent}}}],
        "paused": False, "followup_action": None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen",
    })


def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, DOMAIN))
    return dispatcher.messages, {e["name"]: e["value"] for e in events if e["event"] == "slot"}, events


def test_validation_fills_the_answer_and_asks_the_next_question():
    _, slots, _ = run(ValidateTriageForm(), tracker("nope", {"requested_slot": "bleeding"}, "deny"))
    assert slots["bleeding"] == "none"
    assert slots["requested_slot"] == "fever"


def test_validation_skips_questions_answered_in_passing():
    _, slots, _ = run(ValidateTriageForm(), tracker(
        "no bleeding, no fever, just a bit sore", {"requested_slot": None}))
    assert slots["bleeding"] == "none" and slots["fever"] == "none"
    assert slots["requested_slot"] == "days_since_procedure"


def test_red_flag_mid_form_ends_the_form_on_the_same_turn():
    _, slots, _ = run(ValidateTriageForm(), tracker(
        "she's gone floppy and won't wake", {"requested_slot": "pus", "bleeding": "none"}))
    assert slots["red_flags"] and slots["requested_slot"] is None


def test_off_topic_question_is_left_to_the_rules():
    _, slots, _ = run(ValidateTriageForm(), tracker(
        "when do I get my results?", {"requested_slot": "fever"}, "ask_results"))
    assert slots == {}  # no slot events: the form is rejected and a rule answers


def asked(question: str, slots: dict) -> dict:
    """What the form says for `question` with these slots: Rasa's own choice among the
    domain's utter_ask_<question> variations."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.config import PROJECT_ROOT

    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    state = DialogueStateTracker("nlg", domain.slots)
    for name, value in slots.items():
        state.update(SlotSet(name, value))
    return asyncio.run(TemplatedNaturalLanguageGenerator(domain.responses).generate(
        f"utter_ask_{question}", state, "rest"))


def test_ask_action_uses_carer_wording_and_simpler_reask():
    """The validation chooses the wording of the next question; the form asks it."""
    _, slots, _ = run(ValidateTriageForm(), tracker(
        "no", {"requested_slot": "bleeding", "patient_is_child": True}, "deny"))
    assert slots["requested_slot"] == "fever" and slots["ask_style"] == "child"
    message = asked("fever", {"patient_is_child": True, **slots})
    assert message["text"].startswith("Has your child")
    assert [b["payload"] for b in message["buttons"]] == [
        "Yes, hot or shivery", "No fever or chills", "Not sure"]
    _, slots, _ = run(ValidateTriageForm(), tracker(
        "not sure", {"requested_slot": "fever", "bleeding": "none"}, "unsure"))
    assert slots["requested_slot"] == "fever" and slots["ask_style"] == "simpler"
    assert "38°C" in asked("fever", {"reask": "fever", **slots})["text"]
    _, slots, _ = run(ValidateTriageForm(), tracker(
        "no", {"requested_slot": "bleeding"}, "deny"))
    assert slots["ask_style"] == "adult"
    assert asked("fever", slots)["text"].startswith("Have you had")


def test_advice_action_sends_cited_advice_and_stores_the_outcome(migrated_db):
    done = {"bleeding": "none", "fever": "none", "swelling": "inflamed",
            "spreading_redness": "no", "pain_uncontrolled": "no", "numbness": "no",
            "pus": "none", "lymph_nodes": "none"}
    messages, slots, events = run(ActionTriageAdvice(),
                                  tracker("no", done, "deny", sender="advice-test"))
    assert slots["triage_level"] == "contact_team"
    assert "Source:" in messages[0]["text"]
    assert messages[0]["custom"]["triage_level"] == "contact_team"
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]
    [row] = outcomes_for("advice-test")
    assert row.level == "contact_team" and "site.inflamed" in row.findings
    assert row.channel == "rest" and row.policy_version


def test_red_flag_outside_the_form_reads_the_message(migrated_db):
    messages, slots, _ = run(ActionTriageAdvice(), tracker(
        "he can't breathe", {}, "red_flag", active_loop=None, sender="rf-test"))
    assert slots["triage_level"] == "emergency"
    assert messages[0]["text"].startswith("EMERGENCY: call 999")


def test_model_only_red_flag_is_taken_as_an_emergency(migrated_db):
    _, slots, _ = run(ActionTriageAdvice(), tracker(
        "something is really wrong with him", {}, "red_flag", active_loop=None, sender="rf2"))
    assert slots["triage_level"] == "emergency" and slots["red_flags"] == ["DESCRIBED"]


def test_advice_still_sent_when_the_database_fails(monkeypatch):
    def broken(**_):
        raise RuntimeError("database down")

    monkeypatch.setattr("actions.advice.record_outcome", broken)
    messages, slots, _ = run(ActionTriageAdvice(), tracker(
        "chest pain", {}, "red_flag", active_loop=None))
    assert messages and slots["triage_level"] == "emergency"


def test_start_again_resets_and_stop_ends_the_form():
    _, _, events = run(ActionStartAgain(), tracker("start again", {"bleeding": "none"}))
    assert {"event": "reset_slots", "timestamp": None} in events
    messages, slots, _ = run(ActionStopTriage(), tracker("stop"))
    assert slots["requested_slot"] is None and "999" in messages[0]["text"]


def test_a_second_off_topic_reply_to_the_same_question_counts_as_not_sure():
    t = tracker("thirty eight point five", {"requested_slot": "temperature", "fever": "present"},
                "ask_help")
    t.events[:0] = [{"event": "slot", "name": "requested_slot", "value": "temperature"},
                    {"event": "user", "text": "thirty eight point five"}]
    _, slots, _ = run(ValidateTriageForm(), t)
    assert slots["temperature"] == 38.5  # the number is read whatever the intent


def test_unreadable_second_reply_is_not_sure_even_with_an_off_topic_intent():
    t = tracker("🙂", {"requested_slot": "pus"}, "greet")
    t.events[:0] = [{"event": "slot", "name": "requested_slot", "value": "pus"},
                    {"event": "user", "text": "hello?"}]
    _, slots, _ = run(ValidateTriageForm(), t)
    assert slots["reask"] == "pus"


def test_advice_is_not_repeated_when_nothing_changed(migrated_db):
    done = {"bleeding": "none", "fever": "none", "swelling": "none", "pus": "none",
            "lymph_nodes": "none",
            "advised_findings": ["bleeding.none", "discharge.none", "fever.none", "lymph.none",
                                 "site.none"]}
    messages, _, _ = run(ActionTriageAdvice(), tracker("ok", done, "affirm", sender="repeat"))
    assert messages[0]["text"].startswith("My advice is the same as before.")
    assert outcomes_for("repeat") == []


def test_a_reading_that_raises_gives_the_failsafe_line_and_asks_again(monkeypatch):
    def broken(_text):
        raise RuntimeError("extraction broke")

    monkeypatch.setattr(reading, "extract", broken)
    messages, slots, events = run(ValidateTriageForm(), tracker(
        "my leg is bleeding a lot", {"requested_slot": "bleeding"}))
    assert [m["text"] for m in messages] == [FAILSAFE_LINE]
    assert "bleeding" not in slots and "requested_slot" not in slots
    assert slots == {"reask": None}  # a non-question slot: Rasa keeps the form running


def test_a_reading_that_raises_still_ends_the_questions_on_a_red_flag(monkeypatch):
    monkeypatch.setattr(reading, "extract", lambda _text: 1 / 0)
    messages, slots, _ = run(ValidateTriageForm(), tracker(
        "i can't breathe \ud83e", {"requested_slot": "fever", "bleeding": "none"}))
    assert messages[0]["text"] == FAILSAFE_LINE
    assert slots["red_flags"] == ["BREATHING"] and slots["requested_slot"] is None


def test_no_self_care_while_a_main_question_is_unanswered():
    answered = {"bleeding": "none", "fever": "none", "swelling": "none", "pus": "none"}
    messages, slots, events = run(ActionTriageAdvice(), tracker(
        "no", answered, intent="deny", active_loop=None, sender="test-incomplete"))
    assert [m["text"] for m in messages] == [FAILSAFE_LINE]
    assert slots.get("triage_level") is None
    assert any(e["event"] == "followup" and e["name"] == "triage_form" for e in events)
    assert outcomes_for("test-incomplete") == []


def test_self_care_once_every_main_question_is_answered():
    answered = {"bleeding": "none", "fever": "none", "swelling": "none", "pus": "none",
                "lymph_nodes": "none"}
    messages, slots, _ = run(ActionTriageAdvice(), tracker(
        "no", answered, intent="deny", active_loop=None, sender="test-complete"))
    assert slots["triage_level"] == "self_care"
    assert "expected after a biopsy" in messages[0]["text"]


def test_the_actions_use_the_nlu_reading_and_never_read_the_message_again(monkeypatch):
    """One reading per message: the NLU's, from the parse data."""
    said = "no bleeding, no fever, just a bit sore"
    stored = {reading.PARSE_KEY: reading.to_parse_data(reading.read(said))}
    monkeypatch.setattr(reading, "extract", lambda _text: 1 / 0)  # a second reading fails
    messages, slots, _ = run(ValidateTriageForm(), tracker(
        said, {"requested_slot": None}, parse_data=stored))
    assert messages == []
    assert slots["bleeding"] == "none" and slots["fever"] == "none"
    assert slots["requested_slot"] == "days_since_procedure"


def test_a_red_flag_outside_the_form_is_advised_from_the_nlu_reading(monkeypatch):
    said = "he's not breathing properly and his lips are blue"
    stored = {reading.PARSE_KEY: reading.to_parse_data(reading.read(said))}
    monkeypatch.setattr(reading, "extract", lambda _text: 1 / 0)
    messages, slots, _ = run(ActionTriageAdvice(), tracker(
        said, {}, intent="red_flag", active_loop=None, sender="test-one-reading",
        parse_data=stored))
    assert slots["triage_level"] == "emergency" and "BREATHING" in slots["red_flags"]
    assert "999" in messages[0]["text"]


def test_a_failed_nlu_reading_still_gives_emergency_advice_for_its_red_flags():
    """The NLU could not read it but found a red flag on a plain copy: 999, not only the
    fail-safe line (no action reads the message again)."""
    stored = {reading.PARSE_KEY: reading.to_parse_data(
        reading.Reading(None, frozenset({"BLEED_HEAVY"})))}
    messages, slots, _ = run(ActionTriageAdvice(), tracker(
        "\u2603 blood everywhere", {}, intent="red_flag", active_loop=None,
        sender="test-failed-reading", parse_data=stored))
    assert slots["bleeding"] == "heavy" and slots["triage_level"] == "emergency"
    assert "999" in messages[0]["text"]
