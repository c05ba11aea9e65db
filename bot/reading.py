"""One reading per message.

The NLU pipeline's safety net (bot.rasa_nlu.SafetyNetClassifier) reads every patient
message once with the rules (bot.extraction) and puts what it read into the message's
parse data under `triage_reading`. Rasa stores the parse data with the message and sends
it to the action server as `tracker.latest_message`, where the actions take the reading
from it (`of_message`) instead of reading the message again.

A reading is the rules' extraction, serialised with every question's answer cues (the
spaCy doc stays in the Rasa process), or, when the extraction raised, only the red flags
of a plain copy of the text: whatever the failure, a red flag still counts.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional

from bot.extracted import Extraction, Mention
from bot.failures import describe

logger = logging.getLogger(__name__)
PARSE_KEY = "triage_reading"
VERSION = 1  # of the serialised form; an unknown version is read again from the text


@dataclass(frozen=True)
class Reading:
    extraction: Optional[Extraction]               # None: the rules could not read it
    plain_red_flags: frozenset[str] = field(default_factory=frozenset)  # after a failure

    @property
    def failed(self) -> bool:
        return self.extraction is None

    @property
    def red_flags(self) -> set[str]:
        if self.extraction is not None:
            return set(self.extraction.red_flags)
        return set(self.plain_red_flags)


def extract(text: str) -> Extraction:
    """bot.extraction.extract, imported on first use: only the process that reads messages
    (Rasa's NLU) loads spaCy."""
    from bot import extraction

    return extraction.extract(text)


def _plain_red_flags(text: str) -> frozenset[str]:
    from bot.extraction import red_flags_in

    try:
        return frozenset(red_flags_in(text))
    except Exception as error:
        logger.error("red-flag check of a plain copy failed too: %s", describe(error))
        return frozenset()


def read(text: str) -> Reading:
    """The rules' reading of a message; never raises."""
    if not (text or "").strip():
        # Nothing to read (a follow-up started by the system has no text): what the rules
        # would find, without loading them.
        return Reading(Extraction(text=""))
    try:
        ex = extract(text)
        _ = ex.cues  # every question's cues now, while a failure still counts as the reading's
        return Reading(ex)
    except Exception as error:
        logger.error("could not read a message with the rules: %s", describe(error))
        return Reading(None, _plain_red_flags(text))


# --- carried in the parse data ----------------------------------------------------------

def to_parse_data(reading: Reading) -> dict[str, Any]:
    ex = reading.extraction
    if ex is None:
        return {"version": VERSION, "failed": True,
                "plain_red_flags": sorted(reading.plain_red_flags)}
    return {
        "version": VERSION, "failed": False, "text": ex.text,
        "mentions": [[m.label, m.status, m.text] for m in ex.mentions],
        "answer": ex.answer, "temperature_c": ex.temperature_c,
        "temperature_said": ex.temperature_said, "days": ex.days, "number": ex.number,
        "about_child": ex.about_child, "about_someone_else": ex.about_someone_else,
        "numbers": list(ex.numbers),
        # Every question's cues, worked out here where the doc is (a scope not listed has none).
        "cues": {scope: sorted(kinds) for scope, kinds in ex.cues.items()},
    }


def from_parse_data(data: Any) -> Optional[Reading]:
    """The reading the NLU stored, or None if there is none this version understands."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    if data.get("failed"):
        return Reading(None, frozenset(data.get("plain_red_flags") or ()))
    cues = {scope: set(kinds) for scope, kinds in (data.get("cues") or {}).items()}
    ex = Extraction(
        text=data["text"], mentions=[Mention(*m) for m in data["mentions"]],
        answer=data["answer"], temperature_c=data["temperature_c"],
        temperature_said=data["temperature_said"], days=data["days"], number=data["number"],
        about_child=data["about_child"], about_someone_else=data["about_someone_else"],
        numbers=tuple(data["numbers"]))
    ex.preset_cues(cues)
    return Reading(ex)


def of_message(parse_data: Optional[dict], text: str) -> Reading:
    """The reading of the latest message: the NLU's, or (for a message our pipeline did
    not read, such as an intent typed as /intent) the rules' reading of its text."""
    try:
        found = from_parse_data((parse_data or {}).get(PARSE_KEY))
    except (KeyError, TypeError, ValueError) as error:  # not what the NLU writes: read again
        logger.error("a stored reading could not be used: %s", describe(error))
        found = None
    return found if found is not None else read(text)
