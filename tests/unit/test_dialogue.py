"""The conversation logic without Rasa: what is asked, and what is concluded."""
import pytest

from bot.dialogue import findings, interpret, next_question
from bot.extraction import extract
from bot.policy import Level
from bot.triage import assess


def converse(opening, answers=None, max_turns=40):
    """Answers by question name; a list gives successive replies to a re-ask."""
    answers, slots, asked = answers or {}, {}, []
    slots.update(interpret(extract(opening), None, slots))
    while (question := next_question(slots)) is not None:
        asked.append(question)
        assert len(asked) < max_turns, asked
        reply = answers.get(question, "no")
        if isinstance(reply, list):
            reply = reply[min(asked.count(question), len(reply)) - 1]
        slots.update(interpret(extract(reply), question, slots))
    return assess(findings(slots)).level, asked, slots


def test_five_questions_in_order_when_all_is_well():
    level, asked, _ = converse("hi")
    assert asked == ["bleeding", "fever", "swelling", "pus", "lymph_nodes"]
    assert level == Level.SELF_CARE


def test_questions_answered_in_the_opening_are_skipped():
    level, asked, _ = converse("no bleeding no fever just sore", {"days_since_procedure": "2"})
    assert "bleeding" not in asked and "fever" not in asked
    assert asked[:2] == ["days_since_procedure", "pain_uncontrolled"]
    assert level == Level.SELF_CARE


@pytest.mark.parametrize("question", ["bleeding", "fever", "swelling", "pus", "lymph_nodes"])
@pytest.mark.parametrize("red_flag", ["cant breath", "he's having a fit", "she collapsed",
                                      "chest pain", "blood is pouring out"])
def test_a_red_flag_at_any_question_ends_the_questions(question, red_flag):
    level, asked, _ = converse("hi", {question: red_flag})
    assert level == Level.EMERGENCY
    assert asked[-1] == question


def test_negated_red_flag_does_not_fire():
    level, _, _ = converse("hi", {"swelling": "no chest pain, no swelling"})
    assert level == Level.SELF_CARE


def test_not_sure_is_asked_again_then_counts_as_present():
    level, asked, slots = converse("hi", {"pus": ["not sure", "still can't tell"]})
    assert asked.count("pus") == 2
    assert slots["pus"] == "present" and slots["unsure_slots"] == ["pus"]
    assert level == Level.CONTACT_TEAM


def test_not_sure_then_a_clear_answer():
    level, asked, slots = converse("hi", {"lymph_nodes": ["dunno", "no lumps"]})
    assert asked.count("lymph_nodes") == 2 and level == Level.SELF_CARE
    assert not slots.get("unsure_slots")


def test_bleeding_that_stops_with_pressure_is_contact_team_and_that_does_not_is_999():
    assert converse("hi", {"bleeding": "yes", "bleeding_stops_with_pressure": "yes it stops"})[0] \
        == Level.CONTACT_TEAM
    assert converse("hi", {"bleeding": "yes", "bleeding_stops_with_pressure": "no"})[0] \
        == Level.EMERGENCY


def test_bleeding_with_faintness_is_an_emergency():
    level, _, _ = converse("hi", {"bleeding": "a bit, it keeps oozing",
                                  "bleeding_stops_with_pressure": "yes",
                                  "feeling_faint": "yes dizzy"})
    assert level == Level.EMERGENCY


@pytest.mark.parametrize("fever, temperature, immune, expected", [
    ("yes", "38.6", "yes chemo", Level.URGENT),
    ("yes 101F", None, "he has leukaemia", Level.URGENT),
    ("yes", "38.6", "no", Level.CONTACT_TEAM),
    ("37.2", None, None, Level.SELF_CARE),
    ("chills but 37.5", None, "yes chemo", Level.CONTACT_TEAM),
    ("yes", ["dont know", "can't check"], "yes on chemo", Level.URGENT),
])
def test_fever_levels(fever, temperature, immune, expected):
    answers = {"fever": fever}
    if temperature:
        answers["temperature"] = temperature
    if immune:
        answers["immune_weak"] = immune
    assert converse("hi", answers)[0] == expected


def test_fever_with_confusion_is_an_emergency():
    assert converse("hi", {"fever": "yes and she's confused"})[0] == Level.EMERGENCY


@pytest.mark.parametrize("swelling, follow_ups, expected", [
    ("bit sore", {"days_since_procedure": "3"}, Level.SELF_CARE),
    ("still sore", {"days_since_procedure": "9 days"}, Level.CONTACT_TEAM),
    ("yes red and swollen", {}, Level.CONTACT_TEAM),
    ("yes", {"spreading_redness": "yes its spreading"}, Level.URGENT),
    ("really painful", {"pain_uncontrolled": "paracetamol isn't helping"}, Level.URGENT),
    ("swollen", {"numbness": "yes pins and needles"}, Level.URGENT),
])
def test_site_levels(swelling, follow_ups, expected):
    assert converse("hi", {"swelling": swelling, **follow_ups})[0] == expected


def test_a_parent_about_a_child():
    _, _, slots = converse("my daughter's hip is hot where they did the biopsy")
    assert slots["patient_is_child"] is True
    assert slots["swelling"] == "inflamed"


def test_findings_never_get_better_within_a_conversation():
    slots = {"bleeding": "continued"}
    slots.update(interpret(extract("no bleeding"), None, slots))
    assert slots["bleeding"] == "continued"


def test_unreadable_replies_count_as_not_sure():
    level, asked, _ = converse("hi", {"fever": ["🤷", "🤷"]})
    assert asked.count("fever") == 2 and level >= Level.CONTACT_TEAM
