"""The question registry (`bot/questions.yml`), loaded and checked once.

Each question knows its slot, its kind, its values from mildest to worst, what
a plain yes and no mean for it, the value and phrases of its worrying and its
reassuring answer, and its wordings and buttons. `bot.dialogue` reads the
answers with it; the domain's utter_ask_<slot> responses are generated from it
(tools/question_responses.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from bot.language import LanguageDataError, check_keys, check_phrases

REGISTRY = Path(__file__).with_name("questions.yml")
KINDS = {"main", "follow_up", "number"}
UNSURE_BUTTON = "Not sure"


@dataclass(frozen=True)
class Cue:
    value: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Question:
    slot: str
    kind: str
    values: tuple[str, ...]
    yes_means: Optional[str]
    no_means: Optional[str]
    concern: Optional[Cue]
    reassure: Optional[Cue]
    still_unsure: Optional[str]
    asks_about: str
    adult: str
    child: str
    simpler: str
    buttons: tuple[str, ...]

    def worse(self, old: Any, new: Any) -> bool:
        """Whether `new` is a worse reading than `old` (findings only get worse)."""
        if old not in self.values or new not in self.values:
            return False
        return self.values.index(new) > self.values.index(old)


_QUESTION_KEYS = {"kind", "values", "yes_means", "no_means", "concern", "reassure",
                  "still_unsure", "asks_about", "wording", "buttons"}
_REQUIRED = {"kind", "values", "asks_about", "wording", "buttons"}


def _cue(where: str, data: Any, values: tuple[str, ...]) -> Optional[Cue]:
    if data is None:
        return None
    check_keys(where, data, {"value", "phrases"})
    if data["value"] not in values:
        raise LanguageDataError(f"{where}: value {data['value']!r} is not one of {values}")
    return Cue(data["value"], check_phrases(f"{where}.phrases", data["phrases"]))


def _question(slot: str, data: Any) -> Question:
    where = f"questions.yml: {slot}"
    check_keys(where, data, _QUESTION_KEYS, _REQUIRED)
    if data["kind"] not in KINDS:
        raise LanguageDataError(f"{where}: kind must be one of {sorted(KINDS)}")
    values = tuple(str(v) for v in data["values"])
    for key in ("yes_means", "no_means"):
        if key in data and data[key] not in values:
            raise LanguageDataError(f"{where}: {key} {data[key]!r} is not one of {values}")
    if data["kind"] != "number" and not {"yes_means", "no_means", "concern", "reassure"} <= set(data):
        raise LanguageDataError(f"{where}: a yes/no question needs yes_means, no_means, "
                                f"concern and reassure")
    wording = data["wording"]
    check_keys(f"{where}.wording", wording, {"adult", "child", "simpler"})
    concern = _cue(f"{where}.concern", data.get("concern"), values)
    return Question(
        slot=slot, kind=data["kind"], values=values, yes_means=data.get("yes_means"),
        no_means=data.get("no_means"), concern=concern,
        reassure=_cue(f"{where}.reassure", data.get("reassure"), values),
        still_unsure=data.get("still_unsure", concern.value if concern else None),
        asks_about=data["asks_about"], adult=wording["adult"], child=wording["child"],
        simpler=wording["simpler"], buttons=tuple(data["buttons"]))


def load(path: Path = REGISTRY) -> dict[str, Question]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise LanguageDataError(f"{path.name}: expected a mapping of questions")
    return {slot: _question(slot, entry) for slot, entry in data.items()}


QUESTIONS: dict[str, Question] = load()
MAIN_QUESTIONS = tuple(slot for slot, q in QUESTIONS.items() if q.kind == "main")
FOLLOW_UPS = tuple(slot for slot, q in QUESTIONS.items() if q.kind != "main")
NOT_ASKED = "not_needed"  # a follow-up the current answers do not call for


def unanswered_main_questions(slots: dict[str, Any]) -> list[str]:
    """Main questions without a reading: self-care cannot be concluded while any is left."""
    return [q for q in MAIN_QUESTIONS if slots.get(q) in (None, NOT_ASKED)]


# How the next question is worded, set by the form's validation before each ask: Rasa picks
# the `utter_ask_<slot>` variation whose condition matches (it picks at random among several
# that match, so the three styles are one slot, never two conditions).
ASK_STYLES = ("adult", "child", "simpler")


def ask_style(slots: dict[str, Any], slot: Optional[str]) -> str:
    """simpler for the re-ask of an unclear answer, child when talking to a parent."""
    if slot is not None and slots.get("reask") == slot:
        return "simpler"
    return "child" if slots.get("patient_is_child") else "adult"


def responses() -> dict[str, list[dict[str, Any]]]:
    """The domain's `utter_ask_<slot>` responses, one variation per style, with buttons."""
    found = {}
    for slot, question in QUESTIONS.items():
        def buttons(q: Question = question) -> list[dict[str, str]]:
            return [{"title": b, "payload": b} for b in q.buttons]
        found[f"utter_ask_{slot}"] = [
            {"text": question.adult, "buttons": buttons()},
            {"condition": [{"type": "slot", "name": "ask_style", "value": "child"}],
             "text": question.child, "buttons": buttons()},
            {"condition": [{"type": "slot", "name": "ask_style", "value": "simpler"}],
             "text": question.simpler, "buttons": buttons()},
        ]
    return found
