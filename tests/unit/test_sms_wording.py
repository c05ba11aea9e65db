"""Every text the bot can send by SMS, each measured in GSM-7 segments (no servers).

The catalogue is built from the code that sends each text: our own texts, every question
with its reply hint, every Rasa response in domain.yml as the sms channel gets it (alone and
before each question, the way the rules send them), and the advice exactly as
`action_triage_advice` sends it, for every combination of findings at each level, in and
out of hours, first time and repeated. A reply to a picture with a caption carries one more
line, so every turn is measured with it too. The department's details are the ones
`.env.example` documents.

`python -m tests.unit.test_sms_wording` prints the segment count of every text.
"""
from __future__ import annotations

import asyncio
import html
import itertools
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from unittest import mock

import pytest
import yaml
from dotenv import dotenv_values
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.advice import ActionTriageAdvice
from actions.conversation import ActionStartAgain, ActionStopTriage
from bot.channels.text import too_long_line
from bot.config import DEFAULTS, PROJECT_ROOT, Settings, _days, parse_time, settings
from bot.policy import FAILSAFE_LINE, RULES, Level
from bot.questions import MAIN_QUESTIONS, QUESTIONS
from bot.sms import texts
from bot.sms.models import PROCEDURES
from bot.sms.settings import parse_followups
from bot.sms.texts import render_messages, segments
from bot.triage import assess

MAX_SEGMENTS = 3
EXAMPLE = dotenv_values(PROJECT_ROOT / ".env.example")
# PUBLIC_WEB_URL as a hospital would set it, when .env.example does not document one.
LONG_PUBLIC_URL = "https://aftercare.royal-infirmary.nhs.uk"
LONG_NAME = "Alexandra-Louise Montgomery-Smith"
# Monday 10:00 in London is open; Saturday is closed.
OPEN = datetime(2025, 11, 24, 10, 0, tzinfo=timezone.utc)
CLOSED = datetime(2025, 11, 29, 10, 0, tzinfo=timezone.utc)


def channel_variant(variants: list[dict], channel: str) -> str:
    """The text Rasa sends on `channel`: its own variant if the response has one."""
    own = [v for v in variants if v.get("channel") == channel]
    return (own or [v for v in variants if not v.get("channel")])[0]["text"]


DOMAIN_RESPONSES = {name: channel_variant(variants, "sms") for name, variants in
                    yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())["responses"].items()}


def example_settings() -> Settings:
    """The settings as .env.example documents them (the department's long name and phone)."""
    return replace(settings(), department_name=EXAMPLE["DEPARTMENT_NAME"],
                   department_phone=EXAMPLE["DEPARTMENT_PHONE"],
                   open_days=_days(EXAMPLE["DEPARTMENT_OPEN_DAYS"]),
                   opens=parse_time(EXAMPLE["DEPARTMENT_OPENS"]),
                   closes=parse_time(EXAMPLE["DEPARTMENT_CLOSES"]),
                   emergency_number=EXAMPLE["EMERGENCY_NUMBER"],
                   urgent_number=EXAMPLE["URGENT_NUMBER"],
                   max_message_chars=int(EXAMPLE["MAX_MESSAGE_CHARS"]))


CFG = example_settings()
PUBLIC_URL = EXAMPLE.get("PUBLIC_WEB_URL") or LONG_PUBLIC_URL


def sms(messages: list[dict]) -> str:
    return render_messages(messages, CFG.emergency_number)


def with_picture(body: str) -> str:
    """The same turn answering a picture's caption (bot.sms.texts.caption_reply)."""
    return f"{body}\n\n{texts.PICTURE_NOTE}"


def tracker(slots: dict) -> Tracker:
    return Tracker.from_dict({
        "sender_id": "sms-wording", "slots": slots,
        "latest_message": {"text": "no", "intent": {"name": "deny"}, "entities": []},
        "events": [{"event": "user", "text": "no", "input_channel": "sms",
                    "parse_data": {"intent": {"name": "deny"}}}],
        "paused": False, "followup_action": None, "active_loop": {"name": "triage_form"},
        "latest_action_name": "action_listen"})


