"""Symptom extraction: free text -> what the patient reports, with negation.

Deterministic, rule-based, no model weights: spaCy's blank English tokenizer,
an EntityRuler built from `bot.vocabulary`, and negspacy's NegEx run twice,
once for negation ("no pus") and once for uncertainty ("not sure if ...").
The red-flag safety net and the form's slot filling both use `extract`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Optional

import spacy
from negspacy.negation import Negex
from spacy.language import Language
from spacy.tokens import Doc, Span

from bot import vocabulary as vocab
from bot.channels.text import clean_message

PRESENT, ABSENT, UNSURE = "present", "absent", "unsure"
RED_FLAG_LABELS = frozenset(
    {"BREATHING", "CHEST_PAIN", "COLLAPSE", "UNCONSCIOUS", "SEIZURE", "FLOPPY", "BLEED_HEAVY"}
)
# A message longer than this is cut before analysis: nobody describes a symptom
# in more, and it bounds the work a pasted essay can cause. The full text is
# still stored by Rasa.
MAX_ANALYSED_CHARS = 2000
# How many words a negation cue reaches forward ("no sign of any redness" is 3).
NEGATION_WINDOW = 5


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


# ---------------------------------------------------------------- normalising
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_WORD = re.compile(r"[a-z0-9][a-z0-9'/-]*")
_CLAUSE_STARTERS = (
    "it it's its i i'm i've he he's she she's they they're there there's but just only "
    "the my his her their that this although though however not nothing thanks thank "
    "all fine ok okay its all everything looks seems its's we"
).split()
_ANSWER_WORDS = {"nope", "nah", "yes", "yeah", "yep", "yup", "aye", "ok", "okay"}


def _spell(word: str) -> str:
    if word in vocab.SPELLING:
        return vocab.SPELLING[word]
    if word.endswith("in") and len(word) >= 4 and word + "g" in _known_words():
        return word + "g"  # "bleedin", "shiverin", "goin"
    return word


_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
         if w != "_"}
_NUM = r"(?:" + "|".join(sorted(list(_UNITS) + list(_TENS), key=len, reverse=True)) + r")"
# Spelled-out numbers with a tens word, "hundred" or "point": "thirty eight point
# five", "thirty-nine", "a hundred and one". Lone small numbers ("the one in my
# groin", "ten days") are left as words.
_NUMBER_PHRASE = re.compile(
    rf"\b(?:(?:a|one) hundred(?: and)?(?:[ -]{_NUM}(?:[ -]{_NUM})?)?|{_NUM}(?:[ -]{_NUM})?)"
    rf"(?: point(?: {_NUM})+)?\b")


def _number_phrase(phrase: str) -> str:
    words = phrase.replace("-", " ").split()
    if not (set(words) & (set(_TENS) | {"hundred", "point"})):
        return phrase
    whole, decimals, seen_point = 0, "", False
    for word in words:
        if word == "point":
            seen_point = True
        elif seen_point:
            decimals += str(_UNITS.get(word, 0))
        elif word == "hundred":
            whole = (whole or 1) * 100
        elif word in _TENS:
            whole += _TENS[word]
        elif word in _UNITS:
            whole += _UNITS[word]
    return f"{whole}.{decimals}" if decimals else str(whole)


def normalise(text: str) -> str:
    """Lower-case, fix typos and SMS-speak, and split a leading yes/no off its clause."""
    text = clean_message(text[:MAX_ANALYSED_CHARS]).translate(_APOSTROPHES).lower()
    text = re.sub(r"<[^>]{0,200}>", " ", text)  # markup is not symptom text
    text = re.sub(r"(\d)\s*(?:°|º|deg(?:rees?)?\b)\s*", r"\1 degrees ", text)
    text = _WORD.sub(lambda m: _spell(m.group(0)), text)
    text = _NUMBER_PHRASE.sub(lambda m: _number_phrase(m.group(0)), text)
    # SMS "2" for "to": "struggling 2 breathe", "hard 2 wake" (not "2 days").
    text = re.sub(r"(?<=[a-z]) 2 (?!(?:day|days|week|weeks|hour|hours|hrs|min|mins|minutes|times|x)\b)(?=[a-z])",
                  " to ", text)
    text = re.sub(r"\s+", " ", text).strip()
    # "no its red" answers the question with "no", then reports redness; without
    # the break NegEx would read it as "no ... red".
    first, _, rest = text.partition(" ")
    first_word = first.strip(",.!")
    if rest and (
        first_word in _ANSWER_WORDS
        or (first_word == "no" and rest.split()[0] in _CLAUSE_STARTERS)
    ):
        text = f"{first_word}. {rest}"
    return text


# ---------------------------------------------------------------- the pipeline
@Language.factory(
    "patient_negex",
    default_config={"neg_termset": vocab.NEGATION_TERMSET, "ent_types": [],
                    "extension_name": "negex", "chunk_prefix": []},
)
class PatientNegex(Negex):
    """NegEx that ignores cue words lying inside another symptom.

    "soaked, only stopped when I pressed" must not read "stopped" (part of the
    pressure phrase) as negating "soaked".
    """

    def process_negations(self, doc: Doc):
        preceding, following, terminating = super().process_negations(doc)
        inside = [(e.start, e.end) for e in doc.ents]

        def free(match) -> bool:
            _, start, end = match
            return not any(s <= start and end <= e for s, e in inside)

        return [m for m in preceding if free(m)], [m for m in following if free(m)], terminating

    def negex(self, doc: Doc) -> Doc:
        """NegEx's loop, with a window: a cue more than NEGATION_WINDOW words
        before a finding does not reach it ("not swollen... OMG he's having a
        seizure"). A cue inside the entity ("can't breathe") never negates it."""
        preceding, following, terminating = self.process_negations(doc)
        for start, end in self.termination_boundaries(doc, terminating):
            cues_before = [c for c in preceding if start <= c[1] < end]
            cues_after = [c for c in following if start <= c[1] < end]
            for ent in doc[start:end].ents:
                if any(c[2] <= ent.start and ent.start - c[2] <= NEGATION_WINDOW for c in cues_before) \
                        or any(c[1] >= ent.end for c in cues_after):
                    ent._.set(self.extension_name, True)
        return doc


def _entity_patterns() -> list[dict]:
    patterns = []
    for label, phrases in vocab.CONCEPTS.items():
        for phrase in phrases:
            for variant in vocab.expand(phrase):
                patterns.append({"label": label, "pattern": variant})
    return patterns + vocab.near_patterns()


def _termset(termset: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: sorted({v for phrase in phrases for v in vocab.expand(phrase)})
            for key, phrases in termset.items()}


@lru_cache(maxsize=1)
def _known_words() -> frozenset[str]:
    """Every word the patterns use: to restore a dropped g ("bleedin" -> "bleeding")."""
    words = set()
    for phrases in vocab.CONCEPTS.values():
        for phrase in phrases:
            for variant in vocab.expand(phrase):
                words.update(variant.split())
    return frozenset(words)


@lru_cache(maxsize=1)
def pipeline() -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(_entity_patterns())
    nlp.add_pipe("patient_negex", name="negation",
                 config={"neg_termset": _termset(vocab.NEGATION_TERMSET)})
    if not Span.has_extension("unsure"):
        Span.set_extension("unsure", default=False)
    nlp.add_pipe(
        "patient_negex", name="uncertainty",
        config={"neg_termset": _termset(vocab.UNSURE_TERMSET), "extension_name": "unsure"},
    )
    return nlp


_LIST_JOINERS = {",", "or", "nor", "and/or", "/", "a", "an", "any", "the", "some"}


def _carry_negation_through_lists(doc: Doc) -> None:
    """ "no swelling, redness or warmth": a comma list closed by "or" shares its negation.

    Commas end NegEx's scope (so "no fever, pus coming out" keeps the pus);
    only a list joined by "or"/"nor" carries the negation on.
    """
    ents = list(doc.ents)
    i = 0
    while i < len(ents):
        j, joiners = i, set()
        while j + 1 < len(ents):
            gap = [t.text for t in doc[ents[j].end:ents[j + 1].start]]
            if not gap or not set(gap) <= _LIST_JOINERS:
                break
            joiners.update(gap)
            j += 1
        if j > i and joiners & {"or", "nor"} and ents[i]._.negex:
            for ent in ents[i:j + 1]:
                ent._.negex = True
        i = j + 1


_SITE_WORDS = re.compile(
    r"\b(site|area|wound|hip|hips|back|leg|skin|where|biopsy|around it|dressing|plaster|"
    r"bandage|spot|bum|buttock|it's|it is|it feels|it looks)\b"
)


def _mentions(doc: Doc) -> list[Mention]:
    mentions = []
    for ent in doc.ents:
        label = ent.label_
        sentence = ent.sent.text
        if label == "FEEL_HOT" and _SITE_WORDS.search(sentence):
            label = "WARMTH"  # "her hip feels hot": the site, not a fever
        if ent._.negex:
            status = ABSENT
        elif ent._.unsure:
            status = UNSURE
        else:
            status = PRESENT
        mentions.append(Mention(label, status, ent.text))
    return mentions


# ---------------------------------------------------------------- numbers
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "fourteen": 14, "couple of": 2, "a couple of": 2, "few": 3, "a few": 3,
}
_TEMP = re.compile(
    r"(?<![\d.])(\d{2,3}(?:[.,]\d{1,2})?)\s*(degrees\s*)?"
    r"(c|f|celsius|centigrade|fahrenheit|oc|of)?(?![a-z0-9])"
)
_TEMP_CONTEXT = re.compile(r"temperature|fever|thermometer|degrees|feverish|hot|reading|measured")
_DURATION = re.compile(
    r"\b(\d+(?:\.\d+)?|a couple of|couple of|a few|few|an?|one|two|three|four|five|six|seven|"
    r"eight|nine|ten|eleven|twelve|fourteen)\s*(?:and a half\s*)?"
    r"(day|days|week|weeks|fortnight|fortnights)\b(\s+and a half)?"
)
_CHILD = re.compile(
    r"\b(my|our|the) (little |baby |eldest |youngest |oldest |younger |older |teenage |)(son|daughter|child|kid|boy|girl|baby|toddler|little one|grandson|"
    r"granddaughter|stepson|stepdaughter|teenager|teen|lad|lass|children|kids)\b|"
    r"\b(he's|she's|he is|she is) (only |just )?\d{1,2}\b|\b\d{1,2}[ -]?(year|yr)s?[ -]old\b"
)
_SOMEONE_ELSE = re.compile(
    r"\b(my|our) (husband|wife|partner|mum|mom|mother|dad|father|nan|gran|grandma|grandad|"
    r"grandpa|brother|sister|friend|patient|client|relative)\b|\b(he|she|he's|she's|him|her|his)\b"
)


