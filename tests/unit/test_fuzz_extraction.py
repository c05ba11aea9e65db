"""Fuzzing the extractor and the conversation logic in-process (Hypothesis).

Properties, over generated text (every Unicode plane, lone surrogates, combining
marks, right-to-left and zero-width characters, emoji sequences, control
characters, markup, 100 KB and empty messages, mixed with the words patients use):
- reading a message never raises, with or without the channel-edge cleaning;
- every message a channel accepts (MAX_MESSAGE_CHARS) is read whole;
- a conversation never concludes with self-care while a main question has no answer,
  its level never goes down (after the advice too), a reply that settles nothing is
  followed by one that settles the question (no loop), and every slot keeps to its
  question's values;
- a red-flag sentence (written here from docs/clinical-policy.md, not copied from the
  rule files) with neutral text around it is read as a red flag, and ends the questions
  with the emergency advice at whatever point of the conversation it is said.

The tests at the end are the fuzzer's failures, minimised. Derandomized with no
example database, so CI runs the same examples every time; FUZZ_RANDOM=1 runs new
random examples, FUZZ_EXAMPLES=n sets how many.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.advice import render
from bot.channels.text import clean_message
from bot.config import MAX_ANALYSED_CHARS
from bot.config import settings as bot_settings
from bot.dialogue import findings, interpret, next_question, said_something
from bot.extracted import ABSENT, PRESENT, UNSURE
from bot.extraction import extract, red_flags_in
from bot.policy import Level
from bot.questions import NOT_ASKED, QUESTIONS, unanswered_main_questions
from bot.triage import assess

RANDOM = os.environ.get("FUZZ_RANDOM") == "1"


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 0)) or examples,
                    deadline=None, derandomize=not RANDOM, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------- odd text
ANY_CHARACTER = st.characters(exclude_categories=())  # every plane, surrogates included
LONE_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
CONTROL = st.sampled_from([chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]])
COMBINING = st.characters(categories=["Mn", "Mc", "Me"])
INVISIBLE = st.sampled_from([
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u034f", "\u180e",
    "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069", "\u2028", "\u2029", "\u00a0", "\u3000"])
RIGHT_TO_LEFT = st.one_of(st.characters(min_codepoint=0x0590, max_codepoint=0x08FF),
                          st.sampled_from(["نزيف", "حمى", "דימום", "כאב בחזה", "\u202eon"]))
EMOJI = st.sampled_from([
    "😀", "🤒", "🩸", "🫁", "🥶", "😵‍💫", "❤️‍🩹", "👍🏽", "🧑🏿‍⚕️", "👨‍👩‍👧‍👦", "🏳️‍🌈",
    "🇬🇧", "1️⃣", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "\U0001F3FB", "\ufe0f", "\u20e3"])
MARKUP = st.sampled_from([
    "<script>alert(1)</script>", "<b>", "</p>", "<br/>", "<!--", "-->", "<", ">", "<<>>",
    "<img src=x onerror=alert(1)>", "&amp;", "&lt;", "&#x27;", "&#0;", "<![CDATA[", "]]>",
    "**", "__", "`", "[link](http://x)", "{{7*7}}", "${x}", "%s%n", "\\", "\\u0000",
    "'; DROP TABLE events; --", '"', "'", "/", "|"])
# Words and signs patients use, so the generated text runs through the rules'
# paths (negation, hedges, numbers, durations, who is speaking), not only past them.
PATIENT_WORDS = st.sampled_from("""
    no not nope nah yes yeah yep dunno unsure maybe bit slightly very really isn't can't
    won't don't hasn't never nothing none any or nor and but just only still again
    bleeding bled blood bruise dressing plaster soaked pressure pressed stopped oozing
    fever temp temperature hot cold shivery chills shivering 38 38.5 39 101 37.2 degrees °c f
    swollen swelling red redness warm pain painful sore aching spreading streaks numb tingly
    pus cloudy smell yellow green lump lumps glands neck armpit groin
    chest breathe breathing fit fitting collapsed wake floppy faint dizzy confused
    paracetamol ibuprofen chemo days day week weeks yesterday today hours two ten
    my son daughter she he her his child baby i i'm it it's the a an is was
    , . ! ? ... - ' " : ; ( ) / 2