def run_action(action, slots: dict) -> list[dict]:
    dispatcher = CollectingDispatcher()
    asyncio.run(action.run(dispatcher, tracker(slots), {}))
    return dispatcher.messages


class Clock:
    def __init__(self, now: datetime):
        self._now = now

    def now(self, tz=None) -> datetime:
        return self._now.astimezone(tz) if tz else self._now


def advice_turn(findings: tuple[str, ...], now: datetime, unclear: tuple[str, ...] = (),
                repeat: bool = False) -> str:
    """The SMS body of the turn that ends the questions with these findings, as
    action_triage_advice sends it (or its reminder when nothing changed since)."""
    slots = {slot: "none" for slot in MAIN_QUESTIONS}
    slots["unsure_slots"] = list(unclear)
    if repeat:
        slots["advised_findings"] = assess(findings).findings
    with mock.patch("actions.advice.findings", lambda _slots: list(findings)), \
            mock.patch("actions.advice.settings", lambda: CFG), \
            mock.patch("actions.advice.datetime", Clock(now)), \
            mock.patch("actions.advice.record_outcome", lambda **_: None), \
            mock.patch.dict("os.environ", {"PUBLIC_WEB_URL": PUBLIC_URL}):
        return sms(run_action(ActionTriageAdvice(), slots))


def question_messages(slot: str, child: bool, simpler: bool) -> dict:
    question = QUESTIONS[slot]
    text = question.simpler if simpler else (question.child if child else question.adult)
    return {"text": text, "buttons": [{"title": b, "payload": b} for b in question.buttons]}


WORDINGS = [(slot, who, simpler) for slot in QUESTIONS for who, simpler in
            (("adult", False), ("child", False), ("simpler", True))]


def findings_at(level: Level) -> list[str]:
    return [rule.finding for rule in RULES if rule.level == level]


def finding_combinations() -> Iterator[tuple[str, tuple[str, ...]]]:
    """Every combination of findings at each raised level (the level's rows decide what
    the advice says), and the self-care advice (it reads the same for any self-care
    findings)."""
    yield "self_care", tuple(findings_at(Level.SELF_CARE))
    for level in (Level.CONTACT_TEAM, Level.URGENT, Level.EMERGENCY):
        rows = findings_at(level)
        for size in range(1, len(rows) + 1):
            for combination in itertools.combinations(rows, size):
                yield level.slug, combination


def own_texts() -> Iterator[tuple[str, str]]:
    """Our own texts: follow-ups, keywords, unknown senders, no text, fail-safe, too long."""
    greeting = {"text": DOMAIN_RESPONSES["utter_greet"]}
    for spec in parse_followups(DEFAULTS["SMS_FOLLOWUPS"]):
        for procedure, child, use_names in itertools.product(PROCEDURES, (False, True),
                                                             (False, True)):
            bot_text = sms([greeting, question_messages("bleeding", child, False)])
            body = texts.followup_text(CFG, day=spec.day, procedure=PROCEDURES[procedure],
                                       is_child=child, name=LONG_NAME, use_names=use_names,
                                       bot_text=bot_text)
            yield (f"follow-up day {spec.day}, {'child' if child else 'adult'}, {procedure}"
                   f"{', names allowed' if use_names else ''}"), body
    yield "opt-out (STOP)", texts.opt_out_text(CFG)
    yield "opt-in (START)", texts.opt_in_text(CFG)
    yield "help (HELP)", texts.help_text(CFG)
    yield "unknown sender", texts.unknown_sender_text(CFG)
    yield "no text (picture alone)", texts.no_text_reply(CFG)
    yield "fail-safe", texts.failsafe_text()
    yield "too long", sms([{"text": too_long_line(CFG.max_message_chars)}])


def question_texts() -> Iterator[tuple[str, str]]:
    for slot, who, simpler in WORDINGS:
        body = sms([question_messages(slot, who == "child", simpler)])
        yield f"question {slot} ({who})", body
        yield f"question {slot} ({who}) + picture note", with_picture(body)


