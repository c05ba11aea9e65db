"""Symptom extraction: free text -> what the patient reports, with negation.

Deterministic, rule-based, no model weights: spaCy's blank English tokenizer
(contractions kept whole, as the data writes them), an EntityRuler with token
patterns compiled from `bot/language/concepts.yml`, and negspacy's NegEx run
twice, once for negation ("no pus") and once for uncertainty ("not sure if ...").
A Matcher per question finds its answer cues (`bot/questions.yml`), another
the shared ones (`bot/language/answers.yml`): how the reply answers the
question that was asked, read only for that question. The red-flag safety net and the form's slot filling
both use `extract`.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Optional, cast

import spacy
from negspacy.negation import Negex
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span

from bot.channels.text import clean_message

# A message longer than MAX_ANALYSED_CHARS is cut before analysis (channels accept less).
from bot.config import MAX_ANALYSED_CHARS
from bot.extracted import ABSENT, PRESENT, RED_FLAG_LABELS, UNSURE, Extraction, Mention, fahrenheit_to_celsius
from bot.language import rules
from bot.language.patterns import (
    as_phrases,
    compile_phrase,
    gap_tokens,
    merge_patterns,
    pattern_words,
    spell_out,
)
from bot.questions import QUESTIONS

if TYPE_CHECKING:
    from spacy.pipeline import EntityRuler

# Words before an answer cue that can negate it ("isn't helping", "I can't say I
# don't"), and that can make it uncertain ("not sure if it's spreading").
CUE_NEGATION_REACH, CUE_UNCERTAINTY_REACH = 5, 6
CUE_GAP_WORDS = 3
PHRASES_PER_PATTERN = 64
UNCERTAIN_WORDS = {"sure", "know", "tell", "idea", "wondering", "maybe", "might", "could",
                   "possibly", "whether", "unsure", "certain"}


# ---------------------------------------------------------------- normalising
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_WORD = re.compile(r"[a-z0-9][a-z0-9'/-]*")
_CLAUSE_STARTERS = (
    # a named medicine too: "no calpol helps" is "no, calpol helps" ("no tablet helps" is not)
    "paracetamol calpol ibuprofen nurofen tylenol advil motrin codeine co-codamol "
    "it it's its i i'm i've he he's she she's they they're there there's but just only "
    "the my his her their that this although though however not nothing thanks thank "
    "all fine ok okay its all everything looks seems its's we"
).split()
_ANSWER_WORDS = {"nope", "nah", "yes", "yeah", "yep", "yup", "aye", "ok", "okay"}


def _spell(word: str) -> str:
    spelling = rules().spelling
    if word.endswith("in'") and len(word) >= 5:
        word = word[:-1]  # "bleedin'", "swimmin'": the dropped g below
    if word in spelling:
        return spelling[word]
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


# An HTML tag ("<b>", "</p>", "<img src=x onerror=...>", "<font color=red>") is not
# symptom text, but the words between a "<" and a ">" that make no tag are: "<3 he's
# having a fit >.<", "<i can't breathe>". So only a known element name, bare or with
# attributes (name=value).
_HTML_ELEMENTS = (
    "a abbr audio b big blink blockquote body br button center code del div em embed font "
    "form h1 h2 h3 h4 h5 h6 head hr html i iframe img input ins label li link marquee meta "
    "object ol option p pre s script select small source span strike strong style sub sup "
    "svg table tbody td textarea th thead title tr tt u ul video").split()
_HTML_TAG = re.compile(rf"</?(?:{'|'.join(_HTML_ELEMENTS)})(?:\s*/?|\s[^<>]{{0,200}}=[^<>]{{0,200}})>")


def normalise(text: str) -> str:
    """Lower-case, fix typos and SMS-speak, and split a leading yes/no off its clause."""
    text = clean_message(text[:MAX_ANALYSED_CHARS]).translate(_APOSTROPHES).lower()
    text = _HTML_TAG.sub(" ", text)  # markup is not symptom text
    text = re.sub(r"(\d)\s*(?:°|º|deg(?:rees?)?\b)\s*", r"\1 degrees ", text)
    text = _WORD.sub(lambda m: _spell(m.group(0)), text)
    # Voice-to-text homophones next to numbers: "thirty ate point seven", "too days".
    text = re.sub(r"\b(twenty|thirty|forty|point) ate\b", r"\1 eight", text)
    text = re.sub(r"\bate (?=point|days?\b|weeks?\b)", "eight ", text)
    text = re.sub(r"\btoo (?=days?\b|weeks?\b)", "two ", text)
    text = _NUMBER_PHRASE.sub(lambda m: _number_phrase(m.group(0)), text)
    # SMS "2" for "to": "struggling 2 breathe", "hard 2 wake" (not "2 days").
    text = re.sub(r"(?<=[a-z]) 2 (?!(?:day|days|week|weeks|hour|hours|hrs|min|mins|minutes|times|x)\b)(?=[a-z])",  # noqa: E501 (one regex, read whole)
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
    default_config={"neg_termset": {}, "ent_types": [], "extension_name": "negex",
                    "chunk_prefix": []},
)
class PatientNegex(Negex):
    """NegEx that ignores cue words lying inside another symptom.

    "soaked, only stopped when I pressed" must not read "stopped" (part of the
    pressure phrase) as negating "soaked"; "no pins and needles" must not end the
    scope of "no" at the "and" of the symptom.
    """

    def process_negations(self, doc: Doc):
        preceding, following, terminating = super().process_negations(doc)
        inside = [(e.start, e.end) for e in doc.ents]

        def free(match) -> bool:
            _, start, end = match
            return not any(s <= start and end <= e for s, e in inside)

        # A scope-ending word inside a symptom ("pins and needles") does not end the scope.
        return ([m for m in preceding if free(m)], [m for m in following if free(m)],
                [m for m in terminating if free(m)])

    def negex(self, doc: Doc) -> Doc:
        """NegEx's loop, with a window: a cue more than `negation_window` words
        before a finding does not reach it ("not swollen... OMG he's having a
        seizure"). A cue inside the entity ("can't breathe") never negates it."""
        preceding, following, terminating = self.process_negations(doc)
        window = rules().negation_window
        for start, end in self.termination_boundaries(doc, terminating):
            cues_before = [c for c in preceding if start <= c[1] < end]
            cues_after = [c for c in following if start <= c[1] < end]
            for ent in doc[start:end].ents:
                if any(c[2] <= ent.start and ent.start - c[2] <= window for c in cues_before) \
                        or any(c[1] >= ent.end for c in cues_after):
                    ent._.set(self.extension_name, True)
        return doc


def _tokenizer(nlp: Language):
    def tokenize(text: str) -> list[str]:
        return [t.lower_ for word in text.split() for t in nlp.tokenizer(word)]
    return tokenize


_SINGLE_TOKEN: dict[str, bool] = {}


def _one_token(word: str, tokenize) -> bool:
    if word not in _SINGLE_TOKEN:
        _SINGLE_TOKEN[word] = word.isalnum() or tokenize(word) == [word]
    return _SINGLE_TOKEN[word]


def _entity_patterns(nlp: Language) -> list[dict]:
    language, tokenize = rules(), _tokenizer(nlp)
    patterns: list[dict[str, Any]] = []
    for label, phrases in language.concepts.items():
        for pattern in merge_patterns([p for phrase in phrases
                                       for p in compile_phrase(phrase, tokenize)]):
            # A narrow pattern goes to the PhraseMatcher as its few phrases (measured:
            # four times faster per message); the wide ones stay token patterns.
            spelled = as_phrases(pattern, PHRASES_PER_PATTERN)
            # Only phrases the tokenizer splits back into the same words: "pain 's worse"
            # as text would split the "'s" into two tokens and never match "pain's".
            if spelled and all(_one_token(w, tokenize) for p in spelled for w in p.split()):
                patterns += [{"label": label, "pattern": p} for p in spelled]
            else:
                patterns.append({"label": label, "pattern": pattern})
    # A negation between the two words is not part of the finding ("glands aren't up").
    gap = {"LOWER": {"NOT_IN": list(language.clause_breakers) + sorted(language.negators)},
           "OP": "?"}
    for rule in language.near:
        patterns.append({"label": rule.label, "pattern": [
            {"LOWER": {"IN": list(rule.first)}}, *([gap] * language.near_gap),
            {"LOWER": {"IN": list(rule.then)}}]})
    return patterns


def _termset(termset: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {key: sorted({v for phrase in phrases for v in spell_out(phrase)})
            for key, phrases in termset.items()}


@lru_cache(maxsize=1)
def _known_words() -> frozenset[str]:
    """Every word the patterns use: to restore a dropped g ("bleedin" -> "bleeding")."""
    ruler = cast("EntityRuler", pipeline().get_pipe("entity_ruler"))
    cue_phrases = [p for phrases in rules().cues.values() for p in phrases] + [
        p for q in QUESTIONS.values() for cue in (q.concern, q.reassure) if cue for p in cue.phrases]
    return frozenset(w for p in ruler.patterns
                     for w in (p["pattern"].split() if isinstance(p["pattern"], str)
                               else pattern_words(p["pattern"]))) | frozenset(
        w for phrase in cue_phrases for w in re.findall(r"[a-z']+ing\b", phrase))


def _cue_phrases(scope: str) -> dict[str, tuple[str, ...]]:
    """kind -> phrases of one scope: a question slot, or "*" for the shared cues."""
    if scope == "*":
        return dict(rules().cues)
    question = QUESTIONS[scope]
    return {kind: cue.phrases for kind, cue in (("concern", question.concern),
                                                ("reassure", question.reassure)) if cue}


@cache
def cue_matcher(scope: str) -> Matcher:
    """The answer cues of one scope, keyed by kind; built on first use, so a process
    reads only the questions it is asked to."""
    nlp = pipeline()
    language, tokenize = rules(), _tokenizer(nlp)
    gap = gap_tokens(CUE_GAP_WORDS, language.clause_breakers)
    matcher = Matcher(nlp.vocab)
    for kind, phrases in _cue_phrases(scope).items():
        patterns = [p for phrase in phrases for p in compile_phrase(phrase, tokenize, gap)]
        if patterns:
            matcher.add(kind, merge_patterns(patterns))
    return matcher


@lru_cache(maxsize=1)
def pipeline() -> Language:
    nlp = spacy.blank("en")
    # spaCy types Language.tokenizer as any callable; spacy.blank gives its Tokenizer
    nlp.tokenizer.rules = {}  # type: ignore[union-attr]  # "can't", "isn't" stay one word
    nlp.add_pipe("sentencizer")
    ruler = cast("EntityRuler", nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"}))
    ruler.add_patterns(_entity_patterns(nlp))
    language = rules()
    nlp.add_pipe("patient_negex", name="negation",
                 config={"neg_termset": _termset(language.negation)})
    if not Span.has_extension("unsure"):
        Span.set_extension("unsure", default=False)
    nlp.add_pipe(
        "patient_negex", name="uncertainty",
        config={"neg_termset": _termset(language.uncertainty), "extension_name": "unsure"},
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
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "couple of": 2, "a couple of": 2, "few": 3, "a few": 3,
}
_TEMP = re.compile(
    r"(?<![\d.])(\d{2,3}(?:[.,]\d{1,2})?)\s*(degrees\s*)?"
    r"(c|f|celsius|centigrade|fahrenheit|oc|of)?(?![a-z0-9])"
)
_TEMP_CONTEXT = re.compile(r"temperature|fever|thermometer|degrees|feverish|hot|reading|measured")
_DURATION = re.compile(
    r"\b(\d+(?:\.\d+)?|a couple of|couple of|a few|few|an?|one|two|three|four|five|six|seven|"
    r"eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|"
    r"nineteen|twenty|thirty)\s*(?:and a half\s*)?"
    r"(day|days|week|weeks|fortnight|fortnights|month|months)\b(\s+and a half)?"
)
_CHILD = re.compile(
    r"\b(my|our|the) (little |baby |eldest |youngest |oldest |younger |older |teenage |)(son|daughter|child|kid|boy|girl|baby|toddler|little one|grandson|"  # noqa: E501
    r"granddaughter|stepson|stepdaughter|teenager|teen|lad|lass|children|kids)\b|"
    r"\b(he's|she's|he is|she is) (only |just )?\d{1,2}\b|\b\d{1,2}[ -]?(year|yr)s?[ -]old\b"
)
_SOMEONE_ELSE = re.compile(
    r"\b(my|our) (husband|wife|partner|mum|mom|mother|dad|father|nan|gran|grandma|grandad|"
    r"grandpa|brother|sister|friend|patient|client|relative)\b|\b(he|she|he's|she's|him|her|his)\b"
)


def _temperature(text: str) -> tuple[Optional[float], bool]:
    """(°C, unambiguous) for the highest plausible temperature in the text: a reading
    taken again and corrected ("37.5... no, just checked again, 38.3") counts at its worst."""
    readings = []
    for match in _TEMP.finditer(text):
        value = float(match.group(1).replace(",", "."))
        unit = (match.group(3) or "").strip()
        explicit = bool(unit or match.group(2))
        if unit in ("f", "fahrenheit", "of") or (not unit and 93 <= value <= 110):
            value = fahrenheit_to_celsius(value)
        if 33 <= value <= 44 and (explicit or "." in match.group(1) or "," in match.group(1)
                                  or _TEMP_CONTEXT.search(text)):
            readings.append(value)
    return (max(readings), True) if readings else (None, False)


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
    week = re.search(r"\b(over|more than|longer than|nearly|almost) (a|one) week\b", text)
    if week:
        found.append(6 if week.group(1) in ("nearly", "almost") else 8)
    if re.search(r"\blast week\b", text):
        found.append(7)
    longer = re.search(r"\b(?:a|one) week and (?:a bit|a half|a day|(?:a |)(?:few|couple of|"
                       r"(\d+|two|three|four|five|six)) days?)\b", text)
    if longer:
        extra = longer.group(1)
        found.append(7 + (float(extra) if extra and extra.isdigit() else _NUMBER_WORDS.get(extra or "", 1)))
    for match in _DURATION.finditer(text):
        amount, unit = match.group(1), match.group(2)
        number = float(amount) if amount[0].isdigit() else _NUMBER_WORDS.get(amount, 1)
        if unit.startswith("week"):
            number *= 7
        elif unit.startswith("fortnight"):
            number *= 14
        elif unit.startswith("month"):
            number *= 30
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


def _numbers(text: str) -> tuple[float, ...]:
    return tuple(float(n.replace(",", ".")) for n in re.findall(r"(?<![\d.])\d+(?:[.,]\d+)?", text))


def _bare_number(text: str) -> Optional[float]:
    match = re.fullmatch(r"\D{0,20}?(\d+(?:[.,]\d+)?)\D{0,30}", text)
    return float(match.group(1).replace(",", ".")) if match else None


# ---------------------------------------------------------------- bare answers
def _answer(text: str, has_present: bool) -> Optional[str]:
    """A reply's plain yes / no / unsure, whatever was asked (bot/language/answers.yml);
    "fine" for a no said as a statement ("it's clean and dry")."""
    bare = rules().bare
    stripped = bare["filler"].sub("", text.strip(" .!,")).strip(" .!,")
    if bare["no_despite_hedge"].search(stripped):
        return "no"
    if bare["unsure"].search(stripped):
        return "unsure"
    if bare["deny"].search(stripped):
        return "no"
    if bare["affirm"].search(stripped):
        return "yes"
    if bare["negative_statement"].search(stripped) or (has_present and bare["just"].search(stripped)):
        return "fine"  # "no" to "is there a problem?" (the pressure question reads it as yes)
    return None


# ---------------------------------------------------------------- answer cues
_LIST_WORDS = {"or", "nor", "and/or", "/", "any", "a"}


def _clause_before(doc: Doc, start: int, reach: int) -> list:
    """Up to `reach` words before `start` in the same clause; the words of a list
    ("no lumps or bumps") do not count, so a negation reaches along it."""
    breakers = set(rules().clause_breakers)
    before: list = []
    counted = 0
    for token in reversed(doc[:start]):
        if token.lower_ in breakers or counted >= reach:
            break
        before.append(token)
        counted += token.lower_ not in _LIST_WORDS
    return before


# Words that may stand between two negations that cancel ("I can't say I don't").
_DOUBLE_NEGATION_BRIDGE = {"i", "we", "he", "she", "they", "you", "say", "said", "think",
                           "thought", "would", "that", "it", "it's", "is", "was", "really",
                           "honestly", "mean", "reckon", "believe", "'s", "i'm", "i've", "he's",
                           "she's", "they're", "there's", "there", "am", "are", "have", "has",
                           "had", "been", "be", "any"}


# "hasn't budged from normal": a negation of moving away is not a negation.
_STAY_VERBS = {"budged", "moved", "changed", "shifted", "strayed", "wavered", "budge", "move"}


def _negates(token) -> bool:
    if token.lower_ not in rules().negators:
        return False
    following = token.doc[token.i + 1] if token.i + 1 < len(token.doc) else None
    return not (following is not None and following.lower_ in _STAY_VERBS)


def _in_a_negated_finding(doc: Doc, start: int, end: int) -> bool:
    """A concern cue inside a finding NegEx negated ("no numbness, tingling or weakness"):
    the list's negation reaches it."""
    return any(ent._.negex and ent.start <= start and end <= ent.end for ent in doc.ents)


def _in_a_question_about_words(doc: Doc, start: int) -> bool:
    return _quotes_the_question(doc[start].sent)


def _negations(before: list) -> int:
    """Negations before a cue, nearest first: a second one counts only when only
    bridge words separate it from the first ("no temp no shivers" is one each)."""
    count = 0
    for token in before:
        word = token.lower_
        if _negates(token):
            count += 1
        elif count and word not in _DOUBLE_NEGATION_BRIDGE:
            break
    return count


def _longest_cues(doc: Doc, scope: str) -> list[tuple[str, int, int]]:
    """One scope's cue matches, without those inside a longer one: "smells of nothing"
    is not also "smells"."""
    matches = sorted(((doc.vocab.strings[m], s, e) for m, s, e in cue_matcher(scope)(doc)),
                     key=lambda m: m[1] - m[2])
    kept: list[tuple[str, int, int]] = []
    for kind, start, end in matches:
        if not any(k[1] <= start and end <= k[2] and (k[1], k[2]) != (start, end) for k in kept):
            kept.append((kind, start, end))
    return kept


def cues_in(doc: Doc, scope: str) -> set[str]:
    """The kinds of answer cue of one scope in the reply. A cue with a negation before
    it or inside its gap says the opposite: "hasn't spread" reassures; "isn't helping"
    is a `negated_reassure` (a concern, but weaker than "not sure"); a concern after
    "not sure if" is unsure."""
    language = rules()
    found: set[str] = set()
    if not _cue_phrases(scope):
        return found  # a number question: no phrases
    for kind, start, end in _longest_cues(doc, scope):
        if _in_a_question_about_words(doc, start):
            continue
        literal = _literal_words(scope, kind)
        inside = [t for t in doc[start:end] if _negates(t) and t.lower_ not in literal]
        # A cue that starts at a clause break (", nothing") has nothing before it.
        opens_clause = doc[start].lower_ in language.clause_breakers
        before = [] if opens_clause else _clause_before(doc, start, CUE_NEGATION_REACH)
        local = len(inside) + _negations(before)
        # With no negation of its own, a cue inside a negated finding takes that
        # negation ("no numbness, tingling or weakness"); its own words decide otherwise.
        negated = local % 2 == 1 if local else _in_a_negated_finding(doc, start, end)
        if kind == "concern" and any(
                t.lower_ in UNCERTAIN_WORDS for t in _clause_before(doc, start, CUE_UNCERTAINTY_REACH)):
            kind = "unsure"
        elif negated and kind == "concern":
            kind = "reassure"
        elif negated and kind == "reassure":
            kind = "negated_reassure"
        found.add(kind)
    return found


@cache
def _literal_words(scope: str, kind: str) -> frozenset[str]:
    """The words a cue's own phrases spell: its own "not" ("not going anywhere") does
    not negate it."""
    return frozenset(w for phrase in _cue_phrases(scope).get(kind, ())
                     for spelled in spell_out(phrase) for w in spelled.split())


@lru_cache(maxsize=1)
def _compiled_regex_concepts() -> list[tuple[str, re.Pattern]]:
    return [(label, rx) for label, rxs in rules().regex.items() for rx in rxs]


def _regex_mentions(text: str) -> list[Mention]:
    return [Mention(label, PRESENT, m.group(0)) for label, rx in _compiled_regex_concepts()
            for m in [rx.search(text)] if m]


_ASKING_WHAT_A_WORD_MEANS = re.compile(
    r"\b(what do you mean|what does .{1,30} mean|mean by|what (is|are|'s) (a |an |)"
    r"(cloudy|pus|lymph|gland|mottled|clammy|rigor))")
# "Should it be swollen? Because it isn't": a question back, then the answer, a no.
_QUESTION_BACK = re.compile(
    r"^(should|is|are|does|do|will|would|could|can|am)\b.{0,60}\b(supposed|meant|normal|"
    r"expected|ok|okay|bad|fine|should|be)\b.{0,30}\?$")
_DENIAL_AFTER = re.compile(r"^\s*(because|cos|coz|as)\s+(it|there|i|he|she|they|mine|his|hers)"
                           r"(\s|'s|'m|'ve)\s*(\w+\s+){0,2}(isn't|aren't|don't|doesn't|haven't|"
                           r"hasn't|not|no|wasn't|didn't|none|nothing)\b")


def _quotes_the_question(sentence) -> bool:
    """A sentence that quotes the question rather than answering it: "what do you mean
    by cloudy fluid?", or "should it be swollen?" followed by "because it isn't"."""
    if _ASKING_WHAT_A_WORD_MEANS.search(sentence.text):
        return True
    following = sentence.doc[sentence.end:].text
    return bool(_QUESTION_BACK.search(sentence.text.strip()) and _DENIAL_AFTER.search(following))


# ---------------------------------------------------------------- entry point
def extract(text: str) -> Extraction:
    """Everything the message says about symptoms; never raises on odd input."""
    clean = normalise(text or "")
    doc = pipeline()(clean)
    _carry_negation_through_lists(doc)
    temperature, said = _temperature(clean)
    mentions = [m for m in _mentions(doc) if m.label != "NOT_SYMPTOM"] + _regex_mentions(clean)
    quoted = [s for s in doc.sents if _quotes_the_question(s)]
    if quoted:
        # A sentence that quotes the question reports nothing (red flags still count).
        mentions = [m for m in mentions if m.label in RED_FLAG_LABELS
                    or not any(m.text in s.text for s in quoted)]
    return Extraction(
        text=clean,
        mentions=mentions,
        answer=_answer(clean, any(m.status == PRESENT for m in mentions)),
        temperature_c=temperature,
        temperature_said=said,
        days=_days(clean),
        number=_bare_number(clean),
        numbers=_numbers(clean),
        doc=doc,
        about_child=bool(_CHILD.search(clean)),
        about_someone_else=bool(_CHILD.search(clean) or _SOMEONE_ELSE.search(clean)),
    )


def red_flags_in(text: str) -> set[str]:
    """The red flags of a message whose full reading failed: read again from a plain
    ASCII copy, so whatever odd character broke the first reading is gone."""
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return extract(plain).red_flags
