"""The question registry (bot/questions.yml) against the domain, and its buttons."""
from __future__ import annotations

import pytest
import yaml

from bot.config import PROJECT_ROOT
from bot.dialogue import interpret, pending_reading
from bot.extraction import extract
from bot.language import LanguageDataError
from bot.questions import QUESTIONS, UNSURE_BUTTON, load
from tests.answer_set import CONTEXT

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())


def test_the_form_asks_exactly_the_registry_questions_in_its_order():
    assert DOMAIN["forms"]["triage_form"]["required_slots"] == list(QUESTIONS)


def test_every_question_has_a_slot_and_an_ask_response_in_the_domain():
    for slot in QUESTIONS:
        assert DOMAIN["slots"][slot]["mappings"] == [{"type": "custom"}], slot
        assert f"utter_ask_{slot}" in DOMAIN["responses"], slot
    # An action is a name, or {name: options} (validate_triage_form: {send_domain: false}).
    names = [a if isinstance(a, str) else next(iter(a)) for a in DOMAIN["actions"]]
    assert "validate_triage_form" in names
    assert not [a for a in names if a.startswith("action_ask_")]  # one way to ask


def test_the_domain_has_no_ask_response_without_a_question():
    asks = {r.removeprefix("utter_ask_") for r in DOMAIN["responses"] if r.startswith("utter_ask_")}
    assert asks == set(QUESTIONS)


def test_the_ask_responses_are_the_registrys_wording():
    """domain.yml's utter_ask_* are generated from bot/questions.yml (tools/question_responses)."""
    from tools.question_responses import main

    assert main(["--check"]) == 0


@pytest.mark.parametrize("slot", [s for s, q in QUESTIONS.items() if q.kind != "number"])
def test_each_button_reads_as_it_says(slot):
    """Tapping a button sends its title as the reply: yes-buttons give the question's
    yes value, no-buttons its no value, "Not sure" a re-ask."""
    question = QUESTIONS[slot]
    yes, no, unsure = question.buttons
    assert unsure == UNSURE_BUTTON
    context = {**CONTEXT.get(slot, {}), "requested_slot": slot}
    assert interpret(extract(yes), slot, context)[slot] == question.yes_means, yes
    assert interpret(extract(no), slot, context)[slot] == question.no_means, no
    assert pending_reading(extract(unsure), slot) == "unsure"


def test_yes_is_the_worrying_answer_except_where_the_buttons_say_so():
    for slot, question in QUESTIONS.items():
        if question.kind == "number":
            continue
        worrying = question.yes_means == question.concern.value
        assert worrying or question.buttons[0].lower().startswith("yes, it stops"), slot


def test_every_question_has_three_wordings_and_says_what_it_is_about():
    for slot, question in QUESTIONS.items():
        assert question.adult.endswith("?") and question.child.endswith("?"), slot
        assert question.simpler and question.simpler != question.adult, slot
        assert question.asks_about, slot


def _registry(tmp_path, change) -> object:
    data = yaml.safe_load((PROJECT_ROOT / "bot" / "questions.yml").read_text())
    change(data)
    path = tmp_path / "questions.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda d: d["fever"].update(colour="red"), "unknown key"),
    (lambda d: d["fever"].update(yes_means="maybe"), "yes_means"),
    (lambda d: d["fever"]["concern"].update(value="hot"), "not one of"),
    (lambda d: d["fever"].pop("wording"), "missing key"),
    (lambda d: d["fever"]["concern"]["phrases"].append("(hot|warm"), "unclosed"),
])
def test_a_broken_registry_fails_with_a_clear_message(tmp_path, change, message):
    with pytest.raises(LanguageDataError, match=message):
        load(_registry(tmp_path, change))


def test_make_validate_forgives_only_a_forms_own_questions():
    from tools.validate_data import form_slots, unexpected_warnings

    out = ("io.py:100: UserWarning: The utterance 'utter_ask_fever' is not used in any story or rule.\n"
           "io.py:100: UserWarning: The utterance 'utter_ask_nothing' is not used in any story or rule.\n"
           "io.py:100: UserWarning: The intent 'greet' is not used in any story or rule.\n")
    warnings, unexpected = unexpected_warnings(out, form_slots())
    assert len(warnings) == 3
    assert unexpected == ["The utterance 'utter_ask_nothing' is not used in any story or rule.",
                          "The intent 'greet' is not used in any story or rule."]