""".split())
PIECE = st.one_of(
    ANY_CHARACTER, LONE_SURROGATE, CONTROL, COMBINING, INVISIBLE, RIGHT_TO_LEFT, EMOJI,
    MARKUP, PATIENT_WORDS, PATIENT_WORDS, PATIENT_WORDS, st.just(" "), st.just(" "),
    st.text(ANY_CHARACTER, max_size=8))
ODD_TEXT = st.lists(PIECE, max_size=40).map(" ".join) | st.lists(PIECE, max_size=40).map("".join)
# A long message: a generated piece repeated to 100 KB (Hypothesis draws at most a few KB).
HUGE_TEXT = st.lists(PIECE, min_size=1, max_size=12).map(
    lambda pieces: (" ".join(pieces) + " ") * (100_000 // (len(" ".join(pieces)) + 1) + 1)
).map(lambda text: text[:100_000])
ANY_MESSAGE = st.one_of(ODD_TEXT, ODD_TEXT, ODD_TEXT, HUGE_TEXT, st.just(""), st.just("   "))

# Plain answers and statements too, so generated conversations go down every path of
# the questions: re-asks, follow-ups, readings, durations, corrections.
PLAIN_ANSWER = st.sampled_from([
    "no", "nope", "yes", "a bit", "not sure", "dunno", "still don't know", "no bleeding",
    "it's bleeding", "it stops when I press", "no fever", "38.5", "37", "not checked",
    "I'm on chemo", "no lumps", "a bit sore", "3 days", "two weeks", "it's fine", "ok",
    "thanks", "what about my results?", "the paracetamol is helping", "hasn't spread",
    "numb", "it smells", "swollen and red", "she's shivery", "nothing", "all good", "",
    "it's 37.5 now", "temp was 39.2", "100 F", "36.8 degrees", "it was normal",
    "had it done 3 days ago", "a week and a half ago", "yesterday", "it's a bit sore, 2 days",
    "the bleeding has stopped now", "no, the swelling has gone down", "actually no fever",
    "she seems a bit confused", "he's very drowsy", "my son is 6", "I feel faint",
    "it's oozing a bit", "bruised", "not bleeding any more", "it's not red", "can't check"])


EVERY_BUTTON = st.sampled_from(sorted({b for q in QUESTIONS.values() for b in q.buttons}))


def reply_to(question):
    """A reply to the pending question (one of its buttons, a plain answer or odd text);
    with none pending (the opening, after the advice), any button: a correction."""
    buttons = st.sampled_from(QUESTIONS[question].buttons) if question else EVERY_BUTTON
    return st.one_of(buttons, buttons, PLAIN_ANSWER, PLAIN_ANSWER, ANY_MESSAGE)


@fuzz_settings(300)
@given(ANY_MESSAGE)
def test_reading_any_message_never_raises(text):
    for message in (text, clean_message(text)):
        reading = extract(message)
        assert all(m.status in (PRESENT, UNSURE, ABSENT) for m in reading.mentions)
        assert reading.red_flags <= {m.label for m in reading.mentions}
        red_flags_in(message)
        for slot in QUESTIONS:
            reading.cue_kinds(slot)


# ---------------------------------------------------------------- conversations
NOW = datetime(2026, 3, 4, 11, 0, tzinfo=timezone.utc)
SELF_CARE_WORDS = "expected after a biopsy"


def check_slot_values(slots: dict) -> None:
    for slot, question in QUESTIONS.items():
        value = slots.get(slot)
        if question.kind == "number":
            assert value is None or value == NOT_ASKED or value == "unknown" \
                or isinstance(value, (int, float)), (slot, value)
        else:
            assert value in (None, NOT_ASKED, *question.values), (slot, value)


def conclude(slots: dict) -> str:
    """The advice text the form's end gives; self-care only with every main answer."""
    assessment = assess(findings(slots))
    advice = render(assessment, bot_settings(), NOW, unclear=slots.get("unsure_slots") or ())
    assert (SELF_CARE_WORDS in advice.text) == (assessment.level == Level.SELF_CARE)
    if assessment.level == Level.SELF_CARE:
        assert unanswered_main_questions(slots) == [], slots
    return advice.text