def response_texts() -> Iterator[tuple[str, str]]:
    """Rasa's responses and our actions' fixed lines, alone and before the longest
    question (the rules carry on with the questions after them)."""
    prefixes = dict(DOMAIN_RESPONSES)
    for action in (ActionStartAgain(), ActionStopTriage()):
        prefixes[action.name()] = run_action(action, {})[0]["text"]
    prefixes["fail-safe line"] = FAILSAFE_LINE
    for name, text in prefixes.items():
        yield f"response {name}", sms([{"text": text}])
    for name, text in prefixes.items():
        if name in ("utter_goodbye", "action_stop_triage"):
            continue  # nothing follows these
        longest = max((sms([{"text": text}, question_messages(s, w == "child", simple)])
                       for s, w, simple in WORDINGS), key=segments)
        yield f"response {name} + longest question + picture note", with_picture(longest)


def catalogue() -> Iterator[tuple[str, str]]:
    """(what, SMS body) for every text the bot can send."""
    yield from own_texts()
    yield from question_texts()
    yield from response_texts()
    # The advice: the longest of every combination of findings, per level and situation.
    longest: dict[str, tuple[int, str, str]] = {}
    for what, combination, body in advice_bodies():
        if what not in longest or segments(body) > longest[what][0]:
            longest[what] = (segments(body), f"{what}, {len(combination)} finding(s)", body)
    for _, what, body in longest.values():
        yield what, body
        yield f"{what} + picture note", with_picture(body)


def advice_bodies() -> Iterator[tuple[str, tuple[str, ...], str]]:
    """The advice for every combination of findings, as the action sends it: in and out of
    hours, with no answer or every answer unclear, the first time and as a reminder."""
    for level, combination in finding_combinations():
        for now, unclear, repeat in itertools.product(
                (OPEN, CLOSED), ((), tuple(QUESTIONS)), (False, True)):
            what = (f"advice {level}{' reminder' if repeat else ''}, "
                    f"{'open' if now is OPEN else 'closed'}"
                    f"{', every answer unclear' if unclear else ''}")
            yield what, combination, advice_turn(combination, now, unclear, repeat)


def measured() -> list[tuple[str, int, int]]:
    return [(what, len(body), segments(body)) for what, body in catalogue()]


def over_the_limit(rows) -> list[str]:
    return [f"{what}: {len(body)} characters, {segments(body)} segments"
            for what, body in rows if segments(body) > MAX_SEGMENTS]


def test_our_own_texts_fit_three_segments():
    assert not over_the_limit(own_texts())


def test_every_question_fits_three_segments_with_its_reply_hint():
    assert not over_the_limit(question_texts())


def test_every_rasa_response_fits_three_segments_by_sms():
    assert not over_the_limit(response_texts())


def test_advice_for_every_combination_of_findings_fits_three_segments():
    rows = [(f"{what}: {', '.join(combination)}", with_picture(body))
            for what, combination, body in advice_bodies()]
    assert not over_the_limit(rows)


def test_no_text_says_call_999_now_twice():
    bodies = [(what, body) for what, body in catalogue()]
    bodies += [(what, body) for what, _, body in advice_bodies()]
    for what, body in bodies:
        assert len(re.findall(r"call 999 now", body, flags=re.IGNORECASE)) <= 1, (what, body)


# --- the short advice -------------------------------------------------------------------

@pytest.mark.parametrize("level", list(Level), ids=lambda level: level.slug)
def test_sms_advice_is_the_action_then_why_then_source_then_the_link(level):
    findings = tuple(findings_at(level))[:1] if level > Level.SELF_CARE else ()
    body = advice_turn(findings, CLOSED, ("fever",) if level > Level.SELF_CARE else ())
    lines = body.split("\n")
    first = {Level.EMERGENCY: "Call 999 now. Or go straight to the nearest emergency",
             Level.URGENT: "Get medical help now: call 111",
             Level.CONTACT_TEAM: "The Interventional Radiology (IR) department is closed now",
             Level.SELF_CARE: "This is expected after a biopsy."}[level]
    assert lines[0].startswith(first)
    assert re.fullmatch(r"Source: [^()]{5,80}\.", lines[-2]), lines[-2]
    assert lines[-1] == f"Full advice: {PUBLIC_URL}/advice/{level.slug}"
    if level > Level.SELF_CARE:
        assert lines[1].startswith("Why: ")
        assert any("weren't sure about fever" in line for line in lines)
    assert "(Source:" not in body  # the full citations are on the page


