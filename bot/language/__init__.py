"""The patient's language, as data: the YAML files beside this module, loaded and
checked once.

- `spelling.yml`  typos, SMS-speak, contractions without apostrophes
- `concepts.yml`  what a patient can report: labels, their topic, their phrases
- `context.yml`   negation and uncertainty (NegEx termsets) and their scope
- `answers.yml`   how a reply answers whatever question is pending

`rules()` fails with a `LanguageDataError` naming the file and the entry for an
unknown key, a phrase that does not parse, the same phrase under two labels, a
rule for an undeclared label, or a label nothing matches.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.language.patterns import PatternSyntaxError, parse, spell_out

HERE = Path(__file__).parent
# Topics a label may answer: the question slots, plus red flags (answered at any
# point) and none (NOT_SYMPTOM and EASING-like labels that qualify others).
TOPICS = {
    "bleeding", "bleeding_stops_with_pressure", "feeling_faint", "fever", "very_unwell",
    "immune_weak", "spreading_redness", "pain_uncontrolled", "numbness", "swelling", "pus",
    "lymph_nodes", "red_flag", "none",
}
TERMSET_KEYS = {"pseudo": "pseudo_negations", "preceding": "preceding_negations",
                "following": "following_negations", "termination": "termination"}
BARE_ANSWER_KEYS = {"filler", "no_despite_hedge", "unsure", "deny", "affirm",
                    "negative_statement", "just"}
CUE_KINDS = {"reassure", "unsure", "concern"}


class LanguageDataError(ValueError):
    pass


@dataclass(frozen=True)
class NearRule:
    label: str
    first: tuple[str, ...]
    then: tuple[str, ...]


@dataclass(frozen=True)
class LanguageRules:
    spelling: dict[str, str]
    concepts: dict[str, tuple[str, ...]]      # label -> phrases
    topic_of_label: dict[str, str]
    near_gap: int
    clause_breakers: tuple[str, ...]
    near: tuple[NearRule, ...]
    regex: dict[str, tuple[re.Pattern, ...]]
    negation: dict[str, tuple[str, ...]]      # negspacy termset: key -> phrases (pattern syntax)
    uncertainty: dict[str, tuple[str, ...]]
    negation_window: int
    bare: dict[str, re.Pattern]
    strong_yes: frozenset[str]
    negators: frozenset[str]
    cues: dict[str, tuple[str, ...]]          # kind -> phrases shared by every question


def _load(directory: Path, name: str) -> dict:
    path = directory / name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LanguageDataError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise LanguageDataError(f"{name}: expected a mapping at the top")
    return data


def check_keys(where: str, data: Any, allowed: set[str], required: set[str] | None = None) -> None:
    if not isinstance(data, dict):
        raise LanguageDataError(f"{where}: expected a mapping")
    unknown = set(data) - allowed
    if unknown:
        raise LanguageDataError(f"{where}: unknown key(s) {sorted(map(str, unknown))}; "
                                f"allowed: {sorted(allowed)}")
    missing = (required if required is not None else allowed) - set(data)
    if missing:
        raise LanguageDataError(f"{where}: missing key(s) {sorted(missing)}")


def check_phrases(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise LanguageDataError(f"{where}: expected a list of non-empty strings")
    for phrase in value:
        try:
            parse(phrase)
        except PatternSyntaxError as exc:
            raise LanguageDataError(f"{where}: {exc}") from exc
    return tuple(dict.fromkeys(value))


def _regex(where: str, value: Any) -> re.Pattern:
    try:
        return re.compile(value)
    except (re.error, TypeError) as exc:
        raise LanguageDataError(f"{where}: not a regular expression: {exc}") from exc


def _termset(where: str, data: Any, termination: tuple[str, ...] | None) -> dict:
    allowed = set(TERMSET_KEYS)
    check_keys(where, data, allowed)
    out = {}
    for key, negspacy_key in TERMSET_KEYS.items():
        value = data[key]
        if key == "termination" and value == "negation" and termination is not None:
            out[negspacy_key] = termination
        else:
            out[negspacy_key] = check_phrases(f"{where}.{key}", value)
    return out


def _concepts(data: dict) -> tuple[dict, dict, int, tuple, tuple, dict]:
    check_keys("concepts.yml", data, {"labels", "near", "regex"})
    labels, topics = {}, {}
    seen: dict[str, str] = {}  # phrase -> the label it is under
    for label, entry in data["labels"].items():
        where = f"concepts.yml: labels.{label}"
        check_keys(where, entry, {"topic", "patterns"})
        if entry["topic"] not in TOPICS:
            raise LanguageDataError(f"{where}: unknown topic {entry['topic']!r}")
        phrases = check_phrases(f"{where}.patterns", entry["patterns"])
        for phrase in phrases:
            # The same phrase under two labels: which one the patient meant would depend
            # on the order of the file. (Phrases that only spell the same words are
            # found by `overlapping_phrases`, run by the tests: spelling out every line
            # costs a quarter of a second at each start.)
            if seen.setdefault(phrase, label) != label:
                raise LanguageDataError(f"{where}: the phrase {phrase!r} is also under "
                                        f"{seen[phrase]}")
        labels[label], topics[label] = phrases, entry["topic"]

    near = data["near"]
    check_keys("concepts.yml: near", near, {"gap", "clause_breakers", "rules"})
    rules = []
    for i, rule in enumerate(near["rules"]):
        where = f"concepts.yml: near.rules[{i}]"
        check_keys(where, rule, {"label", "first", "then"})
        if rule["label"] not in labels:
            raise LanguageDataError(f"{where}: label {rule['label']!r} is not declared")
        rules.append(NearRule(rule["label"], tuple(rule["first"]), tuple(rule["then"])))

    regex = {}
    for label, patterns in data["regex"].items():
        if label not in labels:
            raise LanguageDataError(f"concepts.yml: regex.{label}: label is not declared")
        regex[label] = tuple(_regex(f"concepts.yml: regex.{label}", p) for p in patterns)
    for label, phrases in labels.items():
        if not phrases and label not in regex and all(r.label != label for r in rules):
            raise LanguageDataError(f"concepts.yml: labels.{label}: no rule matches it")
    return labels, topics, int(near["gap"]), tuple(near["clause_breakers"]), tuple(rules), regex


def overlapping_phrases(language: LanguageRules) -> list[tuple[str, str, str]]:
    """(words, label, other label) for every phrase two labels both spell."""
    seen: dict[str, str] = {}
    found = []
    for label, phrases in language.concepts.items():
        for phrase in phrases:
            for spelled in spell_out(phrase):
                if seen.setdefault(spelled, label) != label:
                    found.append((spelled, seen[spelled], label))
    return found


@lru_cache(maxsize=1)
def rules() -> LanguageRules:
    """The language files beside this module, loaded once per process."""
    return load_rules(HERE)


def load_rules(directory: Path) -> LanguageRules:
    spelling = _load(directory, "spelling.yml")
    check_keys("spelling.yml", spelling, {"spelling"})
    words = spelling["spelling"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in words.items()):
        raise LanguageDataError("spelling.yml: every entry must be text -> text")

    labels, topics, gap, breakers, near, regex = _concepts(_load(directory, "concepts.yml"))

    context = _load(directory, "context.yml")
    check_keys("context.yml", context, {"negation", "uncertainty", "negation_window"})
    negation = _termset("context.yml: negation", context["negation"], None)
    uncertainty = _termset("context.yml: uncertainty", context["uncertainty"],
                           negation["termination"])

    answers = _load(directory, "answers.yml")
    check_keys("answers.yml", answers, {"bare", "strong_yes", "negators", "cues"})
    check_keys("answers.yml: bare", answers["bare"], BARE_ANSWER_KEYS)
    check_keys("answers.yml: cues", answers["cues"], CUE_KINDS)
    for key in ("strong_yes", "negators"):
        if not all(isinstance(w, str) for w in answers[key]):
            raise LanguageDataError(f"answers.yml: {key}: quote every word (YAML reads a bare "
                                    f"yes/no as true/false)")
    return LanguageRules(
        spelling=dict(words), concepts=labels, topic_of_label=topics, near_gap=gap,
        clause_breakers=breakers, near=near, regex=regex, negation=negation,
        uncertainty=uncertainty, negation_window=int(context["negation_window"]),
        bare={k: _regex(f"answers.yml: bare.{k}", v) for k, v in answers["bare"].items()},
        strong_yes=frozenset(answers["strong_yes"]), negators=frozenset(answers["negators"]),
        cues={k: check_phrases(f"answers.yml: cues.{k}", v or []) for k, v in answers["cues"].items()},
    )
