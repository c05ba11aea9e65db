"""How the transcript names an SMS text and what became of it (words for staff; the data
comes from `bot.sms.console_hooks`)."""
from __future__ import annotations

from bot.sms.console_hooks import Text

OUR_TEXTS = {  # sms_outbox.kind -> what staff see
    "followup": "Check-in text",
    "reply": "Reply",
    "help": "HELP answer",
    "opt_out": "STOP confirmation",
    "opt_in": "START confirmation",
    "unknown_sender": "Reply to an unregistered number",
    "failsafe": "Fail-safe line",
}
KEYWORDS = {
    "stop": "keyword: no more texts",
    "start": "keyword: texts back on",
    "help": "keyword: the department's details sent",
}
NOT_READ = {  # sms_inbound.status -> why the bot did not read it
    "opted_out": "not answered: the number had sent STOP",
    "too_long": "too long: not read by the bot, asked to send less",
    "no_text": "no text",
    "failed": "the bot failed on it: the fail-safe line was sent",
    "received": "not answered yet: waiting for the bot",
    "processing": "not answered yet: waiting for the bot",
    "unknown_sender": "not from a registered number",
}
RECEIPTS = {  # Twilio's status callback -> words
    "delivered": "delivered",
    "read": "delivered and read",
    "sent": "sent, no delivery receipt yet",
    "sending": "sent, no delivery receipt yet",
    "queued": "sent, no delivery receipt yet",
    "accepted": "sent, no delivery receipt yet",
}


def label(text: Text) -> str:
    if text.direction == "in":
        return "Patient"
    return OUR_TEXTS.get(text.kind, f"Text ({text.kind})")


def notes(text: Text) -> list[str]:
    """What is known about a patient's text beyond its words."""
    found = []
    if text.status == "keyword":
        found.append(KEYWORDS.get(text.keyword, "keyword"))
    elif text.status in NOT_READ:
        found.append(NOT_READ[text.status])
    if text.num_media:
        found.append(f"{text.num_media} picture{'s' if text.num_media != 1 else ''}")
    return found


def delivery(text: Text) -> str:
    """What became of one of our texts."""
    if text.status == "sent":
        if text.not_delivered:
            code = f" (Twilio error {text.delivery_error})" if text.delivery_error else ""
            return f"not delivered{code}"
        return RECEIPTS.get(text.delivery_status, "sent, no delivery receipt yet")
    if text.status == "failed":
        return f"not delivered: sending failed ({(text.last_error or 'no reason recorded')[:200]})"
    if text.status == "expired":
        return "not delivered: it could not be sent in time"
    if text.status == "suppressed":
        return "not sent: the number had sent STOP"
    return "waiting to be sent"