def converse(data, turns: int):
    """The triage form without Rasa, as actions/triage_form.py drives it: each reply
    (drawn for the question it answers) read against the pending question; an
    off-topic reply that fills nothing is left to the rules, once per question. After
    the advice the patient can still talk: a reply is read with no question pending, and
    the questions go on if it leaves one open. Checks the properties after every turn."""
    slots: dict = {}
    opening = data.draw(reply_to(None), label="opening")
    slots.update(interpret(extract(clean_message(opening)), None, slots))
    level, stuck, last, off_topic_for = assess(findings(slots)).level, 0, None, {}
    for _ in range(turns):
        question = next_question(slots)
        if question is None:
            conclude(slots)
        reply = data.draw(reply_to(question), label=str(question))
        aside = data.draw(st.booleans(), label="off topic") and off_topic_for.get(question, 0) < 1
        updates = interpret(extract(clean_message(reply)), question, slots,
                            unclear_means_unsure=not aside and question is not None)
        if aside:
            off_topic_for[question] = off_topic_for.get(question, 0) + 1
            if not said_something(updates):
                continue
        # A reply that changes nothing but the re-ask: the next one must settle the
        # question (a second "not sure" counts as present), or the form could loop.
        progress = any(slots.get(k) != v for k, v in updates.items() if k != "reask")
        stuck = 0 if progress or question is None else stuck + 1 if question == last else 1
        last = question
        assert stuck <= 1, (question, reply, slots)
        for slot, value in updates.items():
            before = slots.get(slot)
            if slot in QUESTIONS and QUESTIONS[slot].values and before not in (None, NOT_ASKED) \
                    and value not in (None, NOT_ASKED):
                assert not QUESTIONS[slot].worse(value, before), (slot, before, value)
        slots.update(updates)
        check_slot_values(slots)
        now_level = assess(findings(slots)).level
        assert now_level >= level, (reply, level, now_level, slots)
        level = now_level
    if next_question(slots) is None:
        conclude(slots)
    return slots


@fuzz_settings(400)
@given(st.data())
def test_a_conversation_never_ends_in_self_care_with_a_question_unanswered(data):
    converse(data, turns=20)


@fuzz_settings(200)
@given(st.lists(st.one_of(PLAIN_ANSWER, ANY_MESSAGE), min_size=1, max_size=3))
def test_advice_on_a_red_flag_turn_outside_the_form_is_never_self_care_by_default(messages):
    """The advice action reads a red-flag turn with nothing pending (requested None): its
    conclusion too may say self-care only when every main question was answered."""
    slots: dict = {}
    for message in messages:
        slots.update(interpret(extract(clean_message(message)), None, slots,
                               unclear_means_unsure=False))
        check_slot_values(slots)
        assessment = assess(findings(slots))
        if assessment.level == Level.SELF_CARE:
            assert unanswered_main_questions(slots), slots  # nothing was asked yet


# ---------------------------------------------------------------- red flags
# From docs/clinical-policy.md ("At any point in the conversation" and the bleeding rows),
# in a patient's or a carer's words; each with the red flags it may be read as.
BREATHING, CHEST, COLLAPSE, UNCONSCIOUS, SEIZURE, FLOPPY, BLEED = (
    {"BREATHING"}, {"CHEST_PAIN"}, {"COLLAPSE", "UNCONSCIOUS"}, {"UNCONSCIOUS", "COLLAPSE", "FLOPPY"},
    {"SEIZURE"}, {"FLOPPY", "UNCONSCIOUS"}, {"BLEED_HEAVY"})
