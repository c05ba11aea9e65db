"""How a failure is logged: its type and where it happened, never its message.

Exception messages can quote the patient's words (spaCy and the JSON decoder do),
and logs are kept longer and read more widely than conversations.
"""
from __future__ import annotations

import os
import traceback


def describe(error: BaseException) -> str:
    """'ValueError at extraction.py:120 extract <- triage_form.py:55 validate': enough to find
    the bug, no patient text."""
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    places = " <- ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(error).__name__} at {places or 'an unknown place'}"
