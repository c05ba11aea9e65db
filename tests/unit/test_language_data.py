"""The language files (bot/language/*.yml): checked at load, compiled to token patterns."""
from __future__ import annotations

import shutil

import pytest
import spacy
import yaml

from bot.extraction import pipeline
from bot.language import HERE, LanguageDataError, load_rules, rules
from bot.language.patterns import PatternSyntaxError, compile_phrase, spell_out


def _tokenize(text: str) -> list[str]:
    nlp = spacy.blank("en")
    nlp.tokenizer.rules = {}
    return [t.lower_ for word in text.split() for t in nlp.tokenizer(word)]


@pytest.mark.parametrize("phrase", [
    "(can't|cannot) (breathe|get (my |his |)breath)",
    "bleed(ing|) again",
    "(pain|it)('s| is| has|) (way |much |)(worse|sorer)",
    "(lump|bump)(-sized| sized|) (in|under) (my |)(neck|groin)",
    "wake( up|)",
])
def test_token_patterns_match_exactly_the_phrases_a_line_spells(phrase):
    nlp = spacy.blank("en")
    nlp.tokenizer.rules = {}
    from spacy.matcher import Matcher
    matcher = Matcher(nlp.vocab)
    matcher.add("X", compile_phrase(phrase, _tokenize))
    for spelled in spell_out(phrase):
        doc = nlp(spelled)
        assert any(s == 0 and e == len(doc) for _, s, e in matcher(doc)), spelled
    for near_miss in ("bleeding agains", "wake down", "lump on my neck"):
        doc = nlp(near_miss)
        assert not any(s == 0 and e == len(doc) for _, s, e in matcher(doc))


def test_a_line_is_a_few_token_patterns_not_every_phrase_it_spells():
    spelled = sum(len(spell_out(p)) for phrases in rules().concepts.values() for p in phrases)
    compiled = len(pipeline().get_pipe("entity_ruler").patterns)
    assert compiled * 5 < spelled


def test_unbalanced_brackets_are_refused():
    with pytest.raises(PatternSyntaxError):
        spell_out("(a|b c")
    with pytest.raises(PatternSyntaxError):
        spell_out("a|b) c")


def _copy(tmp_path, name: str, change) -> object:
    for path in HERE.glob("*.yml"):
        shutil.copy(path, tmp_path / path.name)
    data = yaml.safe_load((tmp_path / name).read_text())
    change(data)
    (tmp_path / name).write_text(yaml.safe_dump(data, allow_unicode=True))
    return tmp_path


@pytest.mark.parametrize("name, change, message", [
    ("concepts.yml", lambda d: d["labels"]["PUS"].update(colour="green"), "unknown key"),
    ("concepts.yml", lambda d: d["labels"]["PUS"].update(topic="smell"), "unknown topic"),
    ("concepts.yml", lambda d: d["labels"]["PUS"]["patterns"].append("chest pain"),
     "also under"),
    ("concepts.yml", lambda d: d["labels"]["PUS"].update(patterns=d["labels"]["PUS"]["patterns"] + [d["labels"]["SORE"]["patterns"][0]]),
     "also under"),
    ("concepts.yml", lambda d: d["labels"]["CHILLS"]["patterns"].append("(shaking|trembling) a lot"),
     None),
    ("concepts.yml", lambda d: d["labels"].update(NEW={"topic": "pus", "patterns": []}),
     "no rule matches"),
    ("concepts.yml", lambda d: d["near"]["rules"].append(
        {"label": "NOPE", "first": ["a"], "then": ["b"]}), "not declared"),
    ("concepts.yml", lambda d: d["regex"].update(NOPE=["x"]), "not declared"),
    ("context.yml", lambda d: d["negation"].update(sideways=["x"]), "unknown key"),
    ("answers.yml", lambda d: d["bare"].update(deny="(unclosed"), "not a regular expression"),
    ("answers.yml", lambda d: d.update(negators=[True, "not"]), "quote every word"),
    ("answers.yml", lambda d: d["cues"].update(maybe=["x"]), "unknown key"),
])
def test_broken_language_data_fails_with_a_clear_message(tmp_path, name, change, message):
    directory = _copy(tmp_path, name, change)
    if message is None:
        load_rules(directory)  # a new phrase under its own label loads
        return
    with pytest.raises(LanguageDataError, match=message):
        load_rules(directory)


def test_no_two_labels_spell_the_same_words():
    from bot.language import overlapping_phrases
    assert overlapping_phrases(rules()) == []


def test_overlapping_phrases_are_found():
    from bot.language import LanguageRules, overlapping_phrases
    language = rules()
    concepts = {**language.concepts, "PUS": language.concepts["PUS"] + ("(severe|massive) bleeding",)}
    changed = LanguageRules(**{**language.__dict__, "concepts": concepts})
    assert ("severe bleeding", "BLEED_HEAVY", "PUS") in overlapping_phrases(changed)


def test_every_label_answers_a_known_topic_and_every_topic_is_asked():
    from bot.questions import QUESTIONS
    topics = set(rules().topic_of_label.values())
    assert topics - {"red_flag", "none"} <= set(QUESTIONS)


def test_every_phrase_pattern_is_matched_by_its_own_words():
    """A phrase handed to the PhraseMatcher must tokenize like the text it stands for:
    "pain 's worse" written out must be found in "pain's worse"."""
    nlp = pipeline()
    ruler = nlp.get_pipe("entity_ruler")
    phrases = [p for p in ruler.patterns if isinstance(p["pattern"], str)]
    texts = [p["pattern"].replace(" 's", "'s").replace(" n't", "n't") for p in phrases]
    missed = [(p["label"], doc.text) for p, doc in zip(phrases, nlp.pipe(texts), strict=False)
              if not any(e.label_ == p["label"] and e.start == 0 and e.end == len(doc) for e in doc.ents)]
    assert not missed, missed[:10]