def test_the_link_is_the_same_for_everyone_at_a_level():
    one = advice_turn(("fever.present",), OPEN, ("pus",)).split("\n")[-1]
    other = advice_turn(("lymph.swollen", "discharge.present"), CLOSED).split("\n")[-1]
    assert one == other == f"Full advice: {PUBLIC_URL}/advice/contact_team"


def test_sms_advice_names_the_reason_and_the_leaflet_in_a_few_words():
    body = advice_turn(("discharge.present",), OPEN)
    assert "Why: pus, oozing or a bad smell." in body
    assert "Source: IR bone biopsy leaflet; RadiologyInfo leaflet; children's marrow leaflet." \
        in body


def test_many_reasons_are_counted_not_cut_off():
    body = advice_turn(tuple(findings_at(Level.EMERGENCY)), OPEN, tuple(QUESTIONS))
    assert re.search(r"^Why: .+ and \d+ more\.$", body, flags=re.MULTILINE), body
    assert segments(with_picture(body)) <= MAX_SEGMENTS


def test_the_web_chat_keeps_the_full_advice():
    from bot.advice import render

    advice = render(assess(["discharge.present"]), CFG, OPEN)
    assert advice.text.count("(Source:") >= 1 and "Full advice:" not in advice.text
    assert advice.as_payload()["sms_text"] == advice.sms_text != advice.text


def test_every_reason_topic_and_source_has_a_short_form():
    from bot.advice import REASONS, SHORT_REASONS, SHORT_SOURCES, SHORT_TOPICS
    from bot.policy import SOURCES

    assert set(SHORT_REASONS) == set(REASONS)
    assert set(SHORT_TOPICS) == set(QUESTIONS)
    assert all("," not in topic for topic in SHORT_TOPICS.values())  # listed with commas
    assert set(SHORT_SOURCES) == set(SOURCES)


def test_the_emergency_reminder_says_call_999_now_once_and_first():
    body = advice_turn(("red_flag.chest_pain",), OPEN, repeat=True)
    assert body.startswith("Call 999 now. Or go straight to the nearest emergency department")
    assert "My advice is the same as before." in body
    assert len(re.findall("call 999", body, flags=re.IGNORECASE)) == 1


def test_a_full_emergency_text_after_another_line_is_not_repeated():
    """Without the short version (an older payload), the call moves to the front once."""
    body = sms([{"text": "My advice is the same as before. EMERGENCY: call 999 now, or go "
                         "straight to the nearest emergency department (A&E).",
                 "custom": {"triage_level": "emergency"}}])
    assert body == ("Call 999 now. My advice is the same as before. Go straight to the "
                    "nearest emergency department (A&E).")


# --- names --------------------------------------------------------------------------------

def followup(child: bool, use_names: bool, name: str = "Sam") -> str:
    return texts.followup_text(CFG, day=1, procedure="bone biopsy", is_child=child, name=name,
                               use_names=use_names, bot_text="Is there any bleeding?")


def test_no_names_in_texts_unless_the_setting_allows_them():
    for child in (False, True):
        assert "Sam" not in followup(child, use_names=False)
        assert "Sam" not in texts.followup_intro(CFG, day=1, procedure="bone biopsy",
                                                 is_child=child, name="Sam")


def test_a_childs_name_says_whom_the_text_is_about_never_greets_the_parent():
    child = followup(True, use_names=True)
    assert child.startswith("About Sam: a check-in from the ")
    assert "your child's bone biopsy" in child
    assert not re.match(r"Sam\b", child)
    assert followup(False, use_names=True).startswith("Sam, a check-in")


