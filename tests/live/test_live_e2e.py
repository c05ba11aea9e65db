"""End to end against the real Rasa server and action server, over the REST channel."""
from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import text

from bot.policy import FAILSAFE_LINE
from bot.storage.db import engine
from tests.client import texts

pytestmark = pytest.mark.live


def new_sender(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stored_user_texts(sender: str) -> list[str]:
    with engine().connect() as db:
        rows = db.execute(text(
            "SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' ORDER BY id"),
            {"s": sender}).scalars().all()
    import json
    return [json.loads(row)["text"] for row in rows]


def test_full_conversation_self_care(live_bot):
    _, bot = live_bot
    sender = new_sender("happy")
    reply = texts(bot.say(sender, "hi"))
    assert "bleeding from the biopsy site" in reply
    assert bot.slots(sender)["requested_slot"] == "bleeding"
    for answer, next_slot in [("no", "fever"), ("nope", "swelling"), ("no", "pus"),
                              ("nah", "lymph_nodes")]:
        bot.say(sender, answer)
        assert bot.slots(sender)["requested_slot"] == next_slot
    advice = texts(bot.say(sender, "no"))
    assert "expected after a biopsy" in advice and "Source:" in advice
    assert "Get back in touch" in advice
    slots = bot.slots(sender)
    assert slots["triage_level"] == "self_care" and slots["requested_slot"] is None
    with engine().connect() as db:
        row = db.execute(text(
            "SELECT level, channel, policy_version FROM triage_outcomes WHERE conversation_id = :s"),
            {"s": sender}).one()
    assert row.level == "self_care" and row.channel == "rest" and row.policy_version
    assert stored_user_texts(sender) == ["hi", "no", "nope", "no", "nah", "no"]


def test_each_message_is_stored_with_the_one_reading_the_actions_use(live_bot):
    """The NLU's reading travels with the message (bot.reading): the action server takes
    it from the parse data instead of reading the message again."""
    import json

    from bot import reading

    _, bot = live_bot
    sender = new_sender("reading")
    bot.say(sender, "hi")
    bot.say(sender, "no bleeding but he's had a temperature of 38.6")
    with engine().connect() as db:
        rows = db.execute(text(
            "SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' ORDER BY id"),
            {"s": sender}).scalars().all()
    stored = [json.loads(row)["parse_data"][reading.PARSE_KEY] for row in rows]
    assert all(s["version"] == reading.VERSION for s in stored)
    assert stored[1]["temperature_c"] == 38.6
    slots = bot.slots(sender)
    assert slots["bleeding"] == "none" and slots["fever"] == "present"


@pytest.mark.parametrize("position", ["bleeding", "fever", "swelling", "pus", "lymph_nodes"])
def test_red_flag_at_each_question_gives_999_on_that_turn(live_bot, position):
    _, bot = live_bot
    sender = new_sender(f"rf-{position}")
    bot.say(sender, "hello")
    while bot.slots(sender)["requested_slot"] != position:
        bot.say(sender, "no")
    reply = texts(bot.say(sender, "my chest hurts and i cant breath"))
    assert reply.startswith("EMERGENCY: call 999")
    slots = bot.slots(sender)
    assert slots["triage_level"] == "emergency" and slots["requested_slot"] is None
    assert bot.tracker(sender)["active_loop"] in ({}, None) or \
        not bot.tracker(sender)["active_loop"].get("name")


def test_red_flag_in_the_opening_message(live_bot):
    _, bot = live_bot
    sender = new_sender("rf-open")
    assert texts(bot.say(sender, "my son is floppy and won't wake up")).startswith("EMERGENCY")
    assert bot.slots(sender)["triage_level"] == "emergency"
    # The conversation stays open after it.
    assert texts(bot.say(sender, "thank you"))


def test_negated_red_flag_does_not_fire(live_bot):
    _, bot = live_bot
    sender = new_sender("neg")
    bot.say(sender, "no chest pain and no trouble breathing, just checking in")
    assert bot.slots(sender)["triage_level"] is None


def test_answered_questions_are_skipped_and_parent_wording(live_bot):
    _, bot = live_bot
    sender = new_sender("skip")
    reply = texts(bot.say(sender, "my daughter has no bleeding and no fever, her hip is just a bit sore"))
    slots = bot.slots(sender)
    assert slots["bleeding"] == "none" and slots["fever"] == "none"
    assert slots["requested_slot"] == "days_since_procedure"
    assert "your child" in reply


def test_not_sure_is_reasked_in_simpler_words_then_counts_as_present(live_bot):
    _, bot = live_bot
    sender = new_sender("unsure")
    bot.say(sender, "hi")
    first = texts(bot.say(sender, "not sure"))
    assert "Look at the dressing" in first
    assert bot.slots(sender)["requested_slot"] == "bleeding"
    bot.say(sender, "still don't know")
    slots = bot.slots(sender)
    assert slots["bleeding"] == "continued" and slots["unsure_slots"] == ["bleeding"]
    assert slots["requested_slot"] == "bleeding_stops_with_pressure"


def test_start_again(live_bot):
    _, bot = live_bot
    sender = new_sender("restart")
    bot.say(sender, "hi")
    bot.say(sender, "no")
    reply = texts(bot.say(sender, "can we start again"))
    assert "start again" in reply.lower()
    slots = bot.slots(sender)
    assert slots["bleeding"] is None and slots["requested_slot"] == "bleeding"


def test_results_question_mid_form_is_answered_then_questions_continue(live_bot):
    _, bot = live_bot
    sender = new_sender("results")
    bot.say(sender, "hi")
    reply = texts(bot.say(sender, "when will i get my results?"))
    assert "week" in reply and "Source:" in reply
    assert bot.slots(sender)["requested_slot"] == "bleeding"


@pytest.mark.parametrize("message", [
    "", "   ", "x" * 10_000, "😀😀😀", "<script>alert(1)</script>",
    "'; DROP TABLE events; --", "tengo fiebre y me duele mucho",
])
def test_bad_input_gets_a_clear_reply_and_is_stored(live_bot, message):
    _, bot = live_bot
    sender = new_sender("bad")
    reply = bot.say(sender, message)
    assert reply and all(m.get("text") for m in reply)
    # Rasa strips surrounding white space; everything else is stored as sent.
    assert message.strip() in stored_user_texts(sender)


def test_malformed_requests_get_400_not_500(live_bot):
    stack, _ = live_bot
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    assert requests.post(url, data="not json", timeout=10).status_code == 400
    assert requests.post(url, json={"sender": 5, "message": "hi"}, timeout=10).status_code == 400


def test_http_api_needs_the_token(live_bot):
    stack, _ = live_bot
    response = requests.get(f"{stack.rasa_url}/conversations/x/tracker", timeout=10)
    assert response.status_code in (401, 403)


def test_failsafe_line_when_the_action_server_is_down(live_bot):
    stack, bot = live_bot
    sender = new_sender("failsafe")
    stack.stop("actions")
    try:
        reply = bot.say(sender, "hi, my hip is a bit red")
        assert texts(reply) == FAILSAFE_LINE
    finally:
        stack.start_actions()
        stack.wait_until_up()
    assert "hi, my hip is a bit red" in stored_user_texts(sender)
    # Once the action server is back, the conversation carries on.
    assert "?" in texts(bot.say(sender, "no"))


def test_a_retried_message_is_answered_from_the_store_not_processed_twice(live_bot):
    """A client that lost the answer (a replica died) sends the message again with its id and
    "retry": true; processing it again would take this "no" as the answer to the next question."""
    stack, bot = live_bot
    sender = new_sender("retry")

    def post(message: str, message_id: str, retry: bool = False) -> list[dict]:
        response = bot.http.post(f"{stack.rasa_url}/webhooks/rest/webhook", timeout=60, json={
            "sender": sender, "message": message, "message_id": message_id, "retry": retry})
        response.raise_for_status()
        return response.json()

    post("hi", f"{sender}-1")
    answered = post("no", f"{sender}-2")
    assert texts(post("no", f"{sender}-2", retry=True)) == texts(answered)
    assert stored_user_texts(sender) == ["hi", "no"]
    # A retry of a message that never arrived is processed as new.
    assert "?" in texts(post("no", f"{sender}-3", retry=True))
    assert stored_user_texts(sender) == ["hi", "no", "no"]


def test_a_lone_surrogate_never_turns_bleeding_into_self_care(live_bot):
    _, bot = live_bot
    sender = new_sender("surrogate")
    bot.say(sender, "hello")
    reply = texts(bot.say(sender, "my leg is bleeding a lot \ud83e"))
    slots = bot.slots(sender)
    assert slots["triage_level"] is None and "expected after a biopsy" not in reply
    assert slots["bleeding"] == "continued"
    assert slots["requested_slot"] == "bleeding_stops_with_pressure"
    assert stored_user_texts(sender)[-1] == "my leg is bleeding a lot \ufffd"


def test_a_lone_surrogate_around_a_red_flag_gives_999(live_bot):
    _, bot = live_bot
    sender = new_sender("surrogate-rf")
    reply = texts(bot.say(sender, "\udc00 she is not breathing \ud83e"))
    assert "999" in reply and bot.slots(sender)["triage_level"] == "emergency"
