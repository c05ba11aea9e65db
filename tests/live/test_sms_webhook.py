"""SMS through the real Rasa and action servers (`sms_live`), with webhooks signed by the
`twilio` library's own RequestValidator and every text checked at the fake Twilio API."""
from __future__ import annotations

import os
import secrets
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select, text
from twilio.request_validator import RequestValidator

from bot.channels.text import too_long_line
from bot.config import settings
from bot.policy import FAILSAFE_LINE
from bot.sms import discharges
from bot.sms.models import FollowUp, InboundSms, OutboundSms
from bot.sms.settings import sms_settings
from bot.sms.texts import PICTURE_NOTE, is_gsm
from bot.sms.worker import Dispatcher
from bot.storage.db import engine, session

pytestmark = pytest.mark.live


@pytest.fixture
def sms(sms_live, sms_clean, monkeypatch):
    """The live SMS stack, with this process's settings pointing at the same servers."""
    for key, value in sms_live.env.items():
        monkeypatch.setenv(key, value)
    sms_live.twilio.clear()
    return sms_live


def new_phone() -> str:
    return "+4474008" + f"{secrets.randbelow(10 ** 5):05d}"


def params_for(sms, sender: str, body=None, sid=None, **extra) -> dict:
    sid = sid or "SM" + secrets.token_hex(16)
    params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid,
              "AccountSid": sms.twilio.account_sid, "From": sender, "To": sms.twilio.from_number,
              "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
              "ApiVersion": "2010-04-01", "FromCountry": "GB", "ToCountry": "GB", **extra}
    if body is not None:
        params["Body"] = body
    return params


def post(sms, params: dict, *, signature="sign", url=None, token=None,
         to=None) -> requests.Response:
    """POST `params` to `to` (the SMS webhook), signed as Twilio signs for `url`."""
    headers = {}
    if signature == "sign":
        validator = RequestValidator(token or sms.env["TWILIO_AUTH_TOKEN"])
        headers["X-Twilio-Signature"] = validator.compute_signature(url or sms.webhook_url,
                                                                    params)
    elif signature:
        headers["X-Twilio-Signature"] = signature
    return requests.post(to or sms.webhook_url, data=params, headers=headers, timeout=60)


def say(sms, sender: str, body: str, expect_replies: int = 1) -> str:
    before = len(sms.twilio.messages_to(sender))
    response = post(sms, params_for(sms, sender, body))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/xml")
    assert "<Response></Response>" in response.text
    bodies = sms.twilio.wait_for_count(sender, before + expect_replies, timeout=60)
    assert len(bodies) == before + expect_replies, (body, bodies)
    return bodies[-1] if expect_replies else ""


def user_turns(conversation_id: str) -> int:
    with engine().connect() as db:
        return db.execute(text("SELECT count(*) FROM events WHERE sender_id = :s AND "
                               "type_name = 'user'"), {"s": conversation_id}).scalar()


def register(phone: str, *, child: bool = False, hours_ago: float = 3):
    now = datetime.now(timezone.utc)
    return discharges.register({"phone": phone, "procedure": "bone_marrow",
                                "procedure_at": (now - timedelta(hours=hours_ago)).isoformat(),
                                "is_child": child}, source="test", now=now).discharge


def inbound_rows(phone: str) -> list[InboundSms]:
    with session() as s:
        return list(s.scalars(select(InboundSms).where(InboundSms.from_number == phone)
                              .order_by(InboundSms.id)))