def test_a_name_that_would_not_fit_is_left_out():
    long_question = "x" * 290
    body = texts.followup_text(CFG, day=3, procedure=PROCEDURES["bone_marrow"], is_child=True,
                               name=LONG_NAME, use_names=True, bot_text=long_question)
    assert LONG_NAME not in body and segments(body) <= MAX_SEGMENTS


def test_sms_use_names_setting(monkeypatch):
    from bot.sms.settings import sms_settings

    monkeypatch.delenv("SMS_USE_NAMES", raising=False)
    assert sms_settings().use_names is False
    monkeypatch.setenv("SMS_USE_NAMES", "true")
    assert sms_settings().use_names is True
    monkeypatch.setenv("SMS_USE_NAMES", "perhaps")
    with pytest.raises(ValueError, match="SMS_USE_NAMES"):
        sms_settings()


# --- pictures -----------------------------------------------------------------------------

def test_a_caption_is_answered_with_a_line_saying_the_picture_was_not_seen():
    reply = texts.caption_reply([question_messages("bleeding", False, False)], "999")
    assert reply == ("Is there any bleeding from the biopsy site?\nReply YES, NO or NOT SURE."
                     "\n\nI can't see pictures, only read text.")


def test_a_caption_with_emergency_advice_still_starts_with_call_999_now():
    reply = texts.caption_reply([{"text": "EMERGENCY: call 999 now.",
                                  "custom": {"triage_level": "emergency",
                                             "sms_text": "Call 999 now, or go to A&E."}}], "999")
    assert reply.startswith("Call 999 now, or go to A&E.")
    assert reply.endswith(texts.PICTURE_NOTE)


def test_a_caption_the_bot_could_not_answer_gets_no_picture_line_alone():
    assert texts.caption_reply([], "999") == ""  # the channel then sends the fail-safe line


# --- the advice page ------------------------------------------------------------------------

def get_page(path: str, cfg: Settings = CFG):
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web.advice_page import add_advice_page
    from bot.web.chat import SETTINGS_KEY

    async def fetch():
        app = web.Application()
        app[SETTINGS_KEY] = cfg
        add_advice_page(app)
        async with TestClient(TestServer(app)) as client:
            response = await client.get(path)
            return response.status, response.headers, await response.text()

    return asyncio.run(fetch())


@pytest.mark.parametrize("level", list(Level), ids=lambda level: level.slug)
def test_the_advice_page_has_the_full_cited_advice_for_its_level(level):
    from bot.advice import REASONS, SELF_CARE_LINES

    status, headers, body = get_page(f"/advice/{level.slug}")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "(Source:" in body
    if level == Level.SELF_CARE:
        expected = [line for line, _ in SELF_CARE_LINES]
    else:
        expected = [REASONS[rule.advice_id] for rule in RULES
                    if rule.level == level and rule.advice_id in REASONS]
    for text in expected:
        assert html.escape(text) in body, text
    assert not re.search(r"<(script|link|img|iframe|style)\b|\bsrc=|\bstyle=", body)


def test_the_advice_page_escapes_what_the_settings_say():
    cfg = replace(CFG, department_name="<b>IR</b> & co")
    _, _, body = get_page("/advice/contact_team", cfg)
    assert "&lt;b&gt;IR&lt;/b&gt; &amp; co" in body and "<b>IR</b>" not in body


@pytest.mark.parametrize("path", ["/advice/fine", "/advice/EMERGENCY", "/advice/"])
def test_an_unknown_advice_page_is_404(path):
    assert get_page(path)[0] == 404


if __name__ == "__main__":
    rows = measured()
    print("| text | characters | segments |\n| --- | --- | --- |")
    for what, chars, count in rows:
        print(f"| {what} | {chars:,} | {count}{' (over)' if count > MAX_SEGMENTS else ''} |")
    sys.exit(1 if any(count > MAX_SEGMENTS for _, _, count in rows) else 0)