def _temperature(text: str) -> tuple[Optional[float], bool]:
    """(°C, unambiguous) for the first plausible temperature in the text."""
    for match in _TEMP.finditer(text):
        value = float(match.group(1).replace(",", "."))
        unit = (match.group(3) or "").strip()
        explicit = bool(unit or match.group(2))
        if unit in ("f", "fahrenheit", "of") or (not unit and 93 <= value <= 110):
            value = round((value - 32) * 5 / 9, 1)
        if 33 <= value <= 44 and (explicit or "." in match.group(1) or "," in match.group(1)
                                  or _TEMP_CONTEXT.search(text)):
            return value, True
    return None, False


_WEEKDAY = re.compile(r"\b(last |on |since |this |)(monday|tuesday|wednesday|thursday|friday|saturday|"
                      r"sunday|mon|tues|tue|wed|weds|thurs|thu|fri|sat|sun)( before last| last week|)\b")
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _days(text: str, today: Optional[date] = None) -> Optional[float]:
    """Days since something, in days. With several (a correction), the longest:
    for soreness, the longer reading is the safer one."""
    found: list[float] = []
    if re.search(r"\bday before yesterday\b", text):
        found.append(2)
    elif re.search(r"\b(yesterday|last night|yday)\b", text):
        found.append(1)
    if re.search(r"\b(today|this morning|this afternoon|earlier today|few hours|hours ago)\b", text):
        found.append(0)
    if re.search(r"\b(over|more than|longer than|nearly|almost) (a|one) week\b", text):
        found.append(8 if not re.search(r"\b(nearly|almost)\b", text) else 6)
    if re.search(r"\blast week\b", text):
        found.append(7)
    for match in _DURATION.finditer(text):
        amount, unit = match.group(1), match.group(2)
        number = float(amount) if amount[0].isdigit() else _NUMBER_WORDS.get(amount, 1)
        if unit.startswith("week"):
            number *= 7
        elif unit.startswith("fortnight"):
            number *= 14
        if "and a half" in match.group(0):
            number += 3.5 if unit.startswith("week") else 0.5
        found.append(number)
    for match in _WEEKDAY.finditer(text):
        day = _WEEKDAYS.index(match.group(2)[:3])
        today = today or date.today()
        back = (today.weekday() - day) % 7 or 7
        if match.group(3) or match.group(1) == "last ":
            back += 7 if match.group(3) else 0
            back = max(back, 8) if match.group(3) else back
        found.append(back)
    return max(found) if found else None