RED_FLAG_SENTENCES = {
    "I can't stop the bleeding": BLEED,
    "he's having a fit": SEIZURE,
    "she's really hard to wake": UNCONSCIOUS | FLOPPY,
    "I've got chest pain": CHEST,
    "there is a tight pain in my chest": CHEST,
    "I'm having trouble breathing": BREATHING,
    "my husband is struggling to breathe": BREATHING,
    "she can hardly breathe": BREATHING,
    "she's breathing really fast and struggling": BREATHING,
    "he's breathing fast and can't talk": BREATHING,
    "my dad has collapsed on the floor": COLLAPSE,
    "she passed out in the bathroom": COLLAPSE,
    "he is unconscious": UNCONSCIOUS,
    "my daughter is unresponsive": UNCONSCIOUS,
    "my son is fitting": SEIZURE,
    "she's having a seizure": SEIZURE,
    "my baby has gone all floppy": FLOPPY,
    "my little boy is floppy and won't wake up": FLOPPY | UNCONSCIOUS,
    "blood is spurting out of the biopsy site": BLEED,
    "the blood keeps pouring out": BLEED,
    "I've pressed on it for ten minutes and it's still bleeding": BLEED,
    "it's still bleeding after 10 minutes of firm pressure": BLEED,
    "it's been bleeding for twenty minutes even though I'm pressing on it": BLEED,
}
# Neutral filler: words that are no symptom, no answer and no negation, and runs of
# letters with no vowel (no "no", "not" or "nor" can be spelt) or of other scripts.
NEUTRAL_WORDS = st.sampled_from("""
    hello hi please help quick sorry typing phone message kitchen garden bus tea toast
    weather morning evening tuesday we were at home watching telly then my mum called
    the hospital this number thanks love x xx hmm ok so anyway um er well right
""".split())
NEUTRAL_RUN = st.text(st.sampled_from("bcdfghjklmpqrstvwxz"), min_size=1, max_size=8)
OTHER_SCRIPT = st.lists(st.one_of(st.characters(min_codepoint=0x0391, max_codepoint=0x03C9),
                                  st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF),
                                  st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
                                  EMOJI), min_size=1, max_size=6).map("".join)
SYMBOLS = st.one_of(st.text(st.sampled_from("!#$%&()*+,-/:;<=>?@[]^_{|}~\\\"'"), min_size=1, max_size=4),
                    st.sampled_from(["<3", ":)", ":(", ">:(", ">.<", "->", "<--", ":-/", "xD", "^_^"]))
ODD_CHARACTERS = st.lists(st.one_of(LONE_SURROGATE, CONTROL, INVISIBLE, COMBINING),
                          min_size=1, max_size=3).map("".join)
FILLER_WORD = st.one_of(NEUTRAL_WORDS, NEUTRAL_WORDS, NEUTRAL_RUN, OTHER_SCRIPT, SYMBOLS,
                        ODD_CHARACTERS, st.integers(0, 9999).map(str))
FILLER = st.lists(FILLER_WORD, max_size=25).map(" ".join)
PADDING = st.lists(FILLER_WORD, min_size=1, max_size=8).map(" ".join)
SENTENCE_END = st.sampled_from([". ", "! ", "? ", "... ", "!! ", ".\n", "\n"])
CASE = st.sampled_from([str, str.lower, str.upper, str.capitalize])
CURLY = st.sampled_from([lambda s: s, lambda s: s.replace("'", "\u2019")])