def test_follow_up_then_a_whole_triage_by_sms(sms):
    phone = new_phone()
    discharge = register(phone, child=True)
    with session() as s:
        first = s.scalars(select(FollowUp).where(FollowUp.discharge_id == discharge.id,
                                                 FollowUp.status == "scheduled")
                          .order_by(FollowUp.due_at)).first()
    dispatcher = Dispatcher(sms_settings())
    try:
        counts = dispatcher.run_once(first.due_at + timedelta(minutes=1))
    finally:
        dispatcher.close()
    assert counts["followup_sent"] == 1, counts
    [opening] = sms.twilio.bodies_to(phone)
    assert "A check-in from the " in opening and "your child's bone marrow" in opening
    assert "I'm the biopsy aftercare helper" in opening
    assert "Is there any bleeding from your child's biopsy site?\nReply YES, NO or NOT SURE." \
        in opening
    assert sms.bot.slots(discharge.conversation_id)["requested_slot"] == "bleeding"

    for answer in ("no", "no", "no", "no"):
        reply = say(sms, phone, answer)
        assert "Reply YES, NO or NOT SURE." in reply
    advice = say(sms, phone, "no")
    assert "expected after a biopsy" in advice and "Source:" in advice
    bodies = sms.twilio.bodies_to(phone)
    assert len(bodies) == 6 and all(is_gsm(b) for b in bodies)
    assert all(len(b) <= 1600 for b in bodies)
    slots = sms.bot.slots(discharge.conversation_id)
    assert slots["triage_level"] == "self_care" and slots["patient_is_child"] is True
    with engine().connect() as db:
        row = db.execute(text("SELECT level, channel FROM triage_outcomes WHERE "
                              "conversation_id = :c"), {"c": discharge.conversation_id}).one()
    assert row.level == "self_care" and row.channel == "sms"
    assert [r.status for r in inbound_rows(phone)] == ["processed"] * 5
    with session() as s:
        sent = list(s.scalars(select(OutboundSms).where(OutboundSms.to_number == phone)))
    assert [r.status for r in sent] == ["sent"] * 6

    # The next follow-up is a fresh check of the site in a new session, not "my advice is
    # the same as before".
    with session() as s:
        second = s.scalars(select(FollowUp).where(FollowUp.discharge_id == discharge.id,
                                                  FollowUp.status == "scheduled")
                           .order_by(FollowUp.due_at)).first()
    dispatcher = Dispatcher(sms_settings())
    try:
        assert dispatcher.run_once(second.due_at)["followup_sent"] == 1
    finally:
        dispatcher.close()
    again = sms.twilio.bodies_to(phone)[-1]
    days = f"{second.day} day{'s' if second.day != 1 else ''}"  # which follow-up is next
    assert f"{days} after your child's" in again                   # depends on today's time
    assert "Is there any bleeding from your child's biopsy site?" in again
    slots = sms.bot.slots(discharge.conversation_id)
    assert slots["triage_level"] is None and slots["requested_slot"] == "bleeding"
    assert "fever" in say(sms, phone, "no")
    assert sms.bot.slots(discharge.conversation_id)["requested_slot"] == "fever"


def test_a_parent_who_texts_first_gets_child_questions_and_no_days_question(sms):
    """Before any follow-up went out: the discharge says it is a child's, and when it was."""
    phone = new_phone()
    discharge = register(phone, child=True, hours_ago=30)
    first = say(sms, phone, "hi, my daughter had her biopsy yesterday")
    assert "your child's" in first
    say(sms, phone, "no bleeding")  # -> fever
    say(sms, phone, "no fever")     # -> swelling
    after_swelling = say(sms, phone, "it's a bit sore and bruised, nothing else")
    assert "how many days" not in after_swelling.lower()
    slots = sms.bot.slots(discharge.conversation_id)
    assert slots["patient_is_child"] is True and slots["days_since_procedure"] in (1, 2)
    assert slots["requested_slot"] != "days_since_procedure"


def test_emergency_advice_starts_with_call_999(sms):
    phone = new_phone()
    register(phone)
    reply = say(sms, phone, "my chest hurts and i cant breathe")
    assert reply.startswith("Call 999 now.")