def _bare_number(text: str) -> Optional[float]:
    match = re.fullmatch(r"\D{0,20}?(\d+(?:[.,]\d+)?)\D{0,30}", text)
    return float(match.group(1).replace(",", ".")) if match else None


# ---------------------------------------------------------------- bare answers
_UNSURE_ANSWER = re.compile(
    r"\b(not sure|not certain|not too sure|don't know|do not know|no idea|can't tell|"
    r"cannot tell|hard to tell|difficult to tell|can't say|couldn't say|not 100%|unsure|"
    r"no clue|haven't checked|haven't looked|not checked|haven't measured|not measured|"
    r"can't check|cannot check|no thermometer|don't have a thermometer|can't remember|"
    r"don't remember|^hmm+$|^um+$|^erm+$|^\?+$)"
)
_NO_ANSWER = re.compile(
    r"^(no|nope|nah|none|nothing|never|negative|nil|zero|not really|not at all|"
    r"not that (i|we|either|anyone|he|she|they|my)|not as such|negative|i don't think so|don't think so|i dont think so|not as far as i|all good|"
    r"all fine|it's fine|its fine|fine|it's ok|all ok|seems fine|looks fine|nothing like that|"
    r"no none|no sign|not any|not now|not anymore|not any more|no longer|no it's fine|not yet)\b"
)
_YES_ANSWER = re.compile(
    r"^(yes|yeah|yep|aye|yup|correct|i think so|think so|a bit|a little|slightly|some|kind of|"
    r"sort of|a lot|definitely|probably|maybe|possibly|there is|it is|it does|he does|she does|"
    r"(i |)(can't|cannot) say (it|he|she) (isn't|is not|hasn't|has not|wasn't)|i'd say so|a touch|"
    r"ever so slightly|touch of|"
    r"he has|she has|i have|it has|true|affirmative|sure|certainly|absolutely|lots|loads|"
    r"quite|very|really)\b"
)


