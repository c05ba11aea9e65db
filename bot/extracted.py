"""What the rules found in a message: the result of `bot.extraction.extract`, without
spaCy. The action server takes it from the parse data (bot.reading) and reads it with
bot.dialogue, so it never loads spaCy (nor TensorFlow, which spaCy's thinc brings in)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from bot.language import rules
from bot.questions import QUESTIONS

if TYPE_CHECKING:
    from spacy.tokens import Doc

PRESENT, ABSENT, UNSURE = "present", "absent", "unsure"
RED_FLAG_LABELS = frozenset(
    {"BREATHING", "CHEST_PAIN", "COLLAPSE", "UNCONSCIOUS", "SEIZURE", "FLOPPY", "BLEED_HEAVY"}
)


def _cues_in(doc: Doc, scope: str) -> set[str]:
    from bot.extraction import cues_in  # only where there is a doc: the process that read it
    return cues_in(doc, scope)


@dataclass(frozen=True)
class Mention:
    label: str
    status: str  # PRESENT | ABSENT | UNSURE
    text: str


@dataclass
class Extraction:
    text: str
    mentions: list[Mention] = field(default_factory=list)
    answer: Optional[str] = None  # a bare reply: "yes" | "no" | "unsure" | "fine"
    temperature_c: Optional[float] = None
    temperature_said: bool = False  # a number that can only be a temperature
    days: Optional[float] = None
    number: Optional[float] = None  # a bare number, for follow-up questions
    about_child: bool = False
    about_someone_else: bool = False
    numbers: tuple[float, ...] = ()  # every number, for the temperature question
    # The analysed message, for the answer cues: read only for the question asked.
    doc: Optional[Doc] = field(default=None, repr=False, compare=False)
    _cue_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def cue_kinds(self, slot: str) -> set[str]:
        """How the reply answers `slot` in its words: concern, reassure,
        negated_reassure, unsure (the question's own cues and the shared ones)."""
        return self._cues_for(slot) | self._cues_for("*")

    @property
    def cues(self) -> dict[str, set[str]]:
        """Every question's cues that the reply has: scope -> kinds."""
        scopes = ["*", *QUESTIONS]
        return {s: kinds for s in scopes if (kinds := self._cues_for(s))}

    def preset_cues(self, cues: dict[str, set[str]]) -> None:
        """Cues worked out elsewhere (bot.reading: by the NLU, where the doc is); a scope
        not given has none."""
        self._cue_cache.update(cues)

    def _cues_for(self, scope: str) -> set[str]:
        if scope not in self._cue_cache:
            self._cue_cache[scope] = _cues_in(self.doc, scope) if self.doc is not None else set()
        return self._cue_cache[scope]

    def status(self, label: str) -> Optional[str]:
        """Combined status of a label; any present mention wins (never under-triage)."""
        found = {m.status for m in self.mentions if m.label == label}
        for status in (PRESENT, UNSURE, ABSENT):
            if status in found:
                return status
        return None

    def present(self, *labels: str) -> bool:
        return any(self.status(label) == PRESENT for label in labels)

    def labels(self, status: str = PRESENT) -> set[str]:
        return {m.label for m in self.mentions if self.status(m.label) == status}

    @property
    def red_flags(self) -> set[str]:
        """Emergencies said as present or even as unsure ("idk, he won't wake"):
        a red flag never waits for a re-ask."""
        return (self.labels(PRESENT) | self.labels(UNSURE)) & RED_FLAG_LABELS


def fahrenheit_to_celsius(value: float) -> float:
    return round((value - 32) * 5 / 9, 1)


def strong_yes(text: str) -> bool:
    """A reply that starts with a plain yes ("yes", "yeah"), not a hedge ("a bit")."""
    first = re.split(r"[\s,.!]+", text.strip(), maxsplit=1)[0]
    return first in rules().strong_yes
