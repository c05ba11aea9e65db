"""Is a message written in English? The bot reads only English: anything else gets one
line in English (the `not_english` intent) instead of English questions it cannot read.

English is the default. A message counts as another language only when
- most of its letters are in another script (Arabic, Gurmukhi, Bengali, Cyrillic, Han...):
  the script decides, whatever the length; or, in Latin letters, when all three agree:
- it has at least MIN_WORDS words ("no", "ta", "aye", "38.5", "nae bother" stay English);
- fewer than ENGLISH_WORD_SHARE of its words are English words: an English word list
  (pyspellchecker's, with British spellings) and the words of our English rule data
  (medicine names, dialect, text-speak), after the rules' spelling fixes ("thx");
- lingua, knowing only languages written in Latin letters (trigram models, for memory),
  gives English a confidence of at most MAX_ENGLISH_CONFIDENCE.
When the English rules read a symptom, an answer or a temperature in the message, that
counts for English too ("tmp 38.5 sinse lst nite"): lingua must then also name one other
language with a confidence of at least CLEAR_OTHER_LANGUAGE ("Mam temperaturę 38.5 i boli
mnie noga" is Polish however the rules read 38.5; "No tengo fiebre" is Spanish).
The word share keeps short English with drug names ("I'm on rituximab") from tripping the
detector; the detector keeps a Welsh or Spanish sentence with an English-looking word in
it ("Cymerais i paracetamol", "No tengo fiebre") from passing for English.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bot.language import rules

NOT_ENGLISH_INTENT = "not_english"
MIN_WORDS = 3
ENGLISH_WORD_SHARE = 0.6
MAX_ENGLISH_CONFIDENCE = 0.1
CLEAR_OTHER_LANGUAGE = 0.5
# Counts in pyspellchecker's English list (from film subtitles): rarer entries are
# mostly names, typos and foreign words.
MIN_WORD_COUNT = 100
# Languages written in Latin letters (lingua's names); other scripts are told apart
# by their letters alone.
LATIN_SCRIPT_LANGUAGES = (
    "AFRIKAANS", "ALBANIAN", "AZERBAIJANI", "BASQUE", "BOKMAL", "BOSNIAN", "CATALAN",
    "CROATIAN", "CZECH", "DANISH", "DUTCH", "ENGLISH", "ESPERANTO", "ESTONIAN", "FINNISH",
    "FRENCH", "GANDA", "GERMAN", "HUNGARIAN", "ICELANDIC", "INDONESIAN", "IRISH", "ITALIAN",
    "LATIN", "LATVIAN", "LITHUANIAN", "MALAY", "MAORI", "NYNORSK", "POLISH", "PORTUGUESE",
    "ROMANIAN", "SHONA", "SLOVAK", "SLOVENE", "SOMALI", "SOTHO", "SPANISH", "SWAHILI",
    "SWEDISH", "TAGALOG", "TSONGA", "TSWANA", "TURKISH", "VIETNAMESE", "WELSH", "XHOSA",
    "YORUBA", "ZULU",
)
# English endings after an apostrophe: "it's", "we're", "son's"; not Welsh "mae'n".
_CLITICS = {"s", "re", "ve", "d", "ll", "m", "t"}
# Short words of the other languages written here that the subtitle word list has as
# English but that English hardly uses: function words, not content ("la", "mae", "nie").
_OTHER_LANGUAGES = frozenset("""
    mae yn yr ac ond oes ydy wedi gan dw fy ei eu mewn
    nie mam jest od ale mnie czy jak tak po za ja ty mi ma
    la el los las de del que con en un una por se lo le les du des et il je est
    ho fa di da ne ni si nu pe din cu ca sa ar es ist mit und der das ein ich