# "It's clean and dry", "nothing there", "haven't found anything": a no, said
# as a statement rather than with "no" first.
_NEGATIVE_STATEMENT = re.compile(
    r"\b((is|looks|look|it's|was|been|stayed|staying|seems|all|dressing's|site's|plaster's|"
    r"bandage's|skin's) (completely |totally |all |really |very |nice and |perfectly |)"
    r"(clean|dry|clear|fine|normal|ok|okay|good|healing well|healing nicely|healed)|"
    r"nothing (there|on it|at all|found|coming out|to report|like that|of the sort|unusual|new)|"
    r"(haven't|have not|didn't|did not|can't|cannot) (found|find|noticed|notice|seen|see|felt|feel) "
    r"(any|anything|a thing|nothing)|not a (drop|spot|thing|sign|trace)|all clear|"
    r"(clean|dry) and (dry|clean)|no problems?|no issues?|no change|dry as a bone|bone dry|"
    r"clean as a whistle|right as rain|nothing doing)\b"
)
# "just a bruise", "only a bit sore": whatever was asked, the answer is no.
_JUST = re.compile(r"\b(just|only|apart from|except( for)?|other than)\b")


_FILLER = re.compile(r"^((oh|ok|okay|ah|ahh|right|well|sorry|so|hmm|erm|um|uh|hi|hello|"
                     r"oh right|oh ok|ah right|ah ok|i see|got it|thanks|thank you)[\s,.!-]+)+")


