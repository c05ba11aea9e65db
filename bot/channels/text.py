"""Patient text as every channel hands it on: one cleaning at the edge.

A lone UTF-16 surrogate ("\\ud83e", half an emoji) cannot be encoded and makes
spaCy raise; control characters are not text. Both are replaced, and the text
is put in Unicode NFC so the same words always look the same to the rules.

Every channel also bounds what one message may cost: longer than
MAX_MESSAGE_CHARS and the patient is asked, in plain words, to send less.
"""
from __future__ import annotations

import re
import unicodedata

from bot.policy import FAILSAFE_LINE

REPLACEMENT = "\ufffd"
# Conversation ids a channel accepts from a client (the widget makes random hex ids):
# safe in URLs, file names and CSV cells, and never empty.
SENDER_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls except tab and newline; DEL too.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_message(text: str) -> str:
    text = _SURROGATE.sub(REPLACEMENT, text)
    text = _CONTROL.sub(" ", text)
    return unicodedata.normalize("NFC", text)


def too_long_line(max_chars: int) -> str:
    """The reply to a message over the limit: what to do, then the policy's fail-safe line."""
    return f"Your message is too long: please keep it under {max_chars} characters. {FAILSAFE_LINE}"