""".split())
# Medicines by their international name stems (rituximab, letrozole, tamoxifen,
# prednisolone): a patient listing them is writing English the word list does not have.
_MEDICINE = re.compile(
    r"\w{3,}(mab|nib|zole|xifen|olone|asone|pril|sartan|olol|dipine|statin|cillin|mycin|"
    r"cycline|floxacin|vir|prazole|tidine|setron|zepam|azolam|oxetine|triptan|parin|xaban|"
    r"gatran|profen|fenac|coxib|gliptin|formin|dronate|platin|rubicin|taxel|mustine|trexate|"
    r"tabine|limus|phosphamide|lidomide|prine|purine|phenolate|urea|codamol|morph)")
# British spellings the (American) word list lacks: colour, leukaemia, oedema, centre,
# realise, cancelled. Only for longer words: a Welsh "mae" is not "me".
_BRITISH = tuple((re.compile(british), american) for british, american in (
    (r"our", "or"), (r"(?<=\w)[ao]e(?=\w)", "e"), (r"is(e|ed|es|ing|ation)\b", r"iz\1"),
    (r"tre\b", "ter"), (r"ll(ed|ing)\b", r"l\1"), (r"ogue\b", "og"), (r"yse(d|s|)\b", r"yze\1")))
_MIN_BRITISH_LENGTH = 5
_WORD_EDGES = ".,!?;:()[]{}\"“”‘’'…-–—/\\*_~#@&+="


def _is_latin(char: str) -> bool:
    return unicodedata.name(char, "").startswith("LATIN")


def mostly_another_script(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    others = sum(1 for c in letters if not _is_latin(c))
    return others >= 2 and others * 2 > len(letters)


def words_of(text: str) -> list[str]:
    """Lower-cased words. Numbers, emoji, tokens with digits ("gr8") and single letters
    other than "a" and "i" ("x", Polish "w", Spanish "y") are neither English nor not."""
    words = []
    for token in text.lower().replace("’", "'").split():
        token = token.strip(_WORD_EDGES)
        if (any(c.isalpha() for c in token) and not any(c.isdigit() for c in token)
                and (len(token) > 1 or token in ("a", "i"))):
            words.append(token)
    return words


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    from spellchecker import SpellChecker

    counts = SpellChecker(language="en", distance=1).word_frequency.dictionary
    listed = {word for word, count in counts.items()
              if count >= MIN_WORD_COUNT and word not in _OTHER_LANGUAGES}
    language = rules()
    phrases = [*language.spelling, *language.spelling.values(),
               *(p for ps in language.concepts.values() for p in ps),
               *(p for ps in language.cues.values() for p in ps)]
    ours = {w for phrase in phrases for w in re.findall(r"[a-z]+(?:'[a-z]+)?", phrase.lower())}
    return frozenset(listed | ours)


def is_english_word(word: str) -> bool:
    known = english_words()
    if word in known or _MEDICINE.fullmatch(word):
        return True
    stem, apostrophe, ending = word.partition("'")
    if apostrophe and ending in _CLITICS and stem in known:
        return True
    if len(word) < _MIN_BRITISH_LENGTH:
        return False
    return any(pattern.sub(american, word) in known for pattern, american in _BRITISH)


def english_word_share(text: str) -> float:
    spelling = rules().spelling
    words = [w for word in words_of(text) for w in spelling.get(word, word).split()]
    return sum(map(is_english_word, words)) / len(words) if words else 1.0


@lru_cache(maxsize=1)
def _detector():
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in LATIN_SCRIPT_LANGUAGES]
    return (LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode()
            .with_preloaded_language_models().build())


def is_english(text: str, rules_read_it: bool = False) -> bool:
    """`rules_read_it`: the English rules read a symptom, an answer or a temperature."""
    if mostly_another_script(text):
        return False
    if len(words_of(text)) < MIN_WORDS or english_word_share(text) >= ENGLISH_WORD_SHARE:
        return True
    from lingua import Language

    confidences = _detector().compute_language_confidence_values(text)
    english = next(c.value for c in confidences if c.language == Language.ENGLISH)
    if english > MAX_ENGLISH_CONFIDENCE:
        return True
    return rules_read_it and confidences[0].value < CLEAR_OTHER_LANGUAGE


def warm_up() -> None:
    """Load the word list and the language models now, not on a patient's first message."""
    english_words()
    _detector()