# "Can't say I have" is a no, though "can't say" alone is a not sure.
_NO_DESPITE_HEDGE = re.compile(r"^(i |)(can't|cannot) say (that |)(i|we|he|she|they) (have|has|had|did|noticed)\b")


def _answer(text: str, has_present: bool) -> Optional[str]:
    stripped = _FILLER.sub("", text.strip(" .!,")).strip(" .!,")
    if _NO_DESPITE_HEDGE.search(stripped):
        return "no"
    if _UNSURE_ANSWER.search(stripped):
        return "unsure"
    if _NO_ANSWER.search(stripped):
        return "no"
    if _YES_ANSWER.search(stripped):
        return "yes"
    if _NEGATIVE_STATEMENT.search(stripped) or (has_present and _JUST.search(stripped)):
        return "fine"  # "no" to "is there a problem?" (the pressure question reads it as yes)
    return None


@lru_cache(maxsize=1)
def _compiled_regex_concepts() -> list[tuple[str, re.Pattern]]:
    return [(label, re.compile(rx)) for label, rxs in vocab.REGEX_CONCEPTS.items() for rx in rxs]


def _regex_mentions(text: str) -> list[Mention]:
    return [Mention(label, PRESENT, m.group(0)) for label, rx in _compiled_regex_concepts()
            for m in [rx.search(text)] if m]


_ASKING_WHAT_A_WORD_MEANS = re.compile(
    r"\b(what do you mean|what does .{1,30} mean|mean by|what (is|are|'s) (a |an |)"
    r"(cloudy|pus|lymph|gland|mottled|clammy|rigor))")


def _sentence_of(doc: Doc, fragment: str) -> str:
    return next((sent.text for sent in doc.sents if fragment in sent.text), "")


# ---------------------------------------------------------------- entry point
def extract(text: str) -> Extraction:
    """Everything the message says about symptoms; never raises on odd input."""
    clean = normalise(text or "")
    doc = pipeline()(clean)
    _carry_negation_through_lists(doc)
    temperature, said = _temperature(clean)
    mentions = [m for m in _mentions(doc) if m.label != "NOT_SYMPTOM"] + _regex_mentions(clean)
    if _ASKING_WHAT_A_WORD_MEANS.search(clean):
        # "What do you mean by cloudy fluid?" quotes the question, it reports nothing.
        mentions = [m for m in mentions
                    if not _ASKING_WHAT_A_WORD_MEANS.search(_sentence_of(doc, m.text))]
    return Extraction(
        text=clean,
        mentions=mentions,
        answer=_answer(clean, any(m.status == PRESENT for m in mentions)),
        temperature_c=temperature,
        temperature_said=said,
        days=_days(clean),
        number=_bare_number(clean),
        about_child=bool(_CHILD.search(clean)),
        about_someone_else=bool(_CHILD.search(clean) or _SOMEONE_ELSE.search(clean)),
    )


def red_flags_in(text: str) -> set[str]:
    """The red flags of a message whose full reading failed: read again from a plain
    ASCII copy, so whatever odd character broke the first reading is gone."""
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return extract(plain).red_flags