def test_forged_and_unsigned_webhooks_get_403_and_change_nothing(sms):
    phone = new_phone()
    discharge = register(phone)
    say(sms, phone, "hello")
    turns, texts_before = user_turns(discharge.conversation_id), len(sms.twilio.messages)
    good = params_for(sms, phone, "my leg is bleeding a lot")
    forged = [
        post(sms, good, signature=None),                                   # unsigned
        post(sms, good, signature="bm90IGEgc2lnbmF0dXJl"),                 # made up
        post(sms, good, token="not-the-auth-token"),                       # wrong key
        post(sms, good, url=sms.webhook_url + "?x=1"),                     # another URL
    ]
    signed = RequestValidator(sms.env["TWILIO_AUTH_TOKEN"]).compute_signature(sms.webhook_url,
                                                                            good)
    forged.append(post(sms, {**good, "Body": "STOP"}, signature=signed))    # body changed
    assert [r.status_code for r in forged] == [403] * 5
    assert user_turns(discharge.conversation_id) == turns
    with session() as s:
        assert s.scalar(select(InboundSms.id).where(
            InboundSms.message_sid == good["MessageSid"])) is None
    assert not sms.twilio.wait_for(lambda: len(sms.twilio.messages) > texts_before, timeout=1)
    assert discharges.find_for_phone(phone) is not None
    from bot.sms.inbound import is_opted_out
    assert not is_opted_out(phone)


def twilio_fields(sms, sender: str, body: str, **extra) -> dict:
    """Every field of Twilio's incoming-message webhook, blank ones as Twilio sends them
    for a UK mobile (no city, state or zip)."""
    return params_for(sms, sender, body, MessagingServiceSid="", FromCity="", FromState="",
                      FromZip="", ToCity="", ToState="", ToZip="", **extra)


def test_a_real_twilio_post_with_blank_fields_is_accepted(sms):
    phone = new_phone()
    register(phone)
    response = post(sms, twilio_fields(sms, phone, "hello"))
    assert response.status_code == 200, response.text
    assert sms.twilio.wait_for_count(phone, 1)


def test_a_picture_only_message_with_an_empty_body_is_accepted(sms):
    phone = new_phone()
    register(phone)
    params = twilio_fields(sms, phone, "", NumMedia="1", MediaContentType0="image/jpeg",
                           MediaUrl0="https://api.twilio.com/fake/media.jpg")
    response = post(sms, params)
    assert response.status_code == 200, response.text
    [reply] = sms.twilio.wait_for_count(phone, 1)
    assert "I can only read text" in reply


def test_a_picture_with_a_caption_is_read_and_the_picture_acknowledged(sms):
    phone = new_phone()
    register(phone)
    params = twilio_fields(sms, phone, "this is what it looks like, it's gone red and warm",
                           NumMedia="1", MediaContentType0="image/jpeg",
                           MediaUrl0="https://api.twilio.com/fake/media.jpg")
    assert post(sms, params).status_code == 200
    [reply] = sms.twilio.wait_for_count(phone, 1, timeout=60)
    assert PICTURE_NOTE in reply and "?" in reply and "Goodbye" not in reply


def test_a_blank_field_dropped_or_added_after_signing_is_refused(sms):
    phone = new_phone()
    register(phone)
    params = twilio_fields(sms, phone, "hello")
    signed = RequestValidator(sms.env["TWILIO_AUTH_TOKEN"]).compute_signature(sms.webhook_url,
                                                                            params)
    without_city = {k: v for k, v in params.items() if k != "FromCity"}
    assert post(sms, without_city, signature=signed).status_code == 403
    assert post(sms, {**params, "Extra": ""}, signature=signed).status_code == 403


def test_a_replayed_message_sid_makes_one_turn(sms):
    phone = new_phone()
    discharge = register(phone)
    params = params_for(sms, phone, "hi, is there anything i should look out for")
    assert post(sms, params).status_code == 200
    sms.twilio.wait_for_count(phone, 1)
    turns = user_turns(discharge.conversation_id)
    for _ in range(2):  # Twilio retries
        response = post(sms, params)
        assert response.status_code == 200 and "<Response></Response>" in response.text
    assert user_turns(discharge.conversation_id) == turns == 1
    assert not sms.twilio.wait_for(lambda: len(sms.twilio.messages_to(phone)) > 1, timeout=1.5)
    assert len(inbound_rows(phone)) == 1


