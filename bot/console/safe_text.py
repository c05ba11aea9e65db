"""Text from patients and clients, made safe to show, to export and to look up.

A sender id, a message or its metadata reaches the console as the client sent it (SQLite
even stores a NUL; Rasa keeps a lone surrogate JSON-escaped). Pages and CSV cells show such
text with every character a browser, a spreadsheet or UTF-8 cannot carry replaced by U+FFFD,
and with one kind of line break (LF).
"""
from __future__ import annotations

import re

from sqlalchemy.orm import Session

REPLACEMENT = "\ufffd"
# C0 controls but tab and line feed, DEL, C1 controls, and lone surrogates.
UNSHOWABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# What a one-line field (a username, an id) must never hold; a multi-line one may hold
# tab and line breaks.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
CONTROL_IN_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def showable(text: str) -> str:
    return UNSHOWABLE.sub(REPLACEMENT, text.replace("\r\n", "\n").replace("\r", "\n"))


def without_controls(text: str) -> str:
    return CONTROL.sub("", text)


def storable(s: Session, text: str) -> bool:
    """Whether this database can hold (and so compare with) the text: PostgreSQL refuses
    any string with a NUL, so there such an id matches nothing."""
    return "\x00" not in text or s.get_bind().dialect.name != "postgresql"
