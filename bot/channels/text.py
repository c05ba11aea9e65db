"""Patient text as every channel hands it on: one cleaning at the edge.

A lone UTF-16 surrogate ("\\ud83e", half an emoji) cannot be encoded and makes
spaCy raise; control characters are not text. Both are replaced, and the text
is put in Unicode NFC so the same words always look the same to the rules.
"""
from __future__ import annotations

import re
import unicodedata

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls except tab and newline; DEL too.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_message(text: str) -> str:
    text = _SURROGATE.sub(REPLACEMENT, text)
    text = _CONTROL.sub(" ", text)
    return unicodedata.normalize("NFC", text)
