"""What our texts say, and how the bot's messages become SMS.

SMS manners: no buttons (their titles become "Reply YES, NO or NOT SURE."), plain GSM
characters where possible (curly quotes, dashes, degree signs folded), emergency advice
that starts with "Call 999 now." before anything else in the text (and says it once), the
short advice where a message carries one (`custom["sms_text"]`), and every text within
MAX_SEGMENTS segments. No names unless SMS_USE_NAMES allows them: a text shows on a lock
screen, and a child's name must never read as the parent's.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Optional

from bot.config import Settings
from bot.policy import FAILSAFE_LINE

# GSM 03.38: one septet each, and the extension table (two septets each).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENDED = set("^{}\\[~]|€\f")
FOLD = {
    "‘": "'", "’": "'", "‛": "'", "′": "'", "`": "'", "´": "'",
    "“": '"', "”": '"', "„": '"', "″": '"',
    "–": "-", "—": "-", "‒": "-", "―": "-", "−": "-", "‐": "-", "‑": "-",
    "…": "...", "•": "-", "·": "-", "×": "x", "÷": "/", "½": "1/2", "¼": "1/4",
    "→": "->", "←": "<-", "≥": ">=", "≤": "<=", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "\u200b": "", "\t": " ",
}
MAX_BODY = 1600  # Twilio's limit for one message (it sends it as up to 10 segments)
MAX_SEGMENTS = 3  # our own limit: longer texts cost more and are read less
PICTURE_NOTE = "I can't see pictures, only read text."


def to_gsm(text: str) -> str:
    """The same words in GSM characters where we can (anything else is left, and the text
    then goes as UCS-2, e.g. a name in another script)."""
    text = re.sub(r"\s*°\s*([CF])\b", r"\1", text)      # 38.2°C -> 38.2C
    text = text.replace("°", " degrees")
    out = []
    for char in text:
        char = FOLD.get(char, char)
        if len(char) == 1 and char not in GSM_BASIC and char not in GSM_EXTENDED:
            decomposed = unicodedata.normalize("NFKD", char)
            base = "".join(c for c in decomposed if not unicodedata.combining(c))
            if base and all(c in GSM_BASIC for c in base):
                char = base
        out.append(char)
    return "".join(out)


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENDED for c in text)


def segments(text: str) -> int:
    """How many SMS segments `text` takes (the way carriers count)."""
    if is_gsm(text):
        septets = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def fits(text: str) -> bool:
    """Whether `text` fits MAX_SEGMENTS with room for the picture note (the reply to a
    picture with a caption carries it)."""
    return segments(to_gsm(f"{text}\n\n{PICTURE_NOTE}")) <= MAX_SEGMENTS


def _choice(title: str) -> str:
    lowered = title.strip().lower()
    for word in ("not sure", "yes", "no"):
        if lowered == word or re.match(rf"{word}\b", lowered):
            return word.upper()
    return title.strip().upper()


def reply_hint(buttons: Iterable[dict]) -> str:
    """Buttons as words: "Reply YES, NO or NOT SURE." / "Or reply CAN'T CHECK."."""
    choices: list[str] = []
    for button in buttons:
        choice = _choice(str(button.get("title") or button.get("payload") or ""))
        if choice and choice not in choices:
            choices.append(choice)
    if not choices:
        return ""
    if len(choices) == 1:
        return f"Or reply {choices[0]}."
    return f"Reply {', '.join(choices[:-1])} or {choices[-1]}."


def emergency_first(text: str, emergency_number: str) -> str:
    """Emergency advice starts with "Call 999 now." and says it once: the full advice's
    "EMERGENCY: call 999 now, or ..." (also after "My advice is the same as before.") is
    moved to the front."""
    lead = f"Call {emergency_number} now"
    text = text.strip()
    if re.match(rf"{re.escape(lead)}\b", text, flags=re.IGNORECASE):
        return text
    match = re.search(rf"EMERGENCY:\s*call {re.escape(emergency_number)} now\b[,.]?\s*(or\s+)?",
                      text, flags=re.IGNORECASE)
    if not match:
        return f"{lead}. {text}"
    after = text[match.end():]
    rest = f"{text[:match.start()]}{after[:1].upper()}{after[1:]}".strip()
    return f"{lead}. {rest}" if rest else f"{lead}."


def render_messages(messages: Iterable[dict], emergency_number: str) -> str:
    """One turn of the bot (Rasa's messages) as the body of one text."""
    urgent_first, rest = [], []
    for message in messages:
        custom = message.get("custom") or {}
        custom = custom if isinstance(custom, dict) else {}
        text = (custom.get("sms_text") or message.get("text") or "").strip()
        buttons = message.get("buttons") or []
        if buttons:
            hint = reply_hint(buttons)
            text = f"{text}\n{hint}" if text and hint else (text or hint)
        if not text:
            continue  # a payload for widgets only (the level, the phone links)
        if custom.get("triage_level") == "emergency":
            urgent_first.append(emergency_first(text, emergency_number))
        else:
            rest.append(text)
    return to_gsm("\n\n".join(urgent_first + rest))


def caption_reply(messages: Iterable[dict], emergency_number: str) -> str:
    """The reply to a picture with a caption: the bot's answer to the caption, then that
    the picture itself was not seen. Empty when the bot said nothing (the channel then
    sends the fail-safe line)."""
    text = render_messages(messages, emergency_number)
    return f"{text}\n\n{PICTURE_NOTE}" if text else ""


def split_body(body: str, limit: int = MAX_BODY) -> list[str]:
    """Bodies over Twilio's 1,600 characters, cut at paragraph, line or word breaks."""
    parts: list[str] = []
    while len(body) > limit:
        cut = max(body.rfind("\n\n", 0, limit), body.rfind("\n", 0, limit))
        if cut < limit // 2:
            cut = body.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(body[:cut].rstrip())
        body = body[cut:].lstrip()
    if body:
        parts.append(body)
    return parts


# --- our own texts -------------------------------------------------------------------

def followup_intro(cfg: Settings, *, day: int, procedure: str, is_child: bool,
                   name: Optional[str], use_names: bool = False) -> str:
    """The first lines of a follow-up: the name only when `use_names` (SMS_USE_NAMES), and
    a child's as whom the text is about, never as a greeting to the parent."""
    whose = "your child's" if is_child else "your"
    when = "today" if day == 0 else f"{day} day{'s' if day != 1 else ''}"
    timing = f"after {whose} {procedure} {when}" if day == 0 else f"{when} after {whose} {procedure}"
    name = (name or "").strip() if use_names else ""
    greeting = (f"About {name}: a" if is_child else f"{name}, a") if name else "A"
    return to_gsm(f"{greeting} check-in from the {cfg.department_name}, {timing}. "
                  f"Reply STOP to stop these texts.")


def followup_text(cfg: Settings, *, day: int, procedure: str, is_child: bool,
                  name: Optional[str], use_names: bool, bot_text: str) -> str:
    """A follow-up: our intro, then the bot's first message. The name only when
    `use_names` (SMS_USE_NAMES: texts show on a lock screen) and it fits MAX_SEGMENTS."""
    def body(named: Optional[str]) -> str:
        intro = followup_intro(cfg, day=day, procedure=procedure, is_child=is_child,
                               name=named, use_names=True)
        return f"{intro}\n\n{bot_text}"

    if use_names and name and name.strip() and segments(body(name)) <= MAX_SEGMENTS:
        return body(name)
    return body(None)


def opt_out_text(cfg: Settings) -> str:
    return to_gsm(f"You will get no more texts from the {cfg.department_name} aftercare service. "
                  f"Reply START to get them again. If you are worried, call {cfg.urgent_number}; "
                  f"in an emergency call {cfg.emergency_number}.")


def opt_in_text(cfg: Settings) -> str:
    return to_gsm(f"You will get aftercare texts from the {cfg.department_name} again. "
                  f"Reply STOP to stop them.")


def help_text(cfg: Settings) -> str:
    return to_gsm(f"{cfg.department_name}: call {cfg.department_phone} "
                  f"(open {cfg.opening_hours_text}). If it is closed, call {cfg.urgent_number}. "
                  f"In an emergency call {cfg.emergency_number} now. Reply STOP to stop texts.")


def unknown_sender_text(cfg: Settings) -> str:
    return to_gsm(f"Sorry, this text service is only for patients (or their parents) after a "
                  f"biopsy at the {cfg.department_name}, and this number is not on our list. "
                  f"{FAILSAFE_LINE}")


def no_text_reply(cfg: Settings) -> str:
    return to_gsm(f"Sorry, I can only read text, not pictures or other attachments. Please tell "
                  f"me in words. If you are worried, call {cfg.urgent_number}; in an emergency "
                  f"call {cfg.emergency_number}.")


def failsafe_text() -> str:
    return to_gsm(FAILSAFE_LINE)


STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "SUBSCRIBE"}
HELP_WORDS = {"HELP", "INFO"}


def keyword(body: str) -> Optional[str]:
    """'stop', 'start' or 'help' when the whole text is one of the carrier keywords."""
    word = re.sub(r"[^A-Z]", "", (body or "").strip().upper())
    if len((body or "").split()) > 2:  # "stop the questions please" is dialogue, not a keyword
        return None
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None