@st.composite
def red_flag_messages(draw, max_chars: int):
    """A red-flag sentence with neutral text before and after it, at most `max_chars`
    long once cleaned (the message limit of every channel): (sentence, message)."""
    sentence = draw(st.sampled_from(sorted(RED_FLAG_SENTENCES)))
    said = draw(CURLY)(draw(CASE)(sentence))
    before, after = draw(FILLER), draw(FILLER)
    if draw(st.booleans()):  # padded to the limit: the red flag at the very end
        pad, after = draw(PADDING) + ". ", ""
        before = pad * (max_chars // len(pad) + 1)
    before = before and before + draw(SENTENCE_END)
    after = draw(SENTENCE_END) + after if after else draw(st.sampled_from(["", ".", "!"]))
    # The channels measure the cleaned text (NFC can make it longer): cut the start of
    # the filler until that fits.
    while before and (over := len(clean_message(before + said + after)) - max_chars) > 0:
        before = before[over:]
    return sentence, before + said + after


MESSAGE_LIMIT = bot_settings().max_message_chars


def test_every_message_a_channel_accepts_is_read_whole():
    # The extractor cuts at MAX_ANALYSED_CHARS: a red flag past the cut would be missed.
    assert MESSAGE_LIMIT <= MAX_ANALYSED_CHARS


@fuzz_settings(400)
@given(red_flag_messages(MESSAGE_LIMIT))
def test_a_red_flag_with_text_around_it_is_read_as_a_red_flag(case):
    sentence, message = case
    assert len(clean_message(message)) <= MESSAGE_LIMIT
    for text in (message, clean_message(message)):
        assert extract(text).red_flags & RED_FLAG_SENTENCES[sentence], text


@fuzz_settings(300)
@given(red_flag_messages(MESSAGE_LIMIT), st.sampled_from([None, *QUESTIONS]),
       st.lists(PLAIN_ANSWER, max_size=6))
def test_a_red_flag_at_any_point_ends_the_questions_with_emergency_advice(case, asked, earlier):
    _, message = case
    slots: dict = {}
    for reply in earlier:  # some conversation before it
        slots.update(interpret(extract(reply), next_question(slots), slots))
    slots.update(interpret(extract(clean_message(message)), asked, slots))
    assert next_question(slots) is None, message
    assert assess(findings(slots)).level == Level.EMERGENCY, message
    assert conclude(slots).startswith("EMERGENCY: call 999")


# ---------------------------------------------------------------- minimised by the fuzzer
def run_form(replies: list[str]) -> list[Level]:
    """The level after each reply, each read against the question then pending."""
    slots: dict = {}
    levels = []
    for reply in replies:
        slots.update(interpret(extract(reply), next_question(slots), slots))
        levels.append(assess(findings(slots)).level)
    return levels


def test_a_reading_after_an_unknown_temperature_does_not_lower_the_level():
    # "Can't check" twice counts as a fever; with a weak immune system that is urgent.
    levels = run_form(["No bleeding", "Yes, hot or shivery", "Can't check", "Can't check",
                       "Yes, a weak immune system", "it's 37.5 now"])
    assert levels[-2:] == [Level.URGENT, Level.URGENT]


def test_a_duration_after_an_unknown_one_does_not_lower_the_level():
    # Soreness for an unknown time counts as more than a week: contact the team.
    levels = run_form(["No bleeding", "No fever or chills", "a bit sore", "not sure",
                       "still don't know", "it's a bit sore, 2 days"])
    assert levels[-2:] == [Level.CONTACT_TEAM, Level.CONTACT_TEAM]


@pytest.mark.parametrize("sign", ["she seems a bit confused", "he's very drowsy"])
@pytest.mark.parametrize("no_fever", ["actually no fever", "No fever or chills"])
def test_a_fever_ruled_out_after_signs_of_sepsis_does_not_undo_the_emergency(sign, no_fever):
    # Signs of sepsis count while a fever is not ruled out: 999. A later "no fever" (after
    # the advice, read with no question pending) must not turn it into self-care.
    slots: dict = {}
    for message, asked in ((sign, "bleeding"), (no_fever, None)):
        slots.update(interpret(extract(message), asked, slots, unclear_means_unsure=False))
        assert assess(findings(slots)).level == Level.EMERGENCY, message
    assert next_question(slots) is None


def test_signs_of_sepsis_with_a_fever_ruled_out_in_the_same_breath_are_no_emergency():
    slots = interpret(extract("she seems a bit confused but no fever"), "bleeding", {})
    assert assess(findings(slots)).level < Level.EMERGENCY


@pytest.mark.parametrize("message", [
    "<3. I can't stop the bleeding. >", "<3 he's having a fit >.<",
    "help <3. she's really hard to wake. >:(", "<i can't breathe>"])
def test_text_between_angle_brackets_that_are_no_markup_is_read(message):
    assert extract(message).red_flags


@pytest.mark.parametrize("message, finding", [
    ("<font color=red>no problems</font>", None), ("<b>bleeding</b>", "BLEED"),
    ('<img src="x" onerror="alert(1)"> it is swollen', "SWELLING"), ("<br/>red<br>", "REDNESS")])
def test_html_tags_are_not_read_but_their_text_is(message, finding):
    assert extract(message).labels() == ({finding} if finding else set())