def wait_for_status(phone: str, status: str, timeout: float = 30) -> InboundSms:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = inbound_rows(phone)
        if rows and rows[-1].status == status:
            return rows[-1]
        time.sleep(0.2)
    raise AssertionError(f"no text from {phone} became {status}: {inbound_rows(phone)}")


def test_a_text_whose_turn_was_cut_off_by_a_restart_is_answered_once(sms):
    """The turn hangs (the action server frozen), Twilio gives up, Rasa is killed: the text is
    in the table, and the restarted Rasa answers it, once."""
    stack = sms.stack
    phone = new_phone()
    discharge = register(phone)
    actions = stack.processes["actions"].pid
    os.kill(actions, signal.SIGSTOP)
    try:
        params = params_for(sms, phone, "hi, the site is a bit sore")
        assert post(sms, params).status_code == 200      # answered at once, turn still running
        wait_for_status(phone, "processing")
        assert post(sms, params).status_code == 200      # Twilio's retry of the same text
        stack.stop("rasa", sig=signal.SIGKILL)
    finally:
        os.kill(actions, signal.SIGCONT)
    stack.start_rasa(env={"SMS_LEASE_SECONDS": "3"})
    stack.wait_until_up()
    [reply] = sms.twilio.wait_for_count(phone, 1, timeout=90)
    assert "?" in reply
    row = wait_for_status(phone, "processed")
    assert row.attempts == 2 and len(inbound_rows(phone)) == 1
    assert user_turns(discharge.conversation_id) == 1
    assert not sms.twilio.wait_for(lambda: len(sms.twilio.messages_to(phone)) > 1, timeout=1.5)


def test_texts_from_one_number_are_answered_in_the_order_they_came(sms):
    phone = new_phone()
    discharge = register(phone)
    say(sms, phone, "hi")                                   # -> bleeding?
    for sid, body in (("SMfirst", "no bleeding"), ("SMsecond", "no fever")):
        assert post(sms, params_for(sms, phone, body, sid=sid + secrets.token_hex(8))
                    ).status_code == 200
    sms.twilio.wait_for_count(phone, 3, timeout=60)
    slots = sms.bot.slots(discharge.conversation_id)
    assert slots["bleeding"] == "none" and slots["fever"] == "none"
    assert [r.status for r in inbound_rows(phone)] == ["processed"] * 3


def outbox_rows(phone: str) -> list[OutboundSms]:
    with session() as s:
        return list(s.scalars(select(OutboundSms).where(OutboundSms.to_number == phone)
                              .order_by(OutboundSms.id)))


def test_delivery_receipts_record_what_became_of_each_text(sms):
    delivered, lost = new_phone(), new_phone()
    register(delivered)
    register(lost)
    sms.twilio.undeliverable.add(lost)
    say(sms, delivered, "hi")
    say(sms, lost, "hi")
    status_url = sms.webhook_url[: -len("/webhook")] + "/status"
    ours = lambda: [c for c in sms.twilio.callbacks if c["params"]["To"] in (delivered, lost)]  # noqa: E731
    assert sms.twilio.wait_for(lambda: len(ours()) == 4)
    assert {c["url"] for c in ours()} == {status_url}
    assert all(c["status"] == 204 for c in ours())
    [good], [bad] = outbox_rows(delivered), outbox_rows(lost)
    assert (good.status, good.delivery_status, good.delivery_error) == ("sent", "delivered", None)
    assert (bad.status, bad.delivery_status, bad.delivery_error) == ("sent", "undelivered", "30003")

    # A late "sent" never undoes "undelivered"; an unsigned callback changes nothing.
    late = {"MessageSid": bad.twilio_sid, "MessageStatus": "sent", "AccountSid": sms.twilio.account_sid}
    assert post(sms, late, url=status_url, to=status_url).status_code == 204
    assert post(sms, {**late, "MessageStatus": "delivered"}, url=status_url, to=status_url,
                signature="forged").status_code == 403
    [bad] = outbox_rows(lost)
    assert bad.delivery_status == "undelivered"


