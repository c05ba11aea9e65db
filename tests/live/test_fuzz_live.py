"""Fuzzing whole conversations through the real Rasa stack, over the REST channel.

Hypothesis-generated message sequences, each a new conversation: replies to the question
the bot asked (its buttons, its reassuring answer), plain answers, odd text of every
kind, red-flag sentences in neutral text, messages over the length limit:
- every turn gets a 200 with at least one text reply: never silence, never a 500;
- no bot message says self-care unless the stored conversation has every main question
  answered;
- a red-flag sentence with text around it gets the emergency advice (999) on that turn;
- the level advised never goes down within a conversation;
- a message over the length limit gets the limit's clear reply.

Few examples, derandomized with no example database: CI runs the same conversations
every time in well under three minutes. FUZZ_RANDOM=1 / FUZZ_EXAMPLES=n as in
tests/unit/test_fuzz_extraction.py.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import tests.unit.test_fuzz_extraction as fuzz
from bot.channels.text import clean_message, too_long_line
from bot.config import settings as bot_settings
from bot.policy import Level
from bot.questions import MAIN_QUESTIONS, QUESTIONS

pytestmark = pytest.mark.live

NOT_ANSWERED = (None, "not_needed")
LIMIT = bot_settings().max_message_chars
# Until the REST channel enforces the limit itself, any non-empty reply will do for a
# message over it; once rest.py uses too_long_line, only that reply.
LIMIT_ENFORCED = "too_long_line(" in (
    Path(__file__).parents[2] / "bot" / "channels" / "rest.py").read_text(encoding="utf-8")

# The channel measures the cleaned text.
ODD = fuzz.ODD_TEXT.filter(lambda text: len(clean_message(text)) <= LIMIT)
TOO_LONG_TEXT = fuzz.HUGE_TEXT.filter(lambda text: len(clean_message(text)) > LIMIT)
TOO_LONG = st.one_of(
    st.integers(LIMIT + 1, 3 * LIMIT).map(lambda n: ("my hip is sore " * n)[:n]),
    TOO_LONG_TEXT)
# The reassuring reply to each question, so some conversations get to the advice.
CALM = {slot: q.buttons[1] if len(q.buttons) > 1 else "36.8" for slot, q in QUESTIONS.items()}
CALM["days_since_procedure"] = "Yesterday"


def turn(question):
    """(kind, message): a reply to the pending question (its reassuring answer, any of its
    buttons), a plain answer, odd text, a red flag in neutral text, or a message too long."""
    buttons = QUESTIONS[question].buttons if question in QUESTIONS else ("hi",)
    calm = st.just(CALM.get(question, "hi"))
    return st.one_of(
        calm.map(lambda m: ("plain", m)), calm.map(lambda m: ("plain", m)),
        calm.map(lambda m: ("plain", m)), st.sampled_from(buttons).map(lambda m: ("plain", m)),
        fuzz.PLAIN_ANSWER.map(lambda m: ("plain", m)),
        ODD.map(lambda m: ("odd", m)),
        fuzz.red_flag_messages(LIMIT).map(lambda case: ("red_flag", case[1])),
        TOO_LONG.map(lambda m: ("too_long", m)))


def post(stack, bot, sender: str, message: str) -> list[dict]:
    response = bot.http.post(f"{stack.rasa_url}/webhooks/rest/webhook",
                             json={"sender": sender, "message": message}, timeout=60)
    assert response.status_code == 200, (response.status_code, message[:200])
    return response.json()


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 0)) or 80, deadline=None,
          derandomize=not fuzz.RANDOM, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_generated_conversations_always_get_a_safe_reply(live_bot, data):
    stack, bot = live_bot
    sender = f"fuzz-{uuid.uuid4().hex[:16]}"
    question, advised = None, Level.SELF_CARE
    for _ in range(data.draw(st.integers(1, 12), label="turns")):
        kind, message = data.draw(turn(question), label=f"reply to {question}")
        event(kind)
        replies = post(stack, bot, sender, message)
        said = [m["text"] for m in replies if m.get("text")]
        assert said, (kind, message[:200], replies)
        text = "\n".join(said)
        if kind == "too_long":
            if LIMIT_ENFORCED:
                assert said == [too_long_line(LIMIT)], text
            continue
        slots = bot.slots(sender)
        question = slots.get("requested_slot")
        if slots.get("triage_level"):
            level = Level.from_slug(slots["triage_level"])
            assert level >= advised, (message[:200], text, slots)
            advised = level
        if fuzz.SELF_CARE_WORDS in text:
            event("self-care advice")
            unanswered = [q for q in MAIN_QUESTIONS if slots.get(q) in NOT_ANSWERED]
            assert not unanswered, (message[:200], text, slots)
        if kind == "red_flag":
            assert "EMERGENCY: call 999" in text, (message, text)
            assert slots["triage_level"] == "emergency", (message, slots)


# ---------------------------------------------------------------- minimised by the fuzzer
def test_a_fever_ruled_out_after_999_for_signs_of_sepsis_never_ends_in_self_care(live_bot):
    _, bot = live_bot
    sender = f"fuzz-sepsis-{uuid.uuid4().hex[:8]}"
    assert "EMERGENCY: call 999" in "\n".join(m.get("text", "") for m in bot.say(sender, "he's very drowsy"))
    for message in ["actually no fever", "no", "no", "no", "no", "no"]:
        said = "\n".join(m.get("text", "") for m in bot.say(sender, message))
        assert said and fuzz.SELF_CARE_WORDS not in said, (message, said)
        assert bot.slots(sender)["triage_level"] == "emergency", (message, said)