def test_a_post_without_body_is_answered_not_a_500(sms):
    phone = new_phone()
    register(phone)
    params = params_for(sms, phone, None, NumMedia="1",
                        MediaUrl0="https://api.twilio.com/fake/media.jpg",
                        MediaContentType0="image/jpeg")
    response = post(sms, params)
    assert response.status_code == 200
    [reply] = sms.twilio.wait_for_count(phone, 1)
    assert "I can only read text" in reply
    [row] = inbound_rows(phone)
    assert row.status == "no_text" and row.num_media == 1 and row.body == ""
    # Signed but with nothing in it at all: a 400, no stack trace.
    assert post(sms, {}).status_code == 400


def test_a_text_over_the_limit_is_kept_answered_plainly_and_never_read(sms):
    phone = new_phone()
    discharge = register(phone)
    story = ("My hip has been a bit sore since the biopsy. " * 40)[:1590]  # a long, real text
    reply = say(sms, phone, story)
    assert reply == too_long_line(settings().max_message_chars)
    [row] = inbound_rows(phone)
    assert row.status == "too_long" and row.body == story.strip()
    assert user_turns(discharge.conversation_id) == 0


def test_an_unknown_number_gets_the_polite_reply_once_a_day(sms):
    phone = new_phone()
    reply = say(sms, phone, "hello who is this")
    assert "only for patients" in reply and "after a" in reply and "biopsy" in reply
    assert reply.endswith(FAILSAFE_LINE)
    say(sms, phone, "hello??", expect_replies=0)
    assert not sms.twilio.wait_for(lambda: len(sms.twilio.messages_to(phone)) > 1, timeout=1.5)
    assert [(r.body, r.status) for r in inbound_rows(phone)] == [
        ("hello who is this", "unknown_sender"), ("hello??", "unknown_sender")]


def test_stop_start_and_help(sms):
    phone = new_phone()
    discharge = register(phone, hours_ago=2.5)
    confirmation = say(sms, phone, "STOP")
    assert "no more texts" in confirmation and "START" in confirmation
    say(sms, phone, "stop", expect_replies=0)  # confirmed once, not twice
    say(sms, phone, "my leg is bleeding", expect_replies=0)  # opted out: no texts at all
    assert not sms.twilio.wait_for(lambda: len(sms.twilio.messages_to(phone)) > 1, timeout=1.5)
    assert [r.status for r in inbound_rows(phone)] == ["keyword", "keyword", "opted_out"]
    assert user_turns(discharge.conversation_id) == 0

    with session() as s:  # a follow-up that comes due now is skipped, and recorded
        first = s.scalars(select(FollowUp).where(FollowUp.discharge_id == discharge.id,
                                                 FollowUp.status == "scheduled")
                          .order_by(FollowUp.due_at)).first()
    dispatcher = Dispatcher(sms_settings())
    try:
        dispatcher.run_once(first.due_at)
    finally:
        dispatcher.close()
    with session() as s:
        assert s.get(FollowUp, first.id).status == "skipped"
    assert len(sms.twilio.messages_to(phone)) == 1

    assert "again" in say(sms, phone, "START")
    help_reply = say(sms, phone, "HELP")
    cfg = sms_settings().core
    assert cfg.department_phone in help_reply and "999" in help_reply
    reply = say(sms, phone, "hi")  # back in the dialogue
    assert "bleeding" in reply


def test_over_sms_the_help_names_one_word_for_the_questions_and_another_for_the_texts(sms):
    """STOP opts out over SMS (carrier rules), so the help never tells a texter to say "stop"
    to end the questions; what it does say ends the questions and keeps the texts."""
    phone = new_phone()
    register(phone)
    say(sms, phone, "hi")
    help_reply = say(sms, phone, "what can you do?")
    assert "no more questions" in help_reply and "STOP ends all texts" in help_reply
    assert '"stop"' not in help_reply.lower()
    ended = say(sms, phone, "no more questions")
    assert "no more texts" not in ended
    assert [r.status for r in inbound_rows(phone)][-1] == "processed"
